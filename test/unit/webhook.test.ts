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
  type Authorize,
  guardedNamespaceLabels,
  reviewConfigMap,
  reviewNamespace,
  reviewSkill,
  reviewWorkload,
} from "../../src/webhook/handlers.ts";
import { mutateSkill, REQUESTED_BY_ANNOTATION } from "../../src/webhook/requester.ts";
import type { AdmissionRequest } from "../../src/webhook/review.ts";
import { WebhookServer } from "../../src/webhook/server.ts";

const PAYLOAD = "ab".repeat(32);
const ID = { operatorUser: "system:serviceaccount:sys:op", adminGroups: ["admins"] };

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
    trustStore: () => ({
      store: pinTofuKey(EMPTY_TRUST_STORE, "pinned", "ef".repeat(32)),
      namespacePins: new Map([["ns", new Map([["nspinned", "ef".repeat(32)]])]]),
    }),
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
  const review = (a: string, kind = "Deployment") =>
    reviewWorkload(req(kind, deployment(a)), snap, ID);
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
    ID,
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
    ID,
  );
  assert.equal(cron.allowed, false);
  assert.equal(
    reviewWorkload(req("Deployment", deployment("acme.wild"), { operation: "DELETE" }), snap, ID)
      .allowed,
    true,
  );
  assert.equal(
    reviewWorkload(req("Deployment", { spec: {} }), snap, ID).allowed,
    true,
    "no annotation, nothing to check",
  );
});

test("workloads under an Audit-mode policy get no exemption: only Enabled skills are admitted", () => {
  const v = reviewWorkload(
    req("Deployment", deployment("acme.nope")),
    snapshot([], [policy({ mode: "Audit" })]),
    ID,
  );
  assert.equal(v.allowed, false);
});

