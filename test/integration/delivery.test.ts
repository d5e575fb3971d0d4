/**
 * Delivery, serving side (issue 18): verified bytes by digest from every replica, to a caller
 * whose ServiceAccount token (audience skills.palyra.dev, checked by TokenReview) names a
 * namespace holding an Enabled Skill with that artifact; then `palyra-skill install --from`
 * with such a token installs exactly those bytes (and nothing when a replica cannot serve them).
 * The operator runs as the chart installs it.
 */

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ArtifactServer } from "../../hack/dev/artifact-server.ts";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import { runProcess } from "../../hack/dev/run-process.ts";
import { type ChartIdentity, chartIdentity } from "../support/chart.ts";
import { installCrds } from "../support/crds.ts";
import { kube, waitFor } from "../support/kube.ts";
import { forbiddenRequests, type RunningOperator, startOperator } from "../support/operator.ts";
import {
  API,
  createSkill,
  deleteWebhookConfigurations,
  ensureNamespace,
  getSkill,
  patchSkill,
  waitForEvent,
  waitForSkill,
  waitForState,
} from "../support/resources.ts";
import { createTenant, type Tenant, urlSkillSpec } from "../support/tenants.ts";

const BIN = fileURLToPath(new URL("../../bin/palyra-skill.mjs", import.meta.url));
const OPS_NS = "palyra-system";
const server = new ArtifactServer();
const ECHO = skillArtifact({ keySeed: 7 });
const SWAPPED = skillArtifact({ keySeed: 7, version: "6.6.6" });
let identity: ChartIdentity;
let operator: RunningOperator;
let tenant: Tenant;
let other: Tenant;
let digest = "";
let caPem = "";

async function token(namespace: string, audiences = ["skills.palyra.dev"]): Promise<string> {
  const sa = "agent";
  await kube("POST", `/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name: sa } });
  const r = await kube("POST", `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: { audiences, expirationSeconds: 600 },
  });
  assert.ok(r.status < 300, r.body.message);
  return (r.body as { status: { token: string } }).status.token;
}

const scratchDirs: string[] = [];
/** A temporary directory, removed after the file's tests. */
function scratch(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.push(dir);
  return dir;
}

/** A token bound to a Secret that is then deleted: no longer valid, like a deleted pod's. */
async function goneToken(namespace: string): Promise<string> {
  const name = `bound-${Math.random().toString(16).slice(2, 8)}`;
  const secret = await kube("POST", `/api/v1/namespaces/${namespace}/secrets`, {
    metadata: { name },
  });
  assert.equal(secret.status, 201, secret.body.message);
  const uid = (secret.body.metadata as { uid: string }).uid;
  await kube("POST", `/api/v1/namespaces/${namespace}/serviceaccounts`, {
    metadata: { name: "agent" },
  });
  const r = await kube("POST", `/api/v1/namespaces/${namespace}/serviceaccounts/agent/token`, {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: {
      audiences: ["skills.palyra.dev"],
      expirationSeconds: 600,
      boundObjectRef: { apiVersion: "v1", kind: "Secret", name, uid },
    },
  });
  assert.ok(r.status < 300, r.body.message);
  const deleted = await kube("DELETE", `/api/v1/namespaces/${namespace}/secrets/${name}`);
  assert.equal(deleted.status, 200, deleted.body.message);
  return (r.body as { status: { token: string } }).status.token;
}

function get(
  port: number,
  path: string,
  bearer?: string,
): Promise<{ status: number; body: Buffer; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        ca: caPem,
        servername: "localhost",
        headers: bearer ? { Authorization: `Bearer ${bearer}` } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks),
            type: String(res.headers["content-type"]),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** The init container's command, as a process: install acme.echo_http from a replica. */
async function installFrom(port: number) {
  const dir = scratch("palyra-delivery-");
  const tokenFile = join(dir, "token");
  const caFile = join(dir, "ca.crt");
  writeFileSync(tokenFile, await token(tenant.ns));
  writeFileSync(caFile, caPem);
  mkdirSync(join(dir, "skills"));
  // Not spawnSync: the operators this process started must keep draining their logs meanwhile.
  const run = await runProcess(process.execPath, [
    BIN,
    "install",
    "--from",
    `https://127.0.0.1:${port}`,
    "--token-file",
    tokenFile,
    "--ca-file",
    caFile,
    "--sha256",
    digest,
    "--skill-id",
    "acme.echo_http",
    "--payload-sha256",
    ECHO.payloadSha256,
    "--key",
    ECHO.publicKeyHex,
    "--dir",
    join(dir, "skills"),
  ]);
  return { run, dir };
}

