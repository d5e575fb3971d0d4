/**
 * Red team (issue 17): each way a tenant was found to steer a decision that belongs to the
 * platform team, tried again as a tenant — a user bound only by the chart's author role in one
 * namespace, plus the workload rights a tenant has (and, where a scenario says so, the one
 * extra grant a careless cluster might hand out) — against the operator running as the chart
 * installs it (its ServiceAccount, RBAC and flags). Each attempt is refused, and the test reads
 * the reason the tenant would read.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { after, before, describe, test } from "node:test";
import { connect } from "node:tls";
import { ArtifactServer } from "../../hack/dev/artifact-server.ts";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import type { Skill, SkillSpec } from "../../src/api/v1alpha1/types.generated.ts";
import { type ChartIdentity, chartIdentity } from "../support/chart.ts";
import { installCrds } from "../support/crds.ts";
import { type KubeResponse, kube, testCluster, waitFor } from "../support/kube.ts";
import { forbiddenRequests, type RunningOperator, startOperator } from "../support/operator.ts";
import {
  API,
  createNamespace,
  createPolicy,
  createTrustStore,
  deleteWebhookConfigurations,
  ensureNamespace,
  getSkill,
  readNamespacePins,
  unique,
  waitForSkill,
  waitForState,
} from "../support/resources.ts";

const OPS_NS = "palyra-system";
const MERGE = "application/merge-patch+json";
const server = new ArtifactServer();
const ACME = skillArtifact({ keySeed: 7 });
const ACME_OK = skillArtifact({ keySeed: 7, skillId: "acme.echo_ok" });
const WILD = skillArtifact({ keySeed: 7, skillId: "acme.fetch_anything", wildcardEgress: true });
// initech's real key, and a squatter's key for the same publisher name.
const INITECH = skillArtifact({ publisher: "initech", skillId: "initech.echo", keySeed: 13 });
const SQUAT = skillArtifact({ publisher: "initech", skillId: "initech.echo", keySeed: 66 });
const GLOBEX = skillArtifact({ publisher: "globex", skillId: "globex.echo", keySeed: 11 });
const GLOBEX_SQUAT = skillArtifact({ publisher: "globex", skillId: "globex.echo", keySeed: 67 });
const UMBRELLA_WILD = skillArtifact({
  publisher: "umbrella",
  skillId: "umbrella.fetch",
  keySeed: 17,
  wildcardEgress: true,
});

let identity: ChartIdentity;
let operator: RunningOperator;
const label = unique("rt");
const DEFAULT = unique("rt-default");
const STRICT = unique("rt-strict");
const LAX = unique("rt-lax");
const store = unique("rt-store");
const nsA = unique("rt-a");
const nsB = unique("rt-b");
// Tenants: tina writes Skills and workloads in nsA, bob in nsB; rita reviews.
const TINA = "tina@example.com";
const BOB = "bob@example.com";
const RITA = "rita@example.com";

const as = (user: string) => ({ impersonate: user });

async function ok(res: Promise<KubeResponse>, what: string): Promise<KubeResponse> {
  const r = await res;
  assert.ok(r.status < 300, `${what}: ${r.status} ${r.body.message ?? ""}`);
  return r;
}

function skillBody(name: string, spec: SkillSpec) {
  return { apiVersion: "skills.palyra.dev/v1alpha1", kind: "Skill", metadata: { name }, spec };
}

/** Creates a Skill as `user` (the tenant), returning the API server's answer. */
function createSkillAs(user: string, ns: string, name: string, spec: SkillSpec) {
  return kube("POST", `${API}/namespaces/${ns}/skills`, skillBody(name, spec), as(user));
}

function patchSkillAs(user: string, ns: string, name: string, patch: unknown, sub = "") {
  return kube("PATCH", `${API}/namespaces/${ns}/skills/${name}${sub}`, patch, {
    contentType: MERGE,
    ...as(user),
  });
}

