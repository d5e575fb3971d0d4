/**
 * A tenant per test: its own namespace, trust-store ConfigMap and SkillTrustPolicy, so tests
 * sharing one control plane never see each other's Skills or pins.
 */

import type { ArtifactServer } from "../../hack/dev/artifact-server.ts";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import type { SkillSpec, SkillTrustPolicySpec } from "../../src/api/v1alpha1/types.generated.ts";
import { createNamespace, createPolicy, createTrustStore, unique } from "./resources.ts";

export const STORE_NS = "palyra-system";
/** The allowlisted publisher every tenant's policy trusts. */
export const ACME = skillArtifact({ keySeed: 7 });

export interface Tenant {
  ns: string;
  label: string;
  store: string;
  policy: string;
}

export async function createTenant(
  policy: Partial<SkillTrustPolicySpec> = {},
  storeDoc?: string,
): Promise<Tenant> {
  const ns = unique("t");
  const label = unique("tenant");
  await createNamespace(ns, { "palyra.test/tenant": label });
  const store = unique("store");
  await createTrustStore(STORE_NS, store, storeDoc);
  const name = unique("policy");
  await createPolicy(name, {
    namespaceSelector: { matchLabels: { "palyra.test/tenant": label } },
    publishers: [{ name: "acme", keys: [ACME.publicKeyHex] }],
    allowTofu: false,
    trustStore: { namespace: STORE_NS, name: store },
    ...policy,
  });
  return { ns, label, store, policy: name };
}

/** A Skill spec whose artifact `server` serves at `path`. */
export function urlSkillSpec(
  server: ArtifactServer,
  path: string,
  bytes: Buffer,
  policy: string,
  extra: Partial<SkillSpec> = {},
): SkillSpec {
  return {
    skillId: "acme.echo_http",
    publisher: "acme",
    source: { url: server.put(path, bytes), caBundle: server.caBundle },
    policyRef: { name: policy },
    ...extra,
  };
}
