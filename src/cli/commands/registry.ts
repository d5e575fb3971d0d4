import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_ARCHIVE_LIMITS } from "../../artifact/limits.ts";
import { inspectArtifactAsync } from "../../artifact/verify.ts";
import { credentialsFor, type RegistryCredentials } from "../../sources/oci/auth.ts";
import { pullSkill, pushSkill } from "../../sources/oci/publish.ts";
import { OciReferenceError, parseOciReference } from "../../sources/oci/reference.ts";
import { UsageError } from "../cli-error.ts";
import { EXIT } from "../exit-codes.ts";
import { readInput, writeAtomic } from "../io.ts";
import { kv, printJson, printLine } from "../output.ts";
import { USAGE } from "../usage.ts";

const authOptions = {
  "docker-config": { type: "string" },
  username: { type: "string" },
  "password-stdin": { type: "boolean", default: false },
  "ca-file": { type: "string" },
  json: { type: "boolean", default: false },
} as const;

type AuthValues = {
  "docker-config"?: string | undefined;
  username?: string | undefined;
  "password-stdin"?: boolean | undefined;
  "ca-file"?: string | undefined;
};

function reference(text: string | undefined, command: string) {
  if (text === undefined) throw new UsageError(`${command} needs a reference`);
  try {
    return parseOciReference(text);
  } catch (error) {
    if (error instanceof OciReferenceError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * Credentials for the registry: --username with the password on stdin, else the Docker config
 * (--docker-config, $DOCKER_CONFIG/config.json or ~/.docker/config.json) when it has an entry
 * for the registry, else none (anonymous).
 */
function credentials(values: AuthValues, registry: string): RegistryCredentials | undefined {
  if (values.username !== undefined) {
    if (!values["password-stdin"]) throw new UsageError("--username needs --password-stdin");
    const password = readFileSync(0, "utf8").replace(/\r?\n$/, "");
    if (password === "") throw new UsageError("--password-stdin: standard input is empty");
    return { username: values.username, password };
  }
  if (values["password-stdin"]) throw new UsageError("--password-stdin needs --username");
  const explicit = values["docker-config"];
  const path =
    explicit ?? join(process.env.DOCKER_CONFIG ?? join(homedir(), ".docker"), "config.json");
  if (explicit === undefined && !existsSync(path)) return undefined;
  const text = readInput(path, "Docker config", { bytes: 1024 * 1024 }).toString("utf8");
  try {
    return credentialsFor(text, registry);
  } catch (error) {
    throw new UsageError(`${path}: ${(error as Error).message}`);
  }
}

function clientOptions(values: AuthValues, registry: string) {
  const ca = values["ca-file"];
  const found = credentials(values, registry);
  return {
    ...(ca ? { caBundlePem: readInput(ca, "CA bundle").toString("utf8") } : {}),
    ...(found ? { credentials: found } : {}),
    userAgent: "palyra-skill",
  };
}

/**
 * Pushes an artifact as an OCI artifact (docs/oci.md): its signature is verified first (not
 * its trust: that is the cluster's decision), then the blobs and the manifest are uploaded.
 * Exit codes: 0 pushed, 1 rejected (the artifact, or by the registry), 2 usage.
 */
export async function push(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: authOptions,
  });
  if (positionals.length !== 2) throw new UsageError(`usage: ${USAGE.push}`);
  const [file, target] = positionals as [string, string];
  const ref = reference(target, "push");
  if (ref.tag === undefined || ref.digest !== undefined) {
    throw new UsageError("push names a tag (REGISTRY/REPOSITORY:TAG), not a digest");
  }
  const bytes = readInput(file, "artifact", {
    bytes: DEFAULT_ARCHIVE_LIMITS.maxArtifactBytes,
    code: "ARTIFACT_TOO_LARGE",
  });
  const inspected = await inspectArtifactAsync(bytes);
  const m = inspected.manifest;
  const pushed = await pushSkill(
    ref,
    bytes,
    {
      skillId: m.skill_id,
      version: m.version,
      publisher: m.publisher,
      keyId: inspected.keyId,
      payloadSha256: inspected.payloadSha256,
    },
    { ...clientOptions(values, ref.registry), title: basename(file) },
  );
  const result = {
    reference: target,
    pinned: pushed.pinned,
    manifestDigest: pushed.manifestDigest,
    artifactSha256: pushed.layerDigest.slice("sha256:".length),
    skillId: m.skill_id,
    version: m.version,
    payloadSha256: inspected.payloadSha256,
    keyId: inspected.keyId,
    blobsSkipped: pushed.skipped,
  };
  if (values.json) printJson(result);
  else
    printLine(
      kv("skills.package.push", {
        reference: target,
        digest: pushed.manifestDigest,
        artifact_sha256: result.artifactSha256,
        skill_id: m.skill_id,
        version: m.version,
      }),
    );
  return EXIT.OK;
}

/**
 * Pulls an artifact by tag or digest into a file, its bytes checked against the layer's digest
 * (verify it with `palyra-skill verify`). Exit codes: 0 pulled, 1 refused, 2 usage.
 */
export async function pull(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...authOptions,
      output: { type: "string", short: "o" },
      force: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError(`usage: ${USAGE.pull}`);
  const ref = reference(positionals[0], "pull");
  const output = values.output;
  if (!output) throw new UsageError("pull needs -o FILE");
  if (existsSync(output) && !values.force) {
    throw new UsageError(`${output} exists; pass --force to replace it`, "IO_ERROR");
  }
  const pulled = await pullSkill(ref, {
    ...clientOptions(values, ref.registry),
    maxArtifactBytes: DEFAULT_ARCHIVE_LIMITS.maxArtifactBytes,
  });
  writeAtomic(output, pulled.bytes);
  const sha256 = pulled.layerDigest.slice("sha256:".length);
  if (values.json)
    printJson({
      reference: positionals[0],
      pinned: pulled.pinned,
      artifactSha256: sha256,
      output,
      bytes: pulled.bytes.length,
    });
  else
    printLine(
      kv("skills.package.pull", {
        reference: positionals[0] as string,
        digest: pulled.pinned.slice(pulled.pinned.indexOf("@") + 1),
        artifact_sha256: sha256,
        output,
      }),
    );
  return EXIT.OK;
}
