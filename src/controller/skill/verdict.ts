/**
 * The verdict on one verified artifact under one policy and one trust store: trust (revocation,
 * provenance builder, allowlist, TOFU pins) and the audit. Pure, and a function of
 * (artifact digest, policy generation, trust-store resourceVersion) only, which is what lets the
 * controller cache it and verify an artifact shared by many Skills once.
 */

import type { SkillTrustPolicy } from "../../api/v1alpha1/types.generated.ts";
import { type AuditPolicy, auditArtifact } from "../../artifact/audit.ts";
import { SkillError } from "../../artifact/errors.ts";
import type { InspectedArtifact } from "../../artifact/verify.ts";
import { decideTrust, type TrustDecision } from "../../trust/decision.ts";
import { addTrustedKey, type TrustStore } from "../../trust/store.ts";

/** A verified artifact and the one fact the library leaves to the caller: the builder id. */
export interface VerifiedArtifactFacts {
  readonly digest: string;
  readonly inspected: InspectedArtifact;
  readonly builderId: string | undefined;
}

export type TrustFailureReason =
  | "KeyRevoked"
  | "ProvenanceBuilderNotAllowed"
  | "UntrustedPublisher"
  | "TrustedKeyMismatch"
  | "TofuKeyMismatch";

export type TrustVerdict =
  | { ok: true; decision: TrustDecision; pin?: { publisher: string; key: string } }
  | { ok: false; reason: TrustFailureReason; message: string };

export interface AuditVerdict {
  passed: boolean;
  failedChecks: string[];
  warnings: number;
  quarantineReasons: string[];
}

export interface Verdict {
  trust: TrustVerdict;
  audit: AuditVerdict;
}

/** The policy's allowlist and the store's, as one store (the policy wins nothing: keys add up). */
export function effectiveTrustStore(policy: SkillTrustPolicy, store: TrustStore): TrustStore {
  let merged = store;
  for (const publisher of policy.spec.publishers ?? []) {
    for (const key of publisher.keys) merged = addTrustedKey(merged, publisher.name, key);
  }
  return merged;
}

export function auditPolicyOf(policy: SkillTrustPolicy): Partial<AuditPolicy> {
  const a = policy.spec.audit ?? {};
  const out: Partial<AuditPolicy> = {};
  if (a.maxModuleBytes !== undefined) out.max_module_bytes = a.maxModuleBytes;
  if (a.maxExportedFunctions !== undefined) out.max_exported_functions = a.maxExportedFunctions;
  if (a.allowDeviceCapabilities !== undefined) {
    out.allow_device_capabilities = a.allowDeviceCapabilities;
  }
  if (a.allowWildcardCapabilities !== undefined) {
    out.allow_wildcard_capabilities = a.allowWildcardCapabilities;
  }
  return out;
}

export function decideArtifactTrust(
  facts: VerifiedArtifactFacts,
  policy: SkillTrustPolicy,
  store: TrustStore,
  tofuAvailable: boolean,
): TrustVerdict {
  const { inspected } = facts;
  const publisher = inspected.manifest.publisher;
  const key = inspected.publicKeyHex;
  if ((policy.spec.revokedKeys ?? []).map((k) => k.toLowerCase()).includes(key)) {
    return {
      ok: false,
      reason: "KeyRevoked",
      message: `signing key ${inspected.keyId} of publisher ${publisher} is revoked by policy ${policy.metadata.name}`,
    };
  }
  const builders = policy.spec.requiredProvenanceBuilders ?? [];
  if (
    builders.length > 0 &&
    (facts.builderId === undefined || !builders.includes(facts.builderId))
  ) {
    return {
      ok: false,
      reason: "ProvenanceBuilderNotAllowed",
      message:
        facts.builderId === undefined
          ? "provenance names no builder id, and the policy requires one of its provenance builders"
          : `provenance builder ${JSON.stringify(facts.builderId)} is not one of the policy's required builders`,
    };
  }
  try {
    const outcome = decideTrust(
      effectiveTrustStore(policy, store),
      publisher,
      key,
      tofuAvailable && policy.spec.allowTofu === true,
    );
    return outcome.decision === "tofu_newly_pinned"
      ? { ok: true, decision: outcome.decision, pin: { publisher, key } }
      : { ok: true, decision: outcome.decision };
  } catch (error) {
    if (!(error instanceof SkillError)) throw error;
    const reason: TrustFailureReason =
      error.code === "TOFU_KEY_MISMATCH"
        ? "TofuKeyMismatch"
        : error.code === "TRUSTED_KEY_MISMATCH"
          ? "TrustedKeyMismatch"
          : "UntrustedPublisher";
    const hint =
      reason === "UntrustedPublisher" && policy.spec.allowTofu === true && !tofuAvailable
        ? " (TOFU is allowed but the policy names no trust store to pin in)"
        : "";
    return { ok: false, reason, message: `${error.message}${hint}` };
  }
}

export function auditVerdict(
  facts: VerifiedArtifactFacts,
  policy: SkillTrustPolicy,
  trustDecision: TrustDecision,
): AuditVerdict {
  const { inspected } = facts;
  const report = auditArtifact(
    {
      manifest: inspected.manifest,
      manifestWarnings: inspected.manifestWarnings,
      modules: inspected.modules,
      payloadSha256: inspected.payloadSha256,
      trustDecision,
    },
    // A fixed timestamp keeps the verdict a pure function of its inputs.
    { policy: auditPolicyOf(policy), nowUnixMs: 0 },
  );
  return {
    passed: report.passed,
    failedChecks: report.checks.filter((c) => c.status === "fail").map((c) => c.check_id),
    warnings: report.checks.filter((c) => c.status === "warn").length,
    quarantineReasons: report.quarantine_reasons,
  };
}

export function computeVerdict(
  facts: VerifiedArtifactFacts,
  policy: SkillTrustPolicy,
  store: TrustStore,
  tofuAvailable: boolean,
): Verdict {
  const trust = decideArtifactTrust(facts, policy, store, tofuAvailable);
  // The audit does not depend on trust; the decision only labels its report.
  const audit = auditVerdict(facts, policy, trust.ok ? trust.decision : "allowlisted");
  return { trust, audit };
}
