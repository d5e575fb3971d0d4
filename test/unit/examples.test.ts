import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { compileWat } from "../../scripts/compile-wat.ts";
import { auditArtifact } from "../../src/artifact/audit.ts";
import { buildArtifact } from "../../src/artifact/build.ts";
import { sha256Hex } from "../../src/artifact/payload.ts";
import { verifyArtifact } from "../../src/artifact/verify.ts";
import { inspectWasm } from "../../src/artifact/wasm.ts";
import { EXAMPLES, exampleFile, TEST_KEY, trustStoreFor } from "../support/fixtures.ts";

// Skill examples are the folders with a skill.toml (examples/k8s holds Kubernetes resources).
const examples = readdirSync(EXAMPLES, { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(new URL(`${e.name}/skill.toml`, EXAMPLES)))
  .map((e) => e.name);

test("there are at least two examples", () => assert.ok(examples.length >= 2));

for (const example of examples) {
  test(`${example}: committed modules are exactly what their sources compile to`, async () => {
    const sources = readdirSync(new URL(`${example}/src/`, EXAMPLES)).filter((f) =>
      f.endsWith(".wat"),
    );
    assert.ok(sources.length > 0);
    for (const source of sources) {
      const wasm = await compileWat(exampleFile(example, `src/${source}`).toString("utf8"), source);
      const committed = exampleFile(example, `modules/${source.replace(/\.wat$/, ".wasm")}`);
      assert.deepEqual(
        Buffer.from(wasm),
        committed,
        `${source} is stale: run scripts/compile-wat.ts`,
      );
      assert.equal(inspectWasm(committed).valid, true);
      const provenance = JSON.parse(exampleFile(example, "provenance.json").toString("utf8"));
      const subject = provenance.subject.find(
        (s: { name: string }) => s.name === `modules/${source.replace(/\.wat$/, ".wasm")}`,
      );
      assert.equal(
        subject?.digest.sha256,
        sha256Hex(committed),
        "provenance names the module's digest",
      );
    }
  });
}

test("echo-http passes the audit and fetch-anything is quarantined for its wildcard", () => {
  const outcome = (example: string, module: string) => {
    const built = buildArtifact({
      manifestToml: exampleFile(example, "skill.toml").toString("utf8"),
      modules: [{ path: module, data: exampleFile(example, `modules/${module}`) }],
      assets: [{ path: "prompt.txt", data: exampleFile(example, "assets/prompt.txt") }],
      sbom: exampleFile(example, "sbom.cdx.json"),
      provenance: exampleFile(example, "provenance.json"),
      signingKey: TEST_KEY,
    });
    return auditArtifact(verifyArtifact(built.artifact, { trustStore: trustStoreFor() }));
  };
  assert.equal(outcome("echo-http", "echo.wasm").passed, true);
  const fetch = outcome("fetch-anything", "fetch.wasm");
  assert.equal(fetch.should_quarantine, true);
  assert.deepEqual(
    fetch.checks.filter((c) => c.status === "fail").map((c) => c.check_id),
    ["forbidden_wildcard_capabilities"],
  );
  assert.ok(
    readFileSync(new URL("fetch-anything/skill.toml", EXAMPLES), "utf8").includes(
      'http_egress_allowlist = ["*"]',
    ),
  );
});
