import { parseArgs } from "node:util";
import { UsageError } from "../cli-error.ts";
import { CLUSTER_FLAGS, printDocument, table, withCluster } from "../cluster/connection.ts";
import { listPolicies, type PinView, pinsOf } from "../cluster/skills.ts";
import { EXIT } from "../exit-codes.ts";
import { printLine } from "../output.ts";

/**
 * The TOFU pins every policy honours: which key binds which namespace (or the whole cluster),
 * who pinned it and when.
 */
export async function pins(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...CLUSTER_FLAGS, policy: { type: "string" } },
  });
  if (positionals.length !== 0) throw new UsageError("pins takes no arguments (see --policy)");
  return withCluster(values, async ({ client, output }) => {
    const policies = (await listPolicies(client)).filter(
      (p) => values.policy === undefined || p.metadata.name === values.policy,
    );
    if (values.policy !== undefined && policies.length === 0) {
      throw new UsageError(`no SkillTrustPolicy named ${JSON.stringify(values.policy)}`);
    }
    const rows: PinView[] = [];
    const unreadable: string[] = [];
    for (const policy of policies) {
      const found = await pinsOf(client, policy);
      if (found === undefined) unreadable.push(policy.metadata.name ?? "");
      else rows.push(...found);
    }
    if (printDocument(output, { pins: rows, unreadableStores: unreadable })) return EXIT.OK;
    if (rows.length === 0) printLine("no TOFU pins");
    else {
      printLine(
        table(
          ["POLICY", "BINDS", "PUBLISHER", "KEY ID", "PINNED BY", "PINNED AT", "TRUST STORE"],
          rows.map((r) => [
            r.policy,
            r.namespace === undefined ? "cluster" : `namespace ${r.namespace}`,
            r.publisher,
            r.keyId ?? `${r.key.slice(0, 16)}…`,
            r.skill ?? "-",
            r.pinnedAt ?? "-",
            r.store,
          ]),
        ),
      );
    }
    for (const name of unreadable) {
      process.stderr.write(
        `warning: the trust store of policy ${name} could not be read (missing, invalid or forbidden)\n`,
      );
    }
    return EXIT.OK;
  });
}
