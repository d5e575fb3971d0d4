/** Disabling reaches running pods: the pure index and verdicts, and the reconciler's decisions. */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Skill } from "../../src/api/v1alpha1/types.generated.ts";
import { StalePodReconciler } from "../../src/controller/delivery/stale-pod-reconciler.ts";
import { formatResolution, RESOLVED_ANNOTATION } from "../../src/delivery/pod-mutation.ts";
import {
  DeliveredPodIndex,
  deliveredPod,
  podList,
  skillIdVerdict,
  stalePods,
} from "../../src/delivery/stale-pods.ts";
import { KubeApiError, type KubeRequest } from "../../src/kube/client.ts";
import { EventRecorder } from "../../src/kube/events.ts";
import { createLogger } from "../../src/operator/log.ts";

const ID = "acme.echo_http";
const P1 = "1".repeat(64);
const P2 = "2".repeat(64);

function skill(name: string, state: string, payload: string | undefined, extra = {}): Skill {
  return {
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "Skill",
    metadata: { name, namespace: "ns", generation: 2, ...extra },
    spec: { skillId: ID, publisher: "acme", source: { url: "https://x" } },
    status: {
      observedGeneration: 2,
      state,
      ...(payload ? { payloadSha256: payload } : {}),
      conditions: [
        {
          type: "Ready",
          status: state === "Enabled" ? "True" : "False",
          reason: state === "Enabled" ? "Enabled" : "ManuallyQuarantined",
          message: "",
          lastTransitionTime: "2026-01-01T00:00:00Z",
        },
      ],
    },
  } as Skill;
}

function pod(name: string, payloads: Record<string, string>, extra = {}) {
  return {
    metadata: {
      name,
      namespace: "ns",
      uid: `uid-${name}`,
      annotations: {
        [RESOLVED_ANNOTATION]: formatResolution(
          Object.entries(payloads).map(([skillId, payloadSha256]) => ({
            skillId,
            version: "1.0.0",
            payloadSha256,
            artifactSha256: "",
            publicKeyHex: "",
          })),
        ),
      },
      ...extra,
    },
  };
}

test("the index finds delivered pods by namespace and skill id, and says which ids a change touched", () => {
  const index = new DeliveredPodIndex();
  const a = deliveredPod(pod("a", { [ID]: P1, "acme.notes": P2 }), RESOLVED_ANNOTATION);
  assert.ok(a);
  assert.deepEqual(index.set("ns", "a", a).sort(), ["ns/acme.echo_http", "ns/acme.notes"]);
  assert.deepEqual(index.set("ns", "a", a), [], "re-listed unchanged: nothing touched");
  assert.deepEqual(
    index.using("ns", ID).map((p) => p.name),
    ["a"],
  );
  assert.deepEqual(index.using("other", ID), []);
  const terminating = deliveredPod(
    pod("a", { [ID]: P1, "acme.notes": P2 }, { deletionTimestamp: "2026-01-01T00:00:00Z" }),
    RESOLVED_ANNOTATION,
  );
  assert.equal(index.set("ns", "a", terminating).length, 2);
  assert.deepEqual(index.set("ns", "a", undefined).sort(), ["ns/acme.echo_http", "ns/acme.notes"]);
  assert.equal(index.size, 0);
  assert.deepEqual([...index.keys()], []);
  // A pod whose resolution is not one the operator writes is not indexed at all.
  const bogus = pod("b", {});
  bogus.metadata.annotations[RESOLVED_ANNOTATION] = "acme.echo_http@1=sha256:nope";
  assert.equal(deliveredPod(bogus, RESOLVED_ANNOTATION), undefined);
});

test("the verdict for a skill id: Enabled payloads are current; only settled Enabled or Quarantined verdicts (or none left) are decided", () => {
  const enabled = skillIdVerdict(ID, [skill("echo", "Enabled", P1)]);
  assert.deepEqual([...enabled.enabled], [P1]);
  assert.equal(enabled.decided, true);
  const quarantined = skillIdVerdict(ID, [skill("echo", "Quarantined", P1)]);
  assert.equal(quarantined.enabled.size, 0);
  assert.equal(quarantined.decided, true);
  assert.equal(quarantined.why, "Skill echo is Quarantined (ManuallyQuarantined)");
  // A source outage (Failed) must never evict: not decided.
  const failed = skillIdVerdict(ID, [skill("echo", "Failed", undefined)]);
  assert.equal(failed.decided, false);
  // A new generation not yet observed: not decided, whatever the old status says.
  const pending = skillIdVerdict(ID, [skill("echo", "Quarantined", P1, { generation: 3 })]);
  assert.equal(pending.decided, false);
  assert.match(pending.why, /is Pending/);
  // Deleted (or being deleted): decided, nothing enabled.
  for (const gone of [[], [skill("echo", "Enabled", P1, { deletionTimestamp: "2026" })]]) {
    const v = skillIdVerdict(ID, gone);
    assert.equal(v.decided, true);
    assert.equal(v.enabled.size, 0);
    assert.match(v.why, /no Skill in the namespace carries acme\.echo_http any more/);
  }
  // Twins: each Enabled payload is current; a Quarantined twin leaves the other's pods alone.
  const twins = skillIdVerdict(ID, [skill("v1", "Enabled", P1), skill("v2", "Quarantined", P2)]);
  assert.deepEqual([...twins.enabled], [P1]);
  const pods = [
    deliveredPod(pod("on-p1", { [ID]: P1 }), RESOLVED_ANNOTATION),
    deliveredPod(pod("on-p2", { [ID]: P2 }), RESOLVED_ANNOTATION),
  ].filter((p) => p !== undefined);
  assert.deepEqual(
    stalePods(pods, ID, twins.enabled).map((p) => p.name),
    ["on-p2"],
  );
  assert.equal(podList(pods, 1), "on-p1 and 1 more");
});

