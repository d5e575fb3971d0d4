/**
 * decide: from what was observed about one Skill (its spec and last status, the governing
 * policy, the trust store, the artifact's verification) to the status it should have, the TOFU
 * pin to write and the events to record. Pure: no clock (now is an input), no I/O.
 */

import type { Skill, SkillStatus, SkillTrustPolicy } from "../../api/v1alpha1/types.generated.ts";
import { wildcardOptIns } from "../../artifact/audit.ts";
import { capabilityGrants } from "../../artifact/derived.ts";
import type { ErrorCode } from "../../artifact/errors.ts";
import {
  type Condition,
  type DesiredCondition,
  findCondition,
  rfc3339,
  setConditions,
} from "../../kube/conditions.ts";
import type { TrustStore } from "../../trust/store.ts";
import type { PolicyResolution } from "../policy/select.ts";
import type { PinRequest, Verdict, VerifiedArtifactFacts } from "./verdict.ts";

/** Where an OCI artifact was resolved from (the tag and the manifest digest). */
export interface ArtifactSource {
  reference: string;
  tag?: string;
}

/** Failed reasons by source error code; the rest are FetchFailed. */
const FETCH_REASONS: Record<string, string> = {
  SOURCE_ADDRESS_BLOCKED: "SourceAddressBlocked",
  SOURCE_AUTH_FAILED: "RegistryAuthFailed",
  SOURCE_RATE_LIMITED: "RegistryRateLimited",
  SOURCE_MANIFEST_INVALID: "NotASkillArtifact",
};

export type ArtifactObservation =
  | { kind: "verified"; facts: VerifiedArtifactFacts; source?: ArtifactSource }
  | { kind: "rejected"; digest: string; code: ErrorCode; message: string; source?: ArtifactSource }
  | { kind: "digestMismatch"; expected: string; actual: string; source?: ArtifactSource }
  | {
      kind: "fetchFailed";
      code: string;
      message: string;
      transient: boolean;
      /** The source asked us to wait this long (a registry's Retry-After). */
      retryAfterMs?: number;
    }
  | { kind: "unsupported"; message: string };

export interface TrustStoreRef {
  namespace: string;
  name: string;
  key: string;
}

export type TrustStoreObservation =
  | {
      kind: "ok";
      ref: TrustStoreRef;
      store: TrustStore;
      /** Pins that bind one namespace each (tofuScope Namespace), by namespace. */
      namespacePins: ReadonlyMap<string, ReadonlyMap<string, string>>;
      resourceVersion: string;
    }
  | { kind: "unset" }
  | { kind: "missing"; ref: TrustStoreRef }
  /** The ConfigMap lacks the trust-store label, so the webhook does not guard it: not used. */
  | { kind: "unguarded"; ref: TrustStoreRef }
  | { kind: "invalid"; ref: TrustStoreRef; message: string };

export interface SkillObservation {
  skill: Skill;
  policy: PolicyResolution;
  /** Present once a policy was found. */
  trustStore?: TrustStoreObservation;
  /** Present once a policy and a usable trust store were found. */
  artifact?: ArtifactObservation;
  /** The verdict on a verified artifact under the policy and store (see verdict.ts). */
  verdict?: Verdict;
  now: Date;
}

export interface DecidedEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface TofuPin extends PinRequest {
  keyId: string;
}

export interface SkillDecision {
  status: SkillStatus;
  /** A first-use pin to write (with the trust store's resourceVersion as precondition). */
  pin?: TofuPin;
  events: DecidedEvent[];
  /** Events for the governing policy (TOFU mismatches). */
  policyEvents: DecidedEvent[];
  /** A transient failure: retry with backoff. */
  retry: boolean;
  /** Not before this long (a registry's Retry-After). */
  retryAfterMs?: number;
}

export const CONDITION_ORDER = [
  "Ready",
  "Verified",
  "Trusted",
  "Audited",
  "Reconciling",
  "Stalled",
];

// Codes that mean "this artifact is not what its signature claims": a security finding, so the
// Skill is Quarantined. Every other library error means "not a readable artifact": Failed.
const VERIFICATION_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "SIGNATURE_MALFORMED",
  "UNSUPPORTED_ALGORITHM",
  "PAYLOAD_HASH_MISMATCH",
  "KEY_ID_MISMATCH",
  "PUBLIC_KEY_INVALID",
  "SIGNATURE_INVALID",
  "PUBLISHER_MISMATCH",
  "INTEGRITY_MISMATCH",
  "ENTRY_CORRUPT",
]);

type State = NonNullable<SkillStatus["state"]>;

