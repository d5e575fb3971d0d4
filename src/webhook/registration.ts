/**
 * The ValidatingWebhookConfiguration the operator keeps in step with its certificate (caBundle)
 * and with the policies (which namespaces hold trust stores). Every webhook fails closed
 * (failurePolicy Fail), has no side effects, and leaves kube-system alone; the workload and
 * Skill webhooks also leave the operator's own namespace alone, so the cluster can always be
 * repaired. Workloads are checked in namespaces that opt in with the skills.palyra.dev/enforce
 * label (a label the namespace webhook guards).
 */

import { KubeApiError, type KubeClient } from "../kube/client.ts";
import { type OwnerReference, ownedBy } from "../kube/owner.ts";
import { deepEqual } from "../kube/patch.ts";
import { ENFORCE_LABEL } from "./handlers.ts";
import { WEBHOOK_PATHS } from "./server.ts";

export type ClientTarget =
  | { url: string }
  | { service: { namespace: string; name: string; port: number } };

export interface RegistrationInput {
  name: string;
  target: ClientTarget;
  caBundlePem: string;
  operatorNamespace: string;
  /** Namespaces that hold a policy's trust store (the ConfigMap webhook watches only those). */
  trustStoreNamespaces: readonly string[];
  timeoutSeconds?: number;
  owner?: OwnerReference;
}

const PATH = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";

function clientConfig(target: ClientTarget, path: string, caBundle: string) {
  return "url" in target
    ? { url: `${target.url.replace(/\/$/, "")}${path}`, caBundle }
    : { service: { ...target.service, path }, caBundle };
}

export function desiredConfiguration(input: RegistrationInput) {
  const caBundle = Buffer.from(input.caBundlePem).toString("base64");
  const common = {
    failurePolicy: "Fail",
    matchPolicy: "Equivalent",
    sideEffects: "None",
    admissionReviewVersions: ["v1"],
    timeoutSeconds: input.timeoutSeconds ?? 5,
  };
  const notSystem = (extra: string[]) => ({
    key: "kubernetes.io/metadata.name",
    operator: "NotIn",
    values: ["kube-system", ...extra],
  });
  const webhooks: Record<string, unknown>[] = [
    {
      name: "workloads.skills.palyra.dev",
      clientConfig: clientConfig(input.target, WEBHOOK_PATHS.workloads, caBundle),
      rules: [
        {
          apiGroups: [""],
          apiVersions: ["v1"],
          resources: ["pods"],
          operations: ["CREATE", "UPDATE"],
          scope: "Namespaced",
        },
        {
          apiGroups: ["apps"],
          apiVersions: ["v1"],
          resources: ["deployments", "statefulsets", "daemonsets", "replicasets"],
          operations: ["CREATE", "UPDATE"],
          scope: "Namespaced",
        },
        {
          apiGroups: ["batch"],
          apiVersions: ["v1"],
          resources: ["jobs", "cronjobs"],
          operations: ["CREATE", "UPDATE"],
          scope: "Namespaced",
        },
      ],
      namespaceSelector: {
        matchLabels: { [ENFORCE_LABEL]: "true" },
        matchExpressions: [notSystem([input.operatorNamespace])],
      },
      ...common,
    },
    {
      name: "skills.skills.palyra.dev",
      clientConfig: clientConfig(input.target, WEBHOOK_PATHS.skills, caBundle),
      rules: [
        {
          apiGroups: ["skills.palyra.dev"],
          apiVersions: ["*"],
          resources: ["skills"],
          operations: ["CREATE", "UPDATE"],
          scope: "Namespaced",
        },
      ],
      namespaceSelector: { matchExpressions: [notSystem([input.operatorNamespace])] },
      ...common,
    },
    {
      name: "namespaces.skills.palyra.dev",
      clientConfig: clientConfig(input.target, WEBHOOK_PATHS.namespaces, caBundle),
      rules: [
        {
          apiGroups: [""],
          apiVersions: ["v1"],
          resources: ["namespaces"],
          operations: ["UPDATE"],
          scope: "Cluster",
        },
      ],
      // Called when the old or the new object carries the label: removing it is seen.
      objectSelector: { matchExpressions: [{ key: ENFORCE_LABEL, operator: "Exists" }] },
      ...common,
    },
  ];
  const storeNamespaces = [...new Set(input.trustStoreNamespaces)]
    .filter((n) => n !== "kube-system")
    .sort();
  if (storeNamespaces.length > 0) {
    webhooks.push({
      name: "trust-stores.skills.palyra.dev",
      clientConfig: clientConfig(input.target, WEBHOOK_PATHS.configmaps, caBundle),
      rules: [
        {
          apiGroups: [""],
          apiVersions: ["v1"],
          resources: ["configmaps"],
          operations: ["CREATE", "UPDATE", "DELETE"],
          scope: "Namespaced",
        },
      ],
      namespaceSelector: {
        matchExpressions: [
          { key: "kubernetes.io/metadata.name", operator: "In", values: storeNamespaces },
        ],
      },
      ...common,
    });
  }
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: {
      name: input.name,
      labels: { "app.kubernetes.io/managed-by": "palyra-skills-operator" },
      ...ownedBy(input.owner),
    },
    webhooks,
  };
}

