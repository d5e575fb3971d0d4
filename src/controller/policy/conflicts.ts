/**
 * Policies that share a trust store must read its pins the same way: one that pins per
 * namespace and one that pins cluster-wide would each trust keys the other never decided. Such
 * policies are not Ready and neither honours nor writes pins until the conflict is resolved
 * (their allowlists still apply). Pure.
 */

import type { SkillTrustPolicy } from "../../api/v1alpha1/types.generated.ts";
import { pinUseOf } from "../../trust/pin-scope.ts";
import { trustStoreRefOf } from "./trust-store.ts";

function storeId(policy: SkillTrustPolicy): string | undefined {
  const ref = trustStoreRefOf(policy);
  return ref ? `${ref.namespace}/${ref.name}#${ref.key}` : undefined;
}

/** Why this policy's pins conflict with another policy's, or undefined when they do not. */
export function trustStoreConflict(
  policy: SkillTrustPolicy,
  all: readonly SkillTrustPolicy[],
): string | undefined {
  const id = storeId(policy);
  const use = pinUseOf(policy.spec);
  if (id === undefined || !use.honour) return undefined;
  const others = all
    .filter(
      (p) =>
        p.metadata.name !== policy.metadata.name &&
        !p.metadata.deletionTimestamp &&
        storeId(p) === id,
    )
    .map((p) => ({ name: p.metadata.name ?? "", use: pinUseOf(p.spec) }))
    .filter((o) => o.use.honour && o.use.scope !== use.scope)
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  if (others.length === 0) return undefined;
  const ref = trustStoreRefOf(policy);
  return `trust store ${ref?.namespace}/${ref?.name} (key ${ref?.key}) is shared with ${others
    .map((o) => `policy ${o.name} (tofuScope ${o.use.scope})`)
    .join(
      ", ",
    )}, which reads its pins with another scope than this policy's ${use.scope}; give each scope its own trust store or align tofuScope (pins are neither trusted nor written until then)`;
}