function urlSpec(ns: string, file: string, a: { bytes: Buffer }, extra: Partial<SkillSpec> = {}) {
  return {
    skillId: "acme.echo_http",
    publisher: "acme",
    source: { url: server.put(`${ns}/${file}`, a.bytes), caBundle: server.caBundle },
    ...extra,
  } satisfies SkillSpec;
}

/** Grants `user` the rules in namespace `ns` (a Role and its binding), as the admin. */
async function grant(
  ns: string,
  user: string,
  rules: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[],
) {
  const name = unique("grant");
  await ok(
    kube("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      metadata: { name },
      rules,
    }),
    "role",
  );
  await bind(ns, user, "Role", name);
}

async function bind(ns: string, user: string, kind: "Role" | "ClusterRole", role: string) {
  await ok(
    kube("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      metadata: { name: unique("bind") },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind, name: role },
      subjects: [{ kind: "User", name: user, apiGroup: "rbac.authorization.k8s.io" }],
    }),
    "rolebinding",
  );
}

/** A Deployment naming `skills`, created as `user`. */
function deployAs(user: string, ns: string, skills: string) {
  const name = unique("agent");
  return kube(
    "POST",
    `/apis/apps/v1/namespaces/${ns}/deployments`,
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name }, annotations: { "skills.palyra.dev/skills": skills } },
          spec: {
            serviceAccountName: "default",
            containers: [{ name: "agent", image: "registry.example/agent:1" }],
          },
        },
      },
    },
    as(user),
  );
}

/** RBAC takes effect through a watch in the API server: retry a request until it is not 403-by-RBAC. */
function whenAuthorized(what: string, attempt: () => Promise<KubeResponse>) {
  return waitFor(what, async () => {
    const r = await attempt();
    return r.status === 403 && !/admission webhook/.test(r.body.message ?? "") ? undefined : r;
  });
}

const denied = (r: KubeResponse, pattern: RegExp) => {
  assert.equal(r.status >= 400, true, `expected a refusal, got ${r.status}`);
  assert.match(r.body.message ?? "", pattern);
};

before(async () => {
  await installCrds();
  await ensureNamespace(OPS_NS);
  await server.start();
  identity = await chartIdentity({ "defaultPolicy.name": DEFAULT });
  for (const ns of [nsA, nsB]) {
    await createNamespace(ns, { "palyra.test/rt": label, "skills.palyra.dev/enforce": "true" });
  }
  await createTrustStore(OPS_NS, store, "{}");
  const common = {
    namespaceSelector: { matchLabels: { "palyra.test/rt": label } },
    publishers: [{ name: "acme", keys: [ACME.publicKeyHex] }],
    trustStore: { namespace: OPS_NS, name: store },
  };
  // One store, three policies: the namespace's default pins on first use (per namespace);
  // strict trusts only its allowlist; lax is in Audit mode.
  await createPolicy(DEFAULT, { ...common, default: true, allowTofu: true });
  await createPolicy(STRICT, { ...common, allowTofu: false });
  await createPolicy(LAX, { ...common, allowTofu: false, mode: "Audit" });
  // The tenants: the chart's author role, and the workloads a tenant runs.
  const workloads = [
    { apiGroups: ["apps"], resources: ["deployments"], verbs: ["create", "get", "delete"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["create", "get", "patch", "delete"] },
  ];
  for (const [ns, user] of [
    [nsA, TINA],
    [nsB, BOB],
  ] as const) {
    await bind(ns, user, "ClusterRole", `${identity.fullname}-author`);
    await grant(ns, user, workloads);
  }
  await bind(nsA, RITA, "ClusterRole", `${identity.fullname}-reviewer`);
  operator = await startOperator(
    [...identity.args, "--webhook-bind-address", "127.0.0.1:0"],
    identity.kubeconfig,
  );
  await waitFor("the webhooks are in effect", async () => {
    const r = await kube("POST", `/api/v1/namespaces/${nsA}/pods`, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "probe", annotations: { "skills.palyra.dev/skills": "not a valid id!" } },
      spec: {
        serviceAccountName: "default",
        containers: [{ name: "c", image: "registry.example/agent:1" }],
      },
    });
    return r.status === 400 ? true : undefined;
  });
});