// The chart's image, as its Deployment passes it to --pod-delivery-image.
let IMAGE = "";
const webhookOperator = (extra: string[] = []) =>
  startOperator(
    [...identity.args, "--webhook-bind-address", "127.0.0.1:0", ...extra],
    identity.kubeconfig,
  );

before(async () => {
  await installCrds();
  await ensureNamespace(OPS_NS);
  await server.start();
  // The chart with pod delivery and eviction on: its RBAC is what the operator gets.
  identity = await chartIdentity({
    "delivery.pods.enabled": "true",
    "delivery.pods.evictStalePods": "true",
  });
  IMAGE = identity.args.find((a) => a.startsWith("--pod-delivery-image="))?.split("=")[1] ?? "";
  assert.ok(identity.args.includes("--evict-stale-pods"), identity.args.join(" "));
  operator = await webhookOperator();
  const secret = await kube(
    "GET",
    `/api/v1/namespaces/${OPS_NS}/secrets/${identity.webhookSecret}`,
  );
  caPem = Buffer.from(
    (secret.body.data as Record<string, string>)["ca.crt"] ?? "",
    "base64",
  ).toString();
  tenant = await createTenant();
  other = await createTenant();
  await createSkill(
    tenant.ns,
    "echo",
    urlSkillSpec(server, `${tenant.ns}/echo.palyra-skill`, ECHO.bytes, tenant.policy),
  );
  const enabled = await waitForState(tenant.ns, "echo", "Enabled");
  digest = enabled.status?.artifactSha256 ?? "";
});

after(async () => {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
  await deleteWebhookConfigurations(identity.fullname);
  const forbidden = await forbiddenRequests(operator);
  const code = await operator.stop();
  await server.stop();
  assert.equal(forbidden, 0, "the operator needed nothing beyond the chart's RBAC");
  assert.equal(code, 0, operator.stderr.join(""));
});

