/**
 * How palyra-skill starts: which Node the launcher runs (once), what each command loads, and
 * the bundle (dist/cli) against the sources it was built from.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bundleEntry } from "../../bin/cli-bundle.mjs";
import { buildCli } from "../../scripts/build-cli.ts";
import { ED25519_BACKEND } from "../../src/artifact/ed25519.ts";
import { INFLATE_BACKEND } from "../../src/artifact/inflate.ts";
import { ed25519Backend, inflateBackend } from "../../src/cli/backends.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin", "palyra-skill.mjs");
const LOAD_TRACE = join(ROOT, "test", "support", "load-trace.mjs");
const VECTOR = join(ROOT, "test/vectors/reference/ok.palyra-skill");
const TRUST = join(ROOT, "test/vectors/reference/trust-allow.json");

let scratch: string;
/** A bundle built for these tests, two levels below the repository as dist/cli is. */
let bundleDir: string;
let bundleMain: string;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), "palyra-cli-startup-"));
  bundleDir = join(ROOT, "dist", `cli-startup-test-${process.pid}`);
  const info = await buildCli(bundleDir);
  bundleMain = join(bundleDir, info.entry);
});
after(() => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(bundleDir, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function spawn(command: string, args: string[], env: Record<string, string> = {}): Run {
  const run = spawnSync(command, args, {
    cwd: scratch,
    encoding: "utf8",
    env: { ...process.env, PALYRA_SKILL_AUDIT_VULN_FEED_HOOK: "", ...env },
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Runs the CLI from the sources (through bin/, as a user would) or from the test bundle. */
function cli(from: "sources" | "bundle", args: string[], nodeArgs: string[] = [], env = {}): Run {
  if (from === "sources") {
    return spawn(process.execPath, [...nodeArgs, BIN, ...args], {
      PALYRA_CLI_FROM_SOURCE: "1",
      ...env,
    });
  }
  const run = `const { main } = await import(${JSON.stringify(pathToFileURL(bundleMain).href)}); process.exitCode = await main(${JSON.stringify(args)});`;
  return spawn(process.execPath, [...nodeArgs, "--input-type=module", "-e", run], env);
}

/**
 * The source modules a CLI process loaded: files of the repository and node_modules by path;
 * for bundle chunks, the modules inside them (esbuild marks each with its path).
 */
function modulesLoaded(from: "sources" | "bundle", args: string[]): Set<string> {
  const trace = join(scratch, `trace-${from}-${args[0]}.txt`);
  const run = cli(from, args, ["--import", LOAD_TRACE], { PALYRA_LOAD_TRACE: trace });
  assert.equal(run.status, 0, run.stderr);
  const modules = new Set<string>();
  for (const url of readFileSync(trace, "utf8").split("\n")) {
    if (!url.startsWith("file:")) continue;
    const path = fileURLToPath(url);
    if (path.startsWith(bundleDir)) {
      const text = readFileSync(path, "utf8");
      for (const m of text.matchAll(/^\/\/ ((?:src|node_modules)\/\S+)$/gm))
        modules.add(m[1] ?? "");
      for (const m of text.matchAll(/"(node_modules\/[^"]+)"\(exports/g)) modules.add(m[1] ?? "");
    } else {
      modules.add(relative(ROOT, path));
    }
  }
  return modules;
}

const HEAVY = [
  "node_modules/ajv/",
  "node_modules/smol-toml/",
  "node_modules/yaml/",
  "node_modules/@noble/",
  "node_modules/sodium-native/index.js",
  "src/artifact/verify.ts",
  "src/artifact/manifest.ts",
  "src/artifact/ed25519.ts",
  "src/kube/",
  "src/cli/commands/",
];
const matching = (modules: Set<string>, prefixes: string[]) =>
  [...modules].filter((m) => prefixes.some((p) => m.startsWith(p)));

for (const from of ["sources", "bundle"] as const) {
  describe(`what a command loads (from the ${from})`, () => {
    test("--help loads no command and no dependency", () => {
      const modules = modulesLoaded(from, ["--help"]);
      const project = [...modules].filter((m) => m.startsWith("src/"));
      assert.deepEqual(project.sort(), [
        "src/cli/cli-error.ts",
        "src/cli/exit-codes.ts",
        "src/cli/main.ts",
        "src/cli/usage.ts",
      ]);
      assert.deepEqual(matching(modules, ["node_modules/"]), []);
    });

    test("--version loads none of the verification code, only what finds its backends", () => {
      const modules = modulesLoaded(from, ["--version"]);
      assert.deepEqual(matching(modules, [...HEAVY, "src/artifact/"]), []);
      assert.ok(modules.has("src/cli/backends.ts"));
    });

    test("verify loads the verification code, but no other command and no cluster code", () => {
      const modules = modulesLoaded(from, ["verify", VECTOR, "--trust-store", TRUST]);
      assert.ok(modules.has("src/artifact/verify.ts"));
      assert.deepEqual(
        matching(modules, [
          "src/kube/",
          "src/controller/",
          "src/cli/cluster/",
          "node_modules/yaml/",
          "src/cli/commands/",
        ]).filter((m) => m !== "src/cli/commands/verify.ts"),
        [],
      );
      // The manifest's validator is generated and the vector's tool schemas are plain: no Ajv.
      assert.ok(modules.has("src/artifact/generated/manifest-structure.validator.js"));
      assert.deepEqual(matching(modules, ["node_modules/ajv/"]), []);
    });
  });
}

describe("the bundle", () => {
  test("is taken while its sources are unchanged, and not once one changes", () => {
    assert.equal(bundleEntry(ROOT, bundleDir), bundleMain);
    // A tree of its own, with one input: same content, other time; other content, same size.
    const root = join(scratch, "tree");
    const dist = join(root, "dist", "cli");
    mkdirSync(join(root, "src"), { recursive: true });
    mkdirSync(dist, { recursive: true });
    const source = join(root, "src", "a.ts");
    writeFileSync(source, "export const a = 1;\n");
    const info = JSON.parse(readFileSync(join(bundleDir, "build.json"), "utf8"));
    const stamp = (path: string) => {
      const text = readFileSync(path);
      utimesSync(path, 1_000_000, 1_000_000);
      const sha256 = createHash("sha256").update(text).digest("hex");
      return { size: text.length, mtimeMs: 1_000_000_000, sha256 };
    };
    writeFileSync(
      join(dist, "build.json"),
      JSON.stringify({ entry: "main.js", inputs: { "src/a.ts": stamp(source) } }),
    );
    assert.equal(bundleEntry(root), join(dist, "main.js"));
    utimesSync(source, 2_000_000, 2_000_000);
    assert.equal(bundleEntry(root), join(dist, "main.js"), "a new time alone is no change");
    writeFileSync(source, "export const b = 1;\n");
    assert.equal(bundleEntry(root), undefined, "same size, other content");
    writeFileSync(source, "export const a = 1;\n");
    assert.equal(bundleEntry(root), join(dist, "main.js"), "the content it was built from");
    writeFileSync(source, "export const a = 10;\n");
    assert.equal(bundleEntry(root), undefined, "other size");
    rmSync(source);
    assert.equal(bundleEntry(root), undefined, "a source gone");
    rmSync(join(dist, "build.json"));
    assert.equal(bundleEntry(root), undefined, "never built");
    assert.ok(Object.keys(info.inputs).includes("src/cli/main.ts"));
    assert.ok(Object.keys(info.inputs).includes("node_modules/smol-toml/package.json"));
  });

  test("prints, writes to stderr and exits as the sources do", () => {
    const kubeconfig = join(scratch, "kubeconfig");
    writeFileSync(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]",
        "users: [{name: u, user: {token: t}}]",
        "contexts: [{name: x, context: {cluster: c, user: u}}]",
        "current-context: x",
      ].join("\n"),
    );
    // Tool schemas that need Ajv (loaded from node_modules, not bundled): one it compiles, one
    // it refuses with its own message.
    const example = join(ROOT, "examples", "echo-http");
    const key = join(scratch, "signing.key");
    writeFileSync(key, Buffer.alloc(32, 7));
    const schemaBuild = (name: string, inputSchema: string) => {
      const manifest = join(scratch, `${name}.toml`);
      const text = readFileSync(join(example, "skill.toml"), "utf8");
      const edited = text.replace(/^input_schema = .*$/m, `input_schema = ${inputSchema}`);
      assert.notEqual(edited, text);
      writeFileSync(manifest, edited);
      return [
        ...["build", "--manifest", manifest, "--module", join(example, "modules", "echo.wasm")],
        ...["--sbom", join(example, "sbom.cdx.json")],
        ...["--provenance", join(example, "provenance.json"), "--signing-key-file", key],
        ...["--signed-at-unix-ms", "1764000000000", "--force"],
        ...["--output", join(scratch, `${name}.palyra-skill`)],
      ];
    };
    const patterned = join(scratch, "patterned.palyra-skill");
    for (const args of [
      schemaBuild("patterned", '{ type = "string", pattern = "^[a-z]+$" }'),
      ["verify", patterned, "--json"],
      schemaBuild("refused", "{ type = 12 }"),
      ["--version"],
      ["--help"],
      ["verify", "--help"],
      ["verify", VECTOR, "--trust-store", TRUST],
      ["verify", VECTOR, "--trust-store", TRUST, "--json"],
      ["verify", VECTOR, "--json"],
      ["inspect", VECTOR, "--json"],
      ["audit", VECTOR, "--trust-store", TRUST],
      ["trust", "list", "--trust-store", TRUST],
      ["verify"],
      ["no-such-command"],
      ["toString"],
      // yaml (CommonJS, bundled) parses the kubeconfig; the API server is unreachable.
      ["status", "echo", "--kubeconfig", kubeconfig],
      ["status", "echo", "--kubeconfig", join(scratch, "missing")],
    ]) {
      const sources = cli("sources", args);
      const bundle = cli("bundle", args);
      assert.deepEqual(bundle, sources, `palyra-skill ${args.join(" ")}`);
    }
    assert.equal(cli("bundle", ["toString"]).status, 2, "an Object.prototype name is no command");
  });
});

describe("the launcher", () => {
  /** A stand-in for `node` that says which one it is and with what. */
  function fakeNode(path: string, name: string): void {
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, `#!/bin/sh\necho "${name} $*"\n`);
    chmodSync(path, 0o755);
  }
  const onPath = () => {
    const dir = join(scratch, "path-bin");
    fakeNode(join(dir, "node"), "path-node");
    return `${dir}:/usr/bin:/bin`;
  };

  test("run as a program, it runs the project's Node 24, never the node on PATH", () => {
    const run = spawn(BIN, ["--version"], { PATH: onPath() });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^palyra-skill \d+\.\d+\.\d+ \(.*node v24\./);
    // Through symbolic links (kubectl-palyra_skill on PATH), absolute and relative.
    const links = join(scratch, "links");
    mkdirSync(links, { recursive: true });
    symlinkSync(BIN, join(links, "kubectl-palyra_skill"));
    symlinkSync(relative(links, BIN), join(links, "relative"));
    symlinkSync(join(links, "relative"), join(links, "chained"));
    for (const name of ["kubectl-palyra_skill", "relative", "chained"]) {
      const linked = spawn(join(links, name), ["--version"], { PATH: onPath() });
      assert.equal(linked.status, 0, `${name}: ${linked.stderr}`);
      assert.equal(linked.stdout, run.stdout, name);
    }
  });

  test("it takes the package's own node, else npm's hoisted one, else the node on PATH", () => {
    const project = join(scratch, "project");
    const bin = join(project, "node_modules", "palyra-skills-operator", "bin", "palyra-skill.mjs");
    mkdirSync(join(bin, ".."), { recursive: true });
    copyFileSync(BIN, bin);
    chmodSync(bin, 0o755);
    const path = onPath();
    assert.equal(spawn(bin, ["x"], { PATH: path }).stdout, `path-node ${bin} x\n`);
    fakeNode(join(project, "node_modules", "node", "bin", "node"), "hoisted");
    assert.equal(spawn(bin, ["x", "y z"], { PATH: path }).stdout, `hoisted ${bin} x y z\n`);
    fakeNode(
      join(
        project,
        "node_modules",
        "palyra-skills-operator",
        "node_modules",
        "node",
        "bin",
        "node",
      ),
      "own",
    );
    assert.equal(spawn(bin, ["x"], { PATH: path }).stdout, `own ${bin} x\n`);
  });

  test("outside a node_modules directory it never runs a node beside the checkout", () => {
    // A checkout at <dir>/checkout: <dir>/node/bin/node is not npm's hoisted copy.
    const dir = join(scratch, "workspace");
    const bin = join(dir, "checkout", "bin", "palyra-skill.mjs");
    mkdirSync(join(bin, ".."), { recursive: true });
    copyFileSync(BIN, bin);
    chmodSync(bin, 0o755);
    fakeNode(join(dir, "node", "bin", "node"), "planted");
    assert.equal(spawn(bin, ["x"], { PATH: onPath() }).stdout, `path-node ${bin} x\n`);
  });

  test("started by the machine's older Node, it still runs (with the project's Node 24)", (t) => {
    const machine = spawnSync("/usr/bin/env", ["node", "--version"], {
      encoding: "utf8",
      env: { PATH: "/usr/local/bin:/usr/bin:/bin" },
    });
    const [major = 0, minor = 0] = machine.stdout.slice(1).split(".").map(Number);
    if (machine.status !== 0 || major > 22 || (major === 22 && minor >= 18)) {
      t.skip(`no Node older than 22.18 on this machine (${machine.stdout.trim() || "none"})`);
      return;
    }
    const run = spawn("/usr/bin/env", ["node", BIN, "--version"], {
      PATH: "/usr/local/bin:/usr/bin:/bin",
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /node v24\./);
  });
});

test("--version names the Ed25519 and inflate backends the library uses", () => {
  assert.equal(ed25519Backend(), ED25519_BACKEND);
  assert.equal(inflateBackend(), INFLATE_BACKEND);
  const openssl = spawn(process.execPath, [BIN, "--version"], {
    PALYRA_ED25519_BACKEND: "openssl",
  });
  assert.match(openssl.stdout, /\(ed25519: openssl, /);
  const library = spawn(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `const { ED25519_BACKEND } = await import(${JSON.stringify(pathToFileURL(join(ROOT, "src/artifact/ed25519.ts")).href)}); console.log(ED25519_BACKEND);`,
    ],
    { PALYRA_ED25519_BACKEND: "openssl" },
  );
  assert.equal(library.stdout.trim(), "openssl");
});

test("the cluster commands' client does not load Node's fetch (undici) with node:http", () => {
  // An ES module import of node:http evaluates its lazy WebSocket export, which loads undici.
  const client = pathToFileURL(join(ROOT, "src/kube/client.ts")).href;
  const probe = (module: string) =>
    spawn(process.execPath, [
      "--input-type=module",
      "-e",
      `await import(${JSON.stringify(module)}); console.log(process.moduleLoadList.some((m) => m.includes("undici")));`,
    ]).stdout.trim();
  assert.equal(probe("node:http"), "true", "the probe sees undici when it is loaded");
  assert.equal(probe(client), "false");
});
