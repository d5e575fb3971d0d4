/**
 * The Validating- and MutatingWebhookConfigurations the operator keeps in step with its
 * certificate (caBundle) and with the policies (which namespace labels they select by). Every
 * webhook fails closed (failurePolicy Fail), has no side effects, and leaves kube-system alone;
 * the workload and Skill webhooks also leave the operator's own namespace alone, so the cluster
 * can always be repaired. Workloads are checked in namespaces that opt in with the
 * skills.palyra.dev/enforce label (a label the namespace webhook guards). Subresource writes are
 * sent only when they touch this project's annotations (matchConditions, evaluated by the API
 * server), so kubelets' status updates never wait on the operator.
 */

import { createHash } from "node:crypto";
import { TRUST_STORE_LABEL } from "../controller/policy/trust-store.ts";
import { KubeApiError, type KubeClient } from "../kube/client.ts";
import { type OwnerReference, ownedBy } from "../kube/owner.ts";
import { deepEqual } from "../kube/patch.ts";
import { ANNOTATION_PREFIX, ENFORCE_LABEL } from "./handlers.ts";
import { WEBHOOK_PATHS } from "./server.ts";

export type ClientTarget =
  | { url: string }
  | { service: { namespace: string; name: string; port: number } };

export interface RegistrationInput {
  name: string;
  target: ClientTarget;
  caBundlePem: string;
  operatorNamespace: string;
  /** Namespace label keys the policies select by, plus the enforce label (one webhook each). */
  guardedNamespaceLabels: readonly string[];
  /** Bind new pods to exact payloads (the delivery mutating webhook). */
  podDelivery?: boolean;
  timeoutSeconds?: number;
  owner?: OwnerReference;
}

const VALIDATING = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";
const MUTATING = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";

function clientConfig(target: ClientTarget, path: string, caBundle: string) {
  return "url" in target
    ? { url: `${target.url.replace(/\/$/, "")}${path}`, caBundle }
    : { service: { ...target.service, path }, caBundle };
}

// CEL: some skills.palyra.dev/ annotation differs between the object and the old object.
const OURS_CHANGED = `[object, oldObject].exists(o, o != null && has(o.metadata.annotations) && o.metadata.annotations.exists(k, k.startsWith('${ANNOTATION_PREFIX}') && (oldObject == null || !has(object.metadata.annotations) || !has(oldObject.metadata.annotations) || !(k in object.metadata.annotations) || !(k in oldObject.metadata.annotations) || object.metadata.annotations[k] != oldObject.metadata.annotations[k])))`;
// CEL: the pod names skills.
const NAMES_SKILLS = `has(object.metadata.annotations) && '${ANNOTATION_PREFIX}skills' in object.metadata.annotations`;
// CEL: the object carries a skills.palyra.dev/ annotation.
const CARRIES_OURS = `has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('${ANNOTATION_PREFIX}'))`;

function common(input: RegistrationInput) {
  return {
    failurePolicy: "Fail",
    matchPolicy: "Equivalent",
    sideEffects: "None",
    admissionReviewVersions: ["v1"],
    timeoutSeconds: input.timeoutSeconds ?? 5,
  };
}

/** One admission rule (apiVersions v1 unless given). */
function rule(
  apiGroups: string[],
  resources: string[],
  operations: string[],
  scope: "Namespaced" | "Cluster",
  apiVersions = ["v1"],
) {
  return { apiGroups, apiVersions, resources, operations, scope };
}

const notSystem = (extra: string[]) => ({
  key: "kubernetes.io/metadata.name",
  operator: "NotIn",
  values: ["kube-system", ...extra],
});

/** A stable webhook name for a guarded label key (names must be DNS-like). */
function labelWebhookName(key: string): string {
  return `l${createHash("sha256").update(key).digest("hex").slice(0, 12)}.namespaces.skills.palyra.dev`;
}

