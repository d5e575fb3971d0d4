/**
 * The webhook's pure decisions over a hand-built snapshot, and its server's fail-closed edges
 * (not synced, malformed input, a handler that throws) over real TLS on 127.0.0.1.
 */

import assert from "node:assert/strict";
import { request } from "node:https";
import { test } from "node:test";
import type { Skill, SkillTrustPolicy } from "../../src/api/v1alpha1/types.generated.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { KubeConfig } from "../../src/kube/kubeconfig.ts";
import { createLogger } from "../../src/operator/log.ts";
import { createCertificateAuthority, issueServingCertificate } from "../../src/tls/pki.ts";
import { EMPTY_TRUST_STORE, pinTofuKey } from "../../src/trust/store.ts";
import { parseSkillReferences } from "../../src/webhook/annotation.ts";
import {
  type AdmissionSnapshot,
  reviewConfigMap,
  reviewNamespace,
  reviewSkill,
  reviewWorkload,
} from "../../src/webhook/handlers.ts";
import type { AdmissionRequest } from "../../src/webhook/review.ts";
import { WebhookServer } from "../../src/webhook/server.ts";

const PAYLOAD = "ab".repeat(32);

function skill(
  name: string,
  skillId: string,
  state: string,
  extra: Partial<NonNullable<Skill["status"]>> = {},
): Skill {
  return {
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "Skill",
    metadata: { name, namespace: "ns", generation: 1 },
    spec: { skillId, publisher: "acme", source: { url: "https://x" } },
    status: {
      observedGeneration: 1,
      state: state as "Enabled",
      manifest: { version: "1.0.0" },
      payloadSha256: PAYLOAD,
      conditions: [
        {
          type: "Ready",
          status: state === "Enabled" ? "True" : "False",
          reason: state === "Enabled" ? "Enabled" : "AuditFailed",
          message: "why",
          lastTransitionTime: "2026-01-01T00:00:00Z",
        },
      ],
      ...extra,
    },
  };
}

function policy(spec: Partial<SkillTrustPolicy["spec"]> = {}): SkillTrustPolicy {
  return {
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "SkillTrustPolicy",
    metadata: { name: "p" },
    spec: {
      default: true,
      publishers: [{ name: "acme", keys: ["cd".repeat(32)] }],
      trustStore: { namespace: "sys", name: "ts" },
      ...spec,
    },
  };
}

function snapshot(skills: Skill[], policies: SkillTrustPolicy[] = [policy()]): AdmissionSnapshot {
  return {
    skillsWithId: (ns, id) =>
      skills.filter((s) => s.metadata.namespace === ns && s.spec.skillId === id),
    policies: () => policies,
    namespaceLabels: () => ({}),
    trustStore: () => pinTofuKey(EMPTY_TRUST_STORE, "pinned", "ef".repeat(32)),
    signingKeyOf: (digest) => (digest === "1".repeat(64) ? "99".repeat(32) : undefined),
  };
}

function req(
  kind: string,
  object: unknown,
  extra: Partial<AdmissionRequest> = {},
): AdmissionRequest {
  return {
    uid: "u1",
    kind: { group: "", version: "v1", kind },
    resource: { group: "", version: "v1", resource: `${kind.toLowerCase()}s` },
    namespace: "ns",
    name: "obj",
    operation: "CREATE",
    userInfo: { username: "dana", groups: ["devs"] },
    object: object as Record<string, unknown>,
    ...extra,
  };
}

const deployment = (annotation: string) => ({
  metadata: { name: "obj" },
  spec: { template: { metadata: { annotations: { "skills.palyra.dev/skills": annotation } } } },
});

test("annotation parsing is strict", () => {
  assert.deepEqual(parseSkillReferences(` a.b , a.c@1.2.3, a.d@sha256:${PAYLOAD}`), [
    { skillId: "a.b", pin: "none" },
    { skillId: "a.c", pin: "version", version: "1.2.3" },
    { skillId: "a.d", pin: "payload", payloadSha256: PAYLOAD },
  ]);
  assert.throws(() => parseSkillReferences("A.B"), /valid skill id/);
  assert.throws(() => parseSkillReferences("a.b@v1"), /pins neither/);
  assert.throws(() => parseSkillReferences("a.b@sha256:ABC"), /pins neither/);
  assert.throws(
    () => parseSkillReferences(Array.from({ length: 65 }, (_, i) => `a.s${i}`).join(",")),
    /at most 64/,
  );
});

