/** The pure Skill decision and verdict: observed state in, desired status, pin and events out. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import type { Skill, SkillTrustPolicy } from "../../src/api/v1alpha1/types.generated.ts";
import { inspectArtifact } from "../../src/artifact/verify.ts";
import { trustStoreConflict } from "../../src/controller/policy/conflicts.ts";
import { decidePolicyStatus } from "../../src/controller/policy/reconciler.ts";
import {
  type ArtifactObservation,
  decideSkill,
  type SkillObservation,
  type TrustStoreObservation,
} from "../../src/controller/skill/decide.ts";
import { computeVerdict, type VerifiedArtifactFacts } from "../../src/controller/skill/verdict.ts";
import { provenanceBuilderId } from "../../src/sources/artifact-loader.ts";
import { EMPTY_TRUST_STORE, pinTofuKey, type TrustStore } from "../../src/trust/store.ts";

const T0 = new Date("2026-11-25T10:00:00Z");
const T1 = new Date("2026-11-25T11:00:00Z");

function facts(
  opts: Parameters<typeof skillArtifact>[0] = {},
  digest = "d".repeat(64),
): VerifiedArtifactFacts {
  const inspected = inspectArtifact(skillArtifact(opts).bytes);
  return { digest, inspected, builderId: provenanceBuilderId(inspected) };
}

const ACME = facts();
const ACME_KEY = ACME.inspected.publicKeyHex;

function policy(spec: Partial<SkillTrustPolicy["spec"]> = {}): SkillTrustPolicy {
  return {
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "SkillTrustPolicy",
    metadata: { name: "p", uid: "u", generation: 1 },
    spec: {
      publishers: [{ name: "acme", keys: [ACME_KEY] }],
      allowTofu: false,
      mode: "Enforce",
      ...spec,
    },
  };
}

function skill(spec: Partial<Skill["spec"]> = {}, status?: Skill["status"]): Skill {
  return {
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "Skill",
    metadata: { name: "s", namespace: "ns", uid: "s-uid", generation: 3 },
    spec: {
      skillId: "acme.echo_http",
      publisher: "acme",
      source: { url: "https://x/a" },
      desiredState: "Enabled",
      ...spec,
    },
    ...(status ? { status } : {}),
  };
}

const store = (
  s: TrustStore = EMPTY_TRUST_STORE,
  namespacePins: Record<string, Record<string, string>> = {},
): TrustStoreObservation => ({
  kind: "ok",
  ref: { namespace: "palyra-system", name: "ts", key: "trust-store.json" },
  store: s,
  namespacePins: new Map(
    Object.entries(namespacePins).map(([ns, pins]) => [ns, new Map(Object.entries(pins))]),
  ),
  resourceVersion: "7",
});

function observe(
  sk: Skill,
  opts: {
    policy?: SkillTrustPolicy;
    artifact?: ArtifactObservation;
    trust?: TrustStoreObservation;
    now?: Date;
    conflict?: string;
  } = {},
): SkillObservation {
  const p = opts.policy ?? policy();
  const ts = opts.trust ?? store();
  const artifact = opts.artifact ?? { kind: "verified", facts: ACME };
  const obs: SkillObservation = {
    skill: sk,
    policy: { kind: "found", policy: p },
    trustStore: ts,
    artifact,
    now: opts.now ?? T0,
  };
  if (artifact.kind === "verified" && ts.kind === "ok")
    obs.verdict = computeVerdict(artifact.facts, p, {
      store: ts.store,
      namespacePins: ts.namespacePins,
      namespace: sk.metadata.namespace ?? "",
      storeAvailable: true,
      ...(opts.conflict ? { conflict: opts.conflict } : {}),
    });
  return obs;
}

const cond = (status: Skill["status"], type: string) =>
  status?.conditions?.find((c) => c.type === type);

test("an allowlisted, audited artifact is Enabled with Ready/Verified/Trusted/Audited True at the Skill's generation", () => {
  const d = decideSkill(observe(skill()));
  assert.equal(d.status.state, "Enabled");
  assert.equal(d.status.observedGeneration, 3);
  for (const type of ["Ready", "Verified", "Trusted", "Audited"]) {
    assert.equal(cond(d.status, type)?.status, "True", type);
    assert.equal(cond(d.status, type)?.observedGeneration, 3);
  }
  assert.equal(cond(d.status, "Reconciling"), undefined);
  assert.equal(cond(d.status, "Stalled"), undefined);
  assert.equal(d.status.trustDecision, "allowlisted");
  assert.equal(d.status.publicKey, ACME_KEY, "the key itself, for binding pods to it");
  assert.equal(d.status.lastVerifiedTime, "2026-11-25T10:00:00Z");
  assert.deepEqual(
    d.events.map((e) => e.reason),
    ["Enabled"],
  );
  assert.equal(d.pin, undefined);
});

test("deciding again from the written status changes nothing: same timestamps, no events", () => {
  const first = decideSkill(observe(skill()));
  const again = decideSkill(observe(skill({}, first.status), { now: T1 }));
  assert.deepEqual(again.status, first.status);
  assert.deepEqual(again.events, []);
});

test("lastTransitionTime moves only for conditions whose status changed", () => {
  const enabled = decideSkill(observe(skill())).status;
  const quarantined = decideSkill(
    observe(skill({ desiredState: "Quarantined" }, enabled), { now: T1 }),
  ).status;
  assert.equal(quarantined.state, "Quarantined");
  assert.equal(cond(quarantined, "Ready")?.lastTransitionTime, "2026-11-25T11:00:00Z");
  assert.equal(cond(quarantined, "Verified")?.lastTransitionTime, "2026-11-25T10:00:00Z");
  assert.equal(cond(quarantined, "Ready")?.reason, "ManuallyQuarantined");
  assert.equal(cond(quarantined, "Stalled")?.status, "True");
});

test("TOFU first use asks for a pin; once pinned, this Skill keeps saying tofu_newly_pinned, another artifact says tofu_pinned", () => {
  const newco = facts({ publisher: "newco", skillId: "newco.echo", keySeed: 21 }, "e".repeat(64));
  const sk = skill({ skillId: "newco.echo", publisher: "newco" });
  const p = policy({ allowTofu: true });
  const first = decideSkill(
    observe(sk, { policy: p, artifact: { kind: "verified", facts: newco } }),
  );
  assert.deepEqual(first.pin, {
    publisher: "newco",
    key: newco.inspected.publicKeyHex,
    scope: "Namespace",
    namespace: "ns",
    keyId: newco.inspected.keyId,
  });
  assert.equal(first.status.trustDecision, "tofu_newly_pinned");

  const pinned = store(EMPTY_TRUST_STORE, { ns: { newco: newco.inspected.publicKeyHex } });
  const after = decideSkill(
    observe(skill(sk.spec, first.status), {
      policy: p,
      trust: pinned,
      artifact: { kind: "verified", facts: newco },
    }),
  );
  assert.equal(after.pin, undefined);
  assert.deepEqual(after.status, first.status);

  const v2 = facts(
    { publisher: "newco", skillId: "newco.echo", version: "1.1.0", keySeed: 21 },
    "f".repeat(64),
  );
  const other = decideSkill(
    observe(skill(sk.spec, first.status), {
      policy: p,
      trust: pinned,
      artifact: { kind: "verified", facts: v2 },
    }),
  );
  assert.equal(other.status.trustDecision, "tofu_pinned");
  assert.ok(other.events.some((e) => e.reason === "ArtifactChanged"));
});

test("a different key for a pinned publisher is Quarantined (TofuKeyMismatch) with events on the Skill and the policy, and no pin", () => {
  const evil = facts({ publisher: "newco", skillId: "newco.echo", keySeed: 22 });
  const pinned = store(EMPTY_TRUST_STORE, { ns: { newco: "ab".repeat(32) } });
  const d = decideSkill(
    observe(skill({ skillId: "newco.echo", publisher: "newco" }), {
      policy: policy({ allowTofu: true }),
      trust: pinned,
      artifact: { kind: "verified", facts: evil },
    }),
  );
  assert.equal(d.status.state, "Quarantined");
  assert.equal(cond(d.status, "Ready")?.reason, "TofuKeyMismatch");
  assert.equal(d.pin, undefined);
  assert.ok(d.events.some((e) => e.reason === "TofuKeyMismatch" && e.type === "Warning"));
  assert.ok(d.policyEvents.some((e) => e.reason === "TofuKeyMismatch" && /ns\/s/.test(e.message)));
});

test("revoked keys lose even when allowlisted; a required provenance builder must match", () => {
  const revoked = decideSkill(observe(skill(), { policy: policy({ revokedKeys: [ACME_KEY] }) }));
  assert.equal(cond(revoked.status, "Ready")?.reason, "KeyRevoked");
  const builder = ACME.builderId;
  assert.ok(builder);
  const ok = decideSkill(
    observe(skill(), { policy: policy({ requiredProvenanceBuilders: [builder] }) }),
  );
  assert.equal(ok.status.state, "Enabled");
  const no = decideSkill(
    observe(skill(), { policy: policy({ requiredProvenanceBuilders: ["https://other"] }) }),
  );
  assert.equal(cond(no.status, "Ready")?.reason, "ProvenanceBuilderNotAllowed");
});

test("an audit failure quarantines; an approval bound to the payload enables; one for another payload adds a reason", () => {
  const wild = facts({ wildcardEgress: true });
  const obs = (approval?: Skill["spec"]["approval"]) =>
    decideSkill(
      observe(skill(approval ? { approval } : {}), { artifact: { kind: "verified", facts: wild } }),
    );
  const failed = obs();
  assert.equal(cond(failed.status, "Ready")?.reason, "AuditFailed");
  assert.deepEqual(failed.status.audit?.failedChecks, ["forbidden_wildcard_capabilities"]);
  const approved = obs({ payloadSha256: wild.inspected.payloadSha256, approvedBy: "rev" });
  assert.equal(approved.status.state, "Enabled");
  assert.equal(cond(approved.status, "Ready")?.reason, "Approved");
  const wrong = obs({ payloadSha256: "0".repeat(64), approvedBy: "rev" });
  assert.equal(wrong.status.state, "Quarantined");
  assert.ok(
    wrong.status.quarantineReasons?.some((r) => /approval by rev is for payload 0{64}/.test(r)),
  );
});

test("Audit mode enables what the audit alone would quarantine, says so, and still honours a manual quarantine", () => {
  const wild = facts({ wildcardEgress: true });
  const d = decideSkill(
    observe(skill(), {
      policy: policy({ mode: "Audit" }),
      artifact: { kind: "verified", facts: wild },
    }),
  );
  assert.equal(d.status.state, "Enabled");
  assert.equal(cond(d.status, "Ready")?.reason, "AuditModeOverride");
  assert.ok(d.events.some((e) => e.reason === "AuditModeOverride" && e.type === "Warning"));
  const manual = decideSkill(
    observe(skill({ desiredState: "Quarantined" }), {
      policy: policy({ mode: "Audit" }),
      artifact: { kind: "verified", facts: wild },
    }),
  );
  assert.equal(manual.status.state, "Quarantined");
});

test("fetch failures are Failed: transient ones retry (Reconciling), permanent ones stall; nothing of an old verdict is kept", () => {
  const enabled = decideSkill(observe(skill())).status;
  const down = decideSkill(
    observe(skill({}, enabled), {
      artifact: {
        kind: "fetchFailed",
        code: "SOURCE_UNREACHABLE",
        message: "refused",
        transient: true,
      },
    }),
  );
  assert.equal(down.status.state, "Failed");
  assert.equal(down.retry, true);
  assert.equal(cond(down.status, "Reconciling")?.status, "True");
  assert.equal(cond(down.status, "Stalled"), undefined);
  assert.equal(down.status.artifactSha256, undefined);
  assert.equal(down.status.trustDecision, undefined);
  const gone = decideSkill(
    observe(skill(), {
      artifact: {
        kind: "fetchFailed",
        code: "SOURCE_HTTP_ERROR",
        message: "404",
        transient: false,
      },
    }),
  );
  assert.equal(gone.retry, false);
  assert.equal(cond(gone.status, "Stalled")?.status, "True");
});

test("signature failures quarantine; unreadable artifacts fail; a digest pin mismatch quarantines before parsing", () => {
  const sig = decideSkill(
    observe(skill(), {
      artifact: {
        kind: "rejected",
        digest: "1".repeat(64),
        code: "SIGNATURE_INVALID",
        message: "bad",
      },
    }),
  );
  assert.equal(sig.status.state, "Quarantined");
  assert.equal(cond(sig.status, "Verified")?.reason, "VerificationFailed");
  const zip = decideSkill(
    observe(skill(), {
      artifact: {
        kind: "rejected",
        digest: "1".repeat(64),
        code: "ARCHIVE_MALFORMED",
        message: "bad",
      },
    }),
  );
  assert.equal(zip.status.state, "Failed");
  assert.equal(cond(zip.status, "Ready")?.reason, "ArtifactInvalid");
  const pin = decideSkill(
    observe(skill(), {
      artifact: { kind: "digestMismatch", expected: "a".repeat(64), actual: "b".repeat(64) },
    }),
  );
  assert.equal(cond(pin.status, "Ready")?.reason, "DigestMismatch");
  assert.equal(pin.status.payloadSha256, undefined);
});

test("no policy, an ambiguous default, and an unusable trust store fail closed with reasons that say so", () => {
  const none = decideSkill({ skill: skill(), policy: { kind: "none" }, now: T0 });
  assert.equal(none.status.state, "Quarantined");
  assert.equal(cond(none.status, "Ready")?.reason, "NoPolicy");
  assert.equal(cond(none.status, "Verified")?.status, "Unknown");
  const amb = decideSkill({
    skill: skill(),
    policy: { kind: "ambiguous", names: ["a", "b"] },
    now: T0,
  });
  assert.match(cond(amb.status, "Ready")?.message ?? "", /a, b/);
  const missing = decideSkill({
    skill: skill(),
    policy: { kind: "found", policy: policy() },
    trustStore: { kind: "missing", ref: { namespace: "n", name: "ts", key: "k" } },
    now: T0,
  });
  assert.equal(missing.status.state, "Failed");
  assert.equal(cond(missing.status, "Ready")?.reason, "TrustStoreNotFound");
});

test("a manifest that does not match the Skill's spec is Quarantined and never pins", () => {
  const d = decideSkill(
    observe(skill({ version: "9.9.9" }), { policy: policy({ allowTofu: true }) }),
  );
  assert.equal(cond(d.status, "Ready")?.reason, "ManifestMismatch");
  assert.equal(d.pin, undefined);
});

test("the policy status lists TOFU pins with key ids and counts trusted publishers", () => {
  const s = decidePolicyStatus({
    policy: policy({ allowTofu: true, tofuScope: "Cluster" }),
    trustStore: store(pinTofuKey(EMPTY_TRUST_STORE, "newco", ACME_KEY)),
    governedSkills: 4,
    now: T0,
  });
  assert.equal(s.governedSkills, 4);
  assert.equal(s.trustedPublishers, 2);
  assert.deepEqual(s.tofuPins, [
    { publisher: "newco", key: ACME_KEY, keyId: ACME.inspected.keyId },
  ]);
  assert.equal(s.conditions?.[0]?.status, "True");
  const noStore = decidePolicyStatus({
    policy: policy({ allowTofu: true }),
    trustStore: { kind: "unset" },
    governedSkills: 0,
    now: T0,
  });
  assert.equal(noStore.conditions?.[0]?.reason, "TrustStoreRequired");
});

// Issue 17: pins belong to the scope the policy chooses, and only an Enabled Skill pins.

const NEWCO = facts({ publisher: "newco", skillId: "newco.echo", keySeed: 21 }, "e".repeat(64));
const NEWCO_KEY = NEWCO.inspected.publicKeyHex;
const newcoSkill = (extra: Partial<Skill["spec"]> = {}) =>
  skill({ skillId: "newco.echo", publisher: "newco", ...extra });
const viaNewco = { kind: "verified", facts: NEWCO } as const;

test("a policy without TOFU trusts no pin another policy made in the same store, cluster-wide or not", () => {
  const pins = store(pinTofuKey(EMPTY_TRUST_STORE, "newco", NEWCO_KEY), {
    ns: { newco: NEWCO_KEY },
  });
  for (const tofuScope of ["Cluster", "Namespace"] as const) {
    const d = decideSkill(
      observe(newcoSkill(), {
        policy: policy({ allowTofu: false, tofuScope }),
        trust: pins,
        artifact: viaNewco,
      }),
    );
    assert.equal(d.status.state, "Quarantined", tofuScope);
    assert.equal(cond(d.status, "Ready")?.reason, "UntrustedPublisher");
    assert.match(cond(d.status, "Trusted")?.message ?? "", /trusts only allowlisted keys/);
    assert.equal(d.pin, undefined);
  }
});

test("trustExistingPins honours the pins of its scope without pinning anything new", () => {
  const p = policy({ allowTofu: false, trustExistingPins: true });
  const honoured = decideSkill(
    observe(newcoSkill(), {
      policy: p,
      trust: store(EMPTY_TRUST_STORE, { ns: { newco: NEWCO_KEY } }),
      artifact: viaNewco,
    }),
  );
  assert.equal(honoured.status.state, "Enabled");
  assert.equal(honoured.status.trustDecision, "tofu_pinned");
  assert.match(cond(honoured.status, "Trusted")?.message ?? "", /pin of namespace ns/);
  const unpinned = decideSkill(observe(newcoSkill(), { policy: p, artifact: viaNewco }));
  assert.equal(cond(unpinned.status, "Ready")?.reason, "UntrustedPublisher");
  assert.equal(unpinned.pin, undefined);
});

test("a namespace-scoped pin binds only its namespace: another namespace pins on its own, or mismatches only its own pin", () => {
  const p = policy({ allowTofu: true });
  const otherNamespaceOnly = store(EMPTY_TRUST_STORE, { other: { newco: "ab".repeat(32) } });
  const d = decideSkill(
    observe(newcoSkill(), { policy: p, trust: otherNamespaceOnly, artifact: viaNewco }),
  );
  assert.equal(d.status.state, "Enabled");
  assert.equal(d.status.trustDecision, "tofu_newly_pinned");
  assert.deepEqual(
    { scope: d.pin?.scope, namespace: d.pin?.namespace },
    { scope: "Namespace", namespace: "ns" },
  );
  // A cluster-wide pin in the same store is not this scope's: it neither helps nor blocks.
  const clusterPin = store(pinTofuKey(EMPTY_TRUST_STORE, "newco", "ab".repeat(32)));
  const d2 = decideSkill(
    observe(newcoSkill(), { policy: p, trust: clusterPin, artifact: viaNewco }),
  );
  assert.equal(d2.status.trustDecision, "tofu_newly_pinned");
  // tofuScope Cluster reads exactly that pin.
  const d3 = decideSkill(
    observe(newcoSkill(), {
      policy: policy({ allowTofu: true, tofuScope: "Cluster" }),
      trust: clusterPin,
      artifact: viaNewco,
    }),
  );
  assert.equal(cond(d3.status, "Ready")?.reason, "TofuKeyMismatch");
  assert.equal(d3.pin, undefined);
});

test("a first-use pin is withheld from a Skill that ends Quarantined (audit finding or manual quarantine)", () => {
  const wild = facts({
    publisher: "newco",
    skillId: "newco.echo",
    keySeed: 21,
    wildcardEgress: true,
  });
  const p = policy({ allowTofu: true });
  const audited = decideSkill(
    observe(newcoSkill(), { policy: p, artifact: { kind: "verified", facts: wild } }),
  );
  assert.equal(audited.status.state, "Quarantined");
  assert.equal(cond(audited.status, "Ready")?.reason, "AuditFailed");
  assert.equal(audited.pin, undefined);
  assert.equal(audited.status.trustDecision, undefined);
  assert.equal(cond(audited.status, "Trusted")?.reason, "TofuPinWithheld");
  const manual = decideSkill(
    observe(newcoSkill({ desiredState: "Quarantined" }), { policy: p, artifact: viaNewco }),
  );
  assert.equal(manual.pin, undefined);
  assert.equal(cond(manual.status, "Ready")?.reason, "ManuallyQuarantined");
  // Approved findings end Enabled: then the pin is written.
  const approved = decideSkill(
    observe(
      newcoSkill({ approval: { payloadSha256: wild.inspected.payloadSha256, approvedBy: "rev" } }),
      { policy: p, artifact: { kind: "verified", facts: wild } },
    ),
  );
  assert.equal(approved.status.state, "Enabled");
  assert.equal(approved.pin?.publisher, "newco");
});

test("Audit mode never relaxes who signed the bytes: untrusted, revoked and mismatched stay Quarantined; a provenance builder is relaxed", () => {
  const audit = (
    spec: Partial<SkillTrustPolicy["spec"]>,
    sk = newcoSkill(),
    art: ArtifactObservation = viaNewco,
  ) => decideSkill(observe(sk, { policy: policy({ mode: "Audit", ...spec }), artifact: art }));
  const untrusted = audit({});
  assert.equal(untrusted.status.state, "Quarantined");
  assert.equal(cond(untrusted.status, "Ready")?.reason, "UntrustedPublisher");
  const acme = { kind: "verified", facts: ACME } as const;
  const revoked = audit({ revokedKeys: [ACME_KEY], publishers: [] }, skill(), acme);
  assert.equal(cond(revoked.status, "Ready")?.reason, "KeyRevoked");
  const mismatch = audit({}, skill({ version: "9.9.9" }), acme);
  assert.equal(cond(mismatch.status, "Ready")?.reason, "ManifestMismatch");
  const builder = audit({ requiredProvenanceBuilders: ["https://other"] }, skill(), acme);
  assert.equal(builder.status.state, "Enabled");
  assert.equal(cond(builder.status, "Ready")?.reason, "AuditModeOverride");
});

test("a store shared with a policy of another pin scope: pins are neither trusted nor written, allowlisted keys still are", () => {
  const conflict = "trust store shared with policy other (tofuScope Cluster)";
  const p = policy({ allowTofu: true });
  const d = decideSkill(
    observe(newcoSkill(), {
      policy: p,
      trust: store(EMPTY_TRUST_STORE, { ns: { newco: NEWCO_KEY } }),
      artifact: viaNewco,
      conflict,
    }),
  );
  assert.equal(d.status.state, "Quarantined");
  assert.equal(cond(d.status, "Ready")?.reason, "TrustStoreConflict");
  assert.equal(d.pin, undefined);
  const allowlisted = decideSkill(observe(skill(), { policy: p, conflict }));
  assert.equal(allowlisted.status.state, "Enabled");
});

test("trustStoreConflict: policies sharing a store and reading its pins with different scopes conflict; allowlist-only ones do not", () => {
  const named = (name: string, spec: Partial<SkillTrustPolicy["spec"]>): SkillTrustPolicy => {
    const p = policy({ trustStore: { namespace: "palyra-system", name: "ts" }, ...spec });
    return { ...p, metadata: { ...p.metadata, name } };
  };
  const ns = named("ns", { allowTofu: true });
  const cluster = named("cluster", { allowTofu: true, tofuScope: "Cluster" });
  const strict = named("strict", { allowTofu: false, tofuScope: "Cluster" });
  const elsewhere = named("elsewhere", {
    allowTofu: true,
    tofuScope: "Cluster",
    trustStore: { namespace: "palyra-system", name: "other" },
  });
  assert.match(
    trustStoreConflict(ns, [ns, cluster, strict]) ?? "",
    /policy cluster \(tofuScope Cluster\)/,
  );
  assert.match(
    trustStoreConflict(cluster, [ns, cluster]) ?? "",
    /policy ns \(tofuScope Namespace\)/,
  );
  assert.equal(trustStoreConflict(ns, [ns, strict, elsewhere]), undefined);
  assert.equal(trustStoreConflict(strict, [ns, cluster, strict]), undefined);
  const status = decidePolicyStatus({
    policy: ns,
    trustStore: store(),
    governedSkills: 0,
    conflict: trustStoreConflict(ns, [ns, cluster]) as string,
    now: T0,
  });
  assert.equal(status.conditions?.[0]?.status, "False");
  assert.equal(status.conditions?.[0]?.reason, "TrustStoreConflict");
});

test("the policy status lists namespace-scoped pins with their namespace; an unlabelled store is not used", () => {
  const s = decidePolicyStatus({
    policy: policy({ allowTofu: true }),
    trustStore: store(pinTofuKey(EMPTY_TRUST_STORE, "cluster-pub", ACME_KEY), {
      b: { newco: NEWCO_KEY },
      a: { newco: NEWCO_KEY },
    }),
    governedSkills: 0,
    now: T0,
  });
  assert.deepEqual(
    s.tofuPins?.map((p) => `${p.namespace}/${p.publisher}`),
    ["a/newco", "b/newco"],
  );
  const ref = { namespace: "palyra-system", name: "ts", key: "trust-store.json" };
  const unguarded = decidePolicyStatus({
    policy: policy(),
    trustStore: { kind: "unguarded", ref },
    governedSkills: 0,
    now: T0,
  });
  assert.equal(unguarded.conditions?.[0]?.reason, "TrustStoreUnguarded");
  const d = decideSkill({ ...observe(skill()), trustStore: { kind: "unguarded", ref } });
  assert.equal(d.status.state, "Failed");
  assert.equal(cond(d.status, "Ready")?.reason, "TrustStoreUnguarded");
});

test("a source address the operator may not reach is Failed with reason SourceAddressBlocked, and not retried", () => {
  const d = decideSkill(
    observe(skill(), {
      artifact: {
        kind: "fetchFailed",
        code: "SOURCE_ADDRESS_BLOCKED",
        message:
          "https://10.0.0.1/a: address 10.0.0.1 is in 10.0.0.0/8, which artifact sources may not reach",
        transient: false,
      },
    }),
  );
  assert.equal(d.status.state, "Failed");
  assert.equal(cond(d.status, "Ready")?.reason, "SourceAddressBlocked");
  assert.equal(d.retry, false);
  assert.equal(cond(d.status, "Stalled")?.status, "True");
});
