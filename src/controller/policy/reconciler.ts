/**
 * The SkillTrustPolicy reconciler: validates what CEL cannot (the trust store exists and parses,
 * TOFU has somewhere to pin), and reports the Skills it governs and the TOFU pins it holds.
 */

import type {
  Skill,
  SkillTrustPolicy,
  SkillTrustPolicyStatus,
} from "../../api/v1alpha1/types.generated.ts";
import { keyIdFor } from "../../artifact/ed25519.ts";
import { JSON_PATCH, KubeApiError, type KubeRequester } from "../../kube/client.ts";
import { type Condition, type DesiredCondition, setConditions } from "../../kube/conditions.ts";
import type { EventRecorder } from "../../kube/events.ts";
import type { Informer, KubeObject } from "../../kube/informer.ts";
import { deepEqual } from "../../kube/patch.ts";
import type { HandlerResult } from "../../kube/workqueue.ts";
import type { OperatorMetrics } from "../../operator/metrics.ts";
import { pinsOfScope, pinUseOf } from "../../trust/pin-scope.ts";
import type { TrustStoreObservation } from "../skill/decide.ts";
import { policyTarget } from "../skill/reconciler.ts";
import { trustStoreConflict } from "./conflicts.ts";
import { resolvePolicy } from "./select.ts";
import { TRUST_STORE_LABEL, type TrustStoreCache } from "./trust-store.ts";

export interface PolicyObservation {
  policy: SkillTrustPolicy;
  trustStore: TrustStoreObservation;
  governedSkills: number;
  /** Another policy reads the same store's pins with another scope (conflicts.ts). */
  conflict?: string;
  now: Date;
}

const MAX_LISTED_PINS = 1024;

/** Pure: the status a policy should have. */
export function decidePolicyStatus(obs: PolicyObservation): SkillTrustPolicyStatus {
  const { policy, trustStore } = obs;
  const generation = policy.metadata.generation ?? 0;
  const publishers = new Set((policy.spec.publishers ?? []).map((p) => p.name));
  const status: SkillTrustPolicyStatus = {
    observedGeneration: generation,
    governedSkills: obs.governedSkills,
  };
  let ready: DesiredCondition;
  const use = pinUseOf(policy.spec);
  if (obs.conflict) {
    ready = { type: "Ready", status: "False", reason: "TrustStoreConflict", message: obs.conflict };
  } else if (trustStore.kind === "ok") {
    for (const p of trustStore.store.trustedPublishers.keys()) publishers.add(p);
    const all = use.honour ? pinsOfScope(trustStore, use.scope) : [];
    const pins = all.slice(0, MAX_LISTED_PINS).map((p) => ({
      publisher: p.publisher,
      ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
      key: p.key,
      keyId: keyIdFor(Buffer.from(p.key, "hex")),
    }));
    for (const pin of all) publishers.add(pin.publisher);
    status.tofuPins = pins;
    const where = `trust store ${trustStore.ref.namespace}/${trustStore.ref.name}`;
    ready = {
      type: "Ready",
      status: "True",
      reason: "Ready",
      message: !use.honour
        ? `${where}: allowlist only (this policy neither allows TOFU nor trusts existing pins)`
        : `${where} holds ${all.length} ${use.scope === "Cluster" ? "cluster-wide" : "namespace-scoped"} TOFU pin(s)${all.length > pins.length ? ` (${pins.length} listed)` : ""}${use.create ? "" : "; no new pins (allowTofu is false)"}`,
    };
  } else if (trustStore.kind === "unguarded") {
    ready = {
      type: "Ready",
      status: "False",
      reason: "TrustStoreUnguarded",
      message: `ConfigMap ${trustStore.ref.namespace}/${trustStore.ref.name} is not labelled ${TRUST_STORE_LABEL}=true, so the webhook does not guard it; the operator uses no unguarded trust store`,
    };
  } else if (trustStore.kind === "unset") {
    ready =
      policy.spec.allowTofu === true
        ? {
            type: "Ready",
            status: "False",
            reason: "TrustStoreRequired",
            message: "allowTofu is true but spec.trustStore is not set, so no key can be pinned",
          }
        : {
            type: "Ready",
            status: "True",
            reason: "Ready",
            message: "allowlist only (no trust store)",
          };
  } else if (trustStore.kind === "missing") {
    ready = {
      type: "Ready",
      status: "False",
      reason: "TrustStoreNotFound",
      message: `trust store ConfigMap ${trustStore.ref.namespace}/${trustStore.ref.name} does not exist`,
    };
  } else {
    ready = {
      type: "Ready",
      status: "False",
      reason: "TrustStoreInvalid",
      message: `trust store ConfigMap ${trustStore.ref.namespace}/${trustStore.ref.name} key ${trustStore.ref.key}: ${trustStore.message}`,
    };
  }
  status.trustedPublishers = publishers.size;
  status.conditions = setConditions(policy.status?.conditions as Condition[] | undefined, [ready], {
    generation,
    now: obs.now,
    order: ["Ready"],
  });
  return status;
}