test("workloads: Enabled and matching pins pass; every other case is denied with the object, skill, state and reason", () => {
  const snap = snapshot([
    skill("echo", "acme.echo", "Enabled"),
    skill("wild", "acme.wild", "Quarantined"),
    {
      ...skill("stale", "acme.stale", "Enabled"),
      metadata: { name: "stale", namespace: "ns", generation: 2 },
    },
  ]);
  const review = (a: string, kind = "Deployment") => reviewWorkload(req(kind, deployment(a)), snap);
  assert.equal(review("acme.echo").allowed, true);
  assert.equal(review("acme.echo@1.0.0").allowed, true);
  assert.equal(review(`acme.echo@sha256:${PAYLOAD}`).allowed, true);
  assert.match(
    review("acme.wild").message ?? "",
    /^Deployment ns\/obj is denied: skill acme.wild: Skill ns\/wild is Quarantined \(AuditFailed: why\)/,
  );
  assert.match(review("acme.nope").message ?? "", /no Skill in namespace ns provides acme.nope/);
  assert.match(
    review("acme.echo@1.0.1").message ?? "",
    /Enabled with version 1.0.0, not the pinned version 1.0.1/,
  );
  assert.match(
    review("acme.stale").message ?? "",
    /is Pending/,
    "a status for an older generation does not count",
  );
  assert.equal(review("bad id!").code, 400);
  const pod = reviewWorkload(
    req("Pod", { metadata: { annotations: { "skills.palyra.dev/skills": "acme.wild" } } }),
    snap,
  );
  assert.equal(pod.allowed, false);
  const cron = reviewWorkload(
    req("CronJob", {
      spec: {
        jobTemplate: {
          spec: {
            template: { metadata: { annotations: { "skills.palyra.dev/skills": "acme.wild" } } },
          },
        },
      },
    }),
    snap,
  );
  assert.equal(cron.allowed, false);
  assert.equal(
    reviewWorkload(req("Deployment", deployment("acme.wild"), { operation: "DELETE" }), snap)
      .allowed,
    true,
  );
  assert.equal(
    reviewWorkload(req("Deployment", { spec: {} }), snap).allowed,
    true,
    "no annotation, nothing to check",
  );
});

test("workloads under an Audit-mode policy are admitted with the findings as warnings", () => {
  const v = reviewWorkload(
    req("Deployment", deployment("acme.nope")),
    snapshot([], [policy({ mode: "Audit" })]),
  );
  assert.equal(v.allowed, true);
  assert.match(v.warnings?.[0] ?? "", /Audit mode/);
});

test("Skills: approvals need the approve verb and the approver's own name; metadata-only updates always pass", async () => {
  const snap = snapshot([]);
  const wild = skill("wild", "acme.wild", "Quarantined");
  const approved = {
    ...wild,
    spec: { ...wild.spec, approval: { payloadSha256: PAYLOAD, approvedBy: "dana" } },
  };
  const yes = async () => true;
  const no = async () => false;
  const update = (object: Skill, user = "dana") =>
    req("Skill", object, {
      operation: "UPDATE",
      oldObject: wild as unknown as Record<string, unknown>,
      userInfo: { username: user },
    });
  assert.match(
    (await reviewSkill(update(approved), snap, no)).message ?? "",
    /dana may not approve skills/,
  );
  assert.match(
    (await reviewSkill(update(approved, "sam"), snap, yes)).message ?? "",
    /approvedBy must name the approving user \(sam\)/,
  );
  assert.equal((await reviewSkill(update(approved), snap, yes)).allowed, true);
  const relabelled = { ...wild, metadata: { ...wild.metadata, finalizers: [] } };
  assert.equal((await reviewSkill(update(relabelled), snap, no)).allowed, true);
});

test("Skills a policy can never admit are denied (Enforce) or warned about (Audit)", async () => {
  const create = (spec: Partial<Skill["spec"]>) =>
    req("Skill", {
      ...skill("s", "x.y", "Enabled"),
      spec: { skillId: "x.y", publisher: "acme", source: { url: "https://x" }, ...spec },
    });
  const yes = async () => true;
  const enforce = snapshot(
    [],
    [policy({ allowedSourceKinds: ["configMap"], revokedKeys: ["99".repeat(32)] })],
  );
  assert.match(
    (await reviewSkill(create({}), enforce, yes)).message ?? "",
    /source kind url is not one of the policy's allowedSourceKinds/,
  );
  assert.match(
    (
      await reviewSkill(
        create({ publisher: "stranger", source: { configMapRef: { name: "a" } } }),
        enforce,
        yes,
      )
    ).message ?? "",
    /publisher stranger is neither allowlisted nor pinned/,
  );
  assert.equal(
    (
      await reviewSkill(
        create({ publisher: "pinned", source: { configMapRef: { name: "a" } } }),
        enforce,
        yes,
      )
    ).allowed,
    true,
  );
  assert.match(
    (
      await reviewSkill(
        create({ sha256: "1".repeat(64), source: { configMapRef: { name: "a" } } }),
        enforce,
        yes,
      )
    ).message ?? "",
    /signed by revoked key/,
  );
  const audit = snapshot([], [policy({ mode: "Audit", allowedSourceKinds: ["configMap"] })]);
  const warned = await reviewSkill(create({}), audit, yes);
  assert.equal(warned.allowed, true);
  assert.match(warned.warnings?.[0] ?? "", /can never be admitted/);
});

