import { parseArgs } from "node:util";
import { DEFAULT_ARCHIVE_LIMITS } from "../../artifact/limits.ts";
import { fetchFromOperator } from "../../delivery/fetch-verified.ts";
import { installSkill } from "../../delivery/install.ts";
import { UsageError } from "../cli-error.ts";
import { EXIT } from "../exit-codes.ts";
import { readInput } from "../io.ts";
import { kv, printJson, printLine } from "../output.ts";

export const usage =
  "palyra-skill install (--file ARTIFACT | --from OPERATOR_URL --token-file F [--ca-file F]) --skill-id ID --payload-sha256 HEX --key HEX [--sha256 HEX] --dir DIR [--json]";

/**
 * Installs one skill into DIR/<skill id>/ after checking the artifact against what the
 * operator resolved (payload hash, signing key, and the artifact digest when given) and
 * verifying it again in full. Nothing is written unless every check passes, and the tree
 * appears whole or not at all. Exit codes: 0 installed (or already installed), 1 refused or not
 * written, 2 bad command line or unreadable input.
 */
export async function install(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      file: { type: "string" },
      from: { type: "string" },
      "token-file": { type: "string" },
      "ca-file": { type: "string" },
      "skill-id": { type: "string" },
      "payload-sha256": { type: "string" },
      key: { type: "string" },
      sha256: { type: "string" },
      dir: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 0) throw new UsageError("install takes no positional arguments");
  const need = (name: "file" | "skill-id" | "payload-sha256" | "key" | "dir"): string => {
    const value = values[name];
    if (value === undefined || value === "") throw new UsageError(`install needs --${name}`);
    return value;
  };
  const lower = (v: string) => v.trim().toLowerCase();
  if ((values.file === undefined) === (values.from === undefined)) {
    throw new UsageError("install needs exactly one of --file and --from");
  }
  let bytes: Buffer;
  if (values.from !== undefined) {
    // From the operator: by digest, with the pod's ServiceAccount token.
    if (values.sha256 === undefined)
      throw new UsageError("--from needs --sha256 (the digest to fetch)");
    const tokenFile = values["token-file"];
    if (tokenFile === undefined) throw new UsageError("--from needs --token-file");
    const caFile = values["ca-file"];
    bytes = await fetchFromOperator({
      baseUrl: values.from,
      digest: lower(values.sha256),
      token: readInput(tokenFile, "token").toString("utf8").trim(),
      ...(caFile ? { caPem: readInput(caFile, "CA bundle").toString("utf8") } : {}),
      maxBytes: DEFAULT_ARCHIVE_LIMITS.maxArtifactBytes,
      skillId: need("skill-id"),
    });
  } else {
    bytes = readInput(need("file"), "artifact", {
      bytes: DEFAULT_ARCHIVE_LIMITS.maxArtifactBytes,
      code: "ARTIFACT_TOO_LARGE",
    });
  }
  const result = await installSkill(need("dir"), bytes, {
    skillId: need("skill-id"),
    payloadSha256: lower(need("payload-sha256")),
    publicKeyHex: lower(need("key")),
    ...(values.sha256 === undefined ? {} : { artifactSha256: lower(values.sha256) }),
  });
  if (values.json) printJson({ path: result.path, unchanged: result.unchanged, ...result.verdict });
  else {
    printLine(
      kv("skills.package.install", {
        skill_id: result.verdict.skillId,
        version: result.verdict.version,
        path: result.path,
        payload_sha256: result.verdict.payloadSha256,
        key_id: result.verdict.keyId,
        unchanged: result.unchanged,
      }),
    );
  }
  return EXIT.OK;
}