describe("binding pods to exact payloads", () => {
  type Container = {
    name: string;
    image?: string;
    args?: string[];
    env?: { name: string; value: string }[];
    resources?: unknown;
    volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  };
  type Pod = {
    metadata: { annotations?: Record<string, string>; labels?: Record<string, string> };
    spec: { initContainers?: Container[]; containers: Container[] };
  };
  // The ServiceAccount admission plugin, which names "default" in a real cluster, is not
  // enabled on the test control plane: the pods name theirs.
  const pod = (name: string, skills: string) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, annotations: { "skills.palyra.dev/skills": skills } },
    spec: {
      serviceAccountName: "agent",
      containers: [{ name: "agent", image: "registry.example/agent:1" }],
    },
  });

  test("a pod in an enforced namespace comes back bound to the verified payload; elsewhere untouched; a non-Enabled skill is denied; its init container's command installs exactly that payload", async () => {
    // First in this file: later tests start and stop more replicas, whose registrations the
    // main operator only takes back at its next refresh.
    await enforce(tenant.ns);
    const podToken = await token(tenant.ns); // creates the pod's ServiceAccount, agent
    const created = await waitForCreated(tenant.ns, pod("agent", "acme.echo_http"));
    const p = created as Pod;
    assert.equal(
      p.metadata.annotations?.["skills.palyra.dev/resolved"],
      `acme.echo_http@1.0.0=sha256:${ECHO.payloadSha256}`,
    );
    assert.equal(p.metadata.labels?.["skills.palyra.dev/delivered"], "true");
    // What the pod was installed with is fixed: not even an admin may strip or change it.
    for (const [what, patch] of [
      ["the label", { metadata: { labels: { "skills.palyra.dev/delivered": null } } }],
      [
        "the resolution",
        {
          metadata: {
            annotations: { "skills.palyra.dev/resolved": "acme.echo_http@9.9.9=sha256:0" },
          },
        },
      ],
    ] as const) {
      const stripped = await kube("PATCH", `/api/v1/namespaces/${tenant.ns}/pods/agent`, patch, {
        contentType: "application/merge-patch+json",
      });
      assert.equal(stripped.status, 403, what);
      assert.match(stripped.body.message ?? "", /cannot change after it is created/, what);
    }
    // Nor may a pod that names no skills pretend to be bound.
    const forged = {
      ...pod("forged", "acme.echo_http"),
      metadata: {
        name: "forged",
        annotations: {
          "skills.palyra.dev/resolved": `acme.echo_http@1.0.0=sha256:${ECHO.payloadSha256}`,
        },
      },
    };
    const refused = await kube("POST", `/api/v1/namespaces/${tenant.ns}/pods`, forged);
    assert.equal(refused.status, 403);
    assert.match(refused.body.message ?? "", /written by the operator for pods that name skills/);
    const init = p.spec.initContainers?.[0];
    assert.equal(init?.name, "palyra-skills-install");
    assert.equal(init?.image, IMAGE);
    // The chart's values for the init container's resources reach the pod.
    assert.deepEqual(init?.resources, {
      requests: { cpu: "50m", memory: "64Mi" },
      limits: { memory: "256Mi" },
    });
    assert.ok(
      init?.args?.includes(`acme.echo_http,${digest},${ECHO.payloadSha256},${ECHO.publicKeyHex}`),
      JSON.stringify(init?.args),
    );
    assert.deepEqual(
      p.spec.containers[0]?.volumeMounts?.find((m) => m.name === "palyra-skills"),
      { name: "palyra-skills", mountPath: "/var/run/palyra/skills", readOnly: true },
    );
    // Not under enforcement: untouched.
    await token(other.ns);
    const elsewhere = await kube(
      "POST",
      `/api/v1/namespaces/${other.ns}/pods`,
      pod("agent", "acme.echo_http"),
    );
    assert.equal(elsewhere.status, 201, elsewhere.body.message);
    assert.equal((elsewhere.body as Pod).spec.initContainers, undefined);
    // A skill that is not Enabled: denied.
    const denied = await kube(
      "POST",
      `/api/v1/namespaces/${tenant.ns}/pods`,
      pod("bad", "acme.unknown"),
    );
    assert.equal(denied.status, 403);
    assert.match(denied.body.message ?? "", /no Skill in namespace .* provides acme\.unknown/);
    // No kubelet runs here: run the init container's command as a process, with a token for
    // the pod's ServiceAccount and the CA the pod carries.
    const dir = scratch("palyra-pod-");
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, podToken);
    mkdirSync(join(dir, "skills"));
    const args = [...(init?.args ?? [])];
    args[args.indexOf("--token-file") + 1] = tokenFile;
    args[args.indexOf("--dir") + 1] = join(dir, "skills");
    const ca = init?.env?.find((e) => e.name === "PALYRA_OPERATOR_CA")?.value ?? "";
    const run = await runProcess(process.execPath, [BIN, ...args], {
      env: { PALYRA_OPERATOR_CA: ca },
    });
    assert.equal(run.status, 0, run.stderr);
    const verdict = JSON.parse(
      readFileSync(join(dir, "skills", "acme.echo_http", "verdict.json"), "utf8"),
    );
    assert.equal(verdict.payloadSha256, ECHO.payloadSha256);
  });
});

