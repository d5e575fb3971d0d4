/**
 * The admission webhook with the real API server calling it over TLS: the operator runs as the
 * Helm chart installs it (the chart's ServiceAccount, RBAC and flags, nothing broader),
 * bootstraps its certificate, registers its ValidatingWebhookConfiguration and answers from its
 * caches.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ArtifactServer } from "../../hack/dev/artifact-server.ts";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import type { SkillSpec } from "../../src/api/v1alpha1/types.generated.ts";
import { type ChartIdentity, chartIdentity } from "../support/chart.ts";
import { installCrds } from "../support/crds.ts";
import { kube, testCluster, waitFor } from "../support/kube.ts";
import { forbiddenRequests, type RunningOperator, startOperator } from "../support/operator.ts";
import {
  API,
  createNamespace,
  createPolicy,
  createSkill,
  createTrustStore,
  deleteWebhookConfigurations,
  ensureNamespace,
  unique,
  waitForState,
} from "../support/resources.ts";
import { urlSkillSpec } from "../support/tenants.ts";

const OPS_NS = "palyra-system";
// The operator runs as the Helm chart installs it (its ServiceAccount, RBAC and flags); the
// webhook configuration, Secret and Lease carry the release's name.
let identity: ChartIdentity;
let OPERATOR_USER = "";
let VWC = "";
const server = new ArtifactServer();
const ACME = skillArtifact({ keySeed: 7 });
const WILD = skillArtifact({ keySeed: 7, skillId: "acme.fetch_anything", wildcardEgress: true });
let operator: RunningOperator;
let ns = "";
let auditNs = "";
let policy = "";
let store = "";

async function ok(method: string, path: string, body?: unknown, contentType?: string) {
  const res = await kube(method, path, body, contentType ? { contentType } : {});
  assert.ok(
    res.status < 300 || res.status === 409,
    `${method} ${path}: ${res.status} ${res.body.message ?? ""}`,
  );
  return res;
}

/** The webhook operator: the chart's flags, the harness's loopback ports, then `extra`. */
function startWebhookOperator(extra: string[] = []): Promise<RunningOperator> {
  return startOperator(
    [...identity.args, "--webhook-bind-address", "127.0.0.1:0", ...extra],
    identity.kubeconfig,
  );
}

/** Removes the shared certificate Secret, so the next operator issues a fresh one. */
async function dropCertificateSecret(): Promise<void> {
  await kube("DELETE", `/api/v1/namespaces/${OPS_NS}/secrets/${identity.webhookSecret}`);
}

function podTemplate(annotation: string) {
  return {
    metadata: { labels: { app: "x" }, annotations: { "skills.palyra.dev/skills": annotation } },
    // Named: the ServiceAccount admission plugin, which sets "default" in a real cluster, is off
    // on the test control plane, and pod delivery's projected token needs a ServiceAccount.
    spec: {
      serviceAccountName: "default",
      containers: [{ name: "c", image: "registry.example/agent:1" }],
    },
  };
}

function workload(
  kind: string,
  annotation: string,
  name = unique(kind.toLowerCase()),
): { path: string; body: Record<string, unknown> } {
  const tpl = podTemplate(annotation);
  const selector = { matchLabels: { app: "x" } };
  switch (kind) {
    case "Pod":
      return {
        path: "/api/v1/namespaces/NS/pods",
        body: {
          apiVersion: "v1",
          kind,
          metadata: { name, annotations: tpl.metadata.annotations },
          spec: tpl.spec,
        },
      };
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "ReplicaSet":
      return {
        path: `/apis/apps/v1/namespaces/NS/${kind.toLowerCase()}s`,
        body: {
          apiVersion: "apps/v1",
          kind,
          metadata: { name },
          spec: {
            selector,
            template: tpl,
            ...(kind === "StatefulSet" ? { serviceName: "x" } : {}),
          },
        },
      };
    case "Job":
      return {
        path: "/apis/batch/v1/namespaces/NS/jobs",
        body: {
          apiVersion: "batch/v1",
          kind,
          metadata: { name },
          spec: { template: { ...tpl, spec: { ...tpl.spec, restartPolicy: "Never" } } },
        },
      };
    default:
      return {
        path: "/apis/batch/v1/namespaces/NS/cronjobs",
        body: {
          apiVersion: "batch/v1",
          kind: "CronJob",
          metadata: { name },
          spec: {
            schedule: "0 * * * *",
            jobTemplate: {
              spec: { template: { ...tpl, spec: { ...tpl.spec, restartPolicy: "Never" } } },
            },
          },
        },
      };
  }
}