after(async () => {
  await deleteWebhookConfigurations(identity.fullname);
  const forbidden = await forbiddenRequests(operator);
  const code = await operator.stop();
  await server.stop();
  assert.equal(forbidden, 0, "the operator needed nothing beyond the chart's RBAC");
  assert.equal(code, 0, operator.stderr.join(""));
});

describe("trust on first use cannot be steered by a tenant", () => {
  test("a pin made under the TOFU policy does not make the strict policy trust the key, even for a tenant allowed to use strict", async () => {
    await ok(
      createSkillAs(
        TINA,
        nsA,
        "initech",
        urlSpec(nsA, "i.palyra-skill", INITECH, {
          skillId: "initech.echo",
          publisher: "initech",
        }),
      ),
      "initech under the default policy",
    );
    const pinned = await waitForState(nsA, "initech", "Enabled");
    assert.equal(pinned.status?.trustDecision, "tofu_newly_pinned");
    // The platform team lets tina use strict in her namespace; the pin still does not count.
    await grant(nsA, TINA, [
      {
        apiGroups: ["skills.palyra.dev"],
        resources: ["skilltrustpolicies"],
        verbs: ["use"],
        resourceNames: [STRICT],
      },
    ]);
    // Allowed to name strict, she is refused anyway: strict can never trust initech (no
    // allowlist entry, no TOFU, no existing pins honoured), and says so at admission.
    const refused = await waitFor("tina may use strict", async () => {
      const r = await createSkillAs(
        TINA,
        nsA,
        "initech-strict",
        urlSpec(nsA, "i.palyra-skill", INITECH, {
          skillId: "initech.echo",
          publisher: "initech",
          policyRef: { name: STRICT },
        }),
      );
      return /may not choose/.test(r.body.message ?? "") ? undefined : r;
    });
    denied(
      refused,
      new RegExp(
        `can never be admitted by policy ${STRICT}: publisher initech is not allowlisted, and the policy trusts only allowlisted keys`,
      ),
    );
  });

  test("a key squatted by the first namespace binds no other namespace; a Skill that ends Quarantined pins nothing", async () => {
    // tina names globex first, with a key of her own making: pinned for her namespace only.
    await ok(
      createSkillAs(
        TINA,
        nsA,
        "squat",
        urlSpec(nsA, "s.palyra-skill", GLOBEX_SQUAT, {
          skillId: "globex.echo",
          publisher: "globex",
        }),
      ),
      "squat",
    );
    await waitForState(nsA, "squat", "Enabled");
    // bob's namespace pins globex's real key on its own first use.
    await ok(
      createSkillAs(
        BOB,
        nsB,
        "globex",
        urlSpec(nsB, "g.palyra-skill", GLOBEX, {
          skillId: "globex.echo",
          publisher: "globex",
        }),
      ),
      "bob's globex",
    );
    await waitForState(nsB, "globex", "Enabled");
    assert.equal((await readNamespacePins(OPS_NS, store, nsB)).pins.globex, GLOBEX.publicKeyHex);
    assert.equal(
      (await readNamespacePins(OPS_NS, store, nsA)).pins.globex,
      GLOBEX_SQUAT.publicKeyHex,
    );
    // An audit failure: Quarantined, and umbrella's key is not pinned for anyone.
    await ok(
      createSkillAs(
        BOB,
        nsB,
        "umbrella",
        urlSpec(nsB, "u.palyra-skill", UMBRELLA_WILD, {
          skillId: "umbrella.fetch",
          publisher: "umbrella",
        }),
      ),
      "umbrella",
    );
    const quarantined = await waitForState(nsB, "umbrella", "Quarantined", "AuditFailed");
    assert.equal(
      quarantined.status?.conditions?.find((c) => c.type === "Trusted")?.reason,
      "TofuPinWithheld",
    );
    assert.equal((await readNamespacePins(OPS_NS, store, nsB)).pins.umbrella, undefined);
  });

  test("tenants cannot edit the trust store, fake one, or have the operator use a store nobody guards", async () => {
    const path = `/api/v1/namespaces/${OPS_NS}/configmaps/${store}`;
    denied(
      await kube(
        "PATCH",
        path,
        { data: { "trust-store.json": "{}" } },
        { contentType: MERGE, ...as(TINA) },
      ),
      /forbidden/,
    );
    // Even with ConfigMap rights in her namespace, a labelled (fake) store is refused.
    await grant(nsA, TINA, [
      { apiGroups: [""], resources: ["configmaps"], verbs: ["create", "update", "patch"] },
    ]);
    const fake = await whenAuthorized("tina may write ConfigMaps in nsA", () =>
      kube(
        "POST",
        `/api/v1/namespaces/${nsA}/configmaps`,
        {
          metadata: { name: "fake-store", labels: { "skills.palyra.dev/trust-store": "true" } },
          data: {
            "trust-store.json": JSON.stringify({ trusted_publishers: { evil: ["ab".repeat(32)] } }),
          },
        },
        as(TINA),
      ),
    );
    denied(fake, /is a trust store \(label skills.palyra.dev\/trust-store\); only the operator/);
    // A policy naming a ConfigMap without the label: the operator does not use it.
    await ok(
      kube(
        "POST",
        `/api/v1/namespaces/${nsA}/configmaps`,
        { metadata: { name: "plain" } },
        as(TINA),
      ),
      "plain ConfigMap",
    );
    const unguarded = unique("rt-unguarded");
    await createPolicy(unguarded, {
      namespaceSelector: { matchLabels: { "palyra.test/rt": "nobody" } },
      trustStore: { namespace: nsA, name: "plain" },
    });
    await waitFor("the policy says its store is unguarded", async () => {
      const p = await kube("GET", `${API}/skilltrustpolicies/${unguarded}`);
      const ready = (p.body.status as Skill["status"])?.conditions?.find((c) => c.type === "Ready");
      return ready?.reason === "TrustStoreUnguarded" ? true : undefined;
    });
  });
});

