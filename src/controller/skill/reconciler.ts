/**
 * The Skill reconciler: observe (caches, trust store, artifact) -> decide (pure) -> act (TOFU
 * pin, status) -> record (events). Idempotent: the same observations produce the same status,
 * and an unchanged status is never written.
 */

import {
  type Skill,
  SkillApiVersion,
  type SkillTrustPolicy,
  SkillTrustPolicyApiVersion,
} from "../../api/v1alpha1/types.generated.ts";
import { KeyedBackoff } from "../../kube/backoff.ts";
import { JSON_PATCH, KubeApiError, type KubeRequester } from "../../kube/client.ts";
import type { EventRecorder } from "../../kube/events.ts";
import { type Informer, type KubeObject, keyFields } from "../../kube/informer.ts";
import { deepEqual, fingerprint } from "../../kube/patch.ts";
import type { HandlerResult } from "../../kube/workqueue.ts";
import type { Logger } from "../../operator/log.ts";
import type { OperatorMetrics } from "../../operator/metrics.ts";
import { type ArtifactLoader, sourceRefOf } from "../../sources/artifact-loader.ts";
import { EMPTY_TRUST_STORE } from "../../trust/store.ts";
import { trustStoreConflict } from "../policy/conflicts.ts";
import { resolvePolicy } from "../policy/select.ts";
import type { TrustStoreCache } from "../policy/trust-store.ts";
import { decideSkill, type SkillObservation } from "./decide.ts";
import {
  type AuditVerdict,
  auditVerdict,
  decideArtifactTrust,
  type TrustContext,
  type TrustVerdict,
  type VerifiedArtifactFacts,
} from "./verdict.ts";

/**
 * The finalizer earlier versions put on every Skill. It guarded nothing outside this process
 * (the operator only dropped what it caches, which the delete event tells it as well) yet cost
 * each Skill a second write and made deletion wait for the operator, so it is no longer added;
 * the operator removes it wherever it finds it, so Skills from an earlier version delete cleanly.
 */
export const LEGACY_SKILL_FINALIZER = "skills.palyra.dev/finalizer";
const SKILLS = "/apis/skills.palyra.dev/v1alpha1";

export function skillPath(namespace: string, name: string, sub = ""): string {
  return `${SKILLS}/namespaces/${encodeURIComponent(namespace)}/skills/${encodeURIComponent(name)}${sub}`;
}

export interface SkillReconcilerDeps {
  client: KubeRequester;
  skills: Informer<Skill>;
  policies: Informer<SkillTrustPolicy>;
  namespaces: Informer<KubeObject>;
  trustStores: TrustStoreCache;
  loader: ArtifactLoader;
  events: EventRecorder;
  log: Logger;
  metrics: OperatorMetrics;
  now?: () => Date;
  /** Asks for the policy to be reconciled again (its status lists the pins). */
  policyChanged?: (name: string) => void;
  /**
   * Delivery: the pods of the Skill's namespace installed with its skill id and a payload no
   * Skill enables now, given the Skill as it is about to be written (names for messages).
   */
  stalePods?: (skill: Skill) => { names: string; count: number; why: string } | undefined;
  /** Whether stale pods are evicted, for the message that tells of them. */
  evictsStalePods?: boolean;
}

const skillTarget = (skill: Skill) => ({
  apiVersion: SkillApiVersion,
  kind: "Skill",
  metadata: skill.metadata,
});
export const policyTarget = (policy: SkillTrustPolicy) => ({
  apiVersion: SkillTrustPolicyApiVersion,
  kind: "SkillTrustPolicy",
  metadata: policy.metadata,
});

export class SkillReconciler {
  #d: SkillReconcilerDeps;
  #audits = new Map<string, AuditVerdict>();
  // What we last wrote, keyed by Skill, with the resourceVersion it was written over: until the
  // watch delivers our write, the cache still shows that version and this is the truth.
  #written = new Map<
    string,
    { baseVersion: string | undefined; status: NonNullable<Skill["status"]> }
  >();
  #retry = new KeyedBackoff({ initialMs: 1000, maxMs: 5 * 60_000, jitter: 0.2 });
  // A fingerprint of the status last written per Skill: a status the watch shows that differs
  // was written by someone else, and is put back at once.
  #writtenStatus = new Map<string, string>();

  constructor(deps: SkillReconcilerDeps) {
    this.#d = deps;
  }

  /**
   * True unless this status is the one this replica last wrote: a status change the operator did
   * not make (a break-glass edit, or a write that slipped past the webhook) needs a reconcile.
   */
  foreignStatus(key: string, status: Skill["status"]): boolean {
    const written = this.#writtenStatus.get(key);
    return written === undefined || written !== fingerprint(status ?? {});
  }

  /** The watch delivered another version of this Skill: our memo of the write is not needed. */
  observed(key: string, resourceVersion: string | undefined): void {
    const memo = this.#written.get(key);
    if (memo && memo.baseVersion !== resourceVersion) this.#written.delete(key);
  }