interface Outcome {
  state: State;
  reason: string;
  message: string;
  quarantineReasons: string[];
}

const unknown = (type: string, message: string): DesiredCondition => ({
  type,
  status: "Unknown",
  reason: "NotEvaluated",
  message,
});

export function decideSkill(obs: SkillObservation): SkillDecision {
  const { skill, now } = obs;
  const prev = skill.status ?? {};
  const generation = skill.metadata.generation ?? 0;
  const status: SkillStatus = { observedGeneration: generation };
  const conditions = new Map<string, DesiredCondition>();
  const events: DecidedEvent[] = [];
  const policyEvents: DecidedEvent[] = [];
  let pin: TofuPin | undefined;
  let retry = false;
  let retryAfterMs: number | undefined;
  let outcome: Outcome;

  const manual = skill.spec.desiredState === "Quarantined";
  const policyFailure = describePolicyFailure(obs.policy);

  if (policyFailure) {
    outcome = quarantined(policyFailure.reason, policyFailure.message);
    conditions.set("Verified", unknown("Verified", "not evaluated: no policy governs this Skill"));
  } else if (
    !obs.trustStore ||
    obs.trustStore.kind === "missing" ||
    obs.trustStore.kind === "invalid" ||
    obs.trustStore.kind === "unguarded"
  ) {
    const ts = obs.trustStore;
    outcome =
      ts?.kind === "invalid"
        ? failed(
            "TrustStoreInvalid",
            `trust store ConfigMap ${ts.ref.namespace}/${ts.ref.name} key ${ts.ref.key} is invalid: ${ts.message}`,
          )
        : ts?.kind === "unguarded"
          ? failed("TrustStoreUnguarded", unguardedMessage(ts.ref))
          : failed(
              "TrustStoreNotFound",
              ts?.kind === "missing"
                ? `trust store ConfigMap ${ts.ref.namespace}/${ts.ref.name} (key ${ts.ref.key}) does not exist; create it (an empty document is a valid store)`
                : "trust store not observed",
            );
    conditions.set("Verified", unknown("Verified", "not evaluated: the trust store is unusable"));
  } else {
    const artifact = obs.artifact;
    if (!artifact) throw new Error("decideSkill: artifact observation missing");
    switch (artifact.kind) {
      case "unsupported":
        outcome = failed("SourceUnsupported", artifact.message);
        conditions.set("Verified", {
          type: "Verified",
          status: "Unknown",
          reason: "SourceUnsupported",
          message: artifact.message,
        });
        break;
      case "fetchFailed": {
        // An address sources may not reach is a refusal, not a failure to retry; a registry's
        // answers have reasons of their own.
        const reason = FETCH_REASONS[artifact.code] ?? "FetchFailed";
        outcome = failed(
          reason,
          reason === "SourceAddressBlocked"
            ? `the artifact's address is refused: ${artifact.message}`
            : `fetching the artifact failed (${artifact.code}): ${artifact.message}`,
        );
        retry = artifact.transient;
        retryAfterMs = artifact.retryAfterMs;
        conditions.set("Verified", {
          type: "Verified",
          status: "Unknown",
          reason,
          message: artifact.message,
        });
        break;
      }
      case "digestMismatch": {
        const message = `artifact sha256 ${artifact.actual} does not match the pinned spec.sha256 ${artifact.expected}`;
        outcome = quarantined("DigestMismatch", message);
        status.artifactSha256 = artifact.actual;
        conditions.set("Verified", {
          type: "Verified",
          status: "False",
          reason: "DigestMismatch",
          message,
        });
        break;
      }
      case "rejected": {
        status.artifactSha256 = artifact.digest;
        const message = `${artifact.code}: ${artifact.message}`;
        if (VERIFICATION_CODES.has(artifact.code)) {
          outcome = quarantined("VerificationFailed", `artifact failed verification: ${message}`);
          conditions.set("Verified", {
            type: "Verified",
            status: "False",
            reason: "VerificationFailed",
            message,
          });
        } else {
          outcome = failed("ArtifactInvalid", `artifact is not a valid .palyra-skill: ${message}`);
          conditions.set("Verified", {
            type: "Verified",
            status: "False",
            reason: "ArtifactInvalid",
            message,
          });
        }
        break;
      }
      case "verified":
        outcome = decideVerified(
          obs,
          artifact.facts,
          status,
          conditions,
          events,
          policyEvents,
          (p) => {
            pin = p;
          },
        );
        break;
    }
    const source = "source" in artifact ? artifact.source : undefined;
    if (source) {
      status.source = source;
      // The same tag now names another manifest: a new artifact, decided afresh.
      const was = prev.source;
      if (was?.tag !== undefined && was.tag === source.tag && was.reference !== source.reference) {
        events.push({
          type: "Normal",
          reason: "TagMoved",
          message: `tag ${source.tag} moved from ${was.reference} to ${source.reference}: a new artifact, verified and decided afresh`,
        });
      }
    }
  }

  if (manual) {
    const message = "spec.desiredState is Quarantined";
    if (outcome.state === "Enabled") outcome = quarantined("ManuallyQuarantined", message);
    else if (outcome.state === "Quarantined") outcome.quarantineReasons.unshift(message);
  }
  // A first-use pin decides a publisher's key for everyone the pin binds: only a Skill that
  // ends Enabled may make it, never one held back for another reason.
  if (pin && outcome.state !== "Enabled") {
    const withheld: TofuPin = pin;
    pin = undefined;
    delete status.trustDecision;
    conditions.set("Trusted", {
      type: "Trusted",
      status: "Unknown",
      reason: "TofuPinWithheld",
      message: `publisher ${withheld.publisher} key ${withheld.keyId} is not pinned: a first-use pin is written only for a Skill that would be Enabled, and this one is ${outcome.state} (${outcome.reason})`,
    });
  }

  if (!conditions.has("Trusted")) conditions.set("Trusted", unknown("Trusted", "not evaluated"));
  if (!conditions.has("Audited")) conditions.set("Audited", unknown("Audited", "not evaluated"));
  const ready = outcome.state === "Enabled";
  conditions.set("Ready", {
    type: "Ready",
    status: ready ? "True" : "False",
    reason: outcome.reason,
    message: outcome.message,
  });
  if (outcome.state === "Failed" && retry) {
    conditions.set("Reconciling", {
      type: "Reconciling",
      status: "True",
      reason: outcome.reason,
      message: "retrying with backoff",
    });
  } else if (!ready) {
    conditions.set("Stalled", {
      type: "Stalled",
      status: "True",
      reason: outcome.reason,
      message: outcome.message,
    });
  }

  status.state = outcome.state;
  if (outcome.quarantineReasons.length > 0) status.quarantineReasons = outcome.quarantineReasons;
  status.conditions = setConditions(
    prev.conditions as Condition[] | undefined,
    [...conditions.values()],
    {
      generation,
      now,
      order: CONDITION_ORDER,
    },
  );

  // lastVerifiedTime moves only when a different artifact was verified or the verdict changed.
  if (status.artifactSha256 !== undefined && status.payloadSha256 !== undefined) {
    const same =
      prev.artifactSha256 === status.artifactSha256 &&
      prev.state === status.state &&
      prev.lastVerifiedTime !== undefined;
    status.lastVerifiedTime = same ? (prev.lastVerifiedTime as string) : rfc3339(now);
  }

  events.unshift(...transitionEvents(skill, prev, status, outcome));
  const after = retryAfterMs !== undefined ? { retryAfterMs } : {};
  return pin
    ? { status, pin, events, policyEvents, retry, ...after }
    : { status, events, policyEvents, retry, ...after };
}