describe("a skill id resolves unambiguously", () => {
  test("after a manual quarantine, an Enabled twin with the same id and source does not get a Deployment admitted", async () => {
    const spec = urlSpec(nsA, "echo.palyra-skill", ACME);
    await ok(createSkillAs(TINA, nsA, "echo", spec), "echo");
    await waitForState(nsA, "echo", "Enabled");
    await ok(
      patchSkillAs(TINA, nsA, "echo", { spec: { desiredState: "Quarantined" } }),
      "quarantine",
    );
    await waitForState(nsA, "echo", "Quarantined", "ManuallyQuarantined");
    await ok(createSkillAs(TINA, nsA, "echo-twin", spec), "twin");
    await waitForState(nsA, "echo-twin", "Enabled");
    const r = await deployAs(TINA, nsA, "acme.echo_http");
    denied(
      r,
      /Skill .*\/echo is Quarantined \(ManuallyQuarantined.*2 Skills in .* carry acme\.echo_http; every one must be Enabled/,
    );
    // Releasing the quarantine is a reviewer's decision.
    denied(
      await patchSkillAs(TINA, nsA, "echo", { spec: { desiredState: "Enabled" } }),
      /may not re-enable a quarantined skill/,
    );
  });
});

describe("only the operator writes a Skill's status", () => {
  test("the author role cannot write status; a tenant given skills/status anyway is refused by the webhook; an admin's write is put back at once", async () => {
    const forged = { status: { state: "Enabled" } };
    denied(await patchSkillAs(TINA, nsA, "echo", forged, "/status"), /forbidden/);
    await grant(nsA, TINA, [
      {
        apiGroups: ["skills.palyra.dev"],
        resources: ["skills/status"],
        verbs: ["patch", "update"],
      },
    ]);
    const refused = await whenAuthorized("tina may patch skills/status (RBAC)", () =>
      patchSkillAs(TINA, nsA, "echo", forged, "/status"),
    );
    denied(refused, /only the operator \(system:serviceaccount:.*\) writes a Skill's status/);
    // Break-glass: an admin's write goes through, and the operator puts its verdict back
    // within seconds, not at the next resync (ten minutes).
    const started = Date.now();
    await ok(
      kube("PATCH", `${API}/namespaces/${nsA}/skills/echo/status`, forged, { contentType: MERGE }),
      "admin status write",
    );
    await waitForSkill(nsA, "echo", (s) => s.status?.state === "Quarantined", "restored", 15_000);
    console.log(`# forged status put back after ${Date.now() - started} ms`);
    assert.ok((await operator.metric("palyra_skill_status_restores_total")) >= 1);
  });
});

describe("choosing a policy is a permission", () => {
  test("naming the Audit-mode policy needs the use verb; with it, Audit mode still never enables an untrusted publisher", async () => {
    const laxSpec = (file: string, a: typeof ACME, extra: Partial<SkillSpec>) =>
      urlSpec(nsB, file, a, { policyRef: { name: LAX }, ...extra });
    denied(
      await createSkillAs(
        BOB,
        nsB,
        "lax",
        laxSpec("l.palyra-skill", SQUAT, {
          skillId: "initech.echo",
          publisher: "initech",
        }),
      ),
      new RegExp(`may not choose SkillTrustPolicy ${LAX} in namespace ${nsB} .*"use" verb`),
    );
    // Naming the namespace's default policy needs nothing more than the author role.
    await ok(
      createSkillAs(
        BOB,
        nsB,
        "by-default",
        urlSpec(nsB, "d.palyra-skill", ACME, { policyRef: { name: DEFAULT } }),
      ),
      "policyRef to the default",
    );
    await grant(nsB, BOB, [
      {
        apiGroups: ["skills.palyra.dev"],
        resources: ["skilltrustpolicies"],
        verbs: ["use"],
        resourceNames: [LAX],
      },
    ]);
    await waitFor("bob may use lax", async () => {
      const r = await createSkillAs(
        BOB,
        nsB,
        "lax",
        laxSpec("l.palyra-skill", SQUAT, {
          skillId: "initech.echo",
          publisher: "initech",
        }),
      );
      return r.status < 300 ? r : undefined;
    });
    const untrusted = await waitForState(nsB, "lax", "Quarantined", "UntrustedPublisher");
    assert.equal(untrusted.status?.state, "Quarantined");
    // What Audit mode may enable: an allowlisted artifact whose only findings are the audit's.
    await ok(
      createSkillAs(
        BOB,
        nsB,
        "lax-wild",
        laxSpec("w.palyra-skill", WILD, { skillId: "acme.fetch_anything" }),
      ),
      "lax-wild",
    );
    await waitForState(nsB, "lax-wild", "Enabled", "AuditModeOverride");
  });
});

describe("sources cannot reach inside the cluster", () => {
  test("a URL at the API server, a name resolving to loopback, and a redirect there are Failed (SourceAddressBlocked), echoing nothing the target said", async () => {
    const cluster = testCluster();
    const apiCa = Buffer.from(readFileSync(cluster.caFile)).toString("base64");
    const attempts: [string, string][] = [
      ["api", `${cluster.server}/api/v1/namespaces/kube-system/secrets`],
      ["localhost", `https://localhost:${new URL(cluster.server).port}/version`],
    ];
    server.fault(`${nsB}/hop.palyra-skill`, {
      kind: "redirect",
      location: `${cluster.server}/version`,
    });
    attempts.push(["hop", server.url(`${nsB}/hop.palyra-skill`)]);
    for (const [name, url] of attempts) {
      await ok(
        createSkillAs(BOB, nsB, `ssrf-${name}`, {
          skillId: "acme.echo_http",
          publisher: "acme",
          source: { url, caBundle: name === "hop" ? server.caBundle : apiCa },
        }),
        `ssrf-${name}`,
      );
    }
    for (const [name] of attempts) {
      const s = await waitForState(nsB, `ssrf-${name}`, "Failed", "SourceAddressBlocked");
      const text = JSON.stringify(s.status);
      assert.match(text, /may (not|never) reach/);
      assert.doesNotMatch(text, /Unauthorized|gitVersion|"apiVersion"|\b40[13]\b/, name);
    }
  });
});

describe("namespaces", () => {
  test("a namespace admin cannot change the labels policies select by, through any path; other labels are free", async () => {
    const role = unique("ns-admin");
    await ok(
      kube("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {
        metadata: { name: role },
        rules: [
          {
            apiGroups: [""],
            resources: ["namespaces", "namespaces/status", "namespaces/finalize"],
            resourceNames: [nsA],
            verbs: ["get", "patch", "update"],
          },
        ],
      }),
      "namespace-admin role",
    );
    await ok(
      kube("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        metadata: { name: role },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
        subjects: [{ kind: "User", name: TINA, apiGroup: "rbac.authorization.k8s.io" }],
      }),
      "namespace-admin binding",
    );
    const relabel = (labels: Record<string, string | null>, sub = "") =>
      kube(
        "PATCH",
        `/api/v1/namespaces/${nsA}${sub}`,
        { metadata: { labels } },
        {
          contentType: MERGE,
          ...as(TINA),
        },
      );
    const r = await whenAuthorized("tina may patch her namespace", () =>
      relabel({ "palyra.test/rt": "elsewhere" }),
    );
    denied(r, /may set, change or remove the label palyra\.test\/rt/);
    denied(await relabel({ "palyra.test/rt": null }, "/status"), /through namespaces\/status/);
    denied(await relabel({ "skills.palyra.dev/enforce": null }), /skills\.palyra\.dev\/enforce/);
    const free = await relabel({ "team.example/cost-center": "42" });
    assert.equal(free.status, 200, free.body.message);
  });
});

