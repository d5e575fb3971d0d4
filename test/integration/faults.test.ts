/**
 * Faults survived, against a real control plane of this file's own (so the API server can be
 * restarted and etcd paused without disturbing the other files): each test states what must
 * hold. The operator runs with short timeouts so that each fault plays out in seconds.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import {
  type ControlPlane,
  ensureBinaries,
  startControlPlane,
} from "../../hack/control-plane/launcher.ts";
import { ArtifactServer } from "../../hack/dev/artifact-server.ts";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import type { Skill } from "../../src/api/v1alpha1/types.generated.ts";
import { installCrds } from "../support/crds.ts";
import { clusterOf, kube, waitFor } from "../support/kube.ts";
import { type RunningOperator, startOperator } from "../support/operator.ts";
import {
  API,
  createSkill,
  ensureNamespace,
  getPolicy,
  getSkill,
  patchSkill,
  readTrustStore,
  readyReason,
  waitForEvent,
  waitForSkill,
  waitForState,
} from "../support/resources.ts";
import { ACME, createTenant, STORE_NS, urlSkillSpec } from "../support/tenants.ts";

const server = new ArtifactServer();
let plane: ControlPlane;
let operator: RunningOperator;
const FLAGS = [
  "--kube-api-timeout",
  "3",
  "--artifact-read-timeout",
  "2",
  "--artifact-fetch-timeout",
  "4",
  "--url-refresh-period",
  "1",
  "--leader-elect-lease-duration",
  "4",
  "--leader-elect-renew-deadline",
  "3",
  "--leader-elect-retry-period",
  "1",
];
const NEWCO = skillArtifact({ publisher: "newco", skillId: "newco.echo", keySeed: 51 });
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

before(async () => {
  const bin = ensureBinaries();
  plane = await startControlPlane();
  // This file's own control plane: every helper below talks to it.
  process.env.PALYRA_TEST_CLUSTER = JSON.stringify(clusterOf(plane, bin));
  await installCrds();
  await ensureNamespace(STORE_NS);
  await server.start();
  operator = await startOperator(FLAGS);
});

after(async () => {
  await operator?.stop();
  await server.stop();
  await plane?.stop();
});

/** Every Skill in the namespace has a status for its current generation. */
async function settled(ns: string): Promise<Skill[]> {
  return waitFor(
    `every Skill in ${ns} reconciled for its generation`,
    async () => {
      const list = (await kube("GET", `${API}/namespaces/${ns}/skills`)).body as unknown as {
        items: Skill[];
      };
      return list.items.every(
        (s) =>
          s.status?.observedGeneration === s.metadata.generation && !s.metadata.deletionTimestamp,
      )
        ? list.items
        : undefined;
    },
    60_000,
  );
}