function decideVerified(
  obs: SkillObservation,
  facts: VerifiedArtifactFacts,
  status: SkillStatus,
  conditions: Map<string, DesiredCondition>,
  events: DecidedEvent[],
  policyEvents: DecidedEvent[],
  setPin: (pin: TofuPin) => void,
): Outcome {
  const { skill } = obs;
  const prev = skill.status ?? {};
  const policy = obs.policy.kind === "found" ? obs.policy.policy : undefined;
  const { inspected } = facts;
  const m = inspected.manifest;
  status.manifest = manifestSummary(facts);
  status.artifactSha256 = facts.digest;
  status.payloadSha256 = inspected.payloadSha256;
  status.keyId = inspected.keyId;
  status.publicKey = inspected.publicKeyHex;
  conditions.set("Verified", {
    type: "Verified",
    status: "True",
    reason: "Verified",
    message: `signature and integrity verified for artifact sha256:${facts.digest} signed by ${inspected.keyId}`,
  });

  const auditMode = policy?.spec.mode === "Audit";
  const findings: { reason: string; message: string }[] = [];

  const mismatches: string[] = [];
  if (m.skill_id !== skill.spec.skillId)
    mismatches.push(`skill_id is ${m.skill_id}, spec.skillId is ${skill.spec.skillId}`);
  if (m.publisher !== skill.spec.publisher)
    mismatches.push(`publisher is ${m.publisher}, spec.publisher is ${skill.spec.publisher}`);
  if (skill.spec.version !== undefined && m.version !== skill.spec.version) {
    mismatches.push(`version is ${m.version}, spec.version is ${skill.spec.version}`);
  }
  if (mismatches.length > 0) {
    // Identity is never relaxed, not even in Audit mode: the Skill must be what it names.
    return quarantined(
      "ManifestMismatch",
      `the artifact's manifest does not match the Skill: ${mismatches.join("; ")}`,
    );
  }

  if (!obs.verdict) throw new Error("decideSkill: verdict missing for a verified artifact");
  const { trust, audit } = obs.verdict;
  if (trust.ok) {
    let decision = trust.decision;
    // Once pinned by this Skill, keep saying so: a restart must not rewrite the status.
    if (
      decision === "tofu_pinned" &&
      prev.trustDecision === "tofu_newly_pinned" &&
      prev.artifactSha256 === facts.digest
    ) {
      decision = "tofu_newly_pinned";
    }
    if (trust.pin) setPin({ ...trust.pin, keyId: inspected.keyId });
    status.trustDecision = decision;
    conditions.set("Trusted", {
      type: "Trusted",
      status: "True",
      reason:
        decision === "allowlisted"
          ? "Allowlisted"
          : decision === "tofu_pinned"
            ? "TofuPinned"
            : "TofuNewlyPinned",
      message:
        decision === "allowlisted"
          ? `publisher ${m.publisher} key ${inspected.keyId} is allowlisted`
          : decision === "tofu_pinned"
            ? `publisher ${m.publisher} key ${inspected.keyId} matches its trust-on-first-use pin${pinScopeText(scopeOf(policy), skill)}`
            : `publisher ${m.publisher} key ${inspected.keyId} was pinned on first use by this Skill${pinScopeText(scopeOf(policy), skill)}`,
    });
  } else {
    conditions.set("Trusted", {
      type: "Trusted",
      status: "False",
      reason: trust.reason,
      message: trust.message,
    });
    findings.push({ reason: trust.reason, message: trust.message });
    if (trust.reason === "TofuKeyMismatch") {
      const prevTrusted = findCondition(prev.conditions as Condition[] | undefined, "Trusted");
      if (prevTrusted?.reason !== "TofuKeyMismatch" || prev.artifactSha256 !== facts.digest) {
        const message = `Skill ${skill.metadata.namespace}/${skill.metadata.name}: ${trust.message}`;
        events.push({ type: "Warning", reason: "TofuKeyMismatch", message: trust.message });
        policyEvents.push({ type: "Warning", reason: "TofuKeyMismatch", message });
      }
    }
  }

  status.audit = {
    passed: audit.passed,
    failedChecks: audit.failedChecks,
    warnings: audit.warnings,
  };
  const approval = skill.spec.approval;
  let approved = false;
  if (audit.passed) {
    conditions.set("Audited", {
      type: "Audited",
      status: "True",
      reason: "AuditPassed",
      message: `all audit checks passed (${audit.warnings} warnings)`,
    });
  } else if (approval && approval.payloadSha256.toLowerCase() === inspected.payloadSha256) {
    approved = true;
    conditions.set("Audited", {
      type: "Audited",
      status: "True",
      reason: "Approved",
      message: `audit failed (${audit.failedChecks.join(", ")}) and payload ${inspected.payloadSha256} is approved by ${approval.approvedBy}`,
    });
  } else {
    const message = `audit failed: ${audit.quarantineReasons.join("; ")}`;
    conditions.set("Audited", { type: "Audited", status: "False", reason: "AuditFailed", message });
    findings.push({ reason: "AuditFailed", message });
    if (approval) {
      findings.push({
        reason: "ApprovalMismatch",
        message: `the approval by ${approval.approvedBy} is for payload ${approval.payloadSha256}, not this artifact's payload ${inspected.payloadSha256}`,
      });
    }
  }

  if (findings.length > 0) {
    const reasons = findings.flatMap((f) =>
      f.reason === "AuditFailed" ? audit.quarantineReasons : [f.message],
    );
    // Audit mode relaxes what the audit and the provenance-builder rule judge, never who
    // signed the bytes: an untrusted, revoked, mismatched or conflicting key stays quarantined.
    if (auditMode && findings.every((f) => AUDIT_MODE_RELAXES.has(f.reason))) {
      return {
        state: "Enabled",
        reason: "AuditModeOverride",
        message: `policy ${policy?.metadata.name} is in Audit mode; would quarantine: ${reasons.join("; ")}`,
        quarantineReasons: [],
      };
    }
    const first = findings[0] as { reason: string; message: string };
    return {
      state: "Quarantined",
      reason: first.reason,
      message: reasons.join("; "),
      quarantineReasons: reasons,
    };
  }
  return {
    state: "Enabled",
    reason: approved ? "Approved" : "Enabled",
    message: approved
      ? `verified, trusted (${status.trustDecision}), audit findings approved by ${approval?.approvedBy}`
      : `verified, trusted (${status.trustDecision}) and audited`,
    quarantineReasons: [],
  };
}

