import { parseArgs } from "node:util";
import { MERGE_PATCH } from "../../kube/client.ts";
import { UsageError } from "../cli-error.ts";
import { CLUSTER_FLAGS, printDocument, withCluster } from "../cluster/connection.ts";
import { skillPath } from "../cluster/skills.ts";
import { EXIT } from "../exit-codes.ts";
import { printLine } from "../output.ts";

/**
 * spec.desiredState: Quarantined holds a Skill back by hand; Enabled releases it (the webhook
 * asks for the `approve` verb to release a manually quarantined Skill).
 */
async function setDesiredState(args: string[], state: "Quarantined" | "Enabled"): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: CLUSTER_FLAGS,
  });
  const verb = state === "Quarantined" ? "quarantine" : "enable";
  if (positionals.length !== 1) throw new UsageError(`${verb} takes exactly one SKILL name`);
  const name = positionals[0] as string;
  return withCluster(values, async ({ client, namespace, output }) => {
    await client.request(skillPath(namespace, name), {
      method: "PATCH",
      contentType: MERGE_PATCH,
      body: { spec: { desiredState: state } },
    });
    const result = { skill: `${namespace}/${name}`, desiredState: state };
    if (!printDocument(output, result)) {
      printLine(
        `${namespace}/${name}: desiredState=${state} (the operator applies it on its next reconcile)`,
      );
    }
    return EXIT.OK;
  });
}

export const quarantine = (args: string[]) => setDesiredState(args, "Quarantined");
export const enable = (args: string[]) => setDesiredState(args, "Enabled");