async function apply(kind: string, annotation: string, namespace = ns) {
  const w = workload(kind, annotation);
  return kube("POST", w.path.replace("NS", namespace), w.body);
}

const skillSpec = (path: string, bytes: Buffer, extra: Partial<SkillSpec> = {}): SkillSpec =>
  urlSkillSpec(server, path, bytes, policy, extra);

before(async () => {
  await installCrds();
  await ensureNamespace(OPS_NS);
  await server.start();
  identity = await chartIdentity();
  OPERATOR_USER = identity.user;
  VWC = identity.fullname;
  const label = unique("tenant");
  ns = unique("w");
  auditNs = unique("wa");
  await createNamespace(ns, { "palyra.test/tenant": label, "skills.palyra.dev/enforce": "true" });
  store = unique("store");
  await createTrustStore(OPS_NS, store, "{}");
  policy = unique("policy");
  await createPolicy(policy, {
    namespaceSelector: { matchLabels: { "palyra.test/tenant": label } },
    publishers: [{ name: "acme", keys: [ACME.publicKeyHex] }],
    trustStore: { namespace: OPS_NS, name: store },
  });
  operator = await startWebhookOperator();
  assert.ok(operator.webhookPort > 0);
  // The API server loads webhook configurations through a watch: wait until ours is in effect.
  await waitFor("the webhook is in effect", async () => {
    const res = await apply("Pod", "not a valid id!");
    return res.status === 400 || res.status === 403 ? true : undefined;
  });
  await createSkill(
    ns,
    "echo",
    skillSpec(`${ns}/echo.palyra-skill`, ACME.bytes, { version: "1.0.0" }),
  );
  await createSkill(ns, "wild", {
    ...skillSpec(`${ns}/wild.palyra-skill`, WILD.bytes),
    skillId: "acme.fetch_anything",
  });
  await waitForState(ns, "echo", "Enabled");
  await waitForState(ns, "wild", "Quarantined");
});

after(async () => {
  // Never leave a fail-closed webhook registered behind for other test files.
  await deleteWebhookConfigurations(VWC);
  const forbidden = operator ? await forbiddenRequests(operator) : 0;
  const code = await operator?.stop();
  await server.stop();
  assert.equal(forbidden, 0, "every request was allowed by the chart's RBAC");
  assert.equal(code, 0, operator?.stderr.join(""));
});

describe("workloads", () => {
  test("a Deployment referencing an Enabled skill (bare, by version, by payload) is admitted", async () => {
    for (const ref of [
      "acme.echo_http",
      "acme.echo_http@1.0.0",
      `acme.echo_http@sha256:${ACME.payloadSha256}`,
    ]) {
      const res = await apply("Deployment", ref);
      assert.equal(res.status, 201, `${ref}: ${res.body.message}`);
    }
  });

  test("Quarantined, unknown, wrong-version and wrong-payload references are denied, each saying why", async () => {
    const cases: [string, RegExp][] = [
      ["acme.fetch_anything", /Skill .*\/wild is Quarantined \(AuditFailed/],
      ["acme.unknown", /no Skill in namespace .* provides acme.unknown/],
      ["acme.echo_http@2.0.0", /is Enabled with version 1\.0\.0, not the pinned version 2\.0\.0/],
      [`acme.echo_http@sha256:${"0".repeat(64)}`, /not the pinned payload sha256:0{64}/],
      ["acme.echo_http@latest", /pins neither a version/],
    ];
    for (const [ref, why] of cases) {
      const res = await apply("Deployment", ref);
      assert.ok(res.status === 403 || res.status === 400, `${ref}: ${res.status}`);
      assert.match(
        res.body.message ?? "",
        /admission webhook "workloads.skills.palyra.dev" denied the request/,
      );
      assert.match(res.body.message ?? "", /Deployment w-[0-9a-f]+\/deployment-/);
      assert.match(res.body.message ?? "", why, ref);
    }
  });

  test("every workload kind is checked: Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs", async () => {
    for (const kind of [
      "Pod",
      "Deployment",
      "StatefulSet",
      "DaemonSet",
      "ReplicaSet",
      "Job",
      "CronJob",
    ]) {
      assert.equal(
        (await apply(kind, "acme.echo_http")).status,
        201,
        `${kind} with an Enabled skill`,
      );
      const denied = await apply(kind, "acme.fetch_anything");
      assert.equal(denied.status, 403, `${kind} with a Quarantined skill`);
      assert.match(denied.body.message ?? "", new RegExp(`${kind} `));
    }
  });

  test("namespaces that did not opt in are not checked; dropping the opt-in label is reserved to admins", async () => {
    const free = unique("free");
    await createNamespace(free);
    assert.equal((await apply("Deployment", "acme.unknown", free)).status, 201);
    const alice = testCluster().user.name;
    const res = await kube(
      "PATCH",
      `/api/v1/namespaces/${ns}`,
      { metadata: { labels: { "skills.palyra.dev/enforce": null } } },
      { contentType: "application/merge-patch+json", impersonate: alice },
    );
    // alice has no right to patch namespaces at all; impersonate someone who has, minus admin.
    assert.ok(res.status === 403);
    await ok("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {
      metadata: { name: "ns-editor-test" },
      rules: [{ apiGroups: [""], resources: ["namespaces"], verbs: ["get", "patch", "update"] }],
    });
    await ok("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
      metadata: { name: "ns-editor-test" },
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: "ns-editor-test",
      },
      subjects: [{ kind: "User", name: "nina", apiGroup: "rbac.authorization.k8s.io" }],
    });
    const denied = await waitFor("nina's RBAC is in effect", async () => {
      const r = await kube(
        "PATCH",
        `/api/v1/namespaces/${ns}`,
        { metadata: { labels: { "skills.palyra.dev/enforce": null } } },
        { contentType: "application/merge-patch+json", impersonate: "nina" },
      );
      return r.body.message?.includes("admission webhook") ? r : undefined;
    });
    assert.equal(denied.status, 403);
    assert.match(
      denied.body.message ?? "",
      /may set, change or remove the label skills.palyra.dev\/enforce/,
    );
  });
});