/** The findings an Audit-mode policy reports instead of enforcing. */
export const AUDIT_MODE_RELAXES: ReadonlySet<string> = new Set([
  "AuditFailed",
  "ApprovalMismatch",
  "ProvenanceBuilderNotAllowed",
]);

function scopeOf(policy: SkillTrustPolicy | undefined): "Namespace" | "Cluster" {
  return policy?.spec.tofuScope === "Cluster" ? "Cluster" : "Namespace";
}

function pinScopeText(scope: "Namespace" | "Cluster", skill: Skill): string {
  return scope === "Cluster"
    ? " (cluster-wide pin)"
    : ` (pin of namespace ${skill.metadata.namespace ?? ""})`;
}

function unguardedMessage(ref: TrustStoreRef): string {
  return `ConfigMap ${ref.namespace}/${ref.name} is not labelled skills.palyra.dev/trust-store=true, so the webhook does not guard it against edits; the operator uses no trust store it does not guard (label it, as a cluster admin, to use it)`;
}

function manifestSummary(facts: VerifiedArtifactFacts): NonNullable<SkillStatus["manifest"]> {
  const m = facts.inspected.manifest;
  const grants = capabilityGrants(m);
  return {
    skillId: m.skill_id,
    name: m.name,
    version: m.version,
    publisher: m.publisher,
    tools: m.entrypoints.tools.map((t) => t.id),
    capabilities: {
      httpHosts: grants.http_hosts,
      secretKeys: grants.secret_keys,
      storagePrefixes: grants.storage_prefixes,
      wildcards: wildcardOptIns(m),
    },
  };
}

