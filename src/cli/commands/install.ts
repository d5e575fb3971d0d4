import { parseArgs } from "node:util";
import { DEFAULT_ARCHIVE_LIMITS } from "../../artifact/limits.ts";
import { fetchFromOperator } from "../../delivery/fetch-verified.ts";
import { installSkill, verifyForInstall } from "../../delivery/install.ts";
import { UsageError } from "../cli-error.ts";
import { EXIT } from "../exit-codes.ts";
import { readInput } from "../io.ts";
import { kv, printJson, printLine } from "../output.ts";

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
      "ca-env": { type: "string" },
      expect: { type: "string", multiple: true },
      "skill-id": { type: "string" },
      "payload-sha256": { type: "string" },
      key: { type: "string" },
      sha256: { type: "string" },
      dir: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 0) throw new UsageError("install takes no positional arguments");
  const caPem = (): string | undefined => {
    const file = values["ca-file"];
    const env = values["ca-env"];
    if (file !== undefined && env !== undefined)
      throw new UsageError("--ca-file and --ca-env exclude each other");
    if (file !== undefined) return readInput(file, "CA bundle").toString("utf8");
    if (env === undefined) return undefined;
    const pem = process.env[env];
    if (!pem) throw new UsageError(`--ca-env ${env}: the variable is not set`);
    return pem;
  };
  if (values.expect !== undefined) return installExpected(values, caPem());
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
    const ca = caPem();
    bytes = await fetchFromOperator({
      baseUrl: values.from,
      digest: lower(values.sha256),
      token: readInput(tokenFile, "token").toString("utf8").trim(),
      ...(ca ? { caPem: ca } : {}),
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

/**
 * The init container's form: several skills, each `ID,ARTIFACT_SHA256,PAYLOAD_SHA256,KEY`.
 * Every artifact is fetched and checked before any tree is written, so a pod either gets all
 * its skills or none (and the init container fails naming the first skill that did not check).
 */
async function installExpected(
  values: { [k: string]: string | boolean | string[] | undefined },
  ca: string | undefined,
): Promise<number> {
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const from = str("from");
  const tokenFile = str("token-file");
  const dir = str("dir");
  if (from === undefined || tokenFile === undefined || dir === undefined) {
    throw new UsageError("--expect needs --from, --token-file and --dir");
  }
  for (const flag of ["file", "skill-id", "payload-sha256", "key", "sha256"]) {
    if (values[flag] !== undefined)
      throw new UsageError(`--${flag} cannot be combined with --expect`);
  }
  const expectations = (values.expect as string[]).map((e) => {
    const [skillId, artifactSha256, payloadSha256, publicKeyHex, ...rest] = e.split(",");
    if (!skillId || !artifactSha256 || !payloadSha256 || !publicKeyHex || rest.length > 0) {
      throw new UsageError(
        `--expect ${JSON.stringify(e)} is not ID,ARTIFACT_SHA256,PAYLOAD_SHA256,KEY`,
      );
    }
    return { skillId, artifactSha256, payloadSha256, publicKeyHex };
  });
  const token = readInput(tokenFile, "token").toString("utf8").trim();
  const fetched: Buffer[] = [];
  for (const e of expectations) {
    const bytes = await fetchFromOperator({
      baseUrl: from,
      digest: e.artifactSha256,
      token,
      ...(ca ? { caPem: ca } : {}),
      maxBytes: DEFAULT_ARCHIVE_LIMITS.maxArtifactBytes,
      skillId: e.skillId,
    });
    // Checked now so that nothing is written unless every skill passes; only the bytes are
    // kept, and installSkill verifies again: memory for several large skills (inflated entries)
    // matters more under the init container's limit than a second verification's CPU.
    await verifyForInstall(bytes, e);
    fetched.push(bytes);
  }
  const results = [];
  for (const [i, e] of expectations.entries()) {
    results.push(await installSkill(dir, fetched[i] as Buffer, e));
  }
  if (values.json) {
    printJson(results.map((r) => ({ path: r.path, unchanged: r.unchanged, ...r.verdict })));
  } else {
    for (const r of results) {
      printLine(
        kv("skills.package.install", {
          skill_id: r.verdict.skillId,
          version: r.verdict.version,
          path: r.path,
          payload_sha256: r.verdict.payloadSha256,
          key_id: r.verdict.keyId,
          unchanged: r.unchanged,
        }),
      );
    }
  }
  return EXIT.OK;
}
