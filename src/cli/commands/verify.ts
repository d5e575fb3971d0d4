import { parseArgs } from "node:util";
import { verificationReport } from "../../artifact/verify.ts";
import { UsageError } from "../cli-error.ts";
import { EXIT } from "../exit-codes.ts";
import { kv, printJson, printLine } from "../output.ts";
import { RUNTIME_FLAGS } from "../runtime-options.ts";
import { TRUST_FLAGS, verifyWithFlags } from "../trust-options.ts";

const CLUSTER_MODE_FLAGS = {
  cluster: { type: "boolean", default: false },
  policy: { type: "string" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  namespace: { type: "string", short: "n" },
} as const;

export async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...TRUST_FLAGS,
      ...RUNTIME_FLAGS,
      ...CLUSTER_MODE_FLAGS,
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError("verify takes exactly one ARTIFACT");
  const path = positionals[0] as string;
  if (values.cluster) return verifyOnCluster(path, values);
  for (const flag of ["policy", "kubeconfig", "context", "namespace"] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} needs --cluster`);
  }
  const verified = await verifyWithFlags(path, values);
  if (values.json) printJson(verificationReport(verified));
  else {
    printLine(
      kv("skills.package.verify", {
        artifact: path,
        accepted: true,
        trust: verified.trustDecision,
        skill_id: verified.manifest.skill_id,
        publisher: verified.manifest.publisher,
        version: verified.manifest.version,
        payload_sha256: verified.payloadSha256,
        key_id: verified.keyId,
        ...(values["trust-store"] === undefined ? {} : { trust_store: values["trust-store"] }),
      }),
    );
    // Warnings do not fail verification, but a reader of the text output must see them.
    for (const warning of verified.manifestWarnings) {
      printLine(
        kv("skills.package.verify.warning", { code: warning.code, message: warning.message }),
      );
    }
  }
  return EXIT.OK;
}

async function verifyOnCluster(
  path: string,
  values: { [k: string]: string | boolean | string[] | undefined },
): Promise<number> {
  for (const flag of ["trust-store", "trusted-publisher", "allow-tofu", "init-trust-store"]) {
    if (values[flag] !== undefined && values[flag] !== false) {
      throw new UsageError(
        `--${flag} cannot be combined with --cluster (the cluster's trust store is used)`,
      );
    }
  }
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const flags = {
    kubeconfig: str("kubeconfig"),
    context: str("context"),
    namespace: str("namespace"),
  };
  // The cluster code (kube client, policy selection) is loaded only for --cluster.
  const [{ withCluster }, { verifyAgainstCluster }] = await Promise.all([
    import("../cluster/connection.ts"),
    import("../cluster/verify-against-cluster.ts"),
  ]);
  return withCluster(flags, async ({ client, namespace }) => {
    const result = await verifyAgainstCluster(client, path, namespace, str("policy"));
    if (values.json) printJson(result);
    else {
      printLine(
        kv("skills.package.verify.cluster", {
          artifact: path,
          namespace: result.namespace,
          policy: result.policy,
          outcome: result.outcome,
          trust: result.trust.ok ? result.trust.decision : result.trust.reason,
          audit: result.audit.passed ? "passed" : "failed",
          payload_sha256: result.payloadSha256,
          key_id: result.keyId,
        }),
      );
      if (!result.trust.ok) printLine(`trust: ${result.trust.message}`);
      else if (result.trust.decision === "tofu_newly_pinned") {
        printLine(
          `trust: publisher ${result.publisher} is not pinned yet; the first Skill using this artifact would pin key ${result.keyId} (nothing written now)`,
        );
      }
      for (const reason of result.audit.quarantineReasons) printLine(`audit: ${reason}`);
    }
    if (!result.trust.ok) return EXIT.REJECTED;
    return result.audit.passed ? EXIT.OK : EXIT.QUARANTINE;
  });
}