test("a skill id resolves to every Skill that carries it: a quarantined twin holds the id back; Enabled twins must agree on one payload", () => {
  const echo = skill("echo", "acme.echo", "Enabled");
  const manual = skill("echo-2", "acme.echo", "Quarantined", {
    conditions: [
      {
        type: "Ready",
        status: "False",
        reason: "ManuallyQuarantined",
        message: "spec.desiredState is Quarantined",
        lastTransitionTime: "2026-01-01T00:00:00Z",
      },
    ],
  });
  const held = reviewWorkload(
    req("Deployment", deployment("acme.echo")),
    snapshot([echo, manual]),
    ID,
  );
  assert.equal(held.allowed, false);
  assert.match(held.message ?? "", /Skill ns\/echo-2 is Quarantined \(ManuallyQuarantined/);
  assert.match(held.message ?? "", /2 Skills in ns carry acme.echo; every one must be Enabled/);
  const v2 = skill("echo-v2", "acme.echo", "Enabled", {
    manifest: { version: "2.0.0" },
    payloadSha256: "cd".repeat(32),
  });
  const both = snapshot([echo, v2]);
  assert.match(
    reviewWorkload(req("Deployment", deployment("acme.echo")), both, ID).message ?? "",
    /ambiguous in namespace ns/,
  );
  assert.equal(
    reviewWorkload(req("Deployment", deployment("acme.echo@2.0.0")), both, ID).allowed,
    true,
  );
  const same = snapshot([echo, skill("echo-airgapped", "acme.echo", "Enabled")]);
  assert.equal(reviewWorkload(req("Deployment", deployment("acme.echo")), same, ID).allowed, true);
});

test("pod subresources may not touch skills.palyra.dev/ annotations except as the operator or an admin; an ephemeral container re-checks the pod", () => {
  const snap = snapshot([
    skill("wild", "acme.wild", "Quarantined"),
    skill("echo", "acme.echo", "Enabled"),
  ]);
  const pod = (annotations: Record<string, string>) => ({ metadata: { name: "p", annotations } });
  const sub = (
    subResource: string,
    before: Record<string, string>,
    after: Record<string, string>,
    user = "eve",
    groups: string[] = [],
  ) =>
    reviewWorkload(
      req("Pod", pod(after), {
        operation: "UPDATE",
        subResource,
        oldObject: pod(before),
        userInfo: { username: user, groups },
      }),
      snap,
      ID,
    );
  const ref = { "skills.palyra.dev/skills": "acme.echo" };
  for (const subResource of ["status", "resize", "ephemeralcontainers"]) {
    const v = sub(subResource, ref, { "skills.palyra.dev/skills": "acme.wild" });
    assert.equal(v.allowed, false, subResource);
    assert.match(v.message ?? "", new RegExp(`pods/${subResource}.*through a subresource`));
  }
  assert.equal(sub("status", ref, ref).allowed, true, "a kubelet status update leaves ours alone");
  assert.equal(sub("status", ref, { ...ref, other: "x" }).allowed, true);
  assert.equal(sub("status", ref, {}, "root", ["admins"]).allowed, true);
  // The pod's references are checked again when an ephemeral container is added.
  const wild = { "skills.palyra.dev/skills": "acme.wild" };
  assert.match(sub("ephemeralcontainers", wild, wild).message ?? "", /acme.wild.*Quarantined/);
  assert.equal(sub("ephemeralcontainers", ref, ref).allowed, true);
  const binding = reviewWorkload(
    {
      ...req("Binding", { metadata: { name: "p", annotations: wild }, target: { name: "node" } }),
      subResource: "binding",
    },
    snap,
    ID,
  );
  assert.equal(binding.allowed, false, "a binding would copy its annotations onto the pod");
});

test("Skills: approvals need the approve verb, the approver's own name, and another person than the author; metadata-only updates always pass", async () => {
  const snap = snapshot([]);
  const base = skill("wild", "acme.wild", "Quarantined");
  const wild: Skill = {
    ...base,
    metadata: { ...base.metadata, annotations: { [REQUESTED_BY_ANNOTATION]: "alice" } },
  };
  const approved = {
    ...wild,
    spec: { ...wild.spec, approval: { payloadSha256: PAYLOAD, approvedBy: "dana" } },
  };
  const yes: Authorize = async () => true;
  const no: Authorize = async () => false;
  const update = (object: Skill, user = "dana", old: Skill = wild) =>
    req("Skill", object, {
      operation: "UPDATE",
      oldObject: old as unknown as Record<string, unknown>,
      userInfo: { username: user },
    });
  assert.match(
    (await reviewSkill(update(approved), snap, no, ID)).message ?? "",
    /dana may not approve skills/,
  );
  assert.match(
    (await reviewSkill(update(approved, "sam"), snap, yes, ID)).message ?? "",
    /approvedBy must name the approving user \(sam\)/,
  );
  assert.equal((await reviewSkill(update(approved), snap, yes, ID)).allowed, true);
  // Four-eyes: the author may not approve, nor may an approval come with a spec change.
  const byAlice = {
    ...approved,
    spec: { ...approved.spec, approval: { payloadSha256: PAYLOAD, approvedBy: "alice" } },
  };
  assert.match(
    (await reviewSkill(update(byAlice, "alice"), snap, yes, ID)).message ?? "",
    /alice last changed this Skill's spec and may not approve it too/,
  );
  const withChange = {
    ...approved,
    metadata: { ...approved.metadata, annotations: { [REQUESTED_BY_ANNOTATION]: "dana" } },
    spec: { ...approved.spec, source: { url: "https://elsewhere" } },
  };
  assert.match(
    (await reviewSkill(update(withChange), snap, yes, ID)).message ?? "",
    /cannot come with the change it approves/,
  );
  const created = await reviewSkill(
    req("Skill", {
      ...approved,
      metadata: { ...approved.metadata, annotations: { [REQUESTED_BY_ANNOTATION]: "dana" } },
    }),
    snap,
    yes,
    ID,
  );
  assert.match(created.message ?? "", /cannot come with the change it approves/);
  const relabelled = { ...wild, metadata: { ...wild.metadata, finalizers: [] } };
  assert.equal((await reviewSkill(update(relabelled), snap, no, ID)).allowed, true);
});

test("the requester record: written by the mutating webhook, checked by the validating one", async () => {
  const snap = snapshot([]);
  const yes: Authorize = async () => true;
  const s = skill("s", "acme.echo", "Enabled");
  const withRecord = (who?: string): Skill => ({
    ...s,
    metadata: { ...s.metadata, annotations: who ? { [REQUESTED_BY_ANNOTATION]: who } : {} },
  });
  const create = (object: Skill, user = "alice") =>
    req("Skill", object, { userInfo: { username: user } });
  // Mutating: a create records the creator.
  const m = mutateSkill(create(s), ID.operatorUser);
  assert.deepEqual(m.patch, [
    { op: "add", path: "/metadata/annotations", value: { [REQUESTED_BY_ANNOTATION]: "alice" } },
  ]);
  const forged = mutateSkill(create(withRecord("bob")), ID.operatorUser);
  assert.deepEqual(forged.patch, [
    {
      op: "replace",
      path: "/metadata/annotations/skills.palyra.dev~1requested-by",
      value: "alice",
    },
  ]);
  // Validating: anything else than what the mutating webhook writes is refused.
  assert.match(
    (await reviewSkill(create(withRecord("bob")), snap, yes, ID)).message ?? "",
    /must be "alice", not "bob"/,
  );
  assert.equal((await reviewSkill(create(withRecord("alice")), snap, yes, ID)).allowed, true);
  // An update that only relabels keeps the record; one that edits it is refused.
  const update = (object: Skill, old: Skill, user: string) =>
    req("Skill", object, {
      operation: "UPDATE",
      oldObject: old as unknown as Record<string, unknown>,
      userInfo: { username: user },
    });
  assert.equal(
    (await reviewSkill(update(withRecord("alice"), withRecord("alice"), "bob"), snap, yes, ID))
      .allowed,
    true,
  );
  assert.match(
    (await reviewSkill(update(withRecord("carol"), withRecord("alice"), "bob"), snap, yes, ID))
      .message ?? "",
    /must be "alice"/,
  );
  // The operator's own metadata writes on a Skill without a record leave it without one.
  assert.deepEqual(
    mutateSkill(update(withRecord(), withRecord(), ID.operatorUser), ID.operatorUser).patch,
    undefined,
  );
  // Quarantining does not make someone the author; changing the source does.
  const quarantined = {
    ...withRecord("alice"),
    spec: { ...s.spec, desiredState: "Quarantined" as const },
  };
  assert.equal(
    mutateSkill(update(quarantined, withRecord("alice"), "bob"), ID.operatorUser).patch,
    undefined,
  );
  const moved = { ...withRecord("alice"), spec: { ...s.spec, source: { url: "https://y" } } };
  assert.equal(
    mutateSkill(update(moved, withRecord("alice"), "bob"), ID.operatorUser).patch?.[0]?.value,
    "bob",
  );
});

test("Skills: only the operator and admins write status; naming a policy other than the default needs the use verb", async () => {
  const snap = snapshot(
    [],
    [
      policy(),
      policy({ default: false }),
      { ...policy({ default: false, mode: "Audit" }), metadata: { name: "lax" } },
    ],
  );
  const s = skill("s", "acme.echo", "Enabled");
  const status = (user: string, groups: string[] = []) =>
    reviewSkill(
      req("Skill", s, {
        operation: "UPDATE",
        subResource: "status",
        oldObject: s as unknown as Record<string, unknown>,
        userInfo: { username: user, groups },
      }),
      snap,
      async () => true,
      ID,
    );
  assert.match((await status("eve")).message ?? "", /only the operator .* writes a Skill's status/);
  assert.equal((await status(ID.operatorUser)).allowed, true);
  assert.equal((await status("root", ["admins"])).allowed, true);
  const asked: string[] = [];
  const authorize =
    (allowed: boolean): Authorize =>
    async (_r, a) => {
      asked.push(`${a.verb} ${a.resource} ${a.name}`);
      return allowed;
    };
  const withRef = (name: string): Skill => ({
    ...s,
    metadata: { ...s.metadata, annotations: { [REQUESTED_BY_ANNOTATION]: "dana" } },
    spec: { ...s.spec, policyRef: { name } },
  });
  const choose = (name: string, allowed: boolean) =>
    reviewSkill(req("Skill", withRef(name)), snap, authorize(allowed), ID);
  assert.match(
    (await choose("lax", false)).message ?? "",
    /dana may not choose SkillTrustPolicy lax in namespace ns .*"use" verb/,
  );
  assert.deepEqual(asked, ["use skilltrustpolicies lax"]);
  assert.equal((await choose("lax", true)).allowed, true);
  asked.length = 0;
  assert.equal((await choose("p", false)).allowed, true, "the namespace's default needs no grant");
  assert.deepEqual(asked, []);
});

test("Skills a policy can never admit are denied (Enforce) or warned about (Audit)", async () => {
  const base = skill("s", "x.y", "Enabled");
  const create = (spec: Partial<Skill["spec"]>) =>
    req("Skill", {
      ...base,
      metadata: { ...base.metadata, annotations: { [REQUESTED_BY_ANNOTATION]: "dana" } },
      spec: { skillId: "x.y", publisher: "acme", source: { url: "https://x" }, ...spec },
    });
  const yes = async () => true;
  const enforce = snapshot(
    [],
    [policy({ allowedSourceKinds: ["configMap"], revokedKeys: ["99".repeat(32)] })],
  );
  assert.match(
    (await reviewSkill(create({}), enforce, yes, ID)).message ?? "",
    /source kind url is not one of the policy's allowedSourceKinds/,
  );
  assert.match(
    (
      await reviewSkill(
        create({ publisher: "stranger", source: { configMapRef: { name: "a" } } }),
        enforce,
        yes,
        ID,
      )
    ).message ?? "",
    /publisher stranger is not allowlisted, and the policy trusts only allowlisted keys/,
  );
  // A cluster-wide pin counts for a policy that honours cluster pins, a namespace pin for one
  // that honours that namespace's pins; a policy that trusts no pins counts neither.
  const pinned = async (publisher: string, spec: Partial<SkillTrustPolicy["spec"]>) =>
    (
      await reviewSkill(
        create({ publisher, source: { configMapRef: { name: "a" } } }),
        snapshot([], [policy({ trustExistingPins: true, ...spec })]),
        yes,
        ID,
      )
    ).allowed;
  assert.equal(await pinned("pinned", { tofuScope: "Cluster" }), true);
  assert.equal(await pinned("nspinned", { tofuScope: "Cluster" }), false);
  assert.equal(await pinned("nspinned", {}), true);
  assert.equal(await pinned("pinned", {}), false);
  assert.equal(await pinned("nspinned", { trustExistingPins: false }), false);
  assert.match(
    (
      await reviewSkill(
        create({ sha256: "1".repeat(64), source: { configMapRef: { name: "a" } } }),
        enforce,
        yes,
        ID,
      )
    ).message ?? "",
    /signed by revoked key/,
  );
  const audit = snapshot([], [policy({ mode: "Audit", allowedSourceKinds: ["configMap"] })]);
  const warned = await reviewSkill(create({}), audit, yes, ID);
  assert.equal(warned.allowed, true);
  assert.match(warned.warnings?.[0] ?? "", /can never be admitted/);
});

test("trust-store ConfigMaps (labelled) and the labels policies select namespaces by are reserved to the operator and admins", () => {
  const id = ID;
  const labelled = { "skills.palyra.dev/trust-store": "true" };
  const cm = (
    user: string,
    groups: string[] = [],
    labels: Record<string, string> = labelled,
    oldLabels?: Record<string, string>,
  ) =>
    reviewConfigMap(
      req(
        "ConfigMap",
        { metadata: { name: "ts", labels } },
        {
          namespace: "sys",
          name: "ts",
          userInfo: { username: user, groups },
          ...(oldLabels
            ? { operation: "UPDATE", oldObject: { metadata: { name: "ts", labels: oldLabels } } }
            : {}),
        },
      ),
      id,
    );
  assert.match(cm("eve").message ?? "", /ConfigMap sys\/ts is a trust store/);
  assert.equal(cm("eve", [], {}, labelled).allowed, false, "removing the label is an edit too");
  assert.equal(cm(id.operatorUser).allowed, true);
  assert.equal(cm("root", ["admins"]).allowed, true);
  assert.equal(cm("eve", [], {}).allowed, true, "other ConfigMaps are not ours");

  const guarded = guardedNamespaceLabels([
    policy({ namespaceSelector: { matchLabels: { tier: "gold" } } }),
    policy({ namespaceSelector: { matchExpressions: [{ key: "team", operator: "Exists" }] } }),
  ]);
  assert.deepEqual(guarded, ["skills.palyra.dev/enforce", "team", "tier"]);
  const ns = (
    before: Record<string, string> | undefined,
    after: Record<string, string>,
    groups: string[] = [],
    subResource?: string,
  ) =>
    reviewNamespace(
      req(
        "Namespace",
        { metadata: { labels: after } },
        {
          operation: before === undefined ? "CREATE" : "UPDATE",
          ...(before === undefined ? {} : { oldObject: { metadata: { labels: before } } }),
          ...(subResource ? { subResource } : {}),
          userInfo: { username: "u", groups },
        },
      ),
      id,
      guarded,
    );
  const on = { "skills.palyra.dev/enforce": "true" };
  assert.equal(ns({}, on).allowed, true, "opting in is free");
  assert.equal(ns(on, {}).allowed, false, "opting out is not");
  assert.equal(ns(on, {}, ["admins"]).allowed, true);
  assert.equal(ns(on, { ...on, other: "x" }).allowed, true);
  assert.match(ns({ tier: "gold" }, { tier: "lax" }).message ?? "", /label tier/);
  assert.equal(ns({}, { team: "a" }).allowed, false, "adding a selector label chooses a policy");
  assert.match(ns({ tier: "gold" }, {}, [], "status").message ?? "", /through namespaces\/status/);
  assert.equal(ns(undefined, { tier: "gold" }).allowed, false, "creating with it too");
  assert.equal(ns(undefined, { ...on }).allowed, true);
  assert.equal(ns(undefined, { tier: "gold" }, ["admins"]).allowed, true);
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