describe("disabling reaches running pods", () => {
  test("quarantining a Skill that pods run: the count in its status, Events, the metric, and evictions that respect a PodDisruptionBudget", async () => {
    // A tenant of its own: the serving tests above keep theirs Enabled.
    const t = await createEnforcedTenantWithEcho();
    await waitForState(t.ns, "echo", "Enabled");
    await token(t.ns); // the pods' ServiceAccount
    const agentPod = (name: string) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name,
        labels: { app: name },
        annotations: { "skills.palyra.dev/skills": "acme.echo_http" },
      },
      spec: {
        serviceAccountName: "agent",
        containers: [{ name: "agent", image: "registry.example/agent:1" }],
      },
    });
    for (const name of ["free", "guarded"]) await waitForCreated(t.ns, agentPod(name));
    // "guarded" runs and is Ready, under a budget that allows no disruption yet (no disruption
    // controller runs here: the budget's status is written below, as that controller would).
    const running = await kube(
      "PATCH",
      `/api/v1/namespaces/${t.ns}/pods/guarded/status`,
      {
        status: {
          phase: "Running",
          conditions: [
            { type: "Ready", status: "True", lastTransitionTime: new Date().toISOString() },
          ],
        },
      },
      { contentType: "application/merge-patch+json" },
    );
    assert.equal(running.status, 200, running.body.message);
    const pdb = await kube("POST", `/apis/policy/v1/namespaces/${t.ns}/poddisruptionbudgets`, {
      metadata: { name: "guarded" },
      spec: { minAvailable: 1, selector: { matchLabels: { app: "guarded" } } },
    });
    assert.equal(pdb.status, 201, pdb.body.message);
    // Nothing is stale while the Skill is Enabled.
    assert.equal((await getSkill(t.ns, "echo"))?.status?.stalePods, undefined);

    await patchSkill(t.ns, "echo", { desiredState: "Quarantined" });
    // "free" is evicted at once; "guarded" stays, its eviction refused by the budget.
    await waitFor("pod free evicted", async () => {
      const r = await kube("GET", `/api/v1/namespaces/${t.ns}/pods/free`);
      return r.status === 404 ? true : undefined;
    });
    const skill = await waitForSkill(
      t.ns,
      "echo",
      (s) => s.status?.state === "Quarantined" && s.status.stalePods === 1,
      "Quarantined with 1 stale pod",
    );
    assert.equal(skill.status?.stalePods, 1);
    const told = await waitForEvent(
      t.ns,
      (e) => e.reason === "StalePods" && e.involvedObject.kind === "Skill",
      "StalePods on the Skill",
    );
    assert.match(
      told.message,
      /still run acme\.echo_http with a payload no Skill there enables now \(Skill echo is Quarantined/,
    );
    const evicted = await waitForEvent(
      t.ns,
      (e) => e.reason === "StalePodEvicted" && e.involvedObject.name === "free",
      "StalePodEvicted on pod free",
    );
    assert.match(evicted.message, new RegExp(`payload sha256:${ECHO.payloadSha256}`));
    const blocked = await waitForEvent(
      t.ns,
      (e) => e.reason === "StalePodEvictionBlocked" && e.involvedObject.name === "guarded",
      "StalePodEvictionBlocked on pod guarded",
    );
    assert.match(blocked.message, /disruption budget/);
    assert.ok((await kube("GET", `/api/v1/namespaces/${t.ns}/pods/guarded`)).status === 200);
    assert.equal(await operator.metric("palyra_delivery_stale_pods", { namespace: t.ns }), 1);
    assert.ok(
      (await operator.metric("palyra_delivery_pod_evictions_total", { result: "evicted" })) >= 1,
    );
    assert.ok(
      (await operator.metric("palyra_delivery_pod_evictions_total", { result: "blocked" })) >= 1,
    );

    // The budget now allows one disruption: the operator's retry evicts "guarded".
    const current = await kube(
      "GET",
      `/apis/policy/v1/namespaces/${t.ns}/poddisruptionbudgets/guarded`,
    );
    const meta = current.body.metadata as { generation: number; resourceVersion: string };
    const allowed = await kube(
      "PUT",
      `/apis/policy/v1/namespaces/${t.ns}/poddisruptionbudgets/guarded/status`,
      {
        ...current.body,
        status: {
          observedGeneration: meta.generation,
          disruptionsAllowed: 1,
          currentHealthy: 1,
          desiredHealthy: 0,
          expectedPods: 1,
        },
      },
    );
    assert.equal(allowed.status, 200, allowed.body.message);
    await waitFor(
      "pod guarded evicted once its budget allows",
      async () =>
        (await kube("GET", `/api/v1/namespaces/${t.ns}/pods/guarded`)).status === 404
          ? true
          : undefined,
      60_000,
    );
    await waitForSkill(
      t.ns,
      "echo",
      (s) => s.status?.stalePods === undefined,
      "no stale pods left",
    );
    assert.equal(await operator.metric("palyra_delivery_stale_pods", { namespace: t.ns }), 0);
  });

  test("a tenant who deletes the Skill its pods run (no finalizer holds it) escapes nothing: the pod is told and evicted, and the namespace's token gets no more bytes", async () => {
    const t = await createEnforcedTenantWithEcho();
    const enabled = await waitForState(t.ns, "echo", "Enabled");
    const mine = await token(t.ns);
    const path = `/v1/artifacts/sha256/${enabled.status?.artifactSha256}`;
    assert.equal((await get(operator.webhookPort, path, mine)).status, 200);
    const orphan = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "orphan", annotations: { "skills.palyra.dev/skills": "acme.echo_http" } },
      spec: {
        serviceAccountName: "agent",
        containers: [{ name: "agent", image: "registry.example/agent:1" }],
      },
    };
    await waitForCreated(t.ns, orphan);

    const deleted = await kube("DELETE", `${API}/namespaces/${t.ns}/skills/echo`);
    assert.equal(deleted.status, 200, deleted.body.message);
    assert.equal(await getSkill(t.ns, "echo"), undefined, "gone at once: no finalizer");
    await waitFor("the orphaned pod evicted", async () =>
      (await kube("GET", `/api/v1/namespaces/${t.ns}/pods/orphan`)).status === 404
        ? true
        : undefined,
    );
    const told = await waitForEvent(
      t.ns,
      (e) => e.reason === "StalePodEvicted" && e.involvedObject.name === "orphan",
      "StalePodEvicted on pod orphan",
    );
    assert.match(told.message, new RegExp(`payload sha256:${ECHO.payloadSha256}`));
    const refused = await get(operator.webhookPort, path, mine);
    assert.equal(refused.status, 403, refused.body.toString());
    assert.match(refused.type, /json/);
    assert.doesNotMatch(refused.body.toString("latin1"), /skill\.toml/);
  });
});