export interface PolicyReconcilerDeps {
  client: KubeRequester;
  policies: Informer<SkillTrustPolicy>;
  skills: Informer<Skill>;
  namespaces: Informer<KubeObject>;
  trustStores: TrustStoreCache;
  metrics: OperatorMetrics;
  events?: EventRecorder;
  now?: () => Date;
}

/** The event a change of the Ready condition deserves, if any (pure). */
export function policyReadyEvent(
  previous: Condition | undefined,
  next: Condition | undefined,
): { type: "Normal" | "Warning"; reason: string; message: string } | undefined {
  if (!next || previous?.reason === next.reason) return undefined;
  if (next.status !== "True")
    return { type: "Warning", reason: next.reason, message: next.message };
  // Recovered (not the first time the policy is seen): say so once.
  if (previous && previous.status !== "True") {
    return { type: "Normal", reason: "TrustStoreAvailable", message: next.message };
  }
  return undefined;
}

export class PolicyReconciler {
  #d: PolicyReconcilerDeps;

  constructor(deps: PolicyReconcilerDeps) {
    this.#d = deps;
  }

  async reconcile(name: string): Promise<HandlerResult> {
    const d = this.#d;
    const policy = d.policies.get(name);
    if (!policy || policy.metadata.deletionTimestamp) return;
    const trustStore = await d.trustStores.observe(policy);
    const all = d.policies.list();
    let governedSkills = 0;
    for (const skill of d.skills.list()) {
      if (skill.metadata.deletionTimestamp) continue;
      const labels = d.namespaces.get(skill.metadata.namespace ?? "")?.metadata.labels ?? {};
      const resolved = resolvePolicy(skill, all, labels);
      if (resolved.kind === "found" && resolved.policy.metadata.name === name) governedSkills++;
    }
    const conflict = trustStoreConflict(policy, all);
    const status = decidePolicyStatus({
      policy,
      trustStore,
      governedSkills,
      ...(conflict ? { conflict } : {}),
      now: (d.now ?? (() => new Date()))(),
    });
    if (deepEqual(policy.status ?? {}, status)) return;
    try {
      await d.client.request(
        `/apis/skills.palyra.dev/v1alpha1/skilltrustpolicies/${encodeURIComponent(name)}/status`,
        {
          method: "PATCH",
          contentType: JSON_PATCH,
          body: [
            { op: "test", path: "/metadata/uid", value: policy.metadata.uid },
            { op: "add", path: "/status", value: status },
          ],
          timeoutMs: 30_000,
        },
      );
      d.metrics.statusWrites.inc({ kind: "SkillTrustPolicy" });
      const ready = (c: SkillTrustPolicyStatus | undefined) =>
        (c?.conditions as Condition[] | undefined)?.find((x) => x.type === "Ready");
      const event = policyReadyEvent(ready(policy.status), ready(status));
      if (event) d.events?.record(policyTarget(policy), event.type, event.reason, event.message);
    } catch (error) {
      if (error instanceof KubeApiError && error.notFound) return;
      if (error instanceof KubeApiError && (error.conflict || error.status === 422))
        return { conflict: true };
      throw error;
    }
  }
}
