/** metav1.Condition bookkeeping and label selection: the pure helpers the reconcilers share. */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { SkillTrustPolicy } from "../../src/api/v1alpha1/types.generated.ts";
import { resolvePolicy, selectorMatches } from "../../src/controller/policy/select.ts";
import { type Condition, rfc3339, setConditions } from "../../src/kube/conditions.ts";

const T0 = new Date("2026-01-01T00:00:00.123Z");
const T1 = new Date("2026-01-02T00:00:00Z");

test("lastTransitionTime moves only when the status does; absent types are removed; order is stable", () => {
  const first = setConditions(
    undefined,
    [
      { type: "Zeta", status: "True", reason: "A", message: "a" },
      { type: "Ready", status: "False", reason: "B", message: "b" },
      { type: "Stalled", status: "True", reason: "B", message: "b" },
    ],
    { generation: 1, now: T0, order: ["Ready"] },
  );
  assert.deepEqual(
    first.map((c) => c.type),
    ["Ready", "Stalled", "Zeta"],
  );
  assert.equal(first[0]?.lastTransitionTime, "2026-01-01T00:00:00Z");
  const second = setConditions(
    first as Condition[],
    [
      { type: "Ready", status: "False", reason: "C", message: "changed reason" },
      { type: "Zeta", status: "False", reason: "A", message: "a" },
    ],
    { generation: 2, now: T1, order: ["Ready"] },
  );
  assert.deepEqual(
    second.map((c) => [c.type, c.lastTransitionTime, c.observedGeneration]),
    [
      ["Ready", "2026-01-01T00:00:00Z", 2],
      ["Zeta", "2026-01-02T00:00:00Z", 2],
    ],
  );
  assert.equal(rfc3339(T0), "2026-01-01T00:00:00Z");
});

test("label selectors follow Kubernetes semantics and fail closed on unknown operators", () => {
  const labels = { team: "a", tier: "prod" };
  assert.equal(selectorMatches(undefined, labels), true);
  assert.equal(selectorMatches({}, labels), true);
  assert.equal(selectorMatches({ matchLabels: { team: "a" } }, labels), true);
  assert.equal(selectorMatches({ matchLabels: { team: "b" } }, labels), false);
  assert.equal(
    selectorMatches(
      { matchExpressions: [{ key: "tier", operator: "In", values: ["prod"] }] },
      labels,
    ),
    true,
  );
  assert.equal(
    selectorMatches(
      { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["prod"] }] },
      labels,
    ),
    false,
  );
  assert.equal(
    selectorMatches({ matchExpressions: [{ key: "x", operator: "NotIn", values: ["y"] }] }, labels),
    true,
  );
  assert.equal(
    selectorMatches({ matchExpressions: [{ key: "team", operator: "Exists" }] }, labels),
    true,
  );
  assert.equal(
    selectorMatches({ matchExpressions: [{ key: "team", operator: "DoesNotExist" }] }, labels),
    false,
  );
  assert.equal(
    selectorMatches(
      { matchExpressions: [{ key: "team", operator: "Bogus" as "In", values: ["a"] }] },
      labels,
    ),
    false,
  );
});

test("policy resolution: policyRef must exist and select the namespace; otherwise exactly one default", () => {
  const p = (name: string, spec: SkillTrustPolicy["spec"], deleting = false): SkillTrustPolicy => ({
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "SkillTrustPolicy",
    metadata: { name, ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}) },
    spec,
  });
  const skill = (ref?: string) => ({
    spec: {
      skillId: "a.b",
      publisher: "a",
      source: {},
      ...(ref ? { policyRef: { name: ref } } : {}),
    },
  });
  const labels = { team: "a" };
  const mine = p("mine", { namespaceSelector: { matchLabels: { team: "a" } } });
  const theirs = p("theirs", { namespaceSelector: { matchLabels: { team: "b" } }, default: true });
  assert.equal(resolvePolicy(skill("mine"), [mine, theirs], labels).kind, "found");
  assert.deepEqual(resolvePolicy(skill("theirs"), [mine, theirs], labels), {
    kind: "notApplicable",
    name: "theirs",
  });
  assert.deepEqual(resolvePolicy(skill("gone"), [mine], labels), {
    kind: "notFound",
    name: "gone",
  });
  assert.deepEqual(resolvePolicy(skill(), [mine, theirs], labels), { kind: "none" });
  const d1 = p("d1", { default: true });
  const d2 = p("d2", { default: true, namespaceSelector: { matchLabels: { team: "a" } } });
  assert.deepEqual(resolvePolicy(skill(), [d2, d1], labels), {
    kind: "ambiguous",
    names: ["d1", "d2"],
  });
  const dying = p("d1", { default: true }, true);
  const one = resolvePolicy(skill(), [dying, d2], labels);
  assert.equal(one.kind === "found" && one.policy.metadata.name, "d2");
});