describe("serving verified bytes", () => {
  test("a token of the Skill's namespace gets exactly the verified bytes; others get JSON errors, never bytes", async () => {
    const path = `/v1/artifacts/sha256/${digest}`;
    const mine = await token(tenant.ns);
    const ok = await get(operator.webhookPort, path, mine);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, ECHO.bytes);
    const refusals: [
      string,
      Promise<{ status: number; body: Buffer; type: string }>,
      number,
      RegExp,
    ][] = [
      ["no token", get(operator.webhookPort, path), 401, /UNAUTHENTICATED/],
      [
        "wrong audience",
        token(tenant.ns, ["https://kubernetes.default.svc"]).then((t) =>
          get(operator.webhookPort, path, t),
        ),
        401,
        /UNAUTHENTICATED.*audience|not valid for this audience/,
      ],
      [
        "another namespace",
        token(other.ns).then((t) => get(operator.webhookPort, path, t)),
        403,
        /holds no Enabled Skill/,
      ],
      [
        "unknown digest",
        get(operator.webhookPort, `/v1/artifacts/sha256/${"0".repeat(64)}`, mine),
        404,
        /NOT_FOUND/,
      ],
      ["garbage token", get(operator.webhookPort, path, "not-a-token"), 401, /UNAUTHENTICATED/],
      [
        "a token whose bound object is gone (as a deleted pod's)",
        goneToken(tenant.ns).then((t) => get(operator.webhookPort, path, t)),
        401,
        /UNAUTHENTICATED/,
      ],
    ];
    for (const [what, pending, status, pattern] of refusals) {
      const r = await pending;
      assert.equal(r.status, status, what);
      assert.match(r.type, /application\/json/, what);
      assert.match(r.body.toString(), pattern, what);
      assert.ok(!r.body.includes(ECHO.bytes.subarray(0, 64)), `${what}: no bytes`);
    }
  });

  test("palyra-skill install --from installs the verified bytes with the pod's token", async () => {
    const { run, dir } = await installFrom(operator.webhookPort);
    assert.equal(run.status, 0, run.stderr + run.stdout);
    const installed = readFileSync(join(dir, "skills", "acme.echo_http", "artifact.palyra-skill"));
    assert.deepEqual(installed, ECHO.bytes);
  });

  test("the init container's form (--expect, --ca-env): every skill checked before any is written", async () => {
    const dir = scratch("palyra-delivery-");
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, await token(tenant.ns));
    const expect = (payload: string) => `acme.echo_http,${digest},${payload},${ECHO.publicKeyHex}`;
    const run = (...expects: string[]) =>
      runProcess(
        process.execPath,
        [
          BIN,
          "install",
          "--from",
          `https://127.0.0.1:${operator.webhookPort}`,
          "--token-file",
          tokenFile,
          "--ca-env",
          "PALYRA_OPERATOR_CA",
          "--dir",
          join(dir, "skills"),
          ...expects.flatMap((e) => ["--expect", e]),
        ],
        { env: { PALYRA_OPERATOR_CA: caPem } },
      );
    mkdirSync(join(dir, "skills"));
    const wrong = await run(expect(ECHO.payloadSha256), expect(SWAPPED.payloadSha256));
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /^error\[INSTALL_PAYLOAD_MISMATCH\]: skill acme\.echo_http: /);
    assert.deepEqual(readdirSync(join(dir, "skills")), [], "nothing written when one skill fails");
    const right = await run(expect(ECHO.payloadSha256));
    assert.equal(right.status, 0, right.stderr);
    assert.match(right.stdout, /^skills\.package\.install skill_id=acme\.echo_http /);
  });

  test("a restarted replica with an empty cache re-fetches and verifies; when the source swapped its bytes it refuses and the install writes nothing", async () => {
    // A standby replica (another lease holder leads) holds no bytes: it fetches and verifies.
    const standby = await webhookOperator();
    try {
      const mine = await token(tenant.ns);
      const fresh = await get(standby.webhookPort, `/v1/artifacts/sha256/${digest}`, mine);
      assert.equal(fresh.status, 200);
      assert.deepEqual(fresh.body, ECHO.bytes);
      // Now the source serves other bytes; a replica that must fetch again refuses.
      server.fault(`${tenant.ns}/echo.palyra-skill`, {
        kind: "swap",
        bytes: SWAPPED.bytes,
        after: 0,
      });
      const restarted = await webhookOperator();
      try {
        const refused = await get(restarted.webhookPort, `/v1/artifacts/sha256/${digest}`, mine);
        assert.equal(refused.status, 503);
        assert.match(refused.body.toString(), /ARTIFACT_UNAVAILABLE.*not the verified sha256/);
        const { run, dir } = await installFrom(restarted.webhookPort);
        assert.equal(run.status, 1);
        assert.match(
          run.stderr,
          /^error\[INSTALL_FETCH_FAILED\]: skill acme\.echo_http: the operator answered HTTP 503/,
        );
        assert.deepEqual(readdirSync(join(dir, "skills"), { recursive: true }), []);
      } finally {
        assert.equal(await forbiddenRequests(restarted), 0);
        assert.equal(await restarted.stop(), 0);
      }
    } finally {
      server.fault(`${tenant.ns}/echo.palyra-skill`, undefined);
      assert.equal(await forbiddenRequests(standby), 0);
      assert.equal(await standby.stop(), 0);
    }
  });
});

