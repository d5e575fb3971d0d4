/**
 * Skills as OpenReports `Report` objects (openreports.io/v1alpha1, read by Policy Reporter and
 * Kyverno's tooling): one report per namespace, three results per Skill (verification, trust,
 * audit), built from the Skill statuses the operator wrote. Pure: the writer decides when.
 */

import type { Skill } from "../api/v1alpha1/types.generated.ts";

export const REPORT_API = "/apis/openreports.io/v1alpha1";
export const REPORT_NAME = "palyra-skills";
export const REPORT_SOURCE = "palyra-skills-operator";
/** Results beyond this are dropped, passes first: a Report is one etcd object (~1.5 MiB max). */
export const MAX_RESULTS = 1500;

type Outcome = "pass" | "fail" | "warn" | "error" | "skip";
type Severity = "critical" | "high" | "medium" | "low" | "info";

export interface ReportResult {
  source: string;
  policy: string;
  rule: string;
  category: string;
  severity?: Severity;
  result: Outcome;
  scored: boolean;
  message: string;
  timestamp: { seconds: number; nanos: number };
  resources: { apiVersion: string; kind: string; namespace: string; name: string; uid?: string }[];
  properties?: Record<string, string>;
}

export interface OpenReport {
  apiVersion: "openreports.io/v1alpha1";
  kind: "Report";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    resourceVersion?: string;
  };
  source: string;
  scope: { apiVersion: "v1"; kind: "Namespace"; name: string };
  configuration: { limits: { maxResults: number } };
  summary: Record<Outcome, number>;
  results: ReportResult[];
}

function seconds(time: string | undefined, fallback: number): { seconds: number; nanos: number } {
  const ms = time ? Date.parse(time) : Number.NaN;
  return { seconds: Math.floor((Number.isFinite(ms) ? ms : fallback) / 1000), nanos: 0 };
}

function resultsFor(skill: Skill, nowMs: number): ReportResult[] {
  const s = skill.status;
  if (!s?.state || s.state === "Pending") return [];
  const ready = s.conditions?.find((c) => c.type === "Ready");
  const condition = (type: string) => s.conditions?.find((c) => c.type === type);
  const base = {
    source: REPORT_SOURCE,
    policy: skill.spec.policyRef?.name ?? "default",
    category: "Skill supply chain",
    scored: true,
    timestamp: seconds(ready?.lastTransitionTime ?? s.lastVerifiedTime, nowMs),
    resources: [
      {
        apiVersion: "skills.palyra.dev/v1alpha1",
        kind: "Skill",
        namespace: skill.metadata.namespace ?? "",
        name: skill.metadata.name ?? "",
        ...(skill.metadata.uid ? { uid: skill.metadata.uid } : {}),
      },
    ],
    properties: {
      skillId: skill.spec.skillId,
      publisher: skill.spec.publisher,
      ...(s.payloadSha256 ? { payloadSha256: s.payloadSha256 } : {}),
      ...(s.keyId ? { keyId: s.keyId } : {}),
      state: s.state,
    },
  };
  const verified = condition("Verified");
  const trusted = condition("Trusted");
  const out: ReportResult[] = [];
  out.push(
    verified?.status === "True"
      ? {
          ...base,
          rule: "signature-and-integrity",
          result: "pass",
          message: "signature, payload hash and integrity verified",
        }
      : {
          ...base,
          rule: "signature-and-integrity",
          result: s.state === "Failed" ? "error" : "fail",
          severity: "high",
          message: verified?.message ?? ready?.message ?? "not verified",
        },
  );
  if (verified?.status === "True") {
    out.push(
      trusted?.status === "True"
        ? {
            ...base,
            rule: "publisher-trust",
            result: "pass",
            message: trusted.message || `trusted (${s.trustDecision})`,
          }
        : {
            ...base,
            rule: "publisher-trust",
            result: "fail",
            severity:
              trusted?.reason === "TofuKeyMismatch" || trusted?.reason === "KeyRevoked"
                ? "critical"
                : "high",
            message: trusted?.message ?? "not trusted",
          },
    );
    const failed = s.audit?.failedChecks ?? [];
    const approved = skill.spec.approval?.payloadSha256 === s.payloadSha256 && failed.length > 0;
    out.push(
      failed.length === 0
        ? { ...base, rule: "security-audit", result: "pass", message: "security audit passed" }
        : {
            ...base,
            rule: "security-audit",
            // Approved findings stay visible, as a warning rather than a failure.
            result: approved ? "warn" : "fail",
            severity: "medium",
            message: `${approved ? `approved by ${skill.spec.approval?.approvedBy}: ` : ""}${(s.quarantineReasons ?? []).join("; ") || failed.join(", ")}`,
            properties: { ...base.properties, failedChecks: failed.join(",") },
          },
    );
  }
  return out;
}

const ORDER: Record<Outcome, number> = { error: 0, fail: 1, warn: 2, skip: 3, pass: 4 };

/** The namespace's report, or undefined when no Skill has a verdict there (delete the report). */
export function buildReport(
  namespace: string,
  skills: readonly Skill[],
  nowMs: number,
): OpenReport | undefined {
  const all = skills
    .filter((s) => s.metadata.namespace === namespace && !s.metadata.deletionTimestamp)
    .sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""))
    .flatMap((s) => resultsFor(s, nowMs));
  if (all.length === 0) return undefined;
  const summary: Record<Outcome, number> = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
  for (const r of all) summary[r.result]++;
  // Keep what needs attention when there are too many (stable: same input, same report).
  const results =
    all.length <= MAX_RESULTS
      ? all
      : all
          .map((r, i) => [r, i] as const)
          .sort((a, b) => ORDER[a[0].result] - ORDER[b[0].result] || a[1] - b[1])
          .slice(0, MAX_RESULTS)
          .sort((a, b) => a[1] - b[1])
          .map(([r]) => r);
  return {
    apiVersion: "openreports.io/v1alpha1",
    kind: "Report",
    metadata: {
      name: REPORT_NAME,
      namespace,
      labels: { "app.kubernetes.io/managed-by": REPORT_SOURCE },
    },
    source: REPORT_SOURCE,
    scope: { apiVersion: "v1", kind: "Namespace", name: namespace },
    configuration: { limits: { maxResults: MAX_RESULTS } },
    summary,
    results,
  };
}
