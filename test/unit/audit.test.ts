import assert from "node:assert/strict";
import { before, test } from "node:test";
import { compileWat } from "../../scripts/compile-wat.ts";
import { type AuditReport, auditArtifact } from "../../src/artifact/audit.ts";
import { buildArtifact } from "../../src/artifact/build.ts";
import { verifyArtifact } from "../../src/artifact/verify.ts";
import { inspectWasm } from "../../src/artifact/wasm.ts";
import { echoRequest, editManifest, trustStoreFor } from "../support/fixtures.ts";

let manyExports: Uint8Array;
let wasiFilesystem: Uint8Array;
let preview1PathOpen: Uint8Array;
let preview1FdWrite: Uint8Array;

before(async () => {
  const funcs = Array.from({ length: 130 }, (_, i) => `(func (export "f${i}"))`).join("\n");
  manyExports = await compileWat(
    `(module ${funcs} (memory (export "memory") 1) (global (export "g") i32 (i32.const 0)))`,
    "many.wat",
  );
  wasiFilesystem = await compileWat(
    `(module (import "wasi:filesystem/types@0.2.0" "open-at" (func (param i32))) (func (export "run")))`,
    "fs.wat",
  );
  preview1PathOpen = await compileWat(
    `(module (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32))) (func (export "run")))`,
    "p1.wat",
  );
  preview1FdWrite = await compileWat(
    `(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (func (export "run")))`,
    "fdw.wat",
  );
});

function auditOf(
  parts: { manifest?: string; module?: Uint8Array },
  policy: Parameters<typeof auditArtifact>[1] = {},
): AuditReport {
  const request = echoRequest({
    ...(parts.manifest === undefined ? {} : { manifestToml: parts.manifest }),
    ...(parts.module === undefined ? {} : { modules: [{ path: "echo.wasm", data: parts.module }] }),
  });
  // The audit must judge modules build would refuse: such artifacts exist (other builders).
  const built = buildArtifact({ ...request, allowInvalidModules: true });
  const verified = verifyArtifact(built.artifact, { trustStore: trustStoreFor() });
  return auditArtifact(verified, { nowUnixMs: 1, ...policy });
}

const statusOf = (report: AuditReport, id: string) =>
  report.checks.find((c) => c.check_id === id)?.status;

test("the example passes, with the reference's check ids in the reference's order", () => {
  const report = auditOf({});
  assert.equal(report.passed, true);
  assert.equal(report.should_quarantine, false);
  assert.deepEqual(report.quarantine_reasons, []);
  assert.deepEqual(
    report.checks.map((c) => c.check_id),
    [
      "signature_validity",
      "sbom_presence",
      "provenance_presence",
      "manifest_sanity",
      "manifest_filesystem_scopes",
      "manifest_http_egress_scopes",
      "manifest_secret_scopes",
      "forbidden_device_capabilities",
      "forbidden_wildcard_capabilities",
      "wasm_module_presence",
      "wasm_module_size_limit",
      "wasm_exported_function_limit",
      "wasm_wasi_filesystem_imports",
      "vulnerability_feed_hook",
    ],
  );
  assert.equal(statusOf(report, "vulnerability_feed_hook"), "warn");
  assert.deepEqual(report.vulnerability_scan, report.checks.at(-1));
  assert.equal(report.generated_at_unix_ms, 1);
  assert.deepEqual(report.policy, {
    max_module_bytes: 8388608,
    max_exported_functions: 128,
    allow_device_capabilities: false,
    allow_wildcard_capabilities: false,
  });
});

test("module size limit: fail past max_module_bytes and skip the module's other checks", () => {
  const report = auditOf({}, { policy: { max_module_bytes: 16 } });
  assert.equal(report.should_quarantine, true);
  assert.match(report.quarantine_reasons[0] ?? "", /exceeds max_module_bytes \(72 > 16\)/);
  assert.equal(statusOf(report, "wasm_exported_function_limit"), undefined);
});

