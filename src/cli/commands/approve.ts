import { createInterface } from "node:readline/promises";
import { parseArgs } from "node:util";
import { KubeApiError, MERGE_PATCH } from "../../kube/client.ts";
import { whoAmI } from "../../kube/whoami.ts";
import { ClusterError, UsageError } from "../cli-error.ts";
import { CLUSTER_FLAGS, printDocument, withCluster } from "../cluster/connection.ts";
import { getSkill, skillPath } from "../cluster/skills.ts";
import { EXIT } from "../exit-codes.ts";
import { printLine } from "../output.ts";

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/**
 * Shows what is being approved (the audit findings and the payload hash), then writes an
 * approval bound to that payload with the caller's own identity. The write carries the
 * resourceVersion that was shown, so a Skill that changed meanwhile is not approved blind; the
 * webhook checks the `approve` verb and that approvedBy is the caller.
 */
export async function approve(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...CLUSTER_FLAGS,
      reason: { type: "string" },
      yes: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError("approve takes exactly one SKILL name");
  const name = positionals[0] as string;
  return withCluster(values, async ({ client, namespace, output }) => {
    const skill = await getSkill(client, namespace, name);
    const s = skill.status ?? {};
    if (!s.payloadSha256) {
      throw new ClusterError(
        `${namespace}/${name} has no verified payload yet (state ${s.state ?? "Pending"}); there is nothing to approve`,
        "NOTHING_TO_APPROVE",
      );
    }
    const me = await whoAmI(client).catch((error: unknown) => {
      if (error instanceof KubeApiError) throw error;
      throw new ClusterError((error as Error).message, "KUBE_API_ERROR");
    });
    const findings = s.quarantineReasons ?? [];
    const say = (line: string) => process.stderr.write(`${line}\n`);
    say(
      `Skill ${namespace}/${name} (${skill.spec.skillId}, publisher ${skill.spec.publisher}): ${s.state ?? "Pending"}`,
    );
    say(`  payload sha256: ${s.payloadSha256}`);
    say(`  signing key:    ${s.keyId ?? "-"} (${s.trustDecision ?? "not trusted"})`);
    say(
      `  audit:          ${s.audit?.passed ? "passed" : `failed checks: ${(s.audit?.failedChecks ?? []).join(", ") || "-"}`}`,
    );
    for (const finding of findings) say(`  finding:        ${finding}`);
    if (skill.spec.approval?.payloadSha256 === s.payloadSha256) {
      say(`  already approved by ${skill.spec.approval.approvedBy} for this payload`);
    }
    if (!values.yes) {
      if (!process.stdin.isTTY) {
        throw new UsageError(
          "not approving without a confirmation: pass --yes (no terminal to ask on)",
        );
      }
      if (!(await confirm(`Approve payload ${s.payloadSha256} as ${me}? [y/N] `))) {
        say("not approved");
        return EXIT.REJECTED;
      }
    }
    const approval = {
      payloadSha256: s.payloadSha256,
      approvedBy: me,
      ...(values.reason ? { reason: values.reason } : {}),
    };
    await client.request(skillPath(namespace, name), {
      method: "PATCH",
      contentType: MERGE_PATCH,
      body: {
        metadata: { resourceVersion: skill.metadata.resourceVersion },
        spec: { approval: values.reason ? approval : { ...approval, reason: null } },
      },
    });
    const result = { skill: `${namespace}/${name}`, approval };
    if (!printDocument(output, result)) {
      printLine(`approved ${namespace}/${name}: payload ${approval.payloadSha256} by ${me}`);
    }
    return EXIT.OK;
  });
}