describe("Audit mode", () => {
  test("an Audit-mode policy gives workloads no exemption: a reference to a skill that is not Enabled is denied", async () => {
    const label = unique("audit");
    await createNamespace(auditNs, {
      "palyra.test/audit": label,
      "skills.palyra.dev/enforce": "true",
    });
    const auditPolicy = unique("audit-policy");
    await createPolicy(auditPolicy, {
      default: true,
      mode: "Audit",
      namespaceSelector: { matchLabels: { "palyra.test/audit": label } },
    });
    const res = await apply("Deployment", "acme.unknown", auditNs);
    assert.equal(res.status, 403, res.body.message);
    assert.match(res.body.message ?? "", /no Skill in namespace .* provides acme.unknown/);
  });
});

describe("Skills and approvals", () => {
  async function grantSkills(user: string, verbs: string[]) {
    const name = unique("skills-role");
    await ok("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      metadata: { name },
      rules: [{ apiGroups: ["skills.palyra.dev"], resources: ["skills"], verbs }],
    });
    await ok("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      metadata: { name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "User", name: user, apiGroup: "rbac.authorization.k8s.io" }],
    });
  }

  const approve = (user: string, approvedBy: string) =>
    kube(
      "PATCH",
      `${API}/namespaces/${ns}/skills/wild`,
      { spec: { approval: { payloadSha256: WILD.payloadSha256, approvedBy } } },
      { contentType: "application/merge-patch+json", impersonate: user },
    );

  test("a user without the approve verb cannot approve; a forged approvedBy is denied; an approver can approve", async () => {
    await grantSkills("dev-dana", ["get", "list", "create", "update", "patch"]);
    await grantSkills("sec-sam", ["get", "list", "update", "patch", "approve"]);
    const denied = await waitFor("dana's RBAC is in effect", async () => {
      const r = await approve("dev-dana", "dev-dana");
      return r.body.message?.includes("admission webhook") ? r : undefined;
    });
    assert.equal(denied.status, 403);
    assert.match(
      denied.body.message ?? "",
      /dev-dana may not approve skills in namespace .* \(needs the "approve" verb/,
    );
    const forged = await waitFor("sam's RBAC is in effect", async () => {
      const r = await approve("sec-sam", "someone-else");
      return r.body.message?.includes("admission webhook") ? r : undefined;
    });
    assert.match(forged.body.message ?? "", /approvedBy must name the approving user \(sec-sam\)/);
    const approved = await approve("sec-sam", "sec-sam");
    assert.equal(approved.status, 200, approved.body.message);
    await waitForState(ns, "wild", "Enabled", "Approved");
  });

  test("re-enabling a manually quarantined Skill needs the approve verb", async () => {
    await createSkill(
      ns,
      "held",
      skillSpec(`${ns}/held.palyra-skill`, ACME.bytes, { desiredState: "Quarantined" }),
    );
    const enable = (user: string) =>
      kube(
        "PATCH",
        `${API}/namespaces/${ns}/skills/held`,
        { spec: { desiredState: "Enabled" } },
        {
          contentType: "application/merge-patch+json",
          impersonate: user,
        },
      );
    const denied = await enable("dev-dana");
    assert.equal(denied.status, 403);
    assert.match(denied.body.message ?? "", /may not re-enable a quarantined skill/);
    assert.equal((await enable("sec-sam")).status, 200);
  });

  test("a Skill its Enforce policy can never admit is denied at create time", async () => {
    const res = await kube("POST", `${API}/namespaces/${ns}/skills`, {
      apiVersion: "skills.palyra.dev/v1alpha1",
      kind: "Skill",
      metadata: { name: "stranger" },
      spec: {
        ...skillSpec(`${ns}/s.palyra-skill`, ACME.bytes),
        skillId: "stranger.echo",
        publisher: "stranger",
      },
    });
    assert.equal(res.status, 403);
    assert.match(
      res.body.message ?? "",
      /can never be admitted by policy .*: publisher stranger is not allowlisted, and the policy trusts only allowlisted keys/,
    );
  });
});

