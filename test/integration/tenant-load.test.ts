/**
 * Bounded work per tenant (issue 17): 20 Skills pointing at hostile sources — in one namespace
 * ten that trickle a byte every half second (never idle long enough for the read timeout), in
 * another ten that serve 64 MiB each — while a third namespace's Skills must still converge, and
 * the operator (as the chart installs it: its RBAC, its flags and their defaults) must stay under
 * the chart's memory limit. The figures are printed.
 */

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { ArtifactServer } from "../../hack/dev/artifact-server.ts";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import { installCrds } from "../support/crds.ts";
import { waitFor } from "../support/kube.ts";
import {
  forbiddenRequests,
  type RunningOperator,
  startChartOperator,
} from "../support/operator.ts";
import { createSkill, ensureNamespace, getSkill } from "../support/resources.ts";
import { createTenant, urlSkillSpec } from "../support/tenants.ts";

const MiB = 1024 * 1024;
// The chart's resources.limits.memory.
const MEMORY_LIMIT = 384 * MiB;
const server = new ArtifactServer();
let operator: RunningOperator;

before(async () => {
  await installCrds();
  await ensureNamespace("palyra-system");
  await server.start();
  operator = await startChartOperator();
});

after(async () => {
  const forbidden = await forbiddenRequests(operator);
  const code = await operator.stop();
  await server.stop();
  assert.equal(forbidden, 0, "the operator needed nothing beyond the chart's RBAC");
  assert.equal(code, 0, operator.stderr.join(""));
});

test("20 trickling or 64 MiB sources: another namespace's Skills converge, and the operator stays under its memory limit", async () => {
  const slow = await createTenant();
  const large = await createTenant();
  const calm = await createTenant();
  // 64 MiB of bytes that are not an artifact: each is downloaded whole, then refused.
  const big = randomBytes(64 * MiB);
  for (let i = 0; i < 10; i++) {
    const trickle = `${slow.ns}/trickle-${i}.palyra-skill`;
    server.fault(trickle, { kind: "trickle", everyMs: 500 });
    await createSkill(
      slow.ns,
      `trickle-${i}`,
      urlSkillSpec(server, trickle, skillArtifact().bytes, slow.policy),
    );
    await createSkill(
      large.ns,
      `big-${i}`,
      urlSkillSpec(server, `${large.ns}/big-${i}.palyra-skill`, big, large.policy),
    );
  }
  let peakRss = 0;
  let peakInflight = 0;
  let peakRunning = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const [rss, inflight, running] = await Promise.all([
        operator.metric("palyra_operator_process_resident_memory_bytes"),
        operator.metric("palyra_artifact_inflight_bytes"),
        operator.metric("palyra_artifact_fetches_running"),
      ]);
      peakRss = Math.max(peakRss, rss);
      peakInflight = Math.max(peakInflight, inflight);
      peakRunning = Math.max(peakRunning, running);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  try {
    // Let the hostile fetches take their slots first.
    await waitFor("the hostile fetches run", async () =>
      (await operator.metric("palyra_artifact_fetches_running")) >= 3 ? true : undefined,
    );
    const started = Date.now();
    const names = Array.from({ length: 10 }, (_, i) => `calm-${i}`);
    for (const [i, name] of names.entries()) {
      const a = skillArtifact({ version: `1.0.${i}` });
      await createSkill(
        calm.ns,
        name,
        urlSkillSpec(server, `${calm.ns}/${name}.palyra-skill`, a.bytes, calm.policy),
      );
    }
    await waitFor(
      "every calm Skill is Enabled",
      async () => {
        const states = await Promise.all(names.map((n) => getSkill(calm.ns, n)));
        return states.every((s) => s?.status?.state === "Enabled") ? true : undefined;
      },
      90_000,
    );
    const calmSeconds = (Date.now() - started) / 1000;
    // The 64 MiB bodies are all downloaded, held within the budget, and refused.
    await waitFor(
      "every 64 MiB source refused",
      async () => {
        const states = await Promise.all(
          Array.from({ length: 10 }, (_, i) => getSkill(large.ns, `big-${i}`)),
        );
        return states.every((s) => s?.status?.state === "Failed") ? true : undefined;
      },
      120_000,
    );
    const bigSeconds = (Date.now() - started) / 1000;
    // A last 64 MiB download may still be ending when its Skill's state is written: wait for the
    // trickling namespace's own fetches to be the only ones left (it never gets more than two).
    const trickling = await waitFor(
      "only the trickling namespace's fetches still running",
      async () => {
        const n = await operator.metric("palyra_artifact_fetches_running");
        return n <= 2 ? n : undefined;
      },
      15_000,
    ).catch(() => operator.metric("palyra_artifact_fetches_running"));
    sampling = false;
    await sampler;
    console.log(
      `# tenant load: 10 trickling sources in one namespace, 10 x 64 MiB in another; the third namespace's 10 Skills Enabled after ${calmSeconds.toFixed(1)} s, the 64 MiB sources all refused after ${bigSeconds.toFixed(1)} s; operator RSS peak ${(peakRss / MiB).toFixed(0)} MiB (limit ${MEMORY_LIMIT / MiB} MiB); bytes in flight peak ${(peakInflight / MiB).toFixed(0)} MiB (budget 96 MiB); fetches running peak ${peakRunning} (at most 8, 2 per namespace), still trickling at the end ${trickling}`,
    );
    assert.ok(peakRss > 0 && peakRss < MEMORY_LIMIT, `RSS peak ${peakRss}`);
    assert.ok(peakInflight <= 96 * MiB, `bytes in flight peak ${peakInflight}`);
    assert.ok(peakRunning <= 8);
    assert.equal(trickling, 2, "the trickling namespace holds exactly its two slots");
  } finally {
    sampling = false;
    await sampler;
  }
});