describe("pods", () => {
  test("pods/status, pods/binding and ephemeral containers cannot swap the skills a pod names", async () => {
    await ok(
      createSkillAs(
        TINA,
        nsA,
        "echo-ok",
        urlSpec(nsA, "ok.palyra-skill", ACME_OK, { skillId: "acme.echo_ok" }),
      ),
      "echo-ok",
    );
    await waitForState(nsA, "echo-ok", "Enabled");
    const pod = unique("agent");
    await ok(
      kube(
        "POST",
        `/api/v1/namespaces/${nsA}/pods`,
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: pod, annotations: { "skills.palyra.dev/skills": "acme.echo_ok" } },
          spec: {
            serviceAccountName: "default",
            containers: [{ name: "agent", image: "registry.example/agent:1" }],
          },
        },
        as(TINA),
      ),
      "pod",
    );
    await grant(nsA, TINA, [
      {
        apiGroups: [""],
        resources: ["pods/status", "pods/ephemeralcontainers"],
        verbs: ["patch", "update"],
      },
      { apiGroups: [""], resources: ["pods/binding"], verbs: ["create"] },
    ]);
    const swap = {
      metadata: { annotations: { "skills.palyra.dev/skills": "acme.fetch_anything" } },
    };
    const status = await whenAuthorized("tina may patch pods/status", () =>
      kube("PATCH", `/api/v1/namespaces/${nsA}/pods/${pod}/status`, swap, {
        contentType: MERGE,
        ...as(TINA),
      }),
    );
    denied(
      status,
      /pods\/status .* may not add, change or remove skills\.palyra\.dev\/ annotations/,
    );
    const binding = await kube(
      "POST",
      `/api/v1/namespaces/${nsA}/pods/${pod}/binding`,
      {
        apiVersion: "v1",
        kind: "Binding",
        metadata: { name: pod, annotations: { "skills.palyra.dev/skills": "acme.fetch_anything" } },
        target: { apiVersion: "v1", kind: "Node", name: "node-1" },
      },
      as(TINA),
    );
    denied(binding, /pods\/binding .* may not add, change or remove/);
    // Once the pod's skill is quarantined, no debug container joins the pod.
    await ok(
      patchSkillAs(TINA, nsA, "echo-ok", { spec: { desiredState: "Quarantined" } }),
      "quarantine",
    );
    await waitForState(nsA, "echo-ok", "Quarantined");
    const debug = await kube(
      "PATCH",
      `/api/v1/namespaces/${nsA}/pods/${pod}/ephemeralcontainers`,
      { spec: { ephemeralContainers: [{ name: "debug", image: "registry.example/debug:1" }] } },
      { contentType: "application/strategic-merge-patch+json", ...as(TINA) },
    );
    denied(debug, /acme\.echo_ok.*Quarantined/);
  });
});

