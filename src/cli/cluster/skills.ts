/**
 * Reading what the cluster knows about a Skill for the plugin commands: the Skill, the policy
 * that governs it, and the TOFU pin (with who pinned it and when) from its trust store.
 */

import type { Skill, SkillTrustPolicy } from "../../api/v1alpha1/types.generated.ts";
import { resolvePolicy } from "../../controller/policy/select.ts";
import { trustStoreRefOf } from "../../controller/policy/trust-store.ts";
import { KubeApiError, type KubeClient } from "../../kube/client.ts";
import {
  PIN_HISTORY_ANNOTATION,
  type PinRecord,
  parsePinHistory,
} from "../../trust/pin-history.ts";
import { parseTrustStore } from "../../trust/store.ts";

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

/** The governing policy's name, or why there is none; undefined when it cannot be read. */
export async function governingPolicy(
  client: KubeClient,
  skill: Skill,
): Promise<SkillTrustPolicy | string | undefined> {
  try {
    const namespace = await client.request<{ metadata: { labels?: Record<string, string> } }>(
      `/api/v1/namespaces/${encodeURIComponent(skill.metadata.namespace ?? "")}`,
    );
    const resolution = resolvePolicy(
      skill,
      await listPolicies(client),
      namespace.metadata.labels ?? {},
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

export interface PinView extends Partial<PinRecord> {
  readonly policy: string;
  readonly store: string;
  readonly publisher: string;
  readonly key: string;
}

/** The TOFU pins of a policy's trust store, with their records; undefined if unreadable. */
export async function pinsOf(
  client: KubeClient,
  policy: SkillTrustPolicy,
): Promise<PinView[] | undefined> {
  const ref = trustStoreRefOf(policy);
  if (!ref) return [];
  let configMap: {
    metadata: { annotations?: Record<string, string> };
    data?: Record<string, string>;
  };
  try {
    configMap = await client.request(
      `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/configmaps/${encodeURIComponent(ref.name)}`,
    );
  } catch (error) {
    if (error instanceof KubeApiError && (error.status === 403 || error.status === 404))
      return undefined;
    throw error;
  }
  let pins: Record<string, string>;
  try {
    pins = Object.fromEntries(parseTrustStore(configMap.data?.[ref.key] ?? "").tofuPublishers);
  } catch {
    return undefined;
  }
  const history = parsePinHistory(configMap.metadata.annotations?.[PIN_HISTORY_ANNOTATION]);
  return Object.keys(pins)
    .sort()
    .map((publisher) => {
      const key = pins[publisher] as string;
      const record = history[publisher];
      return {
        policy: policy.metadata.name ?? "",
        store: `${ref.namespace}/${ref.name}`,
        publisher,
        key,
        ...(record && record.key === key
          ? { keyId: record.keyId, skill: record.skill, pinnedAt: record.pinnedAt }
          : {}),
      };
    });
}