/** Creates a pod, retrying while the API server has not yet loaded the mutating webhook. */
/** Turns delivery on for a namespace (the label the webhook's pod mutation keys on). */
async function enforce(namespace: string): Promise<void> {
  const enforced = await kube(
    "PATCH",
    `/api/v1/namespaces/${namespace}`,
    { metadata: { labels: { "skills.palyra.dev/enforce": "true" } } },
    { contentType: "application/merge-patch+json" },
  );
  assert.equal(enforced.status, 200, enforced.body.message);
}

/** A tenant of its own, delivery on, with the Skill `echo` (ECHO's artifact) created. */
async function createEnforcedTenantWithEcho(): Promise<Tenant> {
  const t = await createTenant();
  await enforce(t.ns);
  await createSkill(
    t.ns,
    "echo",
    urlSkillSpec(server, `${t.ns}/echo.palyra-skill`, ECHO.bytes, t.policy),
  );
  return t;
}

async function waitForCreated(namespace: string, body: { metadata: { name: string } }) {
  for (let i = 0; ; i++) {
    const r = await kube("POST", `/api/v1/namespaces/${namespace}/pods`, body);
    assert.equal(r.status, 201, r.body.message);
    const init = (r.body as { spec: { initContainers?: unknown[] } }).spec.initContainers;
    if (init !== undefined || i >= 50) return r.body;
    await kube(
      "DELETE",
      `/api/v1/namespaces/${namespace}/pods/${body.metadata.name}?gracePeriodSeconds=0`,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
