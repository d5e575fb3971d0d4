import { parseArgs } from "node:util";
import { canonicalManifest } from "../../artifact/canonical-manifest.ts";
import { DEFAULT_ARCHIVE_LIMITS } from "../../artifact/limits.ts";
import { sha256Hex } from "../../artifact/payload.ts";
import { derivedViews, inspectArtifactAsync } from "../../artifact/verify.ts";
import { UsageError } from "../cli-error.ts";
import { EXIT } from "../exit-codes.ts";
import { readInput } from "../io.ts";
import { kv, printJson, printLine } from "../output.ts";
import { RUNTIME_FLAGS, runtimeFromFlags } from "../runtime-options.ts";

/** Contents, digests and signature of a (signature-verified) artifact, without a trust decision. */
export async function inspect(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...RUNTIME_FLAGS, json: { type: "boolean", default: false } },
  });
  if (positionals.length !== 1) throw new UsageError("inspect takes exactly one ARTIFACT");
  const path = positionals[0] as string;
  const bytes = readInput(path, "artifact", {
    bytes: DEFAULT_ARCHIVE_LIMITS.maxArtifactBytes,
    code: "ARTIFACT_TOO_LARGE",
  });
  const inspected = await inspectArtifactAsync(bytes, { runtime: runtimeFromFlags(values) });
  const entries = inspected.entries.map((e) => ({
    path: e.path,
    size: e.data.length,
    sha256: sha256Hex(e.data),
  }));
  const views = derivedViews(inspected.manifest);
  if (values.json) {
    printJson({
      artifact: path,
      artifact_bytes: bytes.length,
      artifact_sha256: sha256Hex(bytes),
      payload_sha256: inspected.payloadSha256,
      signature: { ...inspected.signature, public_key_hex: inspected.publicKeyHex },
      manifest: canonicalManifest(inspected.manifest),
      manifest_warnings: inspected.manifestWarnings,
      capability_grants: views.capabilityGrants,
      policy_bindings: views.policyBindings,
      entries,
    });
    return EXIT.OK;
  }
  const m = inspected.manifest;
  printLine(
    kv("skills.inspect", {
      artifact: path,
      skill_id: m.skill_id,
      name: JSON.stringify(m.name),
      version: m.version,
      publisher: m.publisher,
      payload_sha256: inspected.payloadSha256,
    }),
  );
  printLine(
    kv("signature", {
      key_id: inspected.keyId,
      public_key_hex: inspected.publicKeyHex,
      signed_at_unix_ms: inspected.signature.signed_at_unix_ms,
    }),
  );
  for (const tool of m.entrypoints.tools)
    printLine(
      kv("tool", {
        id: tool.id,
        requires_approval: tool.risk.requires_approval || tool.risk.default_sensitive,
      }),
    );
  for (const entry of entries) printLine(kv("entry", entry));
  for (const warning of inspected.manifestWarnings)
    printLine(kv("warning", { code: warning.code, message: JSON.stringify(warning.message) }));
  return EXIT.OK;
}