describe("approvals are four-eyes", () => {
  test("the author role cannot approve; an author who is also a reviewer cannot approve her own Skill; another reviewer can", async () => {
    await ok(
      createSkillAs(
        TINA,
        nsA,
        "wild",
        urlSpec(nsA, "wild.palyra-skill", WILD, { skillId: "acme.fetch_anything" }),
      ),
      "wild",
    );
    const q = await waitForState(nsA, "wild", "Quarantined", "AuditFailed");
    const payload = q.status?.payloadSha256 ?? "";
    const approve = (user: string) =>
      patchSkillAs(user, nsA, "wild", {
        spec: { approval: { payloadSha256: payload, approvedBy: user, reason: "reviewed" } },
      });
    denied(await approve(TINA), /may not approve skills/);
    await bind(nsA, TINA, "ClusterRole", `${identity.fullname}-reviewer`);
    const own = await waitFor("tina has the approve verb", async () => {
      const r = await approve(TINA);
      return /may not approve skills/.test(r.body.message ?? "") ? undefined : r;
    });
    denied(own, /last changed this Skill's spec and may not approve it too \(four-eyes/);
    await ok(approve(RITA), "rita approves");
    await waitForState(nsA, "wild", "Enabled", "Approved");
    const s = await getSkill(nsA, "wild");
    assert.equal(s?.metadata.annotations?.["skills.palyra.dev/requested-by"], TINA);
  });
});

describe("the webhook itself", () => {
  test("a body over the limit is refused before it is read, and reviews beyond the concurrency cap are shed, not queued", async () => {
    const port = operator.webhookPort;
    const post = (length: number, send: Buffer | undefined) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port,
            path: "/validate/workloads",
            method: "POST",
            rejectUnauthorized: false,
            headers: { "Content-Type": "application/json", "Content-Length": length },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        if (send) req.end(send);
        else req.flushHeaders();
      });
    assert.equal(await post(8 * 1024 * 1024, undefined), 413, "8 MiB is refused unread");
    // 70 reviews that never finish their body: the 65th and later are answered 429 at once.
    const hanging = Array.from({ length: 70 }, () =>
      connect({ host: "127.0.0.1", port, rejectUnauthorized: false }),
    );
    await Promise.all(hanging.map((s) => new Promise((r) => s.once("secureConnect", r))));
    const answers = hanging.map(
      (s) =>
        new Promise<string>((resolve) => {
          let text = "";
          s.on("data", (d: Buffer) => {
            text += d.toString();
            if (text.includes("\r\n")) resolve(text.split("\r\n")[0] as string);
          });
          s.on("close", () => resolve(text));
          s.write(
            "POST /validate/workloads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
          );
        }),
    );
    // Whichever six arrive last at the server are answered 429 at once; the rest wait.
    const shed: string[] = [];
    for (const a of answers) void a.then((line) => line && shed.push(line));
    await waitFor("six reviews shed", async () => (shed.length >= 6 ? true : undefined), 5000);
    for (const s of hanging) s.destroy();
    assert.equal(shed.length, 6);
    assert.ok(
      shed.every((line) => line.includes("429")),
      shed.join(" | "),
    );
    assert.ok((await operator.metric("palyra_admission_shed_total")) >= 6);
  });
});
