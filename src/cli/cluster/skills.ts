/**
 * Reading what the cluster knows about a Skill for the plugin commands: the Skill, the policy
 * that governs it, and the TOFU pin (with who pinned it and when) from its trust store.
 */

import type { Skill, SkillTrustPolicy } from "../../api/v1alpha1/types.generated.ts";
import { type PolicyResolution, resolvePolicy } from "../../controller/policy/select.ts";
import { trustStoreRefOf } from "../../controller/policy/trust-store.ts";
import type { TrustStoreRef } from "../../controller/skill/decide.ts";
import { KubeApiError, type KubeClient } from "../../kube/client.ts";
import {
  PIN_HISTORY_ANNOTATION,
  type PinRecord,
  parsePinHistory,
} from "../../trust/pin-history.ts";
import {
  pinRecordKey,
  pinsOfScope,
  pinUseOf,
  readScopedTrustStore,
  type ScopedPin,
} from "../../trust/pin-scope.ts";

export const SKILLS_API = "/apis/skills.palyra.dev/v1alpha1";

export function skillPath(namespace: string, name: string): string {
  return `${SKILLS_API}/namespaces/${encodeURIComponent(namespace)}/skills/${encodeURIComponent(name)}`;
}

export function getSkill(client: KubeClient, namespace: string, name: string): Promise<Skill> {
  return client.request<Skill>(skillPath(namespace, name));
}

export async function listPolicies(client: KubeClient): Promise<SkillTrustPolicy[]> {
  const list = await client.request<{ items: SkillTrustPolicy[] }>(
    `${SKILLS_API}/skilltrustpolicies`,
  );
  return list.items;
}

/** Which policy governs a Skill naming `policyRef` (or none) in `namespace`, as the operator decides. */
export async function resolveInNamespace(
  client: KubeClient,
  namespace: string,
  policyRef: string | undefined,
  policies?: SkillTrustPolicy[],
): Promise<PolicyResolution> {
  const ns = await client.request<{ metadata: { labels?: Record<string, string> } }>(
    `/api/v1/namespaces/${encodeURIComponent(namespace)}`,
  );
  return resolvePolicy(
    { spec: policyRef === undefined ? {} : { policyRef: { name: policyRef } } },
    policies ?? (await listPolicies(client)),
    ns.metadata.labels ?? {},
  );
}

/** The governing policy, or why there is none; undefined when it cannot be read. */
export async function governingPolicy(
  client: KubeClient,
  skill: Skill,
): Promise<SkillTrustPolicy | string | undefined> {
  try {
    const resolution = await resolveInNamespace(
      client,
      skill.metadata.namespace ?? "",
      skill.spec.policyRef?.name,
    );
    switch (resolution.kind) {
      case "found":
        return resolution.policy;
      case "none":
        return "no SkillTrustPolicy governs this namespace";
      case "ambiguous":
        return `several default policies govern this namespace: ${resolution.names.join(", ")}`;
      case "notFound":
        return `policy ${resolution.name} does not exist`;
      default:
        return `policy ${resolution.name} does not select this namespace`;
    }
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 403) return undefined;
    throw error;
  }
}

export interface TrustStoreConfigMap {
  metadata: { annotations?: Record<string, string>; labels?: Record<string, string> };
  data?: Record<string, string>;
}

export function getTrustStoreConfigMap(
  client: KubeClient,
  ref: TrustStoreRef,
): Promise<TrustStoreConfigMap> {
  return client.request(
    `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/configmaps/${encodeURIComponent(ref.name)}`,
  );
}

export interface PinView extends Partial<PinRecord> {
  readonly policy: string;
  readonly store: string;
  readonly publisher: string;
  readonly key: string;
  /** The namespace a namespace-scoped pin binds; absent for a cluster-wide pin. */
  readonly namespace?: string;
}

/** The TOFU pins a policy honours in its trust store, with their records; undefined if unreadable. */
export async function pinsOf(
  client: KubeClient,
  policy: SkillTrustPolicy,
): Promise<PinView[] | undefined> {
  const ref = trustStoreRefOf(policy);
  if (!ref) return [];
  let configMap: TrustStoreConfigMap;
  try {
    configMap = await getTrustStoreConfigMap(client, ref);
  } catch (error) {
    if (error instanceof KubeApiError && (error.status === 403 || error.status === 404))
      return undefined;
    throw error;
  }
  let pins: ScopedPin[];
  const use = pinUseOf(policy.spec);
  try {
    pins = use.honour ? pinsOfScope(readScopedTrustStore(configMap.data, ref.key), use.scope) : [];
  } catch {
    return undefined;
  }
  const history = parsePinHistory(configMap.metadata.annotations?.[PIN_HISTORY_ANNOTATION]);
  return pins.map((pin) => {
    const record = history[pinRecordKey(pin.publisher, pin.namespace)];
    return {
      policy: policy.metadata.name ?? "",
      store: `${ref.namespace}/${ref.name}`,
      publisher: pin.publisher,
      ...(pin.namespace !== undefined ? { namespace: pin.namespace } : {}),
      key: pin.key,
      ...(record && record.key === pin.key
        ? { keyId: record.keyId, skill: record.skill, pinnedAt: record.pinnedAt }
        : {}),
    };
  });
}
