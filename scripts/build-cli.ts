/**
 * Bundles the palyra-skill CLI into dist/cli/: src/cli/main.ts and everything it imports, as
 * plain JavaScript (no type stripping at run time), one chunk per command (each loaded only when
 * that command runs) and shared chunks for what several use. bin/palyra-skill.mjs runs the
 * bundle when dist/cli/build.json says it was built from the sources as they are now, and the
 * sources otherwise, so an edit is never hidden behind a stale bundle.
 *
 *   node scripts/build-cli.ts            build (npm ci and npm install run it: `prepare`)
 *   node scripts/build-cli.ts --if-stale build only when the bundle is missing or stale
 *
 * Without esbuild (a production install, --omit=dev) it says so and builds nothing: the CLI runs
 * from the sources, as it does when the bundle is stale.
 *
 * The bundle must sit two directories below the repository, as src/cli/ and src/artifact/ do:
 * the library finds the inflate addon (`../../native/`) and the CLI its package.json
 * (`../../package.json`) relative to the module's own URL.
 */
import { createHash } from "node:crypto";
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleEntry } from "../bin/cli-bundle.mjs";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
export const DEFAULT_OUT = join(ROOT, "dist", "cli");

/**
 * What the bundle was built from: each project source file, and the package.json of each
 * dependency bundled in (a new version of a dependency rewrites it), with size, modification
 * time and SHA-256.
 */
export interface BuildInfo {
  readonly entry: string;
  readonly inputs: Record<string, { size: number; mtimeMs: number; sha256: string }>;
}

function fingerprint(path: string): BuildInfo["inputs"][string] {
  const stat = statSync(path);
  const sha256 = createHash("sha256").update(readFileSync(path)).digest("hex");
  return { size: stat.size, mtimeMs: stat.mtimeMs, sha256 };
}

export async function buildCli(outDir = DEFAULT_OUT): Promise<BuildInfo> {
  const out = resolve(outDir);
  if (dirname(dirname(out)) !== resolve(ROOT)) {
    throw new Error(`the CLI bundle must be two levels below ${ROOT} (got ${out})`);
  }
  // Built beside the target, then moved in: chunks first (their names carry a hash of their
  // content), main.js, build.json last. A CLI started meanwhile runs the old bundle or the new
  // one, never half of one, and one still running finds the chunks it loads later: chunks of
  // earlier builds stay an hour.
  const { build } = await import("esbuild");
  const staging = `${out}.tmp-${process.pid}`;
  try {
    for (let attempt = 1; ; attempt++) {
      rmSync(staging, { recursive: true, force: true });
      const started = Date.now();
      const info = await buildOnce(build, staging);
      // A source saved while esbuild read it would be recorded as it is now, but bundled as it
      // was: build again.
      const changed = Object.entries(info.inputs).filter(([, f]) => f.mtimeMs >= started);
      if (changed.length > 0 && attempt < 3) continue;
      if (changed.length > 0) throw new Error(`sources keep changing: ${changed.map(([p]) => p)}`);
      install(staging, out);
      return info;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

const KEEP_OLD_CHUNKS_MS = 60 * 60 * 1000;

function install(staging: string, out: string): void {
  mkdirSync(out, { recursive: true });
  const last = ["main.js", "build.json"];
  const built = readdirSync(staging);
  for (const file of [...built.filter((f) => !last.includes(f)), ...last]) {
    renameSync(join(staging, file), join(out, file));
  }
  for (const file of readdirSync(out)) {
    const path = join(out, file);
    if (!built.includes(file) && Date.now() - statSync(path).mtimeMs > KEEP_OLD_CHUNKS_MS) {
      rmSync(path, { recursive: true, force: true });
    }
  }
}

async function buildOnce(
  build: typeof import("esbuild")["build"],
  staging: string,
): Promise<BuildInfo> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { main: "src/cli/main.ts" },
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node22.18",
    outdir: staging,
    metafile: true,
    logLevel: "warning",
    // CommonJS dependencies bundled in (yaml) require Node's built-ins at run time.
    banner: {
      js: 'import { createRequire as __palyraCreateRequire } from "node:module";\nconst require = __palyraCreateRequire(import.meta.url);',
    },
  });
  const files = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const dependency = /^(node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    files.add(dependency ? `${dependency[1]}/package.json` : input);
  }
  const inputs: BuildInfo["inputs"] = {};
  for (const file of [...files].sort()) inputs[file] = fingerprint(join(ROOT, file));
  const info: BuildInfo = { entry: "main.js", inputs };
  writeFileSync(join(staging, "build.json"), `${JSON.stringify(info, null, 1)}\n`);
  return info;
}

async function hasEsbuild(): Promise<boolean> {
  try {
    await import("esbuild");
    return true;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  const ifStale = process.argv.includes("--if-stale");
  if (ifStale && bundleEntry(ROOT) !== undefined) {
    console.log("dist/cli: current");
  } else if (!(await hasEsbuild())) {
    console.log(
      "dist/cli: not built (esbuild is not installed); palyra-skill runs from the sources",
    );
  } else {
    const started = performance.now();
    const info = await buildCli();
    console.log(
      `dist/cli: bundled ${Object.keys(info.inputs).length} sources and packages in ${Math.round(performance.now() - started)} ms (${relative(process.cwd(), DEFAULT_OUT) || "."})`,
    );
  }
}
