import { existsSync } from "node:fs";
import { basename, dirname, isAbsolute } from "node:path";
import { parseArgs } from "node:util";
import { buildArtifact } from "../../artifact/build.ts";
import { keyIdFor, parseSigningKey } from "../../artifact/ed25519.ts";
import { SkillError } from "../../artifact/errors.ts";
import { DEFAULT_ARCHIVE_LIMITS } from "../../artifact/limits.ts";
import { UsageError } from "../cli-error.ts";
import { EXIT } from "../exit-codes.ts";
import { readInput, readStdin, writeAtomic } from "../io.ts";
import { kv, printJson, printLine } from "../output.ts";

/**
 * The entry path a file gets inside modules/ or assets/, as the reference CLI derives it:
 * an absolute path contributes its file name, a relative one is kept (with `\` as `/`).
 */
export function entryPathFromArgument(argument: string): string {
  const trimmed = argument.trim();
  if (trimmed === "") throw new UsageError("artifact file path cannot be empty");
  if (isAbsolute(trimmed)) {
    const name = basename(trimmed);
    if (name === "") throw new UsageError(`absolute artifact path '${trimmed}' has no file name`);
    return name;
  }
  return trimmed.replaceAll("\\", "/");
}

// A signing key is 32 bytes, or 64 hex / 44 base64 characters: anything near 4 KiB is not one.
const KEY_LIMIT = 4096;
// Every input becomes one artifact entry: refuse a file past the entry limit before reading it.
const ENTRY_LIMIT = {
  bytes: DEFAULT_ARCHIVE_LIMITS.maxEntryBytes,
  code: "ENTRY_TOO_LARGE",
} as const;

export async function build(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      manifest: { type: "string" },
      module: { type: "string", multiple: true },
      asset: { type: "string", multiple: true },
      sbom: { type: "string" },
      provenance: { type: "string" },
      "signing-key-file": { type: "string" },
      "signing-key-stdin": { type: "boolean", default: false },
      "expect-key-id": { type: "string" },
      force: { type: "boolean", default: false },
      "signed-at-unix-ms": { type: "string" },
      output: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  for (const flag of ["manifest", "sbom", "provenance", "output"] as const) {
    if (!values[flag]) throw new UsageError(`build requires --${flag}`);
  }
  if (!values.module?.length) throw new UsageError("build requires at least one --module");
  // As keygen: an existing file is replaced only on request, and a missing directory is an
  // error (a typo in a path should not silently create a tree somewhere).
  const outputPath = values.output as string;
  if (existsSync(outputPath) && !values.force) {
    throw new UsageError(`${outputPath} exists; pass --force to replace it`, "IO_ERROR");
  }
  if (!existsSync(dirname(outputPath) || ".")) {
    throw new UsageError(
      `the directory of --output ${outputPath} does not exist; create it first`,
      "IO_ERROR",
    );
  }
  const keyFile = values["signing-key-file"];
  if ((keyFile === undefined) === !values["signing-key-stdin"]) {
    throw new UsageError("build takes exactly one of --signing-key-file or --signing-key-stdin");
  }
  // keygen writes the public half as <key>.pub, in the same 64-hex-character form as the seed:
  // signing with it would "work" and produce a key nobody trusts. Refuse it by name.
  if (keyFile?.endsWith(".pub")) {
    const privateHalf = keyFile.slice(0, -".pub".length);
    throw new UsageError(
      `--signing-key-file ${keyFile} is a public key file (keygen writes the public half as <key>.pub); sign with the private key${existsSync(privateHalf) ? ` (${privateHalf})` : ""}`,
    );
  }
  const keyBytes =
    keyFile === undefined
      ? await readStdin(KEY_LIMIT)
      : readInput(keyFile, "signing key", { bytes: KEY_LIMIT });
  if (keyBytes.length === 0) throw new UsageError("the signing key input is empty");
  let signedAt: number | undefined;
  if (values["signed-at-unix-ms"] !== undefined) {
    signedAt = Number(values["signed-at-unix-ms"]);
    if (!Number.isSafeInteger(signedAt) || signedAt < 0)
      throw new UsageError("--signed-at-unix-ms must be a non-negative integer");
  }

  // The key id as verify and the trust store show it: ed25519:<16 hex> (the prefix optional).
  const expectRaw = values["expect-key-id"]?.trim().toLowerCase();
  const expectKeyId = expectRaw?.startsWith("ed25519:")
    ? expectRaw
    : expectRaw && `ed25519:${expectRaw}`;
  if (expectKeyId !== undefined && !/^ed25519:[0-9a-f]{16}$/.test(expectKeyId)) {
    throw new UsageError(
      `--expect-key-id ${JSON.stringify(values["expect-key-id"])} is not a key id (ed25519:<16 hex digits>)`,
    );
  }
  const signingKey = parseSigningKey(keyBytes);
  if (expectKeyId !== undefined) {
    const actual = keyIdFor(signingKey.publicKey);
    if (actual !== expectKeyId) {
      throw new UsageError(
        `the signing key's id is ${actual}, not the expected ${expectKeyId} (--expect-key-id): wrong key file?`,
      );
    }
  }

  let built: ReturnType<typeof buildArtifact>;
  try {
    built = buildArtifact({
      manifestToml: readInput(values.manifest as string, "manifest", ENTRY_LIMIT).toString("utf8"),
      modules: values.module.map((path) => ({
        path: entryPathFromArgument(path),
        data: readInput(path, "module", ENTRY_LIMIT),
      })),
      assets: (values.asset ?? []).map((path) => ({
        path: entryPathFromArgument(path),
        data: readInput(path, "asset", ENTRY_LIMIT),
      })),
      sbom: readInput(values.sbom as string, "SBOM", ENTRY_LIMIT),
      provenance: readInput(values.provenance as string, "provenance", ENTRY_LIMIT),
      signingKey,
      ...(signedAt === undefined ? {} : { signedAtUnixMs: signedAt }),
    });
  } catch (error) {
    // Name the file the user passed, not only the entry it becomes inside the artifact.
    const source: Partial<Record<string, string>> = {
      SBOM_INVALID: `--sbom ${values.sbom}`,
      PROVENANCE_INVALID: `--provenance ${values.provenance}`,
      MANIFEST_PARSE_ERROR: `--manifest ${values.manifest}`,
      MANIFEST_INVALID: `--manifest ${values.manifest}`,
    };
    const from = error instanceof SkillError ? source[error.code] : undefined;
    if (error instanceof SkillError && from !== undefined) {
      throw new SkillError(error.code, `${from}: ${error.message}`, error.field);
    }
    throw error;
  }
  const output = values.output as string;
  writeAtomic(output, built.artifact);

  const summary = {
    artifact_bytes: built.artifact.length,
    artifact_path: output,
    payload_sha256: built.payloadSha256,
    publisher: built.manifest.publisher,
    signature_key_id: built.signature.key_id,
    skill_id: built.manifest.skill_id,
    version: built.manifest.version,
  };
  if (values.json) printJson(summary);
  else {
    printLine(
      kv("skills.package.build", {
        artifact: output,
        skill_id: summary.skill_id,
        publisher: summary.publisher,
        version: summary.version,
        payload_sha256: summary.payload_sha256,
        key_id: summary.signature_key_id,
        bytes: summary.artifact_bytes,
      }),
    );
  }
  return EXIT.OK;
}