describe("the trust store", () => {
  test("an ordinary user cannot edit it; the operator's service account and admins can", async () => {
    await ok("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/palyra-system/roles", {
      metadata: { name: "cm-editor-test" },
      rules: [
        { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "update", "patch", "delete"] },
      ],
    });
    await ok("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/palyra-system/rolebindings", {
      metadata: { name: "cm-editor-test" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "cm-editor-test" },
      subjects: [{ kind: "User", name: "eve", apiGroup: "rbac.authorization.k8s.io" }],
    });
    const edit = (impersonate?: string) =>
      kube(
        "PATCH",
        `/api/v1/namespaces/${OPS_NS}/configmaps/${store}`,
        {
          data: {
            "trust-store.json": JSON.stringify({
              trusted_publishers: {},
              tofu_publishers: { evil: "ab".repeat(32) },
            }),
          },
        },
        { contentType: "application/merge-patch+json", ...(impersonate ? { impersonate } : {}) },
      );
    const denied = await waitFor(
      "eve's RBAC and the trust-store webhook are in effect",
      async () => {
        const r = await edit("eve");
        return r.body.message?.includes("admission webhook") ? r : undefined;
      },
    );
    assert.equal(denied.status, 403);
    assert.match(
      denied.body.message ?? "",
      /is a trust store \(label skills.palyra.dev\/trust-store\); only the operator/,
    );
    const otherName = unique("other");
    await ok("POST", `/api/v1/namespaces/${OPS_NS}/configmaps`, { metadata: { name: otherName } });
    const other = await kube(
      "PATCH",
      `/api/v1/namespaces/${OPS_NS}/configmaps/${otherName}`,
      { data: { a: "b" } },
      { contentType: "application/merge-patch+json", impersonate: "eve" },
    );
    assert.equal(other.status, 200, `other ConfigMaps are not guarded: ${other.body.message}`);
    const asOperator = await edit(OPERATOR_USER);
    assert.equal(asOperator.status, 200, asOperator.body.message);
    await ok(
      "PATCH",
      `/api/v1/namespaces/${OPS_NS}/configmaps/${store}`,
      { data: { "trust-store.json": "{}" } },
      "application/merge-patch+json",
    );
  });
});

describe("ownership", () => {
  test("the webhook configuration and its Secret are owned by the chart's ClusterRole, so uninstalling removes them", async () => {
    const role = await kube(
      "GET",
      `/apis/rbac.authorization.k8s.io/v1/clusterroles/${identity.fullname}`,
    );
    const uid = (role.body.metadata as { uid: string }).uid;
    const expected = [
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        name: identity.fullname,
        uid,
      },
    ];
    const vwc = await kube(
      "GET",
      `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${VWC}`,
    );
    assert.deepEqual(
      (vwc.body.metadata as { ownerReferences?: unknown }).ownerReferences,
      expected,
    );
    const secret = await kube(
      "GET",
      `/api/v1/namespaces/${OPS_NS}/secrets/${identity.webhookSecret}`,
    );
    assert.deepEqual(
      (secret.body.metadata as { ownerReferences?: unknown }).ownerReferences,
      expected,
    );
  });
});

