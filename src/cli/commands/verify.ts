import { parseArgs } from "node:util";
import { verificationReport } from "../../artifact/verify.ts";
import { UsageError } from "../cli-error.ts";
import { EXIT } from "../exit-codes.ts";
import { kv, printJson, printLine } from "../output.ts";
import { RUNTIME_FLAGS } from "../runtime-options.ts";
import { TRUST_FLAGS, verifyWithFlags } from "../trust-options.ts";

export const usage =
  "palyra-skill verify ARTIFACT [--trust-store FILE] [--trusted-publisher PUBLISHER=HEXKEY]... [--allow-tofu] [--init-trust-store] " +
  "[--runtime-version X.Y.Z] [--runtime-protocol-major N] [--json]";

export async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...TRUST_FLAGS, ...RUNTIME_FLAGS, json: { type: "boolean", default: false } },
  });
  if (positionals.length !== 1) throw new UsageError("verify takes exactly one ARTIFACT");
  const path = positionals[0] as string;
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