/** Namespaces under enforcement, never kube-system or the operator's own. */
function enforcedNamespaces(input: RegistrationInput) {
  return {
    matchLabels: { [ENFORCE_LABEL]: "true" },
    matchExpressions: [notSystem([input.operatorNamespace])],
  };
}

export function desiredConfiguration(input: RegistrationInput) {
  const caBundle = Buffer.from(input.caBundlePem).toString("base64");
  const enforced = enforcedNamespaces(input);
  const webhooks: Record<string, unknown>[] = [
    {
      name: "workloads.skills.palyra.dev",
      clientConfig: clientConfig(input.target, WEBHOOK_PATHS.workloads, caBundle),
      rules: [
        rule([""], ["pods"], ["CREATE", "UPDATE"], "Namespaced"),
        rule(
          ["apps"],
          ["deployments", "statefulsets", "daemonsets", "replicasets"],
          ["CREATE", "UPDATE"],
          "Namespaced",
        ),
        rule(["batch"], ["jobs", "cronjobs"], ["CREATE", "UPDATE"], "Namespaced"),
      ],
      namespaceSelector: enforced,
      ...common(input),
    },
    {
      // Subresources that can change a pod's annotations: only when they change ours.
      name: "pod-metadata.skills.palyra.dev",
      clientConfig: clientConfig(input.target, WEBHOOK_PATHS.workloads, caBundle),
      rules: [
        rule(
          [""],
          ["pods/status", "pods/resize", "pods/binding"],
          ["CREATE", "UPDATE"],
          "Namespaced",
        ),
      ],
      namespaceSelector: enforced,
      matchConditions: [{ name: "skill-annotations-changed", expression: OURS_CHANGED }],
      ...common(input),
    },
    {
      // An ephemeral container adds code to a running pod: re-check the pod's skills.
      name: "pod-ephemeral.skills.palyra.dev",
      clientConfig: clientConfig(input.target, WEBHOOK_PATHS.workloads, caBundle),
      rules: [rule([""], ["pods/ephemeralcontainers"], ["UPDATE"], "Namespaced")],
      namespaceSelector: enforced,
      matchConditions: [{ name: "pod-runs-skills", expression: CARRIES_OURS }],
      ...common(input),
    },
    {
      name: "skills.skills.palyra.dev",
      clientConfig: clientConfig(input.target, WEBHOOK_PATHS.skills, caBundle),
      rules: [
        rule(
          ["skills.palyra.dev"],
          ["skills", "skills/status"],
          ["CREATE", "UPDATE"],
          "Namespaced",
          ["*"],
        ),
      ],
      namespaceSelector: { matchExpressions: [notSystem([input.operatorNamespace])] },
      ...common(input),
    },
    {
      // Registered from the start, for every labelled ConfigMap (before or after the write):
      // a store is guarded before any policy can name it, since the operator reads no store
      // without the label.
      name: "trust-stores.skills.palyra.dev",
      clientConfig: clientConfig(input.target, WEBHOOK_PATHS.configmaps, caBundle),
      rules: [rule([""], ["configmaps"], ["CREATE", "UPDATE", "DELETE"], "Namespaced")],
      namespaceSelector: { matchExpressions: [notSystem([])] },
      objectSelector: { matchExpressions: [{ key: TRUST_STORE_LABEL, operator: "Exists" }] },
      ...common(input),
    },
  ];
  // One webhook per guarded label: called when the old or the new namespace carries it.
  const keys = [...new Set([ENFORCE_LABEL, ...input.guardedNamespaceLabels])].sort();
  for (const key of keys) {
    webhooks.push({
      name: labelWebhookName(key),
      clientConfig: clientConfig(input.target, WEBHOOK_PATHS.namespaces, caBundle),
      rules: [
        rule([""], ["namespaces"], ["CREATE", "UPDATE"], "Cluster"),
        rule([""], ["namespaces/status", "namespaces/finalize"], ["UPDATE"], "Cluster"),
      ],
      objectSelector: { matchExpressions: [{ key, operator: "Exists" }] },
      ...common(input),
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

/** The mutating configuration: who last changed a Skill's spec (see requester.ts). */
export function desiredMutatingConfiguration(input: RegistrationInput) {
  const caBundle = Buffer.from(input.caBundlePem).toString("base64");
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: {
      name: input.name,
      labels: { "app.kubernetes.io/managed-by": "palyra-skills-operator" },
      ...ownedBy(input.owner),
    },
    webhooks: [
      {
        name: "requesters.skills.palyra.dev",
        clientConfig: clientConfig(input.target, WEBHOOK_PATHS.mutateSkills, caBundle),
        rules: [rule(["skills.palyra.dev"], ["skills"], ["CREATE", "UPDATE"], "Namespaced", ["*"])],
        namespaceSelector: { matchExpressions: [notSystem([input.operatorNamespace])] },
        // Run again if a later mutating webhook changes the Skill, so the record stays true.
        reinvocationPolicy: "IfNeeded",
        ...common(input),
      },
      ...(input.podDelivery
        ? [
            {
              // Delivery: a new pod that names skills gets their exact payloads installed.
              name: "pods.skills.palyra.dev",
              clientConfig: clientConfig(input.target, WEBHOOK_PATHS.mutatePods, caBundle),
              rules: [rule([""], ["pods"], ["CREATE"], "Namespaced")],
              namespaceSelector: enforcedNamespaces(input),
              matchConditions: [{ name: "pod-names-skills", expression: NAMES_SKILLS }],
              // Run again after later mutating webhooks; the validating webhook then checks
              // the final pod against a fresh resolution.
              reinvocationPolicy: "IfNeeded",
              ...common(input),
            },
          ]
        : []),
    ],
  };
}

/** Creates or updates both configurations; "unchanged" when they already say exactly this. */
export async function ensureRegistration(
  client: KubeClient,
  input: RegistrationInput,
): Promise<"created" | "updated" | "unchanged"> {
  // The mutating one first: the validating one refuses Skills without the requester record.
  const mutating = await ensureOne(client, MUTATING, desiredMutatingConfiguration(input));
  const validating = await ensureOne(client, VALIDATING, desiredConfiguration(input));
  if (mutating === "created" || validating === "created") return "created";
  if (mutating === "updated" || validating === "updated") return "updated";
  return "unchanged";
}

async function ensureOne(
  client: KubeClient,
  collection: string,
  desired: {
    metadata: { name: string; ownerReferences?: unknown[] };
    webhooks: Record<string, unknown>[];
  },
): Promise<"created" | "updated" | "unchanged"> {
  const name = desired.metadata.name;
  for (let attempt = 0; attempt < 5; attempt++) {
    let current:
      | {
          metadata: { resourceVersion?: string; ownerReferences?: unknown[] };
          webhooks?: Record<string, unknown>[];
        }
      | undefined;
    try {
      current = await client.request(`${collection}/${name}`, { timeoutMs: 10_000 });
    } catch (error) {
      if (!(error instanceof KubeApiError && error.notFound)) throw error;
    }
    try {
      if (!current) {
        await client.request(collection, { method: "POST", body: desired, timeoutMs: 10_000 });
        return "created";
      }
      if (
        sameWebhooks(current.webhooks ?? [], desired.webhooks) &&
        deepEqual(current.metadata.ownerReferences ?? [], desired.metadata.ownerReferences ?? [])
      ) {
        return "unchanged";
      }
      await client.request(`${collection}/${name}`, {
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
  throw new Error(`could not update ${collection.split("/").pop()} ${name}: it keeps changing`);
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
  for (const collection of [VALIDATING, MUTATING]) {
    try {
      await client.request(`${collection}/${name}`, { method: "DELETE", timeoutMs: 10_000 });
    } catch (error) {
      if (!(error instanceof KubeApiError && error.notFound)) throw error;
    }
  }
}