describe("the control plane fails", () => {
  test("kube-apiserver stopped and restarted while Skills change: watches resume, no update is lost, no pin is duplicated or overwritten", async () => {
    const t = await createTenant({ allowTofu: true, tofuScope: "Cluster" });
    const spec = (name: string, a = ACME) =>
      urlSkillSpec(server, `${t.ns}/${name}.palyra-skill`, a.bytes, t.policy, {
        skillId: a === NEWCO ? "newco.echo" : "acme.echo_http",
        publisher: a === NEWCO ? "newco" : "acme",
      });
    for (const name of ["a1", "a2", "a3"]) await createSkill(t.ns, name, spec(name));
    await createSkill(t.ns, "n1", spec("n1", NEWCO));
    await settled(t.ns);
    const pinned = await readTrustStore(STORE_NS, t.store);
    assert.deepEqual(pinned.doc.tofu_publishers, { newco: NEWCO.publicKeyHex });
    const restartsBefore = await operator.metric("palyra_informer_restarts_total");

    // Changes right before the API server goes away: the operator may be mid-write.
    await patchSkill(t.ns, "a1", { sha256: "0".repeat(64) });
    await createSkill(t.ns, "n2", spec("n2", NEWCO));
    await plane.restartApiServer(3000);
    // And changes right after it returns, before the operator's watches are back.
    await patchSkill(t.ns, "a2", { desiredState: "Quarantined" });
    await createSkill(t.ns, "a4", spec("a4"));
    const del = await kube("DELETE", `${API}/namespaces/${t.ns}/skills/a3`);
    assert.equal(del.status, 200, del.body.message);

    // Every change is reflected: none was lost while the watches were down.
    const skills = await settled(t.ns);
    const state = Object.fromEntries(skills.map((s) => [s.metadata.name, s.status?.state]));
    assert.deepEqual(state, {
      a1: "Quarantined",
      a2: "Quarantined",
      a4: "Enabled",
      n1: "Enabled",
      n2: "Enabled",
    });
    assert.equal(
      readyReason(skills.find((s) => s.metadata.name === "a1") as Skill),
      "DigestMismatch",
    );
    await waitFor("a3 is gone", async () =>
      (await getSkill(t.ns, "a3")) === undefined ? true : undefined,
    );
    // The pin was neither duplicated nor rewritten: the store was not even touched.
    const after = await readTrustStore(STORE_NS, t.store);
    assert.deepEqual(after.doc, pinned.doc);
    assert.equal(after.rv, pinned.rv);
    assert.ok(
      (await operator.metric("palyra_informer_restarts_total")) > restartsBefore,
      "the watches failed and were restarted",
    );
  });

  test("a watch that expires (410 Gone after an etcd compaction) relists and continues", async () => {
    const t = await createTenant();
    await createSkill(
      t.ns,
      "before",
      urlSkillSpec(server, `${t.ns}/b.palyra-skill`, ACME.bytes, t.policy),
    );
    await waitForState(t.ns, "before", "Enabled");
    const relists = await operator.metric("palyra_informer_relists_total");
    // Compact etcd past every resourceVersion the operator holds, then restart the API server
    // so its watch cache is gone too: resuming a watch from the old resourceVersion answers 410.
    await plane.compactEtcd();
    await plane.restartApiServer(0);
    await createSkill(
      t.ns,
      "after",
      urlSkillSpec(server, `${t.ns}/a.palyra-skill`, ACME.bytes, t.policy),
    );
    await waitForState(t.ns, "after", "Enabled");
    assert.ok(
      (await operator.metric("palyra_informer_relists_total")) > relists,
      "a watch got 410 Gone and the informer relisted",
    );
    assert.ok(operator.logs.some((l) => l.msg === "watch expired (410 Gone); relisting"));
  });

  test("etcd paused (SIGSTOP) for longer than the request timeouts, then resumed: the operator recovers without a restart", async () => {
    const t = await createTenant();
    await createSkill(
      t.ns,
      "early",
      urlSkillSpec(server, `${t.ns}/e.palyra-skill`, ACME.bytes, t.policy),
    );
    plane.pauseEtcd();
    let resumed = false;
    try {
      // 8 s: longer than the operator's 3 s API timeout and its 3 s lease renew deadline.
      await new Promise((r) => setTimeout(r, 8000));
    } finally {
      plane.resumeEtcd();
      resumed = true;
    }
    assert.ok(resumed);
    assert.equal(operator.process.exitCode, null, "the operator is still running");
    await waitForState(t.ns, "early", "Enabled");
    await createSkill(
      t.ns,
      "late",
      urlSkillSpec(server, `${t.ns}/l.palyra-skill`, ACME.bytes, t.policy),
    );
    await waitForState(t.ns, "late", "Enabled");
    assert.equal((await operator.get("/readyz")).body.trim(), "ok: leading");
  });
});

