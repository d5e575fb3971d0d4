/** Label selection and which SkillTrustPolicy governs a Skill. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Skill, SkillTrustPolicy } from "../../src/api/v1alpha1/types.generated.ts";
import {
  type LabelSelector,
  resolvePolicy,
  selectorMatches,
} from "../../src/controller/policy/select.ts";

type Requirement = NonNullable<LabelSelector["matchExpressions"]>[number];
const expr = (...matchExpressions: Requirement[]): LabelSelector => ({ matchExpressions });

describe("selectorMatches", () => {
  const labels = { team: "a", tier: "prod" };

  test("an absent or empty selector selects everything", () => {
    assert.equal(selectorMatches(undefined, labels), true);
    assert.equal(selectorMatches({}, labels), true);
    assert.equal(selectorMatches({}, {}), true);
    assert.equal(selectorMatches({ matchLabels: {}, matchExpressions: [] }, {}), true);
  });

  test("matchLabels requires every pair", () => {
    assert.equal(selectorMatches({ matchLabels: { team: "a" } }, labels), true);
    assert.equal(selectorMatches({ matchLabels: { team: "a", tier: "prod" } }, labels), true);
    assert.equal(selectorMatches({ matchLabels: { team: "b" } }, labels), false);
    assert.equal(selectorMatches({ matchLabels: { team: "a", tier: "dev" } }, labels), false);
    assert.equal(selectorMatches({ matchLabels: { owner: "x" } }, labels), false);
    assert.equal(selectorMatches({ matchLabels: { team: "a" } }, {}), false);
  });

  test("In needs the key with one of the values", () => {
    const sel = expr({ key: "tier", operator: "In", values: ["prod", "staging"] });
    assert.equal(selectorMatches(sel, labels), true);
    assert.equal(selectorMatches(sel, { tier: "staging" }), true);
    assert.equal(selectorMatches(sel, { tier: "dev" }), false);
    assert.equal(selectorMatches(sel, {}), false);
    assert.equal(selectorMatches(expr({ key: "tier", operator: "In", values: [] }), labels), false);
    assert.equal(selectorMatches(expr({ key: "tier", operator: "In" }), labels), false);
  });

  test("NotIn excludes the values and accepts a missing key", () => {
    const sel = expr({ key: "tier", operator: "NotIn", values: ["prod"] });
    assert.equal(selectorMatches(sel, labels), false);
    assert.equal(selectorMatches(sel, { tier: "dev" }), true);
    assert.equal(selectorMatches(sel, {}), true);
    assert.equal(selectorMatches(expr({ key: "tier", operator: "NotIn" }), labels), true);
  });

  test("Exists and DoesNotExist look only at the key", () => {
    assert.equal(selectorMatches(expr({ key: "team", operator: "Exists" }), labels), true);
    assert.equal(selectorMatches(expr({ key: "team", operator: "Exists" }), { team: "" }), true);
    assert.equal(selectorMatches(expr({ key: "owner", operator: "Exists" }), labels), false);
    assert.equal(selectorMatches(expr({ key: "team", operator: "DoesNotExist" }), labels), false);
    assert.equal(selectorMatches(expr({ key: "owner", operator: "DoesNotExist" }), labels), true);
  });

  test("inherited properties are not labels", () => {
    assert.equal(selectorMatches(expr({ key: "toString", operator: "Exists" }), {}), false);
    assert.equal(selectorMatches(expr({ key: "constructor", operator: "DoesNotExist" }), {}), true);
  });

  test("all requirements and matchLabels must hold together", () => {
    const sel: LabelSelector = {
      matchLabels: { team: "a" },
      matchExpressions: [
        { key: "tier", operator: "In", values: ["prod"] },
        { key: "frozen", operator: "DoesNotExist" },
      ],
    };
    assert.equal(selectorMatches(sel, labels), true);
    assert.equal(selectorMatches(sel, { ...labels, frozen: "yes" }), false);
    assert.equal(selectorMatches(sel, { ...labels, team: "b" }), false);
  });

  test("an unknown operator selects nothing (fails closed)", () => {
    const bogus = { key: "team", operator: "Bogus", values: ["a"] } as unknown as Requirement;
    assert.equal(selectorMatches(expr(bogus), labels), false);
    assert.equal(selectorMatches(expr(bogus), {}), false);
    const lower = { key: "team", operator: "in", values: ["a"] } as unknown as Requirement;
    assert.equal(selectorMatches(expr(lower), labels), false);
  });
});

describe("resolvePolicy", () => {
  const policy = (
    name: string,
    spec: SkillTrustPolicy["spec"],
    deleting = false,
  ): SkillTrustPolicy => ({
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "SkillTrustPolicy",
    metadata: { name, ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}) },
    spec,
  });
  const skill = (ref?: string): Pick<Skill, "spec"> => ({
    spec: {
      skillId: "a.b",
      publisher: "a",
      source: {},
      ...(ref !== undefined ? { policyRef: { name: ref } } : {}),
    },
  });
  const labels = { team: "a" };
  const mine = policy("mine", { namespaceSelector: { matchLabels: { team: "a" } } });
  const theirs = policy("theirs", {
    namespaceSelector: { matchLabels: { team: "b" } },
    default: true,
  });

  test("policyRef to a policy that selects the namespace is found", () => {
    const r = resolvePolicy(skill("mine"), [theirs, mine], labels);
    assert.equal(r.kind, "found");
    assert.equal(r.kind === "found" ? r.policy : undefined, mine);
    // policyRef wins over defaults, and a policy without a selector selects every namespace.
    const open = policy("open", {});
    const d = policy("d", { default: true });
    const viaRef = resolvePolicy(skill("open"), [d, open], labels);
    assert.equal(viaRef.kind === "found" ? viaRef.policy : undefined, open);
  });

  test("policyRef to a missing policy is notFound", () => {
    assert.deepEqual(resolvePolicy(skill("gone"), [mine, theirs], labels), {
      kind: "notFound",
      name: "gone",
    });
    assert.deepEqual(resolvePolicy(skill("gone"), [], labels), { kind: "notFound", name: "gone" });
  });

  test("policyRef to a policy that does not select the namespace is notApplicable", () => {
    assert.deepEqual(resolvePolicy(skill("theirs"), [mine, theirs], labels), {
      kind: "notApplicable",
      name: "theirs",
    });
  });

  test("policyRef to a policy being deleted is notFound", () => {
    const dying = policy("mine", { namespaceSelector: { matchLabels: { team: "a" } } }, true);
    assert.deepEqual(resolvePolicy(skill("mine"), [dying], labels), {
      kind: "notFound",
      name: "mine",
    });
  });

  test("without policyRef the single matching default is found", () => {
    const d = policy("d", { default: true, namespaceSelector: { matchLabels: { team: "a" } } });
    const r = resolvePolicy(skill(), [mine, theirs, d], labels);
    assert.equal(r.kind === "found" ? r.policy : undefined, d);
  });

  test("without policyRef and no matching default the answer is none", () => {
    assert.deepEqual(resolvePolicy(skill(), [mine, theirs], labels), { kind: "none" });
    assert.deepEqual(resolvePolicy(skill(), [], labels), { kind: "none" });
    const notDefault = policy("nd", { default: false });
    assert.deepEqual(resolvePolicy(skill(), [notDefault], labels), { kind: "none" });
  });

  test("several matching defaults are ambiguous, named in sorted order", () => {
    const d1 = policy("d1", { default: true });
    const d2 = policy("d2", { default: true, namespaceSelector: { matchLabels: { team: "a" } } });
    const d0 = policy("d0", { default: true });
    assert.deepEqual(resolvePolicy(skill(), [d2, d1, theirs], labels), {
      kind: "ambiguous",
      names: ["d1", "d2"],
    });
    assert.deepEqual(resolvePolicy(skill(), [d2, d1, d0], labels), {
      kind: "ambiguous",
      names: ["d0", "d1", "d2"],
    });
  });

  test("policies being deleted are ignored when choosing a default", () => {
    const dying = policy("d1", { default: true }, true);
    const d2 = policy("d2", { default: true, namespaceSelector: { matchLabels: { team: "a" } } });
    const one = resolvePolicy(skill(), [dying, d2], labels);
    assert.equal(one.kind === "found" && one.policy.metadata.name, "d2");
    assert.deepEqual(resolvePolicy(skill(), [dying], labels), { kind: "none" });
  });
});