test("trust-store ConfigMaps and the namespace opt-in label are reserved to the operator and admins", () => {
  const id = { operatorUser: "system:serviceaccount:sys:op", adminGroups: ["admins"] };
  const snap = snapshot([]);
  const cm = (user: string, groups: string[] = [], name = "ts") =>
    reviewConfigMap(
      req(
        "ConfigMap",
        { metadata: { name } },
        { namespace: "sys", name, userInfo: { username: user, groups } },
      ),
      snap,
      id,
    );
  assert.match(cm("eve").message ?? "", /trust store of SkillTrustPolicy p/);
  assert.equal(cm("system:serviceaccount:sys:op").allowed, true);
  assert.equal(cm("root", ["admins"]).allowed, true);
  assert.equal(cm("eve", [], "other").allowed, true);
  const ns = (
    before: Record<string, string>,
    after: Record<string, string>,
    groups: string[] = [],
  ) =>
    reviewNamespace(
      req(
        "Namespace",
        { metadata: { labels: after } },
        {
          operation: "UPDATE",
          oldObject: { metadata: { labels: before } },
          userInfo: { username: "u", groups },
        },
      ),
      id,
    );
  const on = { "skills.palyra.dev/enforce": "true" };
  assert.equal(ns({}, on).allowed, true, "opting in is free");
  assert.equal(ns(on, {}).allowed, false, "opting out is not");
  assert.equal(ns(on, {}, ["admins"]).allowed, true);
  assert.equal(ns(on, { ...on, other: "x" }).allowed, true);
});

test("the server denies until ready, denies when a handler throws, and rejects what is not an AdmissionReview", async () => {
  const ca = createCertificateAuthority({ commonName: "t" });
  const cert = issueServingCertificate(ca, { commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"] });
  let ready = false;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:1" }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  const client = await KubeClient.fromKubeConfig(kc);
  const snap = snapshot([skill("echo", "acme.echo", "Enabled")]);
  const server = new WebhookServer({
    host: "127.0.0.1",
    port: 0,
    cert,
    snapshot: {
      ...snap,
      skillsWithId: (ns, id) => {
        if (id === "acme.boom") throw new Error("cache exploded");
        return snap.skillsWithId(ns, id);
      },
    },
    identity: () => ({ operatorUser: "op", adminGroups: [] }),
    client,
    ready: () => ready,
    log: createLogger("error", () => {}),
  });
  await server.start();
  const post = (path: string, body: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = request(
        {
          host: "127.0.0.1",
          port: server.port,
          path,
          method: "POST",
          ca: ca.certPem,
          headers: { "Content-Type": "application/json" },
        },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => {
            text += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      r.on("error", reject);
      r.end(body);
    });
  const review = (annotation: string) =>
    JSON.stringify({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: req("Deployment", deployment(annotation)),
    });
  try {
    const notReady = JSON.parse((await post("/validate/workloads", review("acme.echo"))).body);
    assert.equal(notReady.response.allowed, false);
    assert.equal(notReady.response.uid, "u1");
    assert.match(notReady.response.status.message, /caches have not synced/);
    ready = true;
    assert.equal(
      JSON.parse((await post("/validate/workloads", review("acme.echo"))).body).response.allowed,
      true,
    );
    const boom = JSON.parse((await post("/validate/workloads", review("acme.boom"))).body);
    assert.equal(boom.response.allowed, false);
    assert.match(
      boom.response.status.message,
      /could not evaluate this request \(cache exploded\); denied to fail closed/,
    );
    assert.equal((await post("/validate/workloads", "{not json")).status, 400);
    assert.equal((await post("/validate/workloads", "{}")).status, 400);
  } finally {
    await server.stop();
    client.close();
  }
});
