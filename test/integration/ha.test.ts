/**
 * High availability against the real API server: two operator processes elect a leader on a
 * coordination.k8s.io/v1 Lease; only the leader writes; SIGKILL on the leader hands over within
 * the lease duration; a leader whose lease is taken stops writing at once.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ArtifactServer } from "../../hack/dev/artifact-server.ts";
import { installCrds } from "../support/crds.ts";
import { kube, waitFor } from "../support/kube.ts";
import { type RunningOperator, startOperator } from "../support/operator.ts";
import {
  createSkill,
  ensureNamespace,
  getSkill,
  unique,
  waitForState,
} from "../support/resources.ts";
import { ACME, createTenant, STORE_NS, urlSkillSpec } from "../support/tenants.ts";

const server = new ArtifactServer();
// Short timings so a handover takes seconds: lease 4 s, renew deadline 3 s, retry 1 s.
const LEASE_S = 4;
const RETRY_S = 1;
const timing = [
  "--leader-elect-lease-duration",
  String(LEASE_S),
  "--leader-elect-renew-deadline",
  "3",
  "--leader-elect-retry-period",
  String(RETRY_S),
];
const running: RunningOperator[] = [];

async function replica(lease: string): Promise<RunningOperator> {
  const op = await startOperator(["--leader-elect-lease-name", lease, ...timing]);
  running.push(op);
  return op;
}

async function role(op: RunningOperator): Promise<string> {
  return (await op.get("/readyz")).body.trim();
}

function leaseOf(name: string) {
  return kube("GET", `/apis/coordination.k8s.io/v1/namespaces/${STORE_NS}/leases/${name}`);
}

function identityOf(op: RunningOperator): string {
  const line = op.logs.find((l) => l.msg === "started leading: reconciling");
  return String(line?.identity ?? "");
}

before(async () => {
  await installCrds();
  await ensureNamespace(STORE_NS);
  await server.start();
});

after(async () => {
  for (const op of running) await op.stop();
  await server.stop();
});

describe("leader election", { timeout: 90_000 }, () => {
  test("the standby writes nothing; SIGKILL on the leader hands over within the lease duration without changing any answer", async () => {
    const lease = unique("lease");
    const a = await replica(lease);
    await waitFor("replica A leads", async () =>
      (await role(a)) === "ok: leading" ? true : undefined,
    );
    const b = await replica(lease);
    assert.match(await role(b), /^ok: standing by \(leader: .+\)$/, "B is ready while standing by");

    const t = await createTenant();
    const artifact = (path: string) => urlSkillSpec(server, path, ACME.bytes, t.policy);
    await createSkill(t.ns, "before", artifact(`${t.ns}/before.palyra-skill`));
    const before = await waitForState(t.ns, "before", "Enabled");

    // The standby reconciled nothing and wrote nothing; the Lease names A.
    assert.equal(await b.metric("palyra_skill_reconciles_total"), 0);
    assert.equal(await b.metric("palyra_status_writes_total"), 0);
    assert.equal(await b.metric("palyra_leader_election_leading"), 0);
    assert.equal(await a.metric("palyra_leader_election_leading"), 1);
    const held = (await leaseOf(lease)).body as { spec?: { holderIdentity?: string } };
    assert.equal(held.spec?.holderIdentity, identityOf(a));

    // SIGKILL: no shutdown hook runs, the lease is not released; B must wait for it to expire.
    const killedAt = Date.now();
    await a.kill();
    await createSkill(t.ns, "after", artifact(`${t.ns}/after.palyra-skill`));
    await waitFor(
      "B leads",
      async () => ((await role(b)) === "ok: leading" ? true : undefined),
      (LEASE_S + 5) * 1000,
    );
    const handoverMs = Date.now() - killedAt;
    // Expiry is counted from the last renewal B saw (at most one retry period before the kill),
    // and B looks every retry period (+20% jitter): lease + 1.2 x retry, plus a second of slack.
    assert.ok(
      handoverMs <= (LEASE_S + 1.2 * RETRY_S + 1) * 1000,
      `handover took ${handoverMs} ms, lease duration ${LEASE_S} s`,
    );
    assert.ok(
      handoverMs >= (LEASE_S - RETRY_S) * 1000,
      `B did not wait for the lease: ${handoverMs} ms`,
    );
    await waitForState(t.ns, "after", "Enabled");

    // B re-reconciled everything on taking over, but "before" already had the right answer:
    // not rewritten, not even touched (same resourceVersion); only "after" was written.
    const again = await getSkill(t.ns, "before");
    assert.equal(again?.metadata.resourceVersion, before.metadata.resourceVersion);
    assert.deepEqual(again?.status, before.status);
    await waitFor("B reconciled the Skills it found", async () =>
      (await b.metric("palyra_skill_reconciles_total")) >= 2 ? true : undefined,
    );
    assert.equal(await b.metric("palyra_status_writes_total", { kind: "Skill" }), 1);
    const now = (await leaseOf(lease)).body as {
      spec?: { holderIdentity?: string; leaseTransitions?: number };
    };
    assert.equal(now.spec?.holderIdentity, identityOf(b));
    assert.equal(now.spec?.leaseTransitions, 1);

    // A clean stop releases the lease at once.
    assert.equal(await b.stop(), 0);
    const released = (await leaseOf(lease)).body as { spec?: { holderIdentity?: string } };
    assert.equal(released.spec?.holderIdentity ?? "", "");
  });

  test("a leader whose lease is taken stops writing at once, and resumes when it gets the lease back", async () => {
    const lease = unique("lease");
    const a = await replica(lease);
    await waitFor("A leads", async () => ((await role(a)) === "ok: leading" ? true : undefined));
    const t = await createTenant();

    // Another holder takes the Lease (as after a partition): A sees it within a retry period.
    const path = `/apis/coordination.k8s.io/v1/namespaces/${STORE_NS}/leases/${lease}`;
    const current = (await kube("GET", path)).body as Record<string, unknown> & {
      spec: Record<string, unknown>;
    };
    const takenAt = Date.now();
    const stolen = await kube("PUT", path, {
      ...current,
      spec: {
        ...current.spec,
        holderIdentity: "intruder",
        leaseDurationSeconds: LEASE_S,
        renewTime: new Date().toISOString().replace("Z", "000Z"),
      },
    });
    assert.equal(stolen.status, 200, stolen.body.message);
    await waitFor(
      "A stands by",
      async () => ((await role(a)) === "ok: standing by (leader: intruder)" ? true : undefined),
      RETRY_S * 3000,
    );
    const lostMs = Date.now() - takenAt;
    assert.ok(lostMs <= RETRY_S * 1.2 * 1000 + 1000, `A noticed after ${lostMs} ms`);
    assert.ok(a.logs.some((l) => l.msg === "stopped leading: no more writes from this replica"));

    // While the intruder holds it, A writes nothing: the new Skill stays without a status.
    await createSkill(
      t.ns,
      "held",
      urlSkillSpec(server, `${t.ns}/held.palyra-skill`, ACME.bytes, t.policy),
    );
    // A leader reconciles a Skill in well under a second; for 1.5 s this one must stay untouched.
    const watchUntil = Date.now() + 1500;
    while (Date.now() < watchUntil) {
      const held = await getSkill(t.ns, "held");
      assert.equal(held?.status, undefined, "no status while another replica holds the lease");
      await new Promise((r) => setTimeout(r, 100));
    }
    const writes = await a.metric("palyra_status_writes_total");

    // The intruder never renews: its lease expires and A takes it back, then reconciles.
    await waitForState(t.ns, "held", "Enabled");
    assert.ok(
      Date.now() - takenAt >= (LEASE_S - RETRY_S) * 1000,
      "A waited for the lease to expire",
    );
    assert.ok((await a.metric("palyra_status_writes_total")) > writes);
    assert.equal(await role(a), "ok: leading");
  });
});
