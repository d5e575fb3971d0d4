/**
 * Which running pods still carry a payload their namespace no longer enables (issue 18, "disabling
 * reaches running pods"). Pods are known by their metadata alone: the delivery label selects them
 * and the resolution annotation says which payload each skill id was installed from. Pure: the
 * operator feeds it from a metadata-only informer and asks it after every Skill or pod change.
 */

import type { Skill } from "../api/v1alpha1/types.generated.ts";
import type { KubeObject } from "../kube/informer.ts";
import { parseResolution } from "./pod-mutation.ts";

/** One delivered pod as far as staleness goes. */
export interface DeliveredPod {
  readonly name: string;
  readonly uid: string;
  /** Being deleted already: still counted as running, never evicted twice. */
  readonly terminating: boolean;
  /** skill id -> payload sha256 it was installed from. */
  readonly payloads: ReadonlyMap<string, string>;
}

/** The pod as the index keeps it; undefined when it carries no (valid) resolution. */
export function deliveredPod(pod: KubeObject, annotation: string): DeliveredPod | undefined {
  const entries = parseResolution(pod.metadata.annotations?.[annotation] ?? "");
  if (!entries || entries.length === 0) return undefined;
  return {
    name: pod.metadata.name ?? "",
    uid: pod.metadata.uid ?? "",
    terminating: Boolean(pod.metadata.deletionTimestamp),
    payloads: new Map(entries.map((e) => [e.skillId, e.payloadSha256])),
  };
}

/** Delivered pods by namespace and skill id, kept in step with a pod informer. */
export class DeliveredPodIndex {
  // namespace -> skill id -> pod name -> pod
  #byId = new Map<string, Map<string, Map<string, DeliveredPod>>>();
  #pods = new Map<string, DeliveredPod>(); // "<ns>/<name>" -> pod

  get size(): number {
    return this.#pods.size;
  }

  /**
   * Puts (or, with pod undefined, removes) a pod; returns the skill ids whose pod set changed,
   * as "<namespace>/<skillId>" keys.
   */
  set(namespace: string, name: string, pod: DeliveredPod | undefined): string[] {
    const key = `${namespace}/${name}`;
    const old = this.#pods.get(key);
    const touched = new Set<string>();
    if (old) {
      for (const id of old.payloads.keys()) {
        const byName = this.#byId.get(namespace)?.get(id);
        byName?.delete(name);
        if (byName?.size === 0) this.#byId.get(namespace)?.delete(id);
        touched.add(id);
      }
      if (this.#byId.get(namespace)?.size === 0) this.#byId.delete(namespace);
      this.#pods.delete(key);
    }
    if (pod) {
      this.#pods.set(key, pod);
      const byNs = this.#byId.get(namespace) ?? new Map<string, Map<string, DeliveredPod>>();
      this.#byId.set(namespace, byNs);
      for (const id of pod.payloads.keys()) {
        const byName = byNs.get(id) ?? new Map<string, DeliveredPod>();
        byNs.set(id, byName);
        byName.set(name, pod);
        touched.add(id);
      }
    }
    // A pod re-listed unchanged touches nothing.
    if (old && pod && samePod(old, pod)) return [];
    return [...touched].map((id) => `${namespace}/${id}`);
  }

  /** The pods of a namespace that were installed with this skill id. */
  using(namespace: string, skillId: string): DeliveredPod[] {
    return [...(this.#byId.get(namespace)?.get(skillId)?.values() ?? [])];
  }

  /** Every (namespace, skill id) with delivered pods. */
  *keys(): Generator<{ namespace: string; skillId: string }> {
    for (const [namespace, byId] of this.#byId) {
      for (const skillId of byId.keys()) yield { namespace, skillId };
    }
  }
}

function samePod(a: DeliveredPod, b: DeliveredPod): boolean {
  if (a.uid !== b.uid || a.terminating !== b.terminating || a.payloads.size !== b.payloads.size)
    return false;
  for (const [id, payload] of a.payloads) if (b.payloads.get(id) !== payload) return false;
  return true;
}

/** The payload a Skill enables now, or undefined: only a settled Enabled verdict enables one. */
export function enabledPayload(skill: Skill): string | undefined {
  const s = skill.status;
  if (skill.metadata.deletionTimestamp) return undefined;
  if (s?.state !== "Enabled" || s.observedGeneration !== skill.metadata.generation)
    return undefined;
  return s.payloadSha256;
}

/** What a namespace's Skills say about one skill id, for the pods installed with it. */
export interface SkillIdVerdict {
  /** Payloads some Skill carrying the id enables now. */
  readonly enabled: ReadonlySet<string>;
  /**
   * True when every Skill carrying the id has a settled Enabled or Quarantined verdict, or none
   * is left: a decision was made. False while a verdict is pending or Failed (a source outage,
   * an unusable trust store), which must never take running workloads down.
   */
  readonly decided: boolean;
  /** Why pods with other payloads are stale, for events: names one Skill that is not Enabled. */
  readonly why: string;
}

export function skillIdVerdict(skillId: string, skills: readonly Skill[]): SkillIdVerdict {
  const live = skills
    .filter((s) => !s.metadata.deletionTimestamp)
    .sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1));
  const enabled = new Set<string>();
  let decided = true;
  let why = `no Skill in the namespace carries ${skillId} any more`;
  for (const s of live) {
    const payload = enabledPayload(s);
    if (payload !== undefined) {
      enabled.add(payload);
      continue;
    }
    const settled = s.status?.observedGeneration === s.metadata.generation;
    const state = settled ? (s.status?.state ?? "Pending") : "Pending";
    if (state !== "Quarantined") decided = false;
    const reason = settled ? s.status?.conditions?.find((c) => c.type === "Ready")?.reason : "";
    why = `Skill ${s.metadata.name} is ${state}${reason ? ` (${reason})` : ""}`;
  }
  if (live.length > 0 && enabled.size > 0 && why.startsWith("no Skill")) {
    why = `the payloads Enabled under ${skillId} are sha256:${[...enabled].join(", sha256:")}`;
  }
  return { enabled, decided, why };
}

/** Pods that run this skill id with a payload none of `enabled` is, by name. */
export function stalePods(
  pods: readonly DeliveredPod[],
  skillId: string,
  enabled: ReadonlySet<string>,
): DeliveredPod[] {
  return pods
    .filter((p) => !enabled.has(p.payloads.get(skillId) ?? ""))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** "a, b, c and 4 more": pod names for a message, bounded. */
export function podList(pods: readonly DeliveredPod[], max = 5): string {
  const names = pods.slice(0, max).map((p) => p.name);
  return pods.length > max ? `${names.join(", ")} and ${pods.length - max} more` : names.join(", ");
}
