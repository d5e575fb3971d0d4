/**
 * The verdict on one verified artifact under one policy and one trust store: trust (revocation,
 * provenance builder, allowlist, TOFU pins of the policy's scope) and the audit. Pure. The audit
 * is a function of (artifact digest, policy generation) only, which is what lets the controller
 * cache it and audit an artifact shared by many Skills once; trust is a few map lookups and is
 * decided per Skill, since a namespace-scoped pin binds one namespace only.
 */

import type { SkillTrustPolicy } from "../../api/v1alpha1/types.generated.ts";
import { type AuditPolicy, auditArtifact } from "../../artifact/audit.ts";
import { SkillError } from "../../artifact/errors.ts";
import type { InspectedArtifact } from "../../artifact/verify.ts";
import { decideTrust, type TrustDecision } from "../../trust/decision.ts";
import { pinsFor, pinUseOf, type TofuScope } from "../../trust/pin-scope.ts";
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
  | "TofuKeyMismatch"
  | "TrustStoreConflict";

/** A first-use pin to write: cluster-wide, or binding one namespace. */
export interface PinRequest {
  publisher: string;
  key: string;
  scope: TofuScope;
  namespace: string;
}

export type TrustVerdict =
  | { ok: true; decision: TrustDecision; pin?: PinRequest }
  | { ok: false; reason: TrustFailureReason; message: string };

/** What trust is decided against, besides the artifact and the policy. */
export interface TrustContext {
  /** The trust store's document (allowlist, cluster-wide pins); empty without a store. */
  store: TrustStore;
  /** Pins that bind one namespace each. */
  namespacePins: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** The Skill's namespace. */
  namespace: string;
  /** A usable trust store exists to pin in. */
  storeAvailable: boolean;
  /** Another policy reads the same store's pins with another scope (see policy/conflicts.ts). */
  conflict?: string;
}

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

/**
 * The policy's allowlist and the store's, plus the pins this policy honours for this namespace
 * (none when it neither allows TOFU nor trusts existing pins, or its store is in conflict).
 */
export function effectiveTrustStore(policy: SkillTrustPolicy, ctx: TrustContext): TrustStore {
  const use = pinUseOf(policy.spec);
  let merged: TrustStore = {
    trustedPublishers: ctx.store.trustedPublishers,
    tofuPublishers: ctx.conflict
      ? new Map()
      : pinsFor({ store: ctx.store, namespacePins: ctx.namespacePins }, use, ctx.namespace),
  };
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
  ctx: TrustContext,
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
  const use = pinUseOf(policy.spec);
  const store = effectiveTrustStore(policy, ctx);
  if (ctx.conflict && use.honour && !store.trustedPublishers.has(publisher)) {
    return { ok: false, reason: "TrustStoreConflict", message: ctx.conflict };
  }
  try {
    const outcome = decideTrust(store, publisher, key, use.create && ctx.storeAvailable);
    return outcome.decision === "tofu_newly_pinned"
      ? {
          ok: true,
          decision: outcome.decision,
          pin: { publisher, key, scope: use.scope, namespace: ctx.namespace },
        }
      : { ok: true, decision: outcome.decision };
  } catch (error) {
    if (!(error instanceof SkillError)) throw error;
    const reason: TrustFailureReason =
      error.code === "TOFU_KEY_MISMATCH"
        ? "TofuKeyMismatch"
        : error.code === "TRUSTED_KEY_MISMATCH"
          ? "TrustedKeyMismatch"
          : "UntrustedPublisher";
    let hint = "";
    if (reason === "UntrustedPublisher" && use.create && !ctx.storeAvailable) {
      hint = " (TOFU is allowed but the policy names no trust store to pin in)";
    } else if (reason === "UntrustedPublisher" && !use.honour) {
      hint = ` (policy ${policy.metadata.name} trusts only allowlisted keys: it neither allows TOFU nor trusts existing pins)`;
    } else if (reason === "TofuKeyMismatch" && use.scope === "Namespace") {
      hint = ` (pin of namespace ${ctx.namespace})`;
    }
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
  ctx: TrustContext,
): Verdict {
  const trust = decideArtifactTrust(facts, policy, ctx);
  // The audit does not depend on trust; the decision only labels its report.
  const audit = auditVerdict(facts, policy, trust.ok ? trust.decision : "allowlisted");
  return { trust, audit };
}