describe("the artifact server misbehaves", () => {
  test("5xx: Failed (the status code only in the operator's log: the server is on an internal address), retried, Enabled once the server answers", async () => {
    const t = await createTenant();
    const s = urlSkillSpec(server, `${t.ns}/x.palyra-skill`, ACME.bytes, t.policy);
    server.fault(`${t.ns}/x.palyra-skill`, { kind: "status", status: 503 });
    await createSkill(t.ns, "x", s);
    const failed = await waitForState(t.ns, "x", "Failed", "FetchFailed");
    const conditions = JSON.stringify(failed.status?.conditions);
    assert.match(conditions, /answered an HTTP error status \(not shown: internal address\)/);
    assert.doesNotMatch(conditions, /\b503\b/);
    assert.ok(
      operator.logs.some((l) => l.msg === "artifact fetch failed" && l.detail === "HTTP 503"),
      "the operator's log says what the status does not",
    );
    server.fault(`${t.ns}/x.palyra-skill`, undefined);
    await waitForState(t.ns, "x", "Enabled");
    assert.ok((await operator.metric("palyra_artifact_fetch_errors_total")) > 0);
  });

  test("slow loris: a body that stops, and one that trickles, both fail on their timeouts without holding a worker", async () => {
    const t = await createTenant();
    const hang = `${t.ns}/hang.palyra-skill`;
    const trickle = `${t.ns}/trickle.palyra-skill`;
    server.fault(hang, { kind: "hang", bytes: 100 });
    server.fault(trickle, { kind: "trickle", everyMs: 500 });
    await createSkill(t.ns, "hang", urlSkillSpec(server, hang, ACME.bytes, t.policy));
    await createSkill(t.ns, "trickle", urlSkillSpec(server, trickle, ACME.bytes, t.policy));
    // Meanwhile other Skills are reconciled as usual.
    await createSkill(
      t.ns,
      "fine",
      urlSkillSpec(server, `${t.ns}/f.palyra-skill`, ACME.bytes, t.policy),
    );
    await waitForState(t.ns, "fine", "Enabled");
    const h = await waitForState(t.ns, "hang", "Failed", "FetchFailed");
    assert.match(JSON.stringify(h.status?.conditions), /idle|timed out|timeout/i);
    const k = await waitForState(t.ns, "trickle", "Failed", "FetchFailed");
    assert.match(JSON.stringify(k.status?.conditions), /timed out|timeout|deadline/i);
    server.fault(hang, undefined);
    server.fault(trickle, undefined);
    await waitForState(t.ns, "hang", "Enabled");
    await waitForState(t.ns, "trickle", "Enabled");
  });

  test("connection reset: Failed with a clear reason, then Enabled", async () => {
    const t = await createTenant();
    const path = `${t.ns}/r.palyra-skill`;
    server.fault(path, { kind: "reset" });
    await createSkill(t.ns, "r", urlSkillSpec(server, path, ACME.bytes, t.policy));
    const failed = await waitForState(t.ns, "r", "Failed", "FetchFailed");
    assert.match(JSON.stringify(failed.status?.conditions), /reset|socket|ECONNRESET/i);
    server.fault(path, undefined);
    await waitForState(t.ns, "r", "Enabled");
  });

  test("different bytes on the second request for the same URL: the digest pin catches the swap, and status records what was verified", async () => {
    const t = await createTenant();
    const path = `${t.ns}/swap.palyra-skill`;
    const good = ACME.bytes;
    const evil = Buffer.from(good);
    evil[evil.length - 30] = (evil[evil.length - 30] ?? 0) ^ 0xff;
    server.fault(path, { kind: "swap", bytes: evil, after: 1 });
    const pinned = { sha256: sha256(good) };
    await createSkill(t.ns, "first", urlSkillSpec(server, path, good, t.policy, pinned));
    const first = await waitForState(t.ns, "first", "Enabled");
    assert.equal(first.status?.artifactSha256, sha256(good));
    assert.equal(server.hits(path), 1);

    // After the URL refresh period (1 s here) the next load fetches again: time is the
    // condition, so this is the one deliberate wait in the file.
    await new Promise((r) => setTimeout(r, 1100));
    await createSkill(t.ns, "pinned", urlSkillSpec(server, path, good, t.policy, pinned));
    const caught = await waitForState(t.ns, "pinned", "Quarantined", "DigestMismatch");
    assert.match(JSON.stringify(caught.status?.conditions), new RegExp(sha256(evil)));
    await createSkill(t.ns, "unpinned", urlSkillSpec(server, path, good, t.policy));
    const unpinned = await waitForSkill(
      t.ns,
      "unpinned",
      (s) => s.status?.state !== "Enabled" && s.status?.state !== "Pending",
      "not Enabled",
    );
    // What is recorded is the digest of the bytes that were verified (and rejected), never
    // the digest of bytes fetched earlier or later.
    assert.equal(unpinned.status?.artifactSha256, sha256(evil));
    assert.equal((await getSkill(t.ns, "first"))?.status?.artifactSha256, sha256(good));
    assert.ok(server.hits(path) >= 2);
  });
});