describe("failing closed", () => {
  test("with the webhook process stopped, matching requests fail while kube-system keeps working; a restart serves again", async () => {
    assert.equal(await operator.stop(), 0);
    const res = await apply("Deployment", "acme.echo_http");
    assert.equal(res.status, 500);
    assert.match(res.body.message ?? "", /failed calling webhook/);
    const system = await kube("POST", "/api/v1/namespaces/kube-system/configmaps", {
      metadata: { name: unique("still-works") },
    });
    assert.equal(system.status, 201);
    const opsNs = await kube(
      "POST",
      `/apis/apps/v1/namespaces/${OPS_NS}/deployments`,
      workload("Deployment", "acme.unknown").body,
    );
    assert.equal(opsNs.status, 201, "the operator's namespace is never locked");
    operator = await startWebhookOperator();
    await waitFor("the restarted webhook answers", async () =>
      (await apply("Deployment", "acme.echo_http")).status === 201 ? true : undefined,
    );
  });
});

describe("replicas", () => {
  test("a second replica adopts the certificate in the shared Secret instead of issuing its own", async () => {
    const { connect } = await import("node:tls");
    const fingerprint = (port: number) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
          resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? "");
          socket.end();
        });
        socket.on("error", reject);
      });
    const second = await startWebhookOperator(["--no-webhook-registration"]);
    try {
      assert.equal(await fingerprint(second.webhookPort), await fingerprint(operator.webhookPort));
    } finally {
      assert.equal(await forbiddenRequests(second), 0);
      assert.equal(await second.stop(), 0);
    }
  });
});

describe("under load", () => {
  test("hundreds of concurrent reviews with different expected outcomes each get their own verdict", async () => {
    // acme.frozen names the echo artifact, whose manifest says otherwise: Quarantined.
    await createSkill(ns, "frozen", {
      ...skillSpec(`${ns}/f.palyra-skill`, ACME.bytes),
      skillId: "acme.frozen",
    });
    await waitForState(ns, "frozen", "Quarantined", "ManifestMismatch");
    const cases = Array.from({ length: 300 }, (_, i) => {
      const good = i % 3 === 0;
      const ref = good ? "acme.echo_http" : i % 3 === 1 ? "acme.frozen" : `acme.missing_${i}`;
      return { good, ref, w: workload("Deployment", ref, unique(`load-${i}`)) };
    });
    const results = await Promise.all(
      cases.map((c) => kube("POST", c.w.path.replace("NS", ns), c.w.body)),
    );
    results.forEach((res, i) => {
      const c = cases[i] as (typeof cases)[number];
      const name = (c.w.body.metadata as { name: string }).name;
      if (c.good) assert.equal(res.status, 201, `${name}: ${res.body.message}`);
      else {
        assert.equal(res.status, 403, name);
        // The denial names this request's own object and skill, not a neighbour's.
        assert.match(
          res.body.message ?? "",
          new RegExp(`Deployment ${ns}/${name} is denied: skill ${c.ref.replace(".", "\\.")}[: ]`),
        );
      }
    });
  });

  test("certificate renewals while requests flow lose none", async () => {
    assert.equal(await forbiddenRequests(operator), 0);
    assert.equal(await operator.stop(), 0);
    // A fresh Secret: the year-long certificate in the shared one is not due for renewal.
    await dropCertificateSecret();
    operator = await startWebhookOperator(["--webhook-certificate-validity", "6"]);
    const t0 = Date.now();
    await waitFor("the restarted webhook answers", async () =>
      (await apply("Deployment", "acme.echo_http")).status === 201 ? true : undefined,
    );
    const renewals = () =>
      operator.logs.filter((l) => l.msg === "webhook certificate renewed").length;
    const before = renewals();
    const deadline = Date.now() + 30_000;
    let sent = 0;
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: 4 }, async (_, worker) => {
        while (renewals() - before < 2 && Date.now() < deadline) {
          const good = (sent++ + worker) % 2 === 0;
          const res = await apply("Deployment", good ? "acme.echo_http" : "acme.frozen");
          if (res.status !== (good ? 201 : 403)) failures.push(`${res.status} ${res.body.message}`);
        }
      }),
    );
    console.log(
      `# ${sent} requests during ${renewals() - before} renewals in ${Date.now() - t0} ms`,
    );
    assert.ok(renewals() - before >= 2, `certificate renewed ${renewals() - before} times`);
    assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
    assert.ok(sent > 50, `only ${sent} requests were sent`);
  });
});
