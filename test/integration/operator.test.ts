/**
 * The operator against the real API server: a real operator process, real watches and status
 * subresource, artifacts from a real HTTPS server on 127.0.0.1 with its own CA. The operator
 * runs as the Helm chart installs it: its flags and its ServiceAccount's RBAC, nothing more.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ArtifactServer } from "../../hack/dev/artifact-server.ts";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import type { SkillSpec } from "../../src/api/v1alpha1/types.generated.ts";
import { PIN_HISTORY_ANNOTATION, parsePinHistory } from "../../src/trust/pin-history.ts";
import { parseTrustStore, serializeTrustStore } from "../../src/trust/store.ts";
import { installCrds } from "../support/crds.ts";
import { kube, waitFor } from "../support/kube.ts";
import {
  forbiddenRequests,
  type RunningOperator,
  startChartOperator,
} from "../support/operator.ts";
import {
  API,
  condition,
  createNamespace,
  createPolicy,
  createSkill,
  createTrustStore,
  ensureNamespace,
  getPolicy,
  getSkill,
  patchPolicy,
  patchSkill,
  readNamespacePins,
  readTrustStore,
  readyReason,
  unique,
  waitForEvent,
  waitForSkill,
  waitForState,
} from "../support/resources.ts";
import { ACME, createTenant, STORE_NS, urlSkillSpec } from "../support/tenants.ts";

const server = new ArtifactServer();
let operator: RunningOperator;

const tenant = createTenant;
const urlSkill = (path: string, bytes: Buffer, policy: string, extra: Partial<SkillSpec> = {}) =>
  urlSkillSpec(server, path, bytes, policy, extra);

before(async () => {
  await installCrds();
  await ensureNamespace(STORE_NS);
  await server.start();
  operator = await startChartOperator();
});

after(async () => {
  const forbidden = operator ? await forbiddenRequests(operator) : 0;
  const code = await operator?.stop();
  await server.stop();
  assert.equal(forbidden, 0, "every request was allowed by the chart's RBAC");
  assert.equal(code, 0, `operator exit code; stderr: ${operator?.stderr.join("")}`);
});

describe("a Skill reaches Enabled or Quarantined", () => {
  test("an allowlisted publisher's skill is Enabled, with kstatus-style conditions and an event, and no finalizer", async () => {
    const t = await tenant();
    await createSkill(
      t.ns,
      "echo",
      urlSkill(`${t.ns}/echo.palyra-skill`, ACME.bytes, t.policy, { version: "1.0.0" }),
    );
    const skill = await waitForState(t.ns, "echo", "Enabled", "Enabled");
    const s = skill.status ?? {};
    assert.equal(s.trustDecision, "allowlisted");
    assert.equal(s.payloadSha256, ACME.payloadSha256);
    assert.match(s.artifactSha256 ?? "", /^[0-9a-f]{64}$/);
    assert.match(s.keyId ?? "", /^ed25519:[0-9a-f]{16}$/);
    assert.equal(s.manifest?.skillId, "acme.echo_http");
    assert.deepEqual(s.manifest?.tools, ["acme.echo"]);
    assert.deepEqual(s.manifest?.capabilities?.httpHosts, ["echo.acme.example"]);
    assert.equal(s.audit?.passed, true);
    assert.ok(s.lastVerifiedTime);
    for (const type of ["Ready", "Verified", "Trusted", "Audited"]) {
      const c = condition(skill, type);
      assert.equal(c?.status, "True", `${type}: ${JSON.stringify(c)}`);
      assert.equal(c?.observedGeneration, skill.metadata.generation);
    }
    assert.equal(condition(skill, "Reconciling"), undefined);
    assert.equal(condition(skill, "Stalled"), undefined);
    assert.equal(skill.metadata.finalizers, undefined, "one write per Skill: no finalizer");
    await waitForEvent(
      t.ns,
      (e) => e.reason === "Enabled" && e.involvedObject.name === "echo",
      "Enabled",
    );
  });

  test("an unknown publisher with TOFU off is Quarantined (UntrustedPublisher)", async () => {
    const t = await tenant();
    const other = skillArtifact({ publisher: "stranger", skillId: "stranger.echo", keySeed: 9 });
    await createSkill(t.ns, "stranger", {
      ...urlSkill(`${t.ns}/stranger.palyra-skill`, other.bytes, t.policy),
      skillId: "stranger.echo",
      publisher: "stranger",
    });
    const skill = await waitForState(t.ns, "stranger", "Quarantined", "UntrustedPublisher");
    assert.equal(condition(skill, "Trusted")?.status, "False");
    assert.equal(condition(skill, "Verified")?.status, "True");
    assert.equal(condition(skill, "Stalled")?.status, "True");
    assert.match(skill.status?.quarantineReasons?.[0] ?? "", /untrusted publisher/);
    assert.deepEqual((await readTrustStore(STORE_NS, t.store)).doc, {}, "nothing pinned");
  });

  test("an audit failure (wildcard egress) is Quarantined; an approval for its payload enables it; an approval for another payload does not", async () => {
    const t = await tenant();
    const wild = skillArtifact({ wildcardEgress: true });
    await createSkill(t.ns, "wild", urlSkill(`${t.ns}/wild.palyra-skill`, wild.bytes, t.policy));
    let skill = await waitForState(t.ns, "wild", "Quarantined", "AuditFailed");
    assert.deepEqual(skill.status?.audit?.failedChecks, ["forbidden_wildcard_capabilities"]);
    assert.equal(condition(skill, "Audited")?.status, "False");

    await patchSkill(t.ns, "wild", {
      approval: { payloadSha256: "0".repeat(64), approvedBy: "reviewer" },
    });
    skill = await waitForState(t.ns, "wild", "Quarantined", "AuditFailed");
    assert.ok(
      skill.status?.quarantineReasons?.some((r) =>
        /approval by reviewer is for payload 0000/.test(r),
      ),
    );

    await patchSkill(t.ns, "wild", {
      approval: { payloadSha256: wild.payloadSha256, approvedBy: "reviewer" },
    });
    skill = await waitForState(t.ns, "wild", "Enabled", "Approved");
    assert.equal(condition(skill, "Audited")?.reason, "Approved");
    assert.equal(skill.status?.quarantineReasons, undefined);
  });

  test("an air-gapped ConfigMap source is Enabled, and a new artifact in it is re-verified", async () => {
    const t = await tenant();
    await kube("POST", `/api/v1/namespaces/${t.ns}/configmaps`, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "artifact" },
      binaryData: { "artifact.palyra-skill": ACME.bytes.toString("base64") },
    });
    await createSkill(t.ns, "offline", {
      skillId: "acme.echo_http",
      publisher: "acme",
      source: { configMapRef: { name: "artifact" } },
      policyRef: { name: t.policy },
    });
    const first = await waitForState(t.ns, "offline", "Enabled");
    const wild = skillArtifact({ wildcardEgress: true });
    await kube(
      "PATCH",
      `/api/v1/namespaces/${t.ns}/configmaps/artifact`,
      {
        binaryData: { "artifact.palyra-skill": wild.bytes.toString("base64") },
      },
      { contentType: "application/merge-patch+json" },
    );
    const second = await waitForState(t.ns, "offline", "Quarantined", "AuditFailed");
    assert.notEqual(second.status?.artifactSha256, first.status?.artifactSha256);
    await waitForEvent(t.ns, (e) => e.reason === "ArtifactChanged", "ArtifactChanged");
  });

  test("a Secret source with the artifact under data is Enabled; a ConfigMap with the artifact as text fails with a clear reason", async () => {
    const t = await tenant();
    await kube("POST", `/api/v1/namespaces/${t.ns}/secrets`, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "artifact" },
      data: { "artifact.palyra-skill": ACME.bytes.toString("base64") },
    });
    await createSkill(t.ns, "secret", {
      skillId: "acme.echo_http",
      publisher: "acme",
      source: { secretRef: { name: "artifact" } },
      policyRef: { name: t.policy },
    });
    await waitForState(t.ns, "secret", "Enabled");
    await kube("POST", `/api/v1/namespaces/${t.ns}/configmaps`, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "text" },
      data: { "artifact.palyra-skill": "not binary" },
    });
    await createSkill(t.ns, "text", {
      skillId: "acme.echo_http",
      publisher: "acme",
      source: { configMapRef: { name: "text" } },
      policyRef: { name: t.policy },
    });
    const skill = await waitForState(t.ns, "text", "Failed", "FetchFailed");
    assert.match(condition(skill, "Ready")?.message ?? "", /must be in binaryData/);
  });

  test("a tampered artifact and a sha256 mismatch are never Enabled", async () => {
    const t = await tenant();
    const tampered = Buffer.from(ACME.bytes);
    // Flip one byte of the WebAssembly module's data, just past its local header and name.
    const name = tampered.indexOf(Buffer.from("modules/echo.wasm"));
    assert.ok(name > 0);
    const extra = tampered.readUInt16LE(name - 2);
    const at = name + "modules/echo.wasm".length + extra + 8;
    tampered[at] = (tampered[at] ?? 0) ^ 0x01;
    await createSkill(
      t.ns,
      "tampered",
      urlSkill(`${t.ns}/tampered.palyra-skill`, tampered, t.policy),
    );
    const bad = await waitForSkill(
      t.ns,
      "tampered",
      (s) => s.status?.state === "Quarantined" || s.status?.state === "Failed",
    );
    assert.notEqual(bad.status?.state, "Enabled");
    assert.equal(condition(bad, "Verified")?.status, "False");

    await createSkill(
      t.ns,
      "pinned",
      urlSkill(`${t.ns}/pinned.palyra-skill`, ACME.bytes, t.policy, { sha256: "a".repeat(64) }),
    );
    const pinned = await waitForState(t.ns, "pinned", "Quarantined", "DigestMismatch");
    assert.match(
      pinned.status?.quarantineReasons?.[0] ?? "",
      /does not match the pinned spec.sha256/,
    );
    assert.equal(pinned.status?.payloadSha256, undefined, "nothing was parsed");
  });

  test("a manual quarantine, a manifest that does not match the spec, and an OCI registry at an address sources may not reach", async () => {
    const t = await tenant();
    await createSkill(
      t.ns,
      "manual",
      urlSkill(`${t.ns}/m.palyra-skill`, ACME.bytes, t.policy, { desiredState: "Quarantined" }),
    );
    await waitForState(t.ns, "manual", "Quarantined", "ManuallyQuarantined");
    await createSkill(
      t.ns,
      "version",
      urlSkill(`${t.ns}/v.palyra-skill`, ACME.bytes, t.policy, { version: "2.0.0" }),
    );
    const v = await waitForState(t.ns, "version", "Quarantined", "ManifestMismatch");
    assert.match(v.status?.quarantineReasons?.[0] ?? "", /version is 1.0.0, spec.version is 2.0.0/);
    await createSkill(t.ns, "oci", {
      skillId: "acme.echo_http",
      publisher: "acme",
      // The API server's own address: never a source, registries included.
      source: { oci: { reference: "127.0.0.1:9/skills/echo:1.0.0" } },
      policyRef: { name: t.policy },
    });
    const oci = await waitForState(t.ns, "oci", "Failed", "SourceAddressBlocked");
    assert.equal(condition(oci, "Stalled")?.status, "True");
  });

  test("no policy, two default policies, and a policyRef that does not select the namespace are Quarantined", async () => {
    const label = unique("np");
    const ns = unique("t");
    await createNamespace(ns, { "palyra.test/np": label });
    await createSkill(ns, "orphan", {
      skillId: "acme.echo_http",
      publisher: "acme",
      source: { url: server.put(`${ns}/o.palyra-skill`, ACME.bytes), caBundle: server.caBundle },
    });
    await waitForState(ns, "orphan", "Quarantined", "NoPolicy");
    const a = unique("default-a");
    const b = unique("default-b");
    const selector = { matchLabels: { "palyra.test/np": label } };
    await createPolicy(a, {
      default: true,
      namespaceSelector: selector,
      publishers: [{ name: "acme", keys: [ACME.publicKeyHex] }],
    });
    await waitForState(ns, "orphan", "Enabled");
    await createPolicy(b, { default: true, namespaceSelector: selector });
    const amb = await waitForState(ns, "orphan", "Quarantined", "AmbiguousPolicy");
    assert.match(condition(amb, "Ready")?.message ?? "", new RegExp(`${a}, ${b}|${b}, ${a}`));
    const other = await tenant();
    await patchSkill(ns, "orphan", { policyRef: { name: other.policy } });
    await waitForState(ns, "orphan", "Quarantined", "PolicyNotApplicable");
    await patchSkill(ns, "orphan", { policyRef: { name: "no-such-policy" } });
    await waitForState(ns, "orphan", "Quarantined", "PolicyNotFound");
  });
});

describe("trust on first use", () => {
  test("first use pins the key (visible in the ConfigMap, the policy status and events); the same key is tofu_pinned; another key is Quarantined and the pin is unchanged", async () => {
    const t = await tenant({ allowTofu: true });
    const v1 = skillArtifact({ publisher: "newco", skillId: "newco.echo", keySeed: 21 });
    const spec = (path: string, bytes: Buffer): SkillSpec => ({
      ...urlSkill(path, bytes, t.policy),
      skillId: "newco.echo",
      publisher: "newco",
    });
    await createSkill(t.ns, "v1", spec(`${t.ns}/v1.palyra-skill`, v1.bytes));
    const first = await waitForState(t.ns, "v1", "Enabled");
    assert.equal(first.status?.trustDecision, "tofu_newly_pinned");
    assert.equal(condition(first, "Trusted")?.reason, "TofuNewlyPinned");
    // The pin binds this namespace only (tofuScope Namespace, the default): it is kept in the
    // namespace's own pin document beside the store, not in the store's tofu_publishers.
    const pinned = await readNamespacePins(STORE_NS, t.store, t.ns);
    assert.deepEqual(pinned.pins, { newco: v1.publicKeyHex });
    assert.deepEqual((await readTrustStore(STORE_NS, t.store)).doc.tofu_publishers ?? {}, {});
    // Each pin document is the reference CLI's trust-store file, byte for byte.
    const stored = await kube("GET", `/api/v1/namespaces/${STORE_NS}/configmaps/${t.store}`);
    const nsDoc = (stored.body.data as Record<string, string>)[`tofu.${t.ns}.trust-store.json`];
    assert.equal(serializeTrustStore(parseTrustStore(nsDoc ?? "")), nsDoc);
    assert.deepEqual(Object.keys(JSON.parse(nsDoc ?? "{}")), [
      "trusted_publishers",
      "tofu_publishers",
    ]);
    // Who pinned it and when, recorded beside the pin in the same write.
    const cm = await kube("GET", `/api/v1/namespaces/${STORE_NS}/configmaps/${t.store}`);
    const annotations = (cm.body.metadata as { annotations?: Record<string, string> }).annotations;
    const record = parsePinHistory(annotations?.[PIN_HISTORY_ANNOTATION])[`${t.ns}/newco`];
    assert.equal(record?.key, v1.publicKeyHex);
    assert.equal(record?.skill, `${t.ns}/v1`);
    assert.equal(record?.keyId, first.status?.keyId);
    assert.ok(Math.abs(Date.parse(record?.pinnedAt ?? "") - Date.now()) < 120_000);
    await waitForEvent(
      t.ns,
      (e) => e.reason === "TofuPinned" && /newco/.test(e.message),
      "TofuPinned on the Skill",
    );
    await waitForEvent(
      "default",
      (e) => e.reason === "TofuPinned" && e.involvedObject.name === t.policy,
      "TofuPinned on the policy",
    );
    await waitFor("policy status lists the pin", async () => {
      const p = await getPolicy(t.policy);
      const pins = p.status?.tofuPins ?? [];
      return pins.length === 1 &&
        pins[0]?.key === v1.publicKeyHex &&
        pins[0]?.namespace === t.ns &&
        pins[0]?.keyId === first.status?.keyId
        ? p
        : undefined;
    });

    const v2 = skillArtifact({
      publisher: "newco",
      skillId: "newco.echo",
      version: "1.1.0",
      keySeed: 21,
    });
    await createSkill(t.ns, "v2", spec(`${t.ns}/v2.palyra-skill`, v2.bytes));
    const second = await waitForState(t.ns, "v2", "Enabled");
    assert.equal(second.status?.trustDecision, "tofu_pinned");

    const evil = skillArtifact({
      publisher: "newco",
      skillId: "newco.echo",
      version: "1.2.0",
      keySeed: 22,
    });
    await createSkill(t.ns, "evil", spec(`${t.ns}/evil.palyra-skill`, evil.bytes));
    const third = await waitForState(t.ns, "evil", "Quarantined", "TofuKeyMismatch");
    assert.match(third.status?.quarantineReasons?.[0] ?? "", /TOFU pinned key mismatch/);
    await waitForEvent(
      t.ns,
      (e) => e.reason === "TofuKeyMismatch" && e.involvedObject.name === "evil",
      "TofuKeyMismatch",
    );
    assert.ok(
      (await operator.metric("palyra_trust_tofu_mismatches_total")) >= 1,
      "the mismatch is counted for the alert",
    );
    const after = await readNamespacePins(STORE_NS, t.store, t.ns);
    assert.equal(after.rv, pinned.rv, "the trust store was not written again");
    assert.deepEqual(after.pins, { newco: v1.publicKeyHex });
  });

  test("switching TOFU off: with trustExistingPins the pins are still trusted and nothing new is pinned; without it no pin is trusted", async () => {
    const t = await tenant({ allowTofu: true });
    const a = skillArtifact({ publisher: "early", skillId: "early.echo", keySeed: 31 });
    await createSkill(t.ns, "early", {
      ...urlSkill(`${t.ns}/e.palyra-skill`, a.bytes, t.policy),
      skillId: "early.echo",
      publisher: "early",
    });
    await waitForState(t.ns, "early", "Enabled");
    await patchPolicy(t.policy, { allowTofu: false, trustExistingPins: true });
    const b = skillArtifact({ publisher: "late", skillId: "late.echo", keySeed: 32 });
    await createSkill(t.ns, "late", {
      ...urlSkill(`${t.ns}/l.palyra-skill`, b.bytes, t.policy),
      skillId: "late.echo",
      publisher: "late",
    });
    await waitForState(t.ns, "late", "Quarantined", "UntrustedPublisher");
    const early = await waitForSkill(
      t.ns,
      "early",
      (s) =>
        s.status?.observedGeneration === s.metadata.generation && s.status?.state === "Enabled",
    );
    // Still trusted by its pin (the Skill that made the pin keeps saying so).
    assert.equal(early.status?.trustDecision, "tofu_newly_pinned");
    assert.deepEqual((await readNamespacePins(STORE_NS, t.store, t.ns)).pins, {
      early: a.publicKeyHex,
    });
    // A policy that neither allows TOFU nor trusts existing pins trusts only its allowlist.
    await patchPolicy(t.policy, { trustExistingPins: false });
    await waitForState(t.ns, "early", "Quarantined", "UntrustedPublisher");
    assert.deepEqual(
      (await readNamespacePins(STORE_NS, t.store, t.ns)).pins,
      { early: a.publicKeyHex },
      "the pin itself is kept",
    );
  });

  test("two operator processes racing to pin different keys for one publisher end with exactly one pin", async () => {
    const second = await startChartOperator(["--leader-elect=false"]);
    try {
      const t = await tenant({ allowTofu: true });
      const k1 = skillArtifact({ publisher: "racer", skillId: "racer.echo", keySeed: 41 });
      const k2 = skillArtifact({ publisher: "racer", skillId: "racer.echo", keySeed: 42 });
      const spec = (path: string, bytes: Buffer): SkillSpec => ({
        ...urlSkill(path, bytes, t.policy),
        skillId: "racer.echo",
        publisher: "racer",
      });
      await Promise.all([
        createSkill(t.ns, "one", spec(`${t.ns}/one.palyra-skill`, k1.bytes)),
        createSkill(t.ns, "two", spec(`${t.ns}/two.palyra-skill`, k2.bytes)),
      ]);
      const settled = async (name: string) =>
        waitForSkill(
          t.ns,
          name,
          (s) => s.status?.state === "Enabled" || readyReason(s) === "TofuKeyMismatch",
        );
      const [one, two] = await Promise.all([settled("one"), settled("two")]);
      const store = await readNamespacePins(STORE_NS, t.store, t.ns);
      const pin = store.pins.racer;
      assert.ok(pin === k1.publicKeyHex || pin === k2.publicKeyHex);
      const [winner, loser] = pin === k1.publicKeyHex ? [one, two] : [two, one];
      assert.equal(winner.status?.state, "Enabled");
      assert.equal(loser.status?.state, "Quarantined");
      assert.equal(readyReason(loser), "TofuKeyMismatch");
      assert.equal(Object.keys(store.pins).length, 1);
    } finally {
      assert.equal(await forbiddenRequests(second), 0);
      assert.equal(await second.stop(), 0);
    }
  });
});

describe("policy and trust-store changes", () => {
  test("revoking a key quarantines what it signed; lifting the revocation enables it again", async () => {
    // The key is allowlisted by the trust store (the CRD forbids allowlisting and revoking it in one policy).
    const t = await tenant(
      { publishers: [] },
      JSON.stringify({ trusted_publishers: { acme: [ACME.publicKeyHex] }, tofu_publishers: {} }),
    );
    await createSkill(t.ns, "echo", urlSkill(`${t.ns}/r.palyra-skill`, ACME.bytes, t.policy));
    await waitForState(t.ns, "echo", "Enabled");
    await patchPolicy(t.policy, { revokedKeys: [ACME.publicKeyHex] });
    const revoked = await waitForState(t.ns, "echo", "Quarantined", "KeyRevoked");
    assert.equal(condition(revoked, "Trusted")?.reason, "KeyRevoked");
    await patchPolicy(t.policy, { revokedKeys: [] });
    await waitForState(t.ns, "echo", "Enabled");
  });

  test("a required provenance builder the artifact lacks quarantines; Audit mode enables with a warning", async () => {
    const t = await tenant({ requiredProvenanceBuilders: ["https://ci.example/trusted-builder"] });
    await createSkill(t.ns, "echo", urlSkill(`${t.ns}/p.palyra-skill`, ACME.bytes, t.policy));
    await waitForState(t.ns, "echo", "Quarantined", "ProvenanceBuilderNotAllowed");
    await patchPolicy(t.policy, { mode: "Audit" });
    const audited = await waitForState(t.ns, "echo", "Enabled", "AuditModeOverride");
    assert.match(condition(audited, "Ready")?.message ?? "", /would quarantine/);
    await waitForEvent(t.ns, (e) => e.reason === "AuditModeOverride", "AuditModeOverride");
  });

  test("a missing trust store is Failed (TrustStoreNotFound) and recovers when it is created; an invalid one says why", async () => {
    const ns = unique("t");
    const label = unique("tenant");
    await createNamespace(ns, { "palyra.test/tenant": label });
    const store = unique("store");
    const policy = unique("policy");
    await createPolicy(policy, {
      namespaceSelector: { matchLabels: { "palyra.test/tenant": label } },
      publishers: [{ name: "acme", keys: [ACME.publicKeyHex] }],
      trustStore: { namespace: STORE_NS, name: store },
    });
    await createSkill(ns, "echo", urlSkill(`${ns}/s.palyra-skill`, ACME.bytes, policy));
    await waitForState(ns, "echo", "Failed", "TrustStoreNotFound");
    await waitFor("policy Ready=False", async () => {
      const p = await getPolicy(policy);
      return condition(p, "Ready")?.reason === "TrustStoreNotFound" ? p : undefined;
    });
    await createTrustStore(STORE_NS, store, "{not json");
    const invalid = await waitForState(ns, "echo", "Failed", "TrustStoreInvalid");
    assert.match(condition(invalid, "Ready")?.message ?? "", /trust store/);
    await kube(
      "PATCH",
      `/api/v1/namespaces/${STORE_NS}/configmaps/${store}`,
      { data: { "trust-store.json": "{}" } },
      {
        contentType: "application/merge-patch+json",
      },
    );
    await waitForState(ns, "echo", "Enabled");
    await waitFor("policy Ready=True with governed skills", async () => {
      const p = await getPolicy(policy);
      return condition(p, "Ready")?.status === "True" && p.status?.governedSkills === 1
        ? p
        : undefined;
    });
  });
});

describe("sources and lifecycle", () => {
  test("a source that is down is Failed (Reconciling), then Enabled when it returns", async () => {
    const t = await tenant();
    const flaky = new ArtifactServer();
    await flaky.start();
    const url = flaky.put("flaky.palyra-skill", ACME.bytes);
    await flaky.stop();
    await createSkill(t.ns, "flaky", {
      skillId: "acme.echo_http",
      publisher: "acme",
      source: { url, caBundle: flaky.caBundle },
      policyRef: { name: t.policy },
    });
    const down = await waitForState(t.ns, "flaky", "Failed", "FetchFailed");
    assert.equal(condition(down, "Reconciling")?.status, "True");
    assert.match(condition(down, "Ready")?.message ?? "", /SOURCE_UNREACHABLE/);
    await flaky.start();
    try {
      const up = await waitForState(t.ns, "flaky", "Enabled");
      assert.equal(condition(up, "Reconciling"), undefined);
    } finally {
      await flaky.stop();
    }
  });

  test("deleting a Skill removes it at once (no finalizer waits for the operator)", async () => {
    const t = await tenant();
    await createSkill(t.ns, "doomed", urlSkill(`${t.ns}/d.palyra-skill`, ACME.bytes, t.policy));
    await waitForState(t.ns, "doomed", "Enabled");
    const res = await kube("DELETE", `${API}/namespaces/${t.ns}/skills/doomed`);
    assert.equal(res.status, 200);
    assert.equal(await getSkill(t.ns, "doomed"), undefined);
    // The name can be used again at once, and the new Skill is decided afresh.
    await createSkill(t.ns, "doomed", urlSkill(`${t.ns}/d2.palyra-skill`, ACME.bytes, t.policy));
    await waitForState(t.ns, "doomed", "Enabled");
  });

  test("a restarted operator reaches the same statuses without writing anything or re-pinning", async () => {
    const t = await tenant({ allowTofu: true });
    const tofu = skillArtifact({ publisher: "restartco", skillId: "restartco.echo", keySeed: 51 });
    await createSkill(t.ns, "allow", urlSkill(`${t.ns}/a.palyra-skill`, ACME.bytes, t.policy));
    await createSkill(t.ns, "tofu", {
      ...urlSkill(`${t.ns}/t.palyra-skill`, tofu.bytes, t.policy),
      skillId: "restartco.echo",
      publisher: "restartco",
    });
    await createSkill(
      t.ns,
      "wild",
      urlSkill(`${t.ns}/w.palyra-skill`, skillArtifact({ wildcardEgress: true }).bytes, t.policy),
    );
    await waitForState(t.ns, "allow", "Enabled");
    await waitForState(t.ns, "tofu", "Enabled");
    await waitForState(t.ns, "wild", "Quarantined");
    const before = await snapshot(t.ns);
    const store = await readTrustStore(STORE_NS, t.store);

    assert.equal(await operator.stop(), 0);
    operator = await startChartOperator();
    // Idle: every Skill in the cluster reconciled at least once by the new process.
    await waitFor("the new operator reconciled every Skill", async () => {
      const total = (await kube("GET", `${API}/skills`)).body as unknown as { items: unknown[] };
      const done = await operator.metric("palyra_skill_reconciles_total");
      const depth = await operator.metric("palyra_workqueue_depth", { queue: "skills" });
      return done >= total.items.length && depth === 0 ? true : undefined;
    });
    assert.deepEqual(await snapshot(t.ns), before, "no Skill was written");
    const storeAfter = await readTrustStore(STORE_NS, t.store);
    assert.equal(storeAfter.rv, store.rv, "the trust store was not written");
    assert.equal(await operator.metric("palyra_trust_tofu_pins_total"), 0);
    assert.equal((await getSkill(t.ns, "tofu"))?.status?.trustDecision, "tofu_newly_pinned");
  });
});

async function snapshot(ns: string): Promise<Record<string, string>> {
  const list = (await kube("GET", `${API}/namespaces/${ns}/skills`)).body as unknown as {
    items: { metadata: { name: string; resourceVersion: string } }[];
  };
  return Object.fromEntries(list.items.map((s) => [s.metadata.name, s.metadata.resourceVersion]));
}