/** Creates or updates the configuration; "unchanged" when it already says exactly this. */
export async function ensureRegistration(
  client: KubeClient,
  input: RegistrationInput,
): Promise<"created" | "updated" | "unchanged"> {
  const desired = desiredConfiguration(input);
  for (let attempt = 0; attempt < 5; attempt++) {
    let current:
      | {
          metadata: { resourceVersion?: string; ownerReferences?: unknown[] };
          webhooks?: Record<string, unknown>[];
        }
      | undefined;
    try {
      current = await client.request(`${PATH}/${input.name}`, { timeoutMs: 10_000 });
    } catch (error) {
      if (!(error instanceof KubeApiError && error.notFound)) throw error;
    }
    try {
      if (!current) {
        await client.request(PATH, { method: "POST", body: desired, timeoutMs: 10_000 });
        return "created";
      }
      if (
        sameWebhooks(current.webhooks ?? [], desired.webhooks) &&
        deepEqual(current.metadata.ownerReferences ?? [], desired.metadata.ownerReferences ?? [])
      ) {
        return "unchanged";
      }
      await client.request(`${PATH}/${input.name}`, {
        method: "PUT",
        body: {
          ...desired,
          metadata: { ...desired.metadata, resourceVersion: current.metadata.resourceVersion },
        },
        timeoutMs: 10_000,
      });
      return "updated";
    } catch (error) {
      if (!(error instanceof KubeApiError && error.conflict)) throw error;
    }
  }
  throw new Error(
    `could not update ValidatingWebhookConfiguration ${input.name}: it keeps changing`,
  );
}

/** Compares only the fields we set (the API server adds defaults of its own). */
function sameWebhooks(
  current: Record<string, unknown>[],
  desired: Record<string, unknown>[],
): boolean {
  if (current.length !== desired.length) return false;
  return desired.every((d, i) => {
    const c = current[i] ?? {};
    return Object.keys(d).every((k) => {
      if (k !== "rules") return deepEqual(c[k], d[k]);
      // Rules come back with defaulted fields; compare what we set.
      const cr = (c.rules ?? []) as Record<string, unknown>[];
      const dr = d.rules as Record<string, unknown>[];
      return (
        cr.length === dr.length &&
        dr.every((r, j) => Object.keys(r).every((rk) => deepEqual(cr[j]?.[rk], r[rk])))
      );
    });
  });
}

export async function removeRegistration(client: KubeClient, name: string): Promise<void> {
  try {
    await client.request(`${PATH}/${name}`, { method: "DELETE", timeoutMs: 10_000 });
  } catch (error) {
    if (!(error instanceof KubeApiError && error.notFound)) throw error;
  }
}
