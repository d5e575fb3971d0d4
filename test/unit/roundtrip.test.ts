import assert from "node:assert/strict";
import { test } from "node:test";
import { auditArtifact } from "../../src/artifact/audit.ts";
import { buildArtifact } from "../../src/artifact/build.ts";
import { SkillError } from "../../src/artifact/errors.ts";
import { parseManifest } from "../../src/artifact/manifest.ts";
import { verificationReport, verifyArtifact } from "../../src/artifact/verify.ts";
import { readArchive } from "../../src/artifact/zip-reader.ts";
import { writeArchive } from "../../src/artifact/zip-writer.ts";
import { assertSkillError } from "../support/assert-error.ts";
import {
  buildEcho,
  ECHO_ENTRY_PATHS,
  echoRequest,
  editManifest,
  TEST_KEY_HEX,
  trustStoreFor,
} from "../support/fixtures.ts";

const trustStore = trustStoreFor();

test("build -> verify -> audit round trip", () => {
  const built = buildArtifact(echoRequest());
  const verified = verifyArtifact(built.artifact, { trustStore });
  assert.equal(verified.payloadSha256, built.payloadSha256);
  assert.equal(verified.publicKeyHex, TEST_KEY_HEX);
  assert.equal(verified.trustDecision, "allowlisted");
  assert.deepEqual(
    verified.entries.map((e) => e.path),
    ECHO_ENTRY_PATHS,
  );
  assert.deepEqual(
    verified.manifest.integrity.files.map((f) => f.path),
    ["assets/prompt.txt", "modules/echo.wasm", "provenance.json", "sbom.cdx.json"],
  );
  const report = verificationReport(verified);
  assert.deepEqual(Object.keys(report), [
    "accepted",
    "trust_decision",
    "payload_sha256",
    "manifest",
    "manifest_warnings",
    "capability_grants",
    "policy_bindings",
  ]);
  assert.equal(auditArtifact(verified).passed, true);
});

test("builds are reproducible for the same inputs and signing time", () => {
  assert.deepEqual(buildEcho(), buildEcho());
  assert.notDeepEqual(buildEcho(), buildEcho({ signedAtUnixMs: 1 }));
});

test("the built manifest is the canonical form and parses back to the same manifest", () => {
  const built = buildArtifact(echoRequest());
  const toml =
    readArchive(built.artifact)
      .find((e) => e.path === "skill.toml")
      ?.data.toString("utf8") ?? "";
  const plain = (value: unknown) => JSON.parse(JSON.stringify(value));
  assert.deepEqual(plain(parseManifest(toml)), plain(built.manifest));
  // A manifest given with an integrity block of its own gets it replaced, not merged.
  const stale = `${echoRequest().manifestToml}\n[[integrity.files]]\npath = "assets/old.txt"\nsha256 = "${"0".repeat(64)}"\n`;
  const rebuilt = buildArtifact(echoRequest({ manifestToml: stale }));
  assert.deepEqual(rebuilt.manifest.integrity.files, built.manifest.integrity.files);
});

test("TOFU round trip: an unknown publisher is pinned when allowed, then recognised", () => {
  const artifact = buildEcho();
  const empty = trustStoreFor("someone-else");
  assertSkillError(() => verifyArtifact(artifact, { trustStore: empty }), "UNTRUSTED_PUBLISHER");
  const first = verifyArtifact(artifact, { trustStore: empty, allowTofu: true });
  assert.equal(first.trustDecision, "tofu_newly_pinned");
  const second = verifyArtifact(artifact, { trustStore: first.trustStore });
  assert.equal(second.trustDecision, "tofu_pinned");
});

