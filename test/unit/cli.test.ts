/** The palyra-skill CLI as a user runs it: real processes, real files, exit codes, --json. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { buildArtifact } from "../../src/artifact/build.ts";
import { ECHO_ENTRY_PATHS, echoRequest, TEST_KEY_HEX } from "../support/fixtures.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const EXAMPLES = join(ROOT, "examples");
const BIN = join(ROOT, "bin", "palyra-skill.mjs");
let dir: string;

function cli(args: string[], input?: string, env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: "utf8",
    input,
    env: { ...process.env, PALYRA_SKILL_AUDIT_VULN_FEED_HOOK: "", ...env },
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function buildExample(
  name: string,
  module: string,
  output: string,
  keyArgs = ["--signing-key-file", "dev.key"],
) {
  return cli([
    "build",
    "--manifest",
    join(EXAMPLES, name, "skill.toml"),
    "--module",
    join(EXAMPLES, name, "modules", module),
    "--asset",
    join(EXAMPLES, name, "assets", "prompt.txt"),
    "--sbom",
    join(EXAMPLES, name, "sbom.cdx.json"),
    "--provenance",
    join(EXAMPLES, name, "provenance.json"),
    ...keyArgs,
    "--output",
    output,
    "--json",
  ]);
}

let publicKey: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "palyra-cli-"));
  const keygen = cli(["keygen", "--output", "dev.key", "--json"]);
  assert.equal(keygen.status, 0, keygen.stderr);
  publicKey = JSON.parse(keygen.stdout).public_key_hex;
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("--version names the package version and the Ed25519 and inflate libraries", () => {
  const run = cli(["--version"]);
  assert.equal(run.status, 0);
  assert.match(
    run.stdout,
    /^palyra-skill \d+\.\d+\.\d+ \(ed25519: ed25519-dalek, inflate: zlib-rs, node v24\./,
  );
  const fallback = cli(["--version"], undefined, { PALYRA_INFLATE_BACKEND: "zlib" });
  assert.match(fallback.stdout, /inflate: node:zlib,/);
  const libsodium = cli(["--version"], undefined, { PALYRA_ED25519_BACKEND: "libsodium" });
  assert.match(libsodium.stdout, /\(ed25519: libsodium,/);
});

test("keygen writes a 0600 hex seed and its public key, and never overwrites silently", () => {
  assert.equal(statSync(join(dir, "dev.key")).mode & 0o777, 0o600);
  assert.match(readFileSync(join(dir, "dev.key"), "utf8"), /^[0-9a-f]{64}\n$/);
  assert.equal(readFileSync(join(dir, "dev.key.pub"), "utf8").trim(), publicKey);
  const again = cli(["keygen", "--output", "dev.key"]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /exists; pass --force/);
});

test("build, verify and audit the examples with documented exit codes", () => {
  const built = buildExample("echo-http", "echo.wasm", "echo.palyra-skill");
  assert.equal(built.status, 0, built.stderr);
  const summary = JSON.parse(built.stdout);
  assert.equal(summary.skill_id, "acme.echo_http");
  assert.match(summary.signature_key_id, /^ed25519:[0-9a-f]{16}$/);

  const trusted = ["--trusted-publisher", `acme=${publicKey}`];
  const verify = cli(["verify", "echo.palyra-skill", ...trusted, "--json"]);
  assert.equal(verify.status, 0, verify.stderr);
  const report = JSON.parse(verify.stdout);
  assert.equal(report.accepted, true);
  assert.equal(report.trust_decision, "allowlisted");
  assert.equal(report.payload_sha256, summary.payload_sha256);
  assert.equal(report.manifest.skill_id, "acme.echo_http");
  assert.deepEqual(report.capability_grants.http_hosts, ["echo.acme.example"]);
  assert.ok(Array.isArray(report.policy_bindings) && Array.isArray(report.manifest_warnings));

  const untrusted = cli(["verify", "echo.palyra-skill", "--json"]);
  assert.equal(untrusted.status, 1);
  assert.deepEqual(Object.keys(JSON.parse(untrusted.stdout).error), ["code", "message"]);
  assert.equal(JSON.parse(untrusted.stdout).error.code, "UNTRUSTED_PUBLISHER");

  const audit = cli(["audit", "echo.palyra-skill", ...trusted, "--json"]);
  assert.equal(audit.status, 0, audit.stderr);
  assert.equal(JSON.parse(audit.stdout).passed, true);

  assert.equal(buildExample("fetch-anything", "fetch.wasm", "fetch.palyra-skill").status, 0);
  const quarantined = cli(["audit", "fetch.palyra-skill", ...trusted]);
  assert.equal(quarantined.status, 3);
  assert.match(quarantined.stdout, /should_quarantine=true/);
  assert.match(quarantined.stdout, /wildcard capabilities/);
  // Each failed or warned check is named with its message, not only counted.
  const counted = Number(/ failed_checks=(\d+)/.exec(quarantined.stdout)?.[1] ?? -1);
  const warned = Number(/ warnings=(\d+)/.exec(quarantined.stdout)?.[1] ?? -1);
  const named = quarantined.stdout
    .split("\n")
    .filter((l) => /^skill\.audit\.(fail|warn) [a-z_]+: /.test(l));
  assert.ok(counted > 0);
  assert.equal(named.length, counted + warned, quarantined.stdout);
  assert.equal(
    cli(["audit", "fetch.palyra-skill", ...trusted, "--allow-wildcard-capabilities"]).status,
    0,
  );
  assert.equal(cli(["audit", "fetch.palyra-skill"]).status, 1);
});

test("build reads the signing key from stdin", () => {
  const seed = readFileSync(join(dir, "dev.key"), "utf8");
  const built = buildExample("echo-http", "echo.wasm", "stdin.palyra-skill", [
    "--signing-key-stdin",
  ]);
  assert.equal(built.status, 2, "no stdin given: empty key is a usage error");
  const run = spawnSync(
    process.execPath,
    [
      BIN,
      "build",
      "--manifest",
      join(EXAMPLES, "echo-http/skill.toml"),
      "--module",
      join(EXAMPLES, "echo-http/modules/echo.wasm"),
      "--sbom",
      join(EXAMPLES, "echo-http/sbom.cdx.json"),
      "--provenance",
      join(EXAMPLES, "echo-http/provenance.json"),
      "--signing-key-stdin",
      "--output",
      "stdin.palyra-skill",
    ],
    { cwd: dir, input: seed, encoding: "utf8" },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.equal(
    cli(["verify", "stdin.palyra-skill", "--trusted-publisher", `acme=${publicKey}`]).status,
    0,
  );
});

test("verify --allow-tofu pins a new publisher key into the trust store file", () => {
  assert.equal(buildExample("echo-http", "echo.wasm", "tofu.palyra-skill").status, 0);
  const store = join(dir, "store.json");
  writeFileSync(store, JSON.stringify({ trusted_publishers: {}, tofu_publishers: {} }));
  assert.equal(cli(["verify", "tofu.palyra-skill", "--trust-store", store]).status, 1);
  const first = cli([
    "verify",
    "tofu.palyra-skill",
    "--trust-store",
    store,
    "--allow-tofu",
    "--json",
  ]);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(JSON.parse(first.stdout).trust_decision, "tofu_newly_pinned");
  assert.deepEqual(JSON.parse(readFileSync(store, "utf8")), {
    trusted_publishers: {},
    tofu_publishers: { acme: publicKey },
  });
  const second = cli(["verify", "tofu.palyra-skill", "--trust-store", store, "--json"]);
  assert.equal(JSON.parse(second.stdout).trust_decision, "tofu_pinned");
});

test("verify with a trust store path that does not exist is IO_ERROR (exit 2) unless --init-trust-store", () => {
  assert.equal(buildExample("echo-http", "echo.wasm", "typo.palyra-skill").status, 0);
  const missing = join(dir, "nope.json");
  for (const extra of [[], ["--allow-tofu"]]) {
    const run = cli(["verify", "typo.palyra-skill", "--trust-store", missing, ...extra, "--json"]);
    assert.equal(run.status, 2, run.stdout);
    const error = JSON.parse(run.stdout).error;
    assert.equal(error.code, "IO_ERROR");
    assert.match(error.message, /nope\.json does not exist/);
    assert.match(error.message, /--init-trust-store/);
    assert.equal(existsSync(missing), false, "nothing was created");
  }
  const audit = cli(["audit", "typo.palyra-skill", "--trust-store", missing]);
  assert.equal(audit.status, 2);
  assert.match(audit.stderr, /error\[IO_ERROR\]: trust store .*nope\.json does not exist/);
  // Asked for: a new store is started and the first key pinned in it.
  const init = cli([
    "verify",
    "typo.palyra-skill",
    "--trust-store",
    missing,
    "--allow-tofu",
    "--init-trust-store",
    "--json",
  ]);
  assert.equal(init.status, 0, init.stderr);
  assert.equal(JSON.parse(init.stdout).trust_decision, "tofu_newly_pinned");
  assert.deepEqual(JSON.parse(readFileSync(missing, "utf8")).tofu_publishers, { acme: publicKey });
});

test("build refuses the public half of a key, prints the key id it signed with, and --expect-key-id pins it", () => {
  const pub = buildExample("echo-http", "echo.wasm", "pub.palyra-skill", [
    "--signing-key-file",
    "dev.key.pub",
  ]);
  assert.equal(pub.status, 2, pub.stdout);
  const error = JSON.parse(pub.stdout).error;
  assert.equal(error.code, "USAGE");
  assert.match(
    error.message,
    /dev\.key\.pub is a public key file .* sign with the private key \(dev\.key\)/,
  );
  assert.equal(existsSync(join(dir, "pub.palyra-skill")), false);

  const keyId = JSON.parse(cli(["keygen", "--output", "id.key", "--json"]).stdout).key_id as string;
  const signed = buildExample("echo-http", "echo.wasm", "pinned.palyra-skill", [
    "--signing-key-file",
    "id.key",
    "--expect-key-id",
    keyId,
  ]);
  assert.equal(signed.status, 0, signed.stdout + signed.stderr);
  assert.equal(JSON.parse(signed.stdout).signature_key_id, keyId);
  const wrong = buildExample("echo-http", "echo.wasm", "wrong.palyra-skill", [
    "--signing-key-file",
    "dev.key",
    "--expect-key-id",
    keyId,
  ]);
  assert.equal(wrong.status, 2);
  assert.match(
    JSON.parse(wrong.stdout).error.message,
    /not the expected .* \(--expect-key-id\): wrong key file\?/,
  );
  assert.equal(existsSync(join(dir, "wrong.palyra-skill")), false);
  const text = cli(["build", "--help"]);
  assert.match(text.stdout, /--expect-key-id/);
});

test("build, like keygen, replaces an existing output only with --force and never creates directories", () => {
  assert.equal(buildExample("echo-http", "echo.wasm", "twice.palyra-skill").status, 0);
  const before = readFileSync(join(dir, "twice.palyra-skill"));
  const again = buildExample("echo-http", "echo.wasm", "twice.palyra-skill");
  assert.equal(again.status, 2);
  assert.match(JSON.parse(again.stdout).error.message, /twice\.palyra-skill exists; pass --force/);
  assert.ok(readFileSync(join(dir, "twice.palyra-skill")).equals(before), "left as it was");
  const forced = buildExample("echo-http", "echo.wasm", "twice.palyra-skill", [
    "--signing-key-file",
    "dev.key",
    "--force",
  ]);
  assert.equal(forced.status, 0, forced.stdout);
  const nested = buildExample("echo-http", "echo.wasm", "no/such/dir/x.palyra-skill");
  assert.equal(nested.status, 2);
  assert.equal(JSON.parse(nested.stdout).error.code, "IO_ERROR");
  assert.match(JSON.parse(nested.stdout).error.message, /does not exist; create it first/);
  assert.equal(existsSync(join(dir, "no")), false);
});

test("each command's --help lists every flag it takes", () => {
  const verifying = [
    "--trust-store",
    "--trusted-publisher",
    "--allow-tofu",
    "--init-trust-store",
    "--runtime-version",
    "--runtime-protocol-major",
  ];
  const cluster = [
    "-n NAMESPACE",
    "--context",
    "--kubeconfig",
    "--as",
    "--as-group",
    "-o table|json|yaml",
  ];
  const expected: Record<string, string[]> = {
    build: [
      "--manifest",
      "--module",
      "--asset",
      "--sbom",
      "--provenance",
      "--signing-key-file",
      "--signing-key-stdin",
      "--expect-key-id",
      "--output",
      "--force",
      "--signed-at-unix-ms",
      "--json",
    ],
    verify: [
      ...verifying,
      "--json",
      "--cluster",
      "--policy",
      "-n NAMESPACE",
      "--context",
      "--kubeconfig",
    ],
    audit: [
      ...verifying,
      "--max-module-bytes",
      "--max-exported-functions",
      "--allow-wildcard-capabilities",
      "--allow-device-capabilities",
      "--json",
    ],
    keygen: ["--output", "--force", "--json"],
    trust: ["--trust-store", "--publisher", "--key", "--json"],
    inspect: ["--json"],
    status: cluster,
    approve: ["--reason", "--yes", ...cluster],
    quarantine: cluster,
    enable: cluster,
    pins: ["--policy", ...cluster],
  };
  for (const [command, flags] of Object.entries(expected)) {
    const help = cli([command, "--help"]);
    assert.equal(help.status, 0);
    for (const flag of flags)
      assert.ok(help.stdout.includes(flag), `${command} --help lacks ${flag}`);
  }
});

test("an invalid SBOM or provenance passed to build is named by the path the user gave", () => {
  const badSbom = join(dir, "my-bom.json");
  writeFileSync(badSbom, JSON.stringify({ bomFormat: "SPDX", specVersion: "1.5" }));
  const run = cli([
    "build",
    "--manifest",
    join(EXAMPLES, "echo-http", "skill.toml"),
    "--module",
    join(EXAMPLES, "echo-http", "modules", "echo.wasm"),
    "--sbom",
    badSbom,
    "--provenance",
    join(EXAMPLES, "echo-http", "provenance.json"),
    "--signing-key-file",
    "dev.key",
    "--output",
    "bad-sbom.palyra-skill",
    "--json",
  ]);
  assert.equal(run.status, 1, run.stdout);
  const error = JSON.parse(run.stdout).error;
  assert.equal(error.code, "SBOM_INVALID");
  assert.match(error.message, /^--sbom .*my-bom\.json: /);
});

test("trust add / list / remove edit a store file", () => {
  const store = "edit.json";
  assert.equal(
    cli([
      "trust",
      "add",
      "--trust-store",
      store,
      "--publisher",
      "acme",
      "--key",
      publicKey.toUpperCase(),
    ]).status,
    0,
  );
  const listed = cli(["trust", "list", "--trust-store", store, "--json"]);
  assert.deepEqual(JSON.parse(listed.stdout), {
    trusted_publishers: { acme: [publicKey] },
    tofu_publishers: {},
  });
  assert.equal(
    cli(["trust", "add", "--trust-store", store, "--publisher", "acme", "--key", "abc"]).status,
    1,
  );
  assert.equal(cli(["trust", "remove", "--trust-store", store, "--publisher", "acme"]).status, 0);
  assert.deepEqual(
    JSON.parse(cli(["trust", "list", "--trust-store", store, "--json"]).stdout).trusted_publishers,
    {},
  );
});

test("inspect shows manifest, entries and signature without a trust decision", () => {
  assert.equal(buildExample("echo-http", "echo.wasm", "inspect.palyra-skill").status, 0);
  const inspected = JSON.parse(cli(["inspect", "inspect.palyra-skill", "--json"]).stdout);
  assert.equal(inspected.manifest.publisher, "acme");
  assert.equal(inspected.signature.public_key_hex, publicKey);
  assert.deepEqual(
    inspected.entries.map((e: { path: string }) => e.path),
    ECHO_ENTRY_PATHS,
  );
  assert.equal(inspected.trust_decision, undefined);
});

test("bad input gets one line and an exit code, never a stack trace", () => {
  writeFileSync(join(dir, "garbage.palyra-skill"), "not a zip at all");
  // A sparse file past the 64 MiB limit: refused from its size, never read into memory.
  writeFileSync(join(dir, "huge.palyra-skill"), "");
  truncateSync(join(dir, "huge.palyra-skill"), 64 * 1024 * 1024 + 1);
  const cases: [string[], number, RegExp][] = [
    [["verify", "garbage.palyra-skill"], 1, /^error\[ARCHIVE_MALFORMED\]: /],
    [
      ["inspect", "huge.palyra-skill"],
      1,
      /^error\[ARTIFACT_TOO_LARGE\]: artifact huge\.palyra-skill is 67108865 bytes/,
    ],
    [["verify", "missing.palyra-skill"], 2, /^error\[IO_ERROR\]: cannot read artifact/],
    [["verify"], 2, /^error\[USAGE\]/],
    [["verify", "x", "--bogus"], 2, /^error\[USAGE\]/],
    [
      ["verify", "garbage.palyra-skill", "--trusted-publisher", "acme"],
      2,
      /expected 'publisher=ed25519_hex_key'/,
    ],
    [["frobnicate"], 2, /unknown command/],
    [["audit", "garbage.palyra-skill", "--max-module-bytes=-1"], 2, /positive integer/],
  ];
  for (const [args, status, pattern] of cases) {
    const run = cli(args);
    assert.equal(run.status, status, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, pattern);
    assert.equal(
      run.stderr.trim().split("\n").length,
      1,
      `${args.join(" ")} printed more than one line`,
    );
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  }
  const json = cli(["verify", "garbage.palyra-skill", "--json"]);
  assert.equal(JSON.parse(json.stdout).error.code, "ARCHIVE_MALFORMED");
  assert.equal(json.stderr, "");
});

test("build refuses a module that is not WebAssembly; verify warns about one built elsewhere", () => {
  writeFileSync(join(dir, "text.wasm"), "(module)\n");
  const run = cli([
    "build",
    "--manifest",
    join(EXAMPLES, "echo-http", "skill.toml"),
    "--module",
    join(dir, "text.wasm"),
    "--sbom",
    join(EXAMPLES, "echo-http", "sbom.cdx.json"),
    "--provenance",
    join(EXAMPLES, "echo-http", "provenance.json"),
    "--signing-key-file",
    "dev.key",
    "--output",
    "text.palyra-skill",
  ]);
  assert.equal(run.status, 1, run.stderr);
  assert.match(
    run.stderr,
    /^error\[BUILD_INPUT_INVALID\]: module '.*text\.wasm' is not a valid WebAssembly binary module: missing WebAssembly magic header\n$/,
  );
  assert.equal(existsSync(join(dir, "text.palyra-skill")), false);

  // Another builder may sign such a module: verify accepts the signature and says so.
  const artifact = buildArtifact({
    ...echoRequest({ modules: [{ path: "echo.wasm", data: Buffer.from("(module)") }] }),
    allowInvalidModules: true,
  }).artifact;
  writeFileSync(join(dir, "elsewhere.palyra-skill"), artifact);
  const trusted = ["--trusted-publisher", `acme=${TEST_KEY_HEX}`];
  const text = cli(["verify", "elsewhere.palyra-skill", ...trusted]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(
    text.stdout,
    /^skills\.package\.verify\.warning code=module_not_webassembly message=.*modules\/echo\.wasm.*the audit will fail it/m,
  );
  const json = JSON.parse(cli(["verify", "elsewhere.palyra-skill", ...trusted, "--json"]).stdout);
  assert.ok(
    json.manifest_warnings.some((w: { code: string }) => w.code === "module_not_webassembly"),
  );
  const audit = cli(["audit", "elsewhere.palyra-skill", ...trusted]);
  assert.equal(audit.status, 3);
  assert.match(audit.stdout, /^skill\.audit\.fail wasm_module_validation: /m);
});

test("audit never reports the vulnerability feed hook as pass: nothing is scanned", () => {
  const trusted = ["--trusted-publisher", `acme=${publicKey}`];
  assert.equal(buildExample("echo-http", "echo.wasm", "hook.palyra-skill").status, 0);
  const run = spawnSync(
    process.execPath,
    [BIN, "audit", "hook.palyra-skill", ...trusted, "--json"],
    {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, PALYRA_SKILL_AUDIT_VULN_FEED_HOOK: "https://feed.example/hook" },
    },
  );
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.vulnerability_scan.status, "warn");
  assert.equal(report.vulnerability_scan.details.scanned, false);
  const check = report.checks.find(
    (c: { check_id: string }) => c.check_id === "vulnerability_feed_hook",
  );
  assert.equal(check.status, "warn");
});

test("a tampered artifact's error names the entry that changed", () => {
  const vectors = join(ROOT, "test", "vectors", "reference");
  const run = cli([
    "verify",
    join(vectors, "tampered-asset.palyra-skill"),
    "--trust-store",
    join(vectors, "trust-allow.json"),
    "--json",
  ]);
  assert.equal(run.status, 1);
  const { error } = JSON.parse(run.stdout);
  assert.equal(error.code, "PAYLOAD_HASH_MISMATCH");
  assert.match(
    error.message,
    /^artifact payload hash mismatch: .*changed since signing: 'assets\/[^']+'/,
  );
});