describe("the trust store goes away", () => {
  test("deleted, then filled with invalid JSON: nothing becomes Enabled, the policy says why (status and events), and recovery keeps exactly the pins it had", async () => {
    const t = await createTenant({ allowTofu: true, tofuScope: "Cluster" });
    const spec = (name: string, a: typeof NEWCO, id: string, publisher: string) =>
      urlSkillSpec(server, `${t.ns}/${name}.palyra-skill`, a.bytes, t.policy, {
        skillId: id,
        publisher,
      });
    await createSkill(t.ns, "pinned", spec("pinned", NEWCO, "newco.echo", "newco"));
    await waitForState(t.ns, "pinned", "Enabled");
    const store = await readTrustStore(STORE_NS, t.store);
    const storePath = `/api/v1/namespaces/${STORE_NS}/configmaps/${t.store}`;
    const original = (await kube("GET", storePath)).body as { data?: Record<string, string> };

    // Deleted: the policy turns not-Ready with an event; a new TOFU publisher is not pinned
    // anywhere (no new store is invented) and nothing is Enabled.
    assert.equal((await kube("DELETE", storePath)).status, 200);
    await waitFor("policy reports TrustStoreNotFound", async () => {
      const p = await getPolicy(t.policy);
      const ready = p.status?.conditions?.find((c) => c.type === "Ready");
      return ready?.reason === "TrustStoreNotFound" && ready.status === "False" ? true : undefined;
    });
    await waitForEvent(
      "default",
      (e) => e.reason === "TrustStoreNotFound" && e.involvedObject.name === t.policy,
      "TrustStoreNotFound on the policy",
    );
    const other = skillArtifact({ publisher: "otherco", skillId: "otherco.echo", keySeed: 52 });
    await createSkill(t.ns, "newcomer", spec("newcomer", other, "otherco.echo", "otherco"));
    await waitForState(t.ns, "newcomer", "Failed", "TrustStoreNotFound");
    await waitForState(t.ns, "pinned", "Failed", "TrustStoreNotFound");
    assert.equal(
      (await kube("GET", storePath)).status,
      404,
      "the operator did not recreate the store",
    );

    // Back, but with invalid JSON: still closed, with the parse error named.
    const created = await kube("POST", `/api/v1/namespaces/${STORE_NS}/configmaps`, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: t.store, labels: { "skills.palyra.dev/trust-store": "true" } },
      data: { "trust-store.json": '{"tofu_publishers": {"newco": ' },
    });
    assert.equal(created.status, 201, created.body.message);
    await waitForState(t.ns, "pinned", "Failed", "TrustStoreInvalid");
    await waitForState(t.ns, "newcomer", "Failed", "TrustStoreInvalid");
    await waitForEvent(
      "default",
      (e) => e.reason === "TrustStoreInvalid" && e.involvedObject.name === t.policy,
      "TrustStoreInvalid on the policy",
    );

    // Restored: the pinned publisher is Enabled again on the same pin; the newcomer is pinned
    // now that there is a store to pin in; the old pin is neither dropped nor rewritten.
    const current = (await kube("GET", storePath)).body as { metadata: Record<string, unknown> };
    const restored = await kube("PUT", storePath, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: current.metadata,
      data: original.data,
    });
    assert.equal(restored.status, 200, restored.body.message);
    await waitForState(t.ns, "pinned", "Enabled");
    await waitForState(t.ns, "newcomer", "Enabled");
    const after = await readTrustStore(STORE_NS, t.store);
    assert.deepEqual(after.doc.tofu_publishers, {
      ...(store.doc.tofu_publishers as Record<string, string>),
      otherco: other.publicKeyHex,
    });
    await waitForEvent(
      "default",
      (e) => e.reason === "TrustStoreAvailable" && e.involvedObject.name === t.policy,
      "TrustStoreAvailable on the policy",
    );
  });
});

