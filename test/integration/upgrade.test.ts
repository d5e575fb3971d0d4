/**
 * Upgrading from a version that put a finalizer on every Skill: the Skills it left behind are
 * created here before any operator of this file runs (as they stand when the old operator has
 * been stopped for the upgrade), then the current operator starts as the chart installs it.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ArtifactServer } from "../../hack/dev/artifact-server.ts";
import type { Skill } from "../../src/api/v1alpha1/types.generated.ts";
import { LEGACY_SKILL_FINALIZER } from "../../src/controller/skill/reconciler.ts";
import { installCrds } from "../support/crds.ts";
import { kube, waitFor } from "../support/kube.ts";
import {
  forbiddenRequests,
  type RunningOperator,
  startChartOperator,
} from "../support/operator.ts";
import { API, createSkill, ensureNamespace, getSkill, waitForState } from "../support/resources.ts";
import { ACME, createTenant, STORE_NS, urlSkillSpec } from "../support/tenants.ts";

const server = new ArtifactServer();
let operator: RunningOperator | undefined;
const OTHER_FINALIZER = "example.com/keep-until-backed-up";

before(async () => {
  await installCrds();
  await ensureNamespace(STORE_NS);
  await server.start();
});

after(async () => {
  await operator?.stop();
  await server.stop();
});

async function createLegacySkill(ns: string, name: string, policy: string, finalizers: string[]) {
  const res = await kube("POST", `${API}/namespaces/${ns}/skills`, {
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "Skill",
    metadata: { name, finalizers },
    spec: urlSkillSpec(server, `${ns}/${name}.palyra-skill`, ACME.bytes, policy),
  });
  assert.equal(res.status, 201, res.body.message);
}

async function deleteSkill(ns: string, name: string): Promise<void> {
  const res = await kube("DELETE", `${API}/namespaces/${ns}/skills/${name}`);
  assert.equal(res.status, 200, res.body.message);
}

test("Skills an earlier version left holding its finalizer are released; no Skill gets one; deletion no longer waits for the operator", async () => {
  const t = await createTenant();
  await createLegacySkill(t.ns, "live", t.policy, [LEGACY_SKILL_FINALIZER]);
  await createLegacySkill(t.ns, "doomed", t.policy, [LEGACY_SKILL_FINALIZER]);
  await createLegacySkill(t.ns, "shared", t.policy, [LEGACY_SKILL_FINALIZER, OTHER_FINALIZER]);
  // Deleted while no operator runs: held by the old finalizer, as an upgrade would find them.
  await deleteSkill(t.ns, "doomed");
  await deleteSkill(t.ns, "shared");
  const stuck = await getSkill(t.ns, "doomed");
  assert.ok(stuck?.metadata.deletionTimestamp, "without an operator the old finalizer holds it");

  operator = await startChartOperator();

  await waitFor("the Skill deleted before the upgrade is gone", async () =>
    (await getSkill(t.ns, "doomed")) === undefined ? true : undefined,
  );
  // Only our finalizer is removed: another controller's stays, and so does the Skill.
  const shared = await waitFor("the old finalizer removed from the deleting Skill", async () => {
    const s = await getSkill(t.ns, "shared");
    return s && !(s.metadata.finalizers ?? []).includes(LEGACY_SKILL_FINALIZER) ? s : undefined;
  });
  assert.deepEqual(shared.metadata.finalizers, [OTHER_FINALIZER]);
  assert.ok(shared.metadata.deletionTimestamp);
  assert.equal(shared.status, undefined, "a deleting Skill is never given a verdict");

  const live = await waitForState(t.ns, "live", "Enabled", "Enabled");
  const liveNow = await waitFor("the old finalizer removed from the live Skill", async () => {
    const s = await getSkill(t.ns, "live");
    return s && (s.metadata.finalizers ?? []).length === 0 ? s : undefined;
  });
  assert.equal(liveNow.status?.state, "Enabled");
  assert.equal(liveNow.metadata.generation, live.metadata.generation);

  await createSkill(
    t.ns,
    "fresh",
    urlSkillSpec(server, `${t.ns}/fresh.palyra-skill`, ACME.bytes, t.policy),
  );
  const fresh = await waitForState(t.ns, "fresh", "Enabled", "Enabled");
  assert.equal(fresh.metadata.finalizers, undefined, "the operator adds no finalizer");

  // The operator's RBAC covered the migration; then it stops (an outage, an uninstall).
  assert.equal(await forbiddenRequests(operator), 0);
  assert.equal(await operator.stop(), 0);
  operator = undefined;

  // Deletion does not depend on the operator any more: both go at once with none running.
  for (const name of ["fresh", "live"]) {
    await deleteSkill(t.ns, name);
    assert.equal(await getSkill(t.ns, name), undefined, `${name} is gone at once`);
  }
  const release = await kube(
    "PATCH",
    `${API}/namespaces/${t.ns}/skills/shared`,
    { metadata: { finalizers: null } },
    { contentType: "application/merge-patch+json" },
  );
  assert.equal(release.status, 200, release.body.message);
  assert.equal(await getSkill(t.ns, "shared"), undefined);
  const remaining = await kube("GET", `${API}/namespaces/${t.ns}/skills`);
  assert.deepEqual((remaining.body as { items: Skill[] }).items, []);
});
