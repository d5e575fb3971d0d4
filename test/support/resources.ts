/** Creating and observing the operator's resources on the test control plane. */

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type {
  Skill,
  SkillSpec,
  SkillTrustPolicy,
  SkillTrustPolicySpec,
} from "../../src/api/v1alpha1/types.generated.ts";
import { kube, waitFor } from "./kube.ts";

export const API = "/apis/skills.palyra.dev/v1alpha1";

export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString("hex")}`;
}

async function ok(method: string, path: string, body?: unknown, contentType?: string) {
  const res = await kube(method, path, body, contentType ? { contentType } : {});
  assert.ok(
    res.status >= 200 && res.status < 300,
    `${method} ${path}: ${res.status} ${res.body.message ?? ""}`,
  );
  return res.body;
}

export async function createNamespace(
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  await ok("POST", "/api/v1/namespaces", {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, labels },
  });
}

export async function ensureNamespace(name: string): Promise<void> {
  const res = await kube("POST", "/api/v1/namespaces", {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name },
  });
  assert.ok(res.status === 201 || res.status === 409, `namespace ${name}: ${res.status}`);
}

export async function createTrustStore(
  namespace: string,
  name: string,
  document?: string,
): Promise<void> {
  await ok("POST", `/api/v1/namespaces/${namespace}/configmaps`, {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, labels: { "skills.palyra.dev/trust-store": "true" } },
    data: document === undefined ? {} : { "trust-store.json": document },
  });
}

export async function readTrustStore(
  namespace: string,
  name: string,
): Promise<{ rv: string; doc: Record<string, Record<string, unknown>> }> {
  const cm = (await ok("GET", `/api/v1/namespaces/${namespace}/configmaps/${name}`)) as {
    metadata: { resourceVersion: string };
    data?: Record<string, string>;
  };
  const text = cm.data?.["trust-store.json"];
  return { rv: cm.metadata.resourceVersion, doc: text ? JSON.parse(text) : {} };
}

/** The pins a trust store holds for one namespace (tofuScope Namespace), and its version. */
export async function readNamespacePins(
  namespace: string,
  name: string,
  pinnedNamespace: string,
): Promise<{ rv: string; pins: Record<string, string> }> {
  const cm = (await ok("GET", `/api/v1/namespaces/${namespace}/configmaps/${name}`)) as {
    metadata: { resourceVersion: string };
    data?: Record<string, string>;
  };
  const text = cm.data?.[`tofu.${pinnedNamespace}.trust-store.json`];
  return {
    rv: cm.metadata.resourceVersion,
    pins: text ? (JSON.parse(text).tofu_publishers ?? {}) : {},
  };
}

export async function createPolicy(name: string, spec: SkillTrustPolicySpec): Promise<void> {
  await ok("POST", `${API}/skilltrustpolicies`, {
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "SkillTrustPolicy",
    metadata: { name },
    spec,
  });
}

export async function patchPolicy(
  name: string,
  spec: Partial<SkillTrustPolicySpec>,
): Promise<void> {
  await ok("PATCH", `${API}/skilltrustpolicies/${name}`, { spec }, "application/merge-patch+json");
}

export async function getPolicy(name: string): Promise<SkillTrustPolicy> {
  return (await ok("GET", `${API}/skilltrustpolicies/${name}`)) as unknown as SkillTrustPolicy;
}

export async function createSkill(namespace: string, name: string, spec: SkillSpec): Promise<void> {
  await ok("POST", `${API}/namespaces/${namespace}/skills`, {
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "Skill",
    metadata: { name },
    spec,
  });
}

export async function patchSkill(
  namespace: string,
  name: string,
  spec: Partial<SkillSpec>,
): Promise<void> {
  await ok(
    "PATCH",
    `${API}/namespaces/${namespace}/skills/${name}`,
    { spec },
    "application/merge-patch+json",
  );
}

export async function getSkill(namespace: string, name: string): Promise<Skill | undefined> {
  const res = await kube("GET", `${API}/namespaces/${namespace}/skills/${name}`);
  if (res.status === 404) return undefined;
  assert.equal(res.status, 200, res.body.message);
  return res.body as unknown as Skill;
}

/** Waits until the Skill's status, for its current generation, satisfies `ready`. */
export async function waitForSkill(
  namespace: string,
  name: string,
  ready: (skill: Skill) => boolean,
  what = "the expected status",
  timeoutMs = 30_000,
): Promise<Skill> {
  let last: Skill | undefined;
  try {
    return await waitFor(
      `Skill ${namespace}/${name}: ${what}`,
      async () => {
        last = await getSkill(namespace, name);
        if (!last?.status || last.status.observedGeneration !== last.metadata.generation)
          return undefined;
        return ready(last) ? last : undefined;
      },
      timeoutMs,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last status: ${JSON.stringify(last?.status)}`);
  }
}

export function waitForState(
  namespace: string,
  name: string,
  state: string,
  reason?: string,
): Promise<Skill> {
  return waitForSkill(
    namespace,
    name,
    (s) => s.status?.state === state && (reason === undefined || readyReason(s) === reason),
    `state ${state}${reason ? ` (${reason})` : ""}`,
  );
}

export function condition(
  skill: {
    status?: {
      conditions?: {
        type: string;
        status: string;
        reason: string;
        observedGeneration?: number;
        message: string;
      }[];
    };
  },
  type: string,
) {
  return skill.status?.conditions?.find((c) => c.type === type);
}

export function readyReason(skill: Skill): string | undefined {
  return condition(skill, "Ready")?.reason;
}

export interface KubeEvent {
  reason: string;
  type: string;
  message: string;
  count?: number;
  involvedObject: { kind: string; name: string; namespace?: string };
}

export async function events(namespace: string): Promise<KubeEvent[]> {
  const body = await ok("GET", `/api/v1/namespaces/${namespace}/events`);
  return (body as unknown as { items: KubeEvent[] }).items;
}

export async function waitForEvent(
  namespace: string,
  match: (e: KubeEvent) => boolean,
  what: string,
): Promise<KubeEvent> {
  return waitFor(`event ${what} in ${namespace}`, async () =>
    (await events(namespace)).find(match),
  );
}

/** Removes the operator's validating and mutating webhook configurations (fail-closed: never leave them). */
export async function deleteWebhookConfigurations(name: string): Promise<void> {
  for (const kind of ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"]) {
    await kube("DELETE", `/apis/admissionregistration.k8s.io/v1/${kind}/${name}`);
  }
}