describe("the leader dies mid-work", () => {
  test("killed mid-reconcile (fetch in flight) and mid-pin: the standby finishes with the same answers and exactly one pin", async () => {
    // Only these two replicas may reconcile: the file's operator steps aside.
    assert.equal(await operator.stop(), 0);
    const lease = ["--leader-elect-lease-name", "palyra-faults-ha"];
    const a = await startOperator([...FLAGS, ...lease]);
    await waitFor("A leads", async () =>
      (await a.get("/readyz")).body.trim() === "ok: leading" ? true : undefined,
    );
    const b = await startOperator([...FLAGS, ...lease]);
    try {
      const t = await createTenant({ allowTofu: true, tofuScope: "Cluster" });
      // Mid-reconcile: the artifact hangs, so A is inside the fetch when it dies.
      const slow = `${t.ns}/slow.palyra-skill`;
      server.fault(slow, { kind: "hang", bytes: 10 });
      await createSkill(t.ns, "slow", urlSkillSpec(server, slow, ACME.bytes, t.policy));
      await waitFor("A is fetching", async () => (server.hits(slow) > 0 ? true : undefined));
      // Mid-pin: a TOFU Skill whose pin A writes; A is frozen the moment the pin lands.
      const fresh = skillArtifact({ publisher: "pinco", skillId: "pinco.echo", keySeed: 53 });
      await createSkill(
        t.ns,
        "tofu",
        urlSkillSpec(server, `${t.ns}/tofu.palyra-skill`, fresh.bytes, t.policy, {
          skillId: "pinco.echo",
          publisher: "pinco",
        }),
      );
      const pinnedBy = await waitFor(
        "A pinned pinco",
        async () => {
          const s = await readTrustStore(STORE_NS, t.store);
          return s.doc.tofu_publishers?.pinco ? s : undefined;
        },
        30_000,
      );
      a.process.kill("SIGSTOP");
      await a.kill();
      server.fault(slow, undefined);

      await waitFor("B leads", async () =>
        (await b.get("/readyz")).body.trim() === "ok: leading" ? true : undefined,
      );
      await waitForState(t.ns, "slow", "Enabled");
      const tofu = await waitForState(t.ns, "tofu", "Enabled");
      assert.match(tofu.status?.trustDecision ?? "", /^tofu_/);
      const store = await readTrustStore(STORE_NS, t.store);
      assert.deepEqual(store.doc.tofu_publishers, { pinco: fresh.publicKeyHex });
      assert.deepEqual(store.doc, pinnedBy.doc, "B did not rewrite the pin A wrote");
      assert.equal(await b.metric("palyra_trust_tofu_pins_total", { result: "pinned" }), 0);
    } finally {
      await a.kill();
      assert.equal(await b.stop(), 0);
      operator = await startOperator(FLAGS);
    }
  });
});