test("build rejects bad inputs with typed errors", () => {
  assertSkillError(() => buildEcho({ modules: [] }), "BUILD_INPUT_INVALID", "at least one module");
  assertSkillError(
    () => buildEcho({ modules: [{ path: "echo.txt", data: Buffer.alloc(8) }] }),
    "BUILD_INPUT_INVALID",
    ".wasm",
  );
  assertSkillError(
    () => buildEcho({ modules: [{ path: "../echo.wasm", data: Buffer.alloc(8) }] }),
    "INVALID_ENTRY_PATH",
  );
  assertSkillError(
    () => buildEcho({ modules: [{ path: "echo.wasm", data: Buffer.from("(module)") }] }),
    "BUILD_INPUT_INVALID",
    "not a valid WebAssembly binary module: missing WebAssembly magic header",
  );
  assertSkillError(
    () =>
      buildEcho({
        modules: [{ path: "echo.wasm", data: Buffer.from("\0asm\x01\0\0\0\x01\xff", "latin1") }],
      }),
    "BUILD_INPUT_INVALID",
    "not a valid WebAssembly binary module",
  );
  assertSkillError(
    () =>
      buildEcho({
        assets: [
          { path: "a.txt", data: Buffer.alloc(1) },
          { path: "a.txt", data: Buffer.alloc(2) },
        ],
      }),
    "DUPLICATE_ENTRY",
  );
  assertSkillError(() => buildEcho({ sbom: Buffer.from("{}") }), "SBOM_INVALID");
  assertSkillError(
    () => buildEcho({ provenance: Buffer.from('{"builder": {}}') }),
    "PROVENANCE_INVALID",
  );
  assertSkillError(
    () =>
      buildEcho({
        manifestToml: editManifest('min_palyra_version = "0.1.0"', 'min_palyra_version = "9.0.0"'),
      }),
    "MANIFEST_INCOMPATIBLE",
  );
  assertSkillError(
    () =>
      buildEcho({
        limits: {
          maxArtifactBytes: 1 << 20,
          maxEntryBytes: 16,
          maxTotalBytes: 1 << 20,
          maxEntries: 256,
        },
      }),
    "ENTRY_TOO_LARGE",
  );
});

/** Rewrites one entry's uncompressed bytes, keeping a well-formed ZIP (correct CRC and sizes). */
function withEntry(artifact: Buffer, path: string, data: Buffer): Buffer {
  return writeArchive(readArchive(artifact).map((e) => (e.path === path ? { path, data } : e)));
}

test("flipping any single byte of any payload entry is rejected", () => {
  const artifact = buildEcho();
  let flips = 0;
  for (const entry of readArchive(artifact)) {
    if (entry.path === "signature.json") continue;
    for (let i = 0; i < entry.data.length; i++) {
      const data = Buffer.from(entry.data);
      data[i] = (data[i] as number) ^ 0xff;
      const tampered = withEntry(artifact, entry.path, data);
      assert.throws(
        () => verifyArtifact(tampered, { trustStore }),
        (error: unknown) => error instanceof SkillError,
        `flip of byte ${i} of ${entry.path} was accepted`,
      );
      flips++;
    }
  }
  assert.ok(flips > 1000, `only ${flips} flips tried`);
});

test("flipping any byte of the archive file is rejected or leaves the verified content unchanged", () => {
  const artifact = buildEcho();
  const original = verifyArtifact(artifact, { trustStore });
  let accepted = 0;
  for (let i = 0; i < artifact.length; i++) {
    const tampered = Buffer.from(artifact);
    tampered[i] = (tampered[i] as number) ^ 0xff;
    try {
      const verified = verifyArtifact(tampered, { trustStore });
      accepted++;
      assert.equal(verified.payloadSha256, original.payloadSha256, `byte ${i}`);
      assert.deepEqual(verified.manifest, original.manifest);
      assert.deepEqual(
        verified.entries.map((e) => [e.path, e.data]),
        original.entries.map((e) => [e.path, e.data]),
      );
    } catch (error) {
      assert.ok(error instanceof SkillError, `byte ${i}: ${String(error)}`);
    }
  }
  // Only metadata the format ignores (timestamps, attributes, version fields) may change.
  assert.ok(accepted < artifact.length / 4, `${accepted} of ${artifact.length} flips accepted`);
});

test("verify warns about a module that is not WebAssembly (it verifies; the audit fails it)", () => {
  const good = verifyArtifact(buildEcho(), { trustStore: trustStoreFor() });
  assert.equal(
    good.manifestWarnings.some((w) => w.code === "module_not_webassembly"),
    false,
  );
  const text = buildArtifact({
    ...echoRequest({ modules: [{ path: "echo.wasm", data: Buffer.from("(module)") }] }),
    allowInvalidModules: true,
  });
  const verified = verifyArtifact(text.artifact, { trustStore: trustStoreFor() });
  const warning = verified.manifestWarnings.find((w) => w.code === "module_not_webassembly");
  assert.deepEqual(warning, {
    code: "module_not_webassembly",
    severity: "warning",
    message:
      "module 'modules/echo.wasm' is not a WebAssembly binary module (missing WebAssembly magic header); the audit will fail it",
  });
  assert.deepEqual(
    verificationReport(verified).manifest_warnings,
    verified.manifestWarnings,
    "the report carries it",
  );
});
