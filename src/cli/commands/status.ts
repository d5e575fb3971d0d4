import { parseArgs } from "node:util";
import type { Skill } from "../../api/v1alpha1/types.generated.ts";
import { UsageError } from "../cli-error.ts";
import { CLUSTER_FLAGS, printDocument, table, withCluster } from "../cluster/connection.ts";
import { getSkill, governingPolicy, type PinView, pinsOf } from "../cluster/skills.ts";
import { EXIT } from "../exit-codes.ts";
import { printLine } from "../output.ts";

export interface StatusReport {
  skill: string;
  state: string;
  /** Why, in plain words: what is wrong and what can be done. */
  summary: string[];
  skillId: string;
  publisher: string;
  version?: string | undefined;
  policy?: string | undefined;
  payloadSha256?: string | undefined;
  keyId?: string | undefined;
  trustDecision?: string | undefined;
  audit?: { passed?: boolean; failedChecks?: string[]; warnings?: number } | undefined;
  approval?:
    | { payloadSha256: string; approvedBy: string; reason?: string; current: boolean }
    | undefined;
  desiredState: string;
  quarantineReasons: string[];
  conditions: { type: string; status: string; reason: string; message: string }[];
  pin?: PinView | undefined;
}

/** The plain-words explanation: what holds the Skill back, and the command that helps. */
export function explain(skill: Skill, policy: string | undefined): string[] {
  const s = skill.status ?? {};
  const name = skill.metadata.name ?? "";
  const ns = skill.metadata.namespace ?? "";
  const lines: string[] = [];
  if ((s.observedGeneration ?? 0) < (skill.metadata.generation ?? 0)) {
    lines.push(
      `the operator has not yet processed the latest change (status is for generation ${s.observedGeneration ?? 0}, the Skill is at ${skill.metadata.generation}); is the operator running?`,
    );
  }
  const ready = s.conditions?.find((c) => c.type === "Ready");
  switch (s.state) {
    case "Enabled":
      lines.push(
        `enabled: verified, trusted (${s.trustDecision ?? "trusted"})${s.audit?.passed === false ? ", audit findings approved" : ", audit passed"}`,
      );
      break;
    case "Failed":
      lines.push(`the artifact could not be verified: ${ready?.message ?? "see the conditions"}`);
      break;
    case "Quarantined": {
      for (const reason of s.quarantineReasons ?? []) lines.push(`quarantined: ${reason}`);
      if (skill.spec.desiredState === "Quarantined") {
        lines.push(
          `quarantined by hand; to release it: kubectl palyra-skill enable ${name} -n ${ns}`,
        );
      } else if (s.audit?.passed === false && s.payloadSha256) {
        const approval = skill.spec.approval;
        if (approval && approval.payloadSha256 !== s.payloadSha256) {
          lines.push(
            `an approval exists for another payload (${approval.payloadSha256}); the artifact changed since it was approved`,
          );
        }
        lines.push(
          `a reviewer can approve these audit findings for payload ${s.payloadSha256}: kubectl palyra-skill approve ${name} -n ${ns}`,
        );
      }
      const trusted = s.conditions?.find((c) => c.type === "Trusted");
      if (trusted?.status === "False") {
        lines.push(
          trusted.reason === "TofuKeyMismatch"
            ? "the signing key differs from the one pinned for this publisher: a key compromise or an unannounced rotation; check with the publisher before changing the trust store"
            : `not trusted: ${trusted.message}${policy ? ` (policy ${policy})` : ""}`,
        );
      }
      break;
    }
    default:
      lines.push(
        `not decided yet: ${ready?.message ?? "the operator has not reported on it (is it running?)"}`,
      );
  }
  return lines;
}

export async function status(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: CLUSTER_FLAGS,
  });
  if (positionals.length !== 1) throw new UsageError("status takes exactly one SKILL name");
  const name = positionals[0] as string;
  return withCluster(values, async ({ client, namespace, output }) => {
    const skill = await getSkill(client, namespace, name);
    const governing = await governingPolicy(client, skill);
    const policy = typeof governing === "object" ? governing : undefined;
    const s = skill.status ?? {};
    const publisher = skill.spec.publisher;
    const pins = policy ? await pinsOf(client, policy) : undefined;
    const approval = skill.spec.approval;
    const report: StatusReport = {
      skill: `${namespace}/${name}`,
      state: s.state ?? "Pending",
      summary: [
        ...explain(skill, policy?.metadata.name),
        ...(typeof governing === "string" ? [governing] : []),
      ],
      skillId: skill.spec.skillId,
      publisher,
      version: s.manifest?.version ?? skill.spec.version,
      policy: policy?.metadata.name,
      payloadSha256: s.payloadSha256,
      keyId: s.keyId,
      trustDecision: s.trustDecision,
      audit: s.audit,
      approval: approval
        ? { ...approval, current: approval.payloadSha256 === s.payloadSha256 }
        : undefined,
      desiredState: skill.spec.desiredState ?? "Enabled",
      quarantineReasons: s.quarantineReasons ?? [],
      conditions: (s.conditions ?? []).map(({ type, status, reason, message }) => ({
        type,
        status,
        reason,
        message,
      })),
      // The pin that binds this Skill: its namespace's, or a cluster-wide one.
      pin: pins?.find(
        (p) =>
          p.publisher === publisher && (p.namespace === undefined || p.namespace === namespace),
      ),
    };
    if (printDocument(output, report)) return EXIT.OK;
    printLine(`Skill ${report.skill}: ${report.state}`);
    for (const line of report.summary) printLine(`  - ${line}`);
    printLine("");
    printLine(`  skill id:   ${report.skillId} ${report.version ?? ""}`.trimEnd());
    printLine(`  publisher:  ${publisher}${report.keyId ? ` (key ${report.keyId})` : ""}`);
    printLine(`  policy:     ${report.policy ?? "-"}`);
    printLine(`  trust:      ${report.trustDecision ?? "-"}`);
    printLine(`  payload:    ${report.payloadSha256 ?? "-"}`);
    if (report.audit) {
      printLine(
        `  audit:      ${report.audit.passed ? "passed" : `failed: ${(report.audit.failedChecks ?? []).join(", ")}`}${report.audit.warnings ? `, ${report.audit.warnings} warning(s)` : ""}`,
      );
    }
    if (report.approval) {
      printLine(
        `  approval:   by ${report.approval.approvedBy} for ${report.approval.payloadSha256}${report.approval.current ? "" : " (another payload: not in effect)"}`,
      );
    }
    if (report.pin) {
      printLine(
        `  tofu pin:   ${report.pin.publisher} -> ${report.pin.keyId ?? report.pin.key} (${report.pin.namespace === undefined ? "cluster-wide" : `namespace ${report.pin.namespace}`})${report.pin.skill ? `, pinned by ${report.pin.skill} at ${report.pin.pinnedAt}` : ""} (store ${report.pin.store})`,
      );
    }
    if (report.conditions.length > 0) {
      printLine("");
      printLine(
        table(
          ["CONDITION", "STATUS", "REASON", "MESSAGE"],
          report.conditions.map((c) => [c.type, c.status, c.reason, c.message]),
        ),
      );
    }
    return EXIT.OK;
  });
}