test("invalid WebAssembly fails wasm_module_validation", () => {
  const report = auditOf({ module: Buffer.from("\0asm\x01\0\0\0\x01\xff", "latin1") });
  assert.equal(statusOf(report, "wasm_module_validation"), "fail");
  const text = auditOf({ module: Buffer.from("(module)") });
  assert.equal(statusOf(text, "wasm_module_validation"), "fail");
  assert.equal(statusOf(text, "manifest_warning:module_not_webassembly"), "warn");
});

test("exported function limit counts functions only and honours the policy", () => {
  const wasm = inspectWasm(manyExports);
  assert.equal(wasm.valid, true);
  assert.equal(wasm.exportedFunctions, 130);
  assert.equal(wasm.exports.length, 132);
  const report = auditOf({ module: manyExports });
  assert.equal(statusOf(report, "wasm_exported_function_limit"), "fail");
  assert.ok(
    report.quarantine_reasons.some((r) => r.includes("exports too many functions (130 > 128)")),
  );
  assert.equal(
    statusOf(
      auditOf({ module: manyExports }, { policy: { max_exported_functions: 130 } }),
      "wasm_exported_function_limit",
    ),
    "pass",
  );
});

test("WASI filesystem imports need declared filesystem roots", () => {
  const withRoots = editManifest("read_roots = []", 'read_roots = ["data"]');
  for (const module of [wasiFilesystem, preview1PathOpen]) {
    assert.equal(statusOf(auditOf({ module }), "wasm_wasi_filesystem_imports"), "fail");
    assert.equal(
      statusOf(auditOf({ module, manifest: withRoots }), "wasm_wasi_filesystem_imports"),
      "pass",
    );
  }
  assert.equal(
    statusOf(auditOf({ module: preview1FdWrite }), "wasm_wasi_filesystem_imports"),
    "pass",
  );
});

test("device capabilities fail unless the policy allows them", () => {
  const manifest = editManifest(
    "[capabilities]\n",
    '[capabilities]\ndevice_capabilities = ["camera"]\n',
  );
  const report = auditOf({ manifest });
  assert.equal(statusOf(report, "forbidden_device_capabilities"), "fail");
  assert.equal(
    statusOf(
      auditOf({ manifest }, { policy: { allow_device_capabilities: true } }),
      "forbidden_device_capabilities",
    ),
    "pass",
  );
});

test("any wildcard opt-in fails unless the policy allows wildcards", () => {
  for (const flag of ["filesystem", "http_egress", "secrets", "device", "node"]) {
    const manifest = editManifest(
      "[compat]",
      `[capabilities.wildcard_opt_in]\n${flag} = true\n\n[compat]`,
    );
    const report = auditOf({ manifest });
    const check = report.checks.find((c) => c.check_id === "forbidden_wildcard_capabilities");
    assert.equal(check?.status, "fail", flag);
    assert.deepEqual(check?.details, { wildcard_opt_ins: [flag] });
    assert.equal(
      statusOf(
        auditOf({ manifest }, { policy: { allow_wildcard_capabilities: true } }),
        "forbidden_wildcard_capabilities",
      ),
      "pass",
    );
  }
});

test("manifest warnings become warn checks; a configured vulnerability hook that nothing runs is a warn, never a pass", () => {
  const legacy = editManifest("manifest_version = 2", "manifest_version = 1").replace(
    /\[operator\][^[]*$/s,
    "",
  );
  const report = auditOf(
    { manifest: legacy },
    { vulnerabilityFeedHook: " https://feed.example/hook " },
  );
  assert.equal(statusOf(report, "manifest_warning:legacy_manifest_version"), "warn");
  assert.equal(statusOf(report, "manifest_warning:missing_operator_metadata"), "warn");
  assert.equal(statusOf(report, "vulnerability_feed_hook"), "warn");
  assert.equal(report.vulnerability_scan.status, "warn");
  assert.match(report.vulnerability_scan.message, /no vulnerability scan was performed/);
  assert.deepEqual(report.vulnerability_scan.details, {
    hook: "https://feed.example/hook",
    scanned: false,
  });
  assert.equal(report.passed, true, "warnings do not quarantine");
  const withSecret = auditOf({}, { vulnerabilityFeedHook: "https://user:s3cret@feed.example/h" });
  assert.doesNotMatch(JSON.stringify(withSecret), /s3cret/);
});
