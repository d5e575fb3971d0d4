/** Which SkillTrustPolicy governs a Skill: pure functions over cached objects. */

import type { Skill, SkillTrustPolicy } from "../../api/v1alpha1/types.generated.ts";

export type LabelSelector = NonNullable<SkillTrustPolicy["spec"]["namespaceSelector"]>;

/** Kubernetes label-selector semantics; an empty or absent selector selects everything. */
export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key);
    const value = labels[req.key];
    switch (req.operator) {
      case "In":
        if (!has || !(req.values ?? []).includes(value as string)) return false;
        break;
      case "NotIn":
        if (has && (req.values ?? []).includes(value as string)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        // An operator we do not know selects nothing: fail closed.
        return false;
    }
  }
  return true;
}

export type PolicyResolution =
  | { kind: "found"; policy: SkillTrustPolicy }
  | { kind: "none" }
  | { kind: "ambiguous"; names: string[] }
  | { kind: "notFound"; name: string }
  | { kind: "notApplicable"; name: string };

/**
 * spec.policyRef names the policy (which must still select the Skill's namespace, so a tenant
 * cannot opt into a laxer policy meant for someone else); otherwise the single default policy
 * whose namespaceSelector matches. Policies being deleted govern nothing.
 */
export function resolvePolicy(
  skill: { spec: Pick<Skill["spec"], "policyRef"> },
  policies: readonly SkillTrustPolicy[],
  namespaceLabels: Readonly<Record<string, string>>,
): PolicyResolution {
  const live = policies.filter((p) => !p.metadata.deletionTimestamp);
  const ref = skill.spec.policyRef?.name;
  if (ref !== undefined) {
    const policy = live.find((p) => p.metadata.name === ref);
    if (!policy) return { kind: "notFound", name: ref };
    if (!selectorMatches(policy.spec.namespaceSelector, namespaceLabels)) {
      return { kind: "notApplicable", name: ref };
    }
    return { kind: "found", policy };
  }
  const defaults = live.filter(
    (p) => p.spec.default === true && selectorMatches(p.spec.namespaceSelector, namespaceLabels),
  );
  if (defaults.length === 0) return { kind: "none" };
  if (defaults.length > 1) {
    return { kind: "ambiguous", names: defaults.map((p) => p.metadata.name ?? "").sort() };
  }
  return { kind: "found", policy: defaults[0] as SkillTrustPolicy };
}
