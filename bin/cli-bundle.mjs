// Finds the CLI bundle (dist/cli/, built by scripts/build-cli.ts) when it is current: every
// source it was built from is still as it was then. Plain JavaScript, so that choosing costs no
// TypeScript loading: a file whose size and modification time are unchanged is taken as is,
// one whose time changed (a checkout, a copy into an image) is compared by its SHA-256.
import { createRequire } from "node:module";

// require(), not import: an ES module import of node:fs evaluates all of its exports.
const require = createRequire(import.meta.url);
const { readFileSync, statSync } = require("node:fs");
const { join } = require("node:path");

/** The bundle's entry file under `dir` if it was built from the files now under `root`. */
export function bundleEntry(root, dir = join(root, "dist", "cli")) {
  let info;
  try {
    info = JSON.parse(readFileSync(join(dir, "build.json"), "utf8"));
  } catch {
    return undefined;
  }
  if (typeof info?.entry !== "string" || typeof info.inputs !== "object") return undefined;
  for (const [path, want] of Object.entries(info.inputs)) {
    const file = join(root, path);
    const stat = statSync(file, { throwIfNoEntry: false });
    if (stat === undefined || stat.size !== want.size) return undefined;
    if (stat.mtimeMs !== want.mtimeMs) {
      // node:crypto only here: loading it costs several milliseconds that most runs never need.
      const { createHash } = require("node:crypto");
      const sha256 = createHash("sha256").update(readFileSync(file)).digest("hex");
      if (sha256 !== want.sha256) return undefined;
    }
  }
  return join(dir, info.entry);
}