  async reconcile(key: string): Promise<HandlerResult> {
    const d = this.#d;
    let skill = d.skills.get(key);
    if (!skill) return this.#forget(key);
    const memo = this.#written.get(key);
    if (memo && memo.baseVersion === skill.metadata.resourceVersion) {
      skill = { ...skill, status: memo.status };
    } else this.#written.delete(key);
    if ((skill.metadata.finalizers ?? []).includes(LEGACY_SKILL_FINALIZER)) {
      const updated = await this.#removeLegacyFinalizer(key, skill);
      if (updated === "conflict") return { conflict: true };
      if (updated === "gone") return this.#forget(key);
      skill = updated;
    }
    // Deleting, held by someone else's finalizer: nothing to decide or write.
    if (skill.metadata.deletionTimestamp) return this.#forget(key);

    const observation = await this.#observe(key, skill);
    // The artifact is being fetched (or waits for a slot): the loader wakes this Skill when the
    // fetch ends; nothing is written meanwhile. The requeue is only a safety net.
    if ("waiting" in observation) return { requeueAfterMs: 120_000 };
    const decision = decideSkill(observation);
    const stale = d.stalePods?.({ ...skill, status: decision.status });
    if (stale && stale.count > 0) decision.status = { ...decision.status, stalePods: stale.count };
    if (stale && stale.count > (skill.status?.stalePods ?? 0)) {
      decision.events.push({
        type: "Warning",
        reason: "StalePods",
        message: `${stale.count} pod(s) in ${skill.metadata.namespace} still run ${skill.spec.skillId} with a payload no Skill there enables now (${stale.why}): ${stale.names}; ${
          d.evictsStalePods
            ? "the operator evicts them once the verdict is final (PodDisruptionBudgets respected)"
            : "they keep the bytes they were given until restarted (or turn on --evict-stale-pods)"
        }`,
      });
    }

    if (decision.pin) {
      const ts = observation.trustStore;
      const policy = observation.policy.kind === "found" ? observation.policy.policy : undefined;
      if (ts?.kind !== "ok" || !policy) throw new Error("pin decided without a trust store");
      const { publisher, scope, namespace } = decision.pin;
      const result = await d.trustStores.pin(
        ts,
        { scope, namespace },
        publisher,
        decision.pin.key,
        {
          keyId: decision.pin.keyId,
          skill: key,
          pinnedAt: new Date().toISOString(),
        },
      );
      d.metrics.tofuPins.inc({ result });
      if (result === "conflict") {
        // Someone else changed the store since we read it: observe again, never overwrite.
        d.log.info("trust store changed while pinning; re-evaluating", {
          ...keyFields(key),
          publisher: decision.pin.publisher,
        });
        return { conflict: true };
      }
      const where = scope === "Cluster" ? "cluster-wide" : `for namespace ${namespace}`;
      const message = `pinned publisher ${publisher} to key ${decision.pin.keyId} (${decision.pin.key}) ${where} on first use by Skill ${key}`;
      d.log.info("tofu pin written", {
        ...keyFields(key),
        publisher,
        keyId: decision.pin.keyId,
        scope,
        trustStore: `${ts.ref.namespace}/${ts.ref.name}`,
      });
      d.events.record(skillTarget(skill), "Normal", "TofuPinned", message);
      d.events.record(policyTarget(policy), "Normal", "TofuPinned", message);
      d.policyChanged?.(policy.metadata.name ?? "");
    }

    if (!deepEqual(skill.status ?? {}, decision.status)) {
      const previous = this.#writtenStatus.get(key);
      const restoring = previous !== undefined && previous !== fingerprint(skill.status ?? {});
      const written = await this.#writeStatus(skill, decision.status);
      if (written === "conflict") return { conflict: true };
      if (written === "gone") return;
      this.#written.set(key, {
        baseVersion: skill.metadata.resourceVersion,
        status: decision.status,
      });
      this.#writtenStatus.set(key, fingerprint(decision.status));
      if (restoring) {
        d.metrics.statusRestores.inc();
        d.log.warn("skill status was changed by someone other than the operator; restored", {
          ...keyFields(key),
          state: decision.status.state,
        });
        d.events.record(
          skillTarget(skill),
          "Warning",
          "StatusRestored",
          `the status was changed by someone other than the operator (to state ${skill.status?.state ?? "none"}); the operator's verdict (${decision.status.state}) was written back`,
        );
      }
    } else this.#writtenStatus.set(key, fingerprint(decision.status));

    for (const e of decision.events) {
      d.events.record(skillTarget(skill), e.type, e.reason, e.message);
      // The decision emits this once per Skill and artifact: a possible key compromise.
      if (e.reason === "TofuKeyMismatch") d.metrics.tofuMismatches.inc();
    }
    if (observation.policy.kind === "found") {
      for (const e of decision.policyEvents) {
        d.events.record(policyTarget(observation.policy.policy), e.type, e.reason, e.message);
      }
    }
    if (decision.retry) {
      return {
        requeueAfterMs: Math.max(this.#retry.next(key), decision.retryAfterMs ?? 0),
      };
    }
    this.#retry.forget(key);
  }

  async #observe(key: string, skill: Skill): Promise<SkillObservation | { waiting: string }> {
    const d = this.#d;
    const namespace = skill.metadata.namespace ?? "";
    const labels = d.namespaces.get(namespace)?.metadata.labels ?? {};
    const policy = resolvePolicy(skill, d.policies.list(), labels);
    const now = (d.now ?? (() => new Date()))();
    if (policy.kind !== "found") {
      d.loader.release(key);
      return { skill, policy, now };
    }
    const trustStore = await d.trustStores.observe(policy.policy);
    if (trustStore.kind !== "ok" && trustStore.kind !== "unset") {
      return { skill, policy, trustStore, now };
    }
    const artifact = await d.loader.load(key, sourceRefOf(skill), skill.spec.sha256);
    if (artifact.kind === "waiting") return { waiting: artifact.message };
    if (artifact.kind !== "verified") return { skill, policy, trustStore, artifact, now };
    const conflict = trustStoreConflict(policy.policy, d.policies.list());
    const ctx: TrustContext = {
      store: trustStore.kind === "ok" ? trustStore.store : EMPTY_TRUST_STORE,
      namespacePins: trustStore.kind === "ok" ? trustStore.namespacePins : new Map(),
      namespace,
      storeAvailable: trustStore.kind === "ok",
      ...(conflict ? { conflict } : {}),
    };
    const trust = decideArtifactTrust(artifact.facts, policy.policy, ctx);
    const audit = this.#audit(artifact.facts, policy.policy, trust);
    return { skill, policy, trustStore, artifact, verdict: { trust, audit }, now };
  }

  /** Cached by (artifact digest, policy uid+generation): the audit does not depend on trust. */
  #audit(
    facts: VerifiedArtifactFacts,
    policy: SkillTrustPolicy,
    trust: TrustVerdict,
  ): AuditVerdict {
    const id = `${facts.digest}|${policy.metadata.uid}/${policy.metadata.generation}`;
    let audit = this.#audits.get(id);
    if (!audit) {
      audit = auditVerdict(facts, policy, trust.ok ? trust.decision : "allowlisted");
      if (this.#audits.size >= 4096)
        this.#audits.delete(this.#audits.keys().next().value as string);
      this.#audits.set(id, audit);
    }
    return audit;
  }

  /** The Skill is gone or going: drop what this replica keeps for it. */
  #forget(key: string): HandlerResult {
    this.#d.loader.release(key);
    this.#retry.forget(key);
    this.#written.delete(key);
    this.#writtenStatus.delete(key);
    return undefined;
  }

  /**
   * Removes the finalizer an earlier version added (a JSON patch that tests the list it read, so
   * another controller's concurrent change to the finalizers is never overwritten).
   */
  async #removeLegacyFinalizer(key: string, skill: Skill): Promise<Skill | "conflict" | "gone"> {
    const { namespace = "", name = "", finalizers = [] } = skill.metadata;
    try {
      const updated = await this.#d.client.request<Skill>(skillPath(namespace, name), {
        method: "PATCH",
        contentType: JSON_PATCH,
        body: [
          { op: "test", path: "/metadata/finalizers", value: finalizers },
          {
            op: "replace",
            path: "/metadata/finalizers",
            value: finalizers.filter((f) => f !== LEGACY_SKILL_FINALIZER),
          },
        ],
        timeoutMs: 30_000,
      });
      this.#d.log.info("removed the finalizer of an earlier operator version", keyFields(key));
      return updated;
    } catch (error) {
      if (error instanceof KubeApiError && error.notFound) return "gone";
      // A failed test (422) or a conflict: another writer moved the list; observe it again.
      if (error instanceof KubeApiError && (error.conflict || error.status === 422))
        return "conflict";
      throw error;
    }
  }

  async #writeStatus(
    skill: Skill,
    status: NonNullable<Skill["status"]>,
  ): Promise<"ok" | "conflict" | "gone"> {
    const { namespace = "", name = "", uid } = skill.metadata;
    try {
      await this.#d.client.request(skillPath(namespace, name, "/status"), {
        method: "PATCH",
        contentType: JSON_PATCH,
        // Replace the whole status (nothing stale survives, whatever our cache held); the uid
        // test keeps a verdict for a deleted Skill off its same-named successor.
        body: [
          { op: "test", path: "/metadata/uid", value: uid },
          { op: "add", path: "/status", value: status },
        ],
        timeoutMs: 30_000,
      });
      this.#d.metrics.statusWrites.inc({ kind: "Skill" });
      this.#d.log.info("skill status written", {
        namespace,
        name,
        state: status.state,
        reason: status.conditions?.find((c) => c.type === "Ready")?.reason,
        artifactSha256: status.artifactSha256,
      });
      return "ok";
    } catch (error) {
      if (error instanceof KubeApiError && error.notFound) return "gone";
      // A failed uid test is 422 Unprocessable: the object was replaced under us.
      if (error instanceof KubeApiError && (error.conflict || error.status === 422))
        return "conflict";
      throw error;
    }
  }
}