/** A requester that records every call and answers evictions as told. */
function fakeApi(answer: (name: string) => Error | undefined = () => undefined) {
  const calls: { method: string; path: string; body: unknown }[] = [];
  return {
    calls,
    request<T>(path: string, req: KubeRequest = {}): Promise<T> {
      calls.push({ method: req.method ?? "GET", path, body: req.body });
      const m = /\/pods\/([^/]+)\/eviction$/.exec(path);
      const error = m ? answer(m[1] as string) : undefined;
      return error ? Promise.reject(error) : Promise.resolve({} as T);
    },
  };
}

function reconcilerWith(
  skills: Skill[],
  evict: boolean,
  answer?: (name: string) => Error | undefined,
) {
  const api = fakeApi(answer);
  const index = new DeliveredPodIndex();
  for (const p of [
    pod("current", { [ID]: P2 }),
    pod("stale", { [ID]: P1 }),
    pod("going", { [ID]: P1 }, { deletionTimestamp: "2026-01-01T00:00:00Z" }),
  ]) {
    index.set("ns", p.metadata.name, deliveredPod(p, RESOLVED_ANNOTATION));
  }
  const events = new EventRecorder(api, { component: "test" });
  const results: string[] = [];
  const reconciler = new StalePodReconciler({
    client: api,
    pods: index,
    skillsWithId: () => skills,
    events,
    log: createLogger("error"),
    evict,
    onEviction: (r) => results.push(r),
  });
  return { api, events, results, reconciler };
}

const evictions = (calls: { path: string }[]) =>
  calls.filter((c) => c.path.endsWith("/eviction")).map((c) => c.path.split("/")[6]);
const eventReasons = (calls: { path: string; body: unknown }[]) =>
  calls
    .filter((c) => c.path.includes("/events"))
    .map(
      (c) =>
        `${(c.body as { reason: string }).reason}:${(c.body as { involvedObject: { name: string } }).involvedObject.name}`,
    )
    .sort();

test("report only: each stale pod is told once by an Event, and nothing is evicted", async () => {
  const { api, events, reconciler } = reconcilerWith([skill("echo", "Enabled", P2)], false);
  assert.equal(await reconciler.reconcile(`ns/${ID}`), undefined);
  assert.equal(await reconciler.reconcile(`ns/${ID}`), undefined);
  await events.flush();
  assert.deepEqual(evictions(api.calls), []);
  assert.deepEqual(eventReasons(api.calls), [
    "SkillPayloadDisabled:going",
    "SkillPayloadDisabled:stale",
  ]);
});

test("eviction on: stale pods that are not already terminating are evicted with a uid precondition", async () => {
  const { api, results, reconciler } = reconcilerWith([skill("echo", "Enabled", P2)], true);
  assert.equal(await reconciler.reconcile(`ns/${ID}`), undefined);
  assert.deepEqual(evictions(api.calls), ["stale"]);
  const body = api.calls.find((c) => c.path.endsWith("/eviction"))?.body as {
    kind: string;
    deleteOptions: { preconditions: { uid: string } };
  };
  assert.equal(body.kind, "Eviction");
  assert.equal(body.deleteOptions.preconditions.uid, "uid-stale");
  assert.deepEqual(results, ["evicted"]);
});

test("eviction on, but the verdict is a Failed fetch or not yet reached: nothing is evicted", async () => {
  for (const skills of [
    [skill("echo", "Failed", undefined)],
    [skill("echo", "Enabled", P2, { generation: 3 })],
  ]) {
    const { api, reconciler } = reconcilerWith(skills, true);
    assert.equal(await reconciler.reconcile(`ns/${ID}`), undefined);
    assert.deepEqual(evictions(api.calls), []);
  }
});

test("a disruption budget that refuses (429) brings the reconcile back later; a pod already gone (404) or replaced (409) is not an error", async () => {
  const err = (status: number, reason: string) =>
    new KubeApiError(
      status,
      reason,
      "Cannot evict pod as it would violate the pod's disruption budget.",
      "POST",
      "/x",
    );
  const blocked = reconcilerWith([skill("echo", "Enabled", P2)], true, () =>
    err(429, "TooManyRequests"),
  );
  const result = await blocked.reconciler.reconcile(`ns/${ID}`);
  assert.ok(result && "requeueAfterMs" in result && (result.requeueAfterMs ?? 0) > 0);
  assert.deepEqual(blocked.results, ["blocked"]);
  await blocked.events.flush();
  assert.ok(eventReasons(blocked.api.calls).includes("StalePodEvictionBlocked:stale"));
  for (const [status, reason] of [
    [404, "NotFound"],
    [409, "Conflict"],
  ] as const) {
    const gone = reconcilerWith([skill("echo", "Enabled", P2)], true, () => err(status, reason));
    assert.equal(await gone.reconciler.reconcile(`ns/${ID}`), undefined);
    assert.deepEqual(gone.results, ["gone"]);
  }
  // Anything else is an error the work queue retries.
  const broken = reconcilerWith([skill("echo", "Enabled", P2)], true, () =>
    err(500, "InternalError"),
  );
  await assert.rejects(broken.reconciler.reconcile(`ns/${ID}`), /500 InternalError/);
});