function describePolicyFailure(
  p: PolicyResolution,
): { reason: string; message: string } | undefined {
  switch (p.kind) {
    case "found":
      return undefined;
    case "none":
      return {
        reason: "NoPolicy",
        message: "no default SkillTrustPolicy selects this namespace and spec.policyRef is not set",
      };
    case "ambiguous":
      return {
        reason: "AmbiguousPolicy",
        message: `more than one default SkillTrustPolicy selects this namespace (${p.names.join(", ")}); set spec.policyRef or keep one default`,
      };
    case "notFound":
      return {
        reason: "PolicyNotFound",
        message: `SkillTrustPolicy ${p.name} (spec.policyRef) does not exist`,
      };
    case "notApplicable":
      return {
        reason: "PolicyNotApplicable",
        message: `SkillTrustPolicy ${p.name} (spec.policyRef) does not select this namespace`,
      };
  }
}

function quarantined(reason: string, message: string): Outcome {
  return { state: "Quarantined", reason, message, quarantineReasons: [message] };
}

function failed(reason: string, message: string): Outcome {
  return { state: "Failed", reason, message, quarantineReasons: [] };
}

function transitionEvents(
  skill: Skill,
  prev: SkillStatus,
  next: SkillStatus,
  outcome: Outcome,
): DecidedEvent[] {
  const events: DecidedEvent[] = [];
  const prevReady = findCondition(prev.conditions as Condition[] | undefined, "Ready");
  if (prev.artifactSha256 && next.artifactSha256 && prev.artifactSha256 !== next.artifactSha256) {
    events.push({
      type: "Normal",
      reason: "ArtifactChanged",
      message: `artifact changed from sha256:${prev.artifactSha256} to sha256:${next.artifactSha256}`,
    });
  }
  if (prev.state === next.state && prevReady?.reason === outcome.reason) return events;
  const what = next.manifest
    ? `${next.manifest.skillId} ${next.manifest.version}`
    : skill.spec.skillId;
  switch (outcome.state) {
    case "Enabled":
      events.push({
        type: outcome.reason === "AuditModeOverride" ? "Warning" : "Normal",
        reason: outcome.reason === "AuditModeOverride" ? "AuditModeOverride" : "Enabled",
        message: `${what} enabled: ${outcome.message}`,
      });
      break;
    case "Quarantined":
      events.push({
        type: "Warning",
        reason: "Quarantined",
        message: `${what} quarantined (${outcome.reason}): ${outcome.message}`,
      });
      break;
    default:
      events.push({
        type: "Warning",
        reason: "Failed",
        message: `${what} failed (${outcome.reason}): ${outcome.message}`,
      });
  }
  return events;
}
