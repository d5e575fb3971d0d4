#!/bin/sh
":" /*
# This file is a POSIX sh launcher and an ES module at once. Run as a program (node_modules/.bin,
# npx, kubectl-palyra_skill on PATH), /bin/sh reads these lines as commands and never reaches
# the JavaScript: it follows symbolic links to this file's real place, then runs it with the
# project's Node 24 (the `node` package: in this package's node_modules, or beside this package
# when npm hoisted it) if present, else with the `node` on PATH. So Node starts once even where
# the machine's own `node` is older (`#!/usr/bin/env node` would start that one, only for it to
# start Node 24 again). Run as `node bin/palyra-skill.mjs` (the container image, the tests),
# Node skips the first line, and JavaScript sees a string and this comment.
f=$0
while [ -h "$f" ]; do
  l=$(readlink "$f")
  case $l in
    /*) f=$l ;;
    *) f=${f%/*}/$l ;;
  esac
done
d=${f%/*}
[ "$d" = "$f" ] && d=.
# npm's hoisted copy only when this package sits in a node_modules directory: never a `node`
# in whatever directory happens to hold a checkout.
h=
p=${d%/bin}
p=${p%/*}
case $p in *[/]node_modules | node_modules) h=$p/node/bin/node ;; esac
for n in "$d/../node_modules/node/bin/node" "$h" node; do
  [ -n "$n" ] && [ -x "$n" ] && break
done
exec "$n" "$f" "$@"
*/

// The CLI runs from dist/cli/ (plain JavaScript bundled by scripts/build-cli.ts, on npm ci)
// when that bundle is current, else from the TypeScript sources (Node >= 22.18 strips types).
// Node's built-in modules are require()d: an ES module import of node:fs evaluates all of its
// exports (fs.promises too), a few milliseconds on every run.
import { createRequire } from "node:module";
import { bundleEntry } from "./cli-bundle.mjs";

const require = createRequire(import.meta.url);
const { existsSync } = require("node:fs");
const { enableCompileCache } = require("node:module");
const { join } = require("node:path");
const { fileURLToPath, pathToFileURL } = require("node:url");

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  // Started as `node bin/palyra-skill.mjs` by an older Node (run as a program, the lines
  // above have chosen Node 24 already): run the project's Node 24 from node_modules.
  const here = fileURLToPath(new URL("../", import.meta.url));
  const hoisted = require("node:path").basename(join(here, "..")) === "node_modules";
  const projectNode = ["../node_modules/node/bin/node", ...(hoisted ? ["../../node/bin/node"] : [])]
    .map((path) => fileURLToPath(new URL(path, import.meta.url)))
    .find((path) => existsSync(path));
  if (projectNode === undefined) {
    process.stderr.write(
      `palyra-skill needs Node.js >= 22.18 (this is ${process.version}); run npm ci in the project to get its Node 24\n`,
    );
    process.exit(2);
  }
  const { spawnSync } = require("node:child_process");
  const run = spawnSync(projectNode, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  process.exit(run.status ?? 1);
}

const root = fileURLToPath(new URL("../", import.meta.url));
const bundle = process.env.PALYRA_CLI_FROM_SOURCE ? undefined : bundleEntry(root);
// Node's compile cache (V8 code, and for the sources the stripped JavaScript) under the user's
// cache directory. NODE_COMPILE_CACHE, when set, has enabled it already (there);
// NODE_DISABLE_COMPILE_CACHE=1 turns it off. Where it cannot be written, Node runs without it.
try {
  const home = process.env.HOME || require("node:os").homedir();
  const cache = process.env.XDG_CACHE_HOME || join(home, ".cache");
  enableCompileCache?.(join(cache, "palyra-skill", "node-compile-cache"));
} catch {
  // No home directory: run without the cache.
}
const { main } = await import(
  bundle === undefined ? "../src/cli/main.ts" : pathToFileURL(bundle).href
);
process.exitCode = await main(process.argv.slice(2));
