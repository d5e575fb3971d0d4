/**
 * Disabling reaches running pods: for one skill id in one namespace, the pods installed with a
 * payload no Skill enables now are told so (an Event on each, once) and, when eviction is on,
 * evicted through the Eviction API, so PodDisruptionBudgets decide the pace. Only a decided
 * verdict evicts (every Skill carrying the id settled Enabled or Quarantined, or none left): a
 * source outage or a verdict still being reached never takes workloads down.
 */

import type { Skill } from "../../api/v1alpha1/types.generated.ts";
import {
  type DeliveredPod,
  type DeliveredPodIndex,
  skillIdVerdict,
  stalePods,
} from "../../delivery/stale-pods.ts";
import { KeyedBackoff } from "../../kube/backoff.ts";
import { KubeApiError, type KubeRequester } from "../../kube/client.ts";
import type { EventRecorder } from "../../kube/events.ts";
import type { HandlerResult } from "../../kube/workqueue.ts";
import type { Logger } from "../../operator/log.ts";

export type EvictionResult = "evicted" | "blocked" | "gone" | "error";

export interface StalePodReconcilerDeps {
  client: KubeRequester;
  pods: DeliveredPodIndex;
  skillsWithId: (namespace: string, skillId: string) => Skill[];
  events: EventRecorder;
  log: Logger;
  /** Evict stale pods (opt-in); otherwise they are only reported. */
  evict: boolean;
  onEviction?: (result: EvictionResult) => void;
  /** Evictions in flight at once per reconcile. */
  evictionConcurrency?: number;
}

const podTarget = (namespace: string, pod: DeliveredPod) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { namespace, name: pod.name, uid: pod.uid },
});

export class StalePodReconciler {
  #d: StalePodReconcilerDeps;
  // Pods already told (by uid), so an Event is recorded once per pod, not per reconcile.
  #told = new Set<string>();
  #retry = new KeyedBackoff({ initialMs: 5_000, maxMs: 5 * 60_000, jitter: 0.2 });

  constructor(deps: StalePodReconcilerDeps) {
    this.#d = deps;
  }

  /** A pod left the cache: forget that it was told. */
  forgetPod(uid: string): void {
    this.#told.delete(uid);
  }

  async reconcile(key: string): Promise<HandlerResult> {
    const d = this.#d;
    const slash = key.indexOf("/");
    const namespace = key.slice(0, slash);
    const skillId = key.slice(slash + 1);
    const pods = d.pods.using(namespace, skillId);
    if (pods.length === 0) {
      this.#retry.forget(key);
      return;
    }
    const verdict = skillIdVerdict(skillId, d.skillsWithId(namespace, skillId));
    const stale = stalePods(pods, skillId, verdict.enabled);
    for (const pod of stale) {
      if (this.#told.has(pod.uid)) continue;
      this.#told.add(pod.uid);
      d.events.record(
        podTarget(namespace, pod),
        "Warning",
        "SkillPayloadDisabled",
        `this pod runs ${skillId} payload sha256:${pod.payloads.get(skillId)}, which no Skill in ${namespace} enables now: ${verdict.why}; ${
          !d.evict
            ? "it keeps running the bytes it was given until it is restarted"
            : verdict.decided
              ? "the operator evicts it (PodDisruptionBudgets respected)"
              : "it is not evicted while that verdict is not final"
        }`,
      );
    }
    if (!d.evict || !verdict.decided) {
      this.#retry.forget(key);
      return;
    }
    const targets = stale.filter((p) => !p.terminating);
    let blocked = 0;
    let failed: unknown;
    const next = { i: 0 };
    const worker = async () => {
      for (let i = next.i++; i < targets.length; i = next.i++) {
        const pod = targets[i] as DeliveredPod;
        const result = await this.#evict(namespace, pod, skillId, verdict.why).catch(
          (error: unknown) => {
            failed = error;
            return "error" as const;
          },
        );
        d.onEviction?.(result);
        if (result === "blocked") blocked++;
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(targets.length, d.evictionConcurrency ?? 4) }, worker),
    );
    if (failed !== undefined) throw failed;
    // A budget that allows no disruption now may allow one later: come back, backing off.
    if (blocked > 0) return { requeueAfterMs: this.#retry.next(key) };
    this.#retry.forget(key);
  }

  async #evict(
    namespace: string,
    pod: DeliveredPod,
    skillId: string,
    why: string,
  ): Promise<EvictionResult> {
    const d = this.#d;
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod.name)}/eviction`;
    try {
      await d.client.request(path, {
        method: "POST",
        body: {
          apiVersion: "policy/v1",
          kind: "Eviction",
          // The uid precondition: never evict a same-named successor.
          metadata: { name: pod.name, namespace },
          deleteOptions: { preconditions: { uid: pod.uid } },
        },
        timeoutMs: 30_000,
      });
    } catch (error) {
      if (error instanceof KubeApiError && error.notFound) return "gone";
      // 409: the uid precondition failed, the pod was replaced: not ours to evict.
      if (error instanceof KubeApiError && error.conflict) return "gone";
      if (error instanceof KubeApiError && error.status === 429) {
        d.log.info("eviction blocked by a disruption budget; retrying later", {
          namespace,
          pod: pod.name,
          skillId,
          reason: apiMessage(error),
        });
        d.events.record(
          podTarget(namespace, pod),
          "Warning",
          "StalePodEvictionBlocked",
          `evicting this pod (it runs a ${skillId} payload no Skill enables now) is blocked: ${apiMessage(error)}; the operator retries`,
        );
        return "blocked";
      }
      throw error;
    }
    d.log.info("evicted a pod running a disabled skill payload", {
      namespace,
      pod: pod.name,
      skillId,
      payloadSha256: pod.payloads.get(skillId),
    });
    d.events.record(
      podTarget(namespace, pod),
      "Normal",
      "StalePodEvicted",
      `evicted: it runs ${skillId} payload sha256:${pod.payloads.get(skillId)}, which no Skill in ${namespace} enables now (${why})`,
    );
    return "evicted";
  }
}

/** The API server's own words, without the request line KubeApiError prefixes. */
function apiMessage(error: KubeApiError): string {
  const head = `${error.status} ${error.reason}: `;
  const at = error.message.indexOf(head);
  return at < 0 ? error.message : error.message.slice(at + head.length);
}
