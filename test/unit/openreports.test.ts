import assert from "node:assert/strict";
import { test } from "node:test";
import type { Skill } from "../../src/api/v1alpha1/types.generated.ts";
import { buildReport, MAX_RESULTS } from "../../src/reports/openreports.ts";

function skill(
  name: string,
  state: string,
  failedChecks: string[] = [],
  namespace = "team",
): Skill {
  const cond = (type: string, status: string) => ({
    type,
    status: status as "True" | "False",
    reason: "R",
    message: `${type} ${status}`,
    lastTransitionTime: "2026-12-01T00:00:00Z",
  });
  return {
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "Skill",
    metadata: { name, namespace, uid: `uid-${name}` },
    spec: { skillId: `acme.${name}`, publisher: "acme", source: { url: "https://x" } },
    status: {
      state: state as "Enabled",
      payloadSha256: "ab".repeat(32),
      audit: { passed: failedChecks.length === 0, failedChecks },
      quarantineReasons: failedChecks.map((c) => `${c} failed`),
      conditions: [
        cond("Ready", state === "Enabled" ? "True" : "False"),
        cond("Verified", state === "Failed" ? "False" : "True"),
        cond("Trusted", "True"),
      ],
    },
  };
}

test("three results per verified Skill, one when verification failed, none while pending; summary counts them", () => {
  const report = buildReport(
    "team",
    [
      skill("b", "Quarantined", ["wasm_module_validation"]),
      skill("a", "Enabled"),
      skill("c", "Failed"),
      { ...skill("d", "Enabled"), status: {} },
      skill("x", "Enabled", [], "other"),
    ],
    0,
  );
  assert.ok(report);
  assert.deepEqual(
    report.results.map((r) => `${r.resources[0]?.name}:${r.rule}:${r.result}`),
    [
      "a:signature-and-integrity:pass",
      "a:publisher-trust:pass",
      "a:security-audit:pass",
      "b:signature-and-integrity:pass",
      "b:publisher-trust:pass",
      "b:security-audit:fail",
      "c:signature-and-integrity:error",
    ],
  );
  assert.deepEqual(report.summary, { pass: 5, fail: 1, warn: 0, error: 1, skip: 0 });
  assert.equal(
    report.results[0]?.timestamp.seconds,
    Date.parse("2026-12-01T00:00:00Z") / 1000,
    "stable across rebuilds",
  );
});

test("no Skill with a verdict means no report; too many results keep the failures", () => {
  assert.equal(buildReport("team", [], 0), undefined);
  const many = Array.from({ length: MAX_RESULTS }, (_, i) =>
    skill(`s${String(i).padStart(5, "0")}`, "Enabled"),
  );
  many.push(skill("zz-bad", "Quarantined", ["x"]));
  const report = buildReport("team", many, 0);
  assert.equal(report?.results.length, MAX_RESULTS);
  assert.ok(
    report?.results.some((r) => r.result === "fail"),
    "the failure survives the cut",
  );
  assert.equal(report?.summary.fail, 1);
  assert.equal((report?.summary.pass ?? 0) + (report?.summary.fail ?? 0), MAX_RESULTS * 3 + 3);
});
