import { validateProvenance, validateSbom } from "./attestations.ts";
import { canonicalManifest } from "./canonical-manifest.ts";
import { keyIdFor, type SigningKey, signMessage } from "./ed25519.ts";
import { SkillError } from "./errors.ts";
import {
  type ArchiveLimits,
  ASSETS_PREFIX,
  DEFAULT_ARCHIVE_LIMITS,
  DEFAULT_RUNTIME_TARGET,
  MANIFEST_PATH,
  MODULES_PREFIX,
  PROVENANCE_PATH,
  type RuntimeTarget,
  SBOM_PATH,
  SIGNATURE_ALGORITHM,
  SIGNATURE_PATH,
} from "./limits.ts";
import { checkRuntimeCompatibility, parseManifest, type SkillManifest } from "./manifest.ts";
import { compareUtf8, normalizeEntryPath } from "./paths.ts";
import { computePayloadSha256, sha256Hex } from "./payload.ts";
import type { SignatureDocument } from "./signature.ts";
import { stringifyToml } from "./toml-writer.ts";
import { inspectWasm } from "./wasm.ts";
import type { ArchiveEntry } from "./zip-reader.ts";
import { writeArchive } from "./zip-writer.ts";

export interface BuildFile {
  /** Path relative to modules/ or assets/ (as given on the command line). */
  readonly path: string;
  readonly data: Uint8Array;
}

export interface BuildRequest {
  readonly manifestToml: string;
  readonly modules: readonly BuildFile[];
  readonly assets?: readonly BuildFile[];
  readonly sbom: Uint8Array;
  readonly provenance: Uint8Array;
  readonly signingKey: SigningKey;
  readonly signedAtUnixMs?: number;
  readonly limits?: ArchiveLimits;
  readonly runtime?: RuntimeTarget;
  /**
   * Sign modules that are not valid WebAssembly. Only tests that need such an artifact (to
   * exercise the audit) set this; a publisher never should.
   */
  readonly allowInvalidModules?: boolean;
}

export interface BuiltArtifact {
  readonly artifact: Buffer;
  readonly manifest: SkillManifest;
  readonly payloadSha256: string;
  readonly signature: SignatureDocument;
}

/**
 * Builds and signs an artifact the way the reference tool does: validate the inputs, place
 * modules and assets, fill the integrity block, write the manifest in canonical TOML, hash
 * the payload, sign the hex digest, and zip everything in path order.
 */
export function buildArtifact(request: BuildRequest): BuiltArtifact {
  const limits = request.limits ?? DEFAULT_ARCHIVE_LIMITS;
  const manifest = parseManifest(request.manifestToml);
  checkRuntimeCompatibility(manifest, request.runtime ?? DEFAULT_RUNTIME_TARGET);
  validateSbom(request.sbom);
  validateProvenance(request.provenance);

  const files = new Map<string, Buffer>();
  const insert = (path: string, data: Uint8Array) => {
    if (data.length > limits.maxEntryBytes) {
      throw new SkillError(
        "ENTRY_TOO_LARGE",
        `entry '${path}' is ${data.length} bytes; the limit is ${limits.maxEntryBytes}`,
        path,
      );
    }
    const normalized = normalizeEntryPath(path);
    if (files.has(normalized)) {
      throw new SkillError(
        "DUPLICATE_ENTRY",
        `artifact contains duplicate entry '${normalized}'`,
        normalized,
      );
    }
    files.set(normalized, Buffer.from(data));
  };
  for (const module of request.modules) {
    if (!module.path.endsWith(".wasm")) {
      throw new SkillError(
        "BUILD_INPUT_INVALID",
        `module path '${module.path}' must end with .wasm`,
        module.path,
      );
    }
    insert(`${MODULES_PREFIX}${normalizeEntryPath(module.path)}`, module.data);
    if (request.allowInvalidModules !== true) {
      // Signing a module that no runtime can load only moves the failure to the cluster.
      const inspection = inspectWasm(module.data);
      if (!inspection.valid) {
        throw new SkillError(
          "BUILD_INPUT_INVALID",
          `module '${module.path}' is not a valid WebAssembly binary module: ${inspection.error}`,
          module.path,
        );
      }
    }
  }
  if (request.modules.length === 0) {
    throw new SkillError(
      "BUILD_INPUT_INVALID",
      "artifact must include at least one module",
      "modules",
    );
  }
  for (const asset of request.assets ?? [])
    insert(`${ASSETS_PREFIX}${normalizeEntryPath(asset.path)}`, asset.data);
  insert(SBOM_PATH, request.sbom);
  insert(PROVENANCE_PATH, request.provenance);

  manifest.integrity.files = [...files.keys()]
    .sort(compareUtf8)
    .map((path) => ({ path, sha256: sha256Hex(files.get(path) as Buffer) }));
  files.set(
    MANIFEST_PATH,
    Buffer.from(stringifyToml(canonicalManifest(manifest) as never), "utf8"),
  );

  const sorted = (): ArchiveEntry[] =>
    [...files.keys()].sort(compareUtf8).map((path) => ({ path, data: files.get(path) as Buffer }));
  const payloadSha256 = computePayloadSha256(sorted());
  const signatureBytes = signMessage(request.signingKey, Buffer.from(payloadSha256, "ascii"));
  const signature: SignatureDocument = {
    algorithm: SIGNATURE_ALGORITHM,
    publisher: manifest.publisher,
    key_id: keyIdFor(request.signingKey.publicKey),
    public_key_base64: request.signingKey.publicKey.toString("base64"),
    payload_sha256: payloadSha256,
    signature_base64: signatureBytes.toString("base64"),
    signed_at_unix_ms: request.signedAtUnixMs ?? Date.now(),
  };
  files.set(SIGNATURE_PATH, Buffer.from(JSON.stringify(signature, null, 2), "utf8"));

  const entries = sorted();
  if (entries.length > limits.maxEntries) {
    throw new SkillError(
      "TOO_MANY_ENTRIES",
      `artifact would have ${entries.length} entries; the limit is ${limits.maxEntries}`,
    );
  }
  const total = entries.reduce((sum, e) => sum + e.data.length, 0);
  if (total > limits.maxTotalBytes) {
    throw new SkillError(
      "ARCHIVE_TOTAL_TOO_LARGE",
      `entries total ${total} bytes; the limit is ${limits.maxTotalBytes}`,
    );
  }
  const artifact = writeArchive(entries);
  if (artifact.length > limits.maxArtifactBytes) {
    throw new SkillError(
      "ARTIFACT_TOO_LARGE",
      `artifact is ${artifact.length} bytes; the limit is ${limits.maxArtifactBytes}`,
    );
  }
  return { artifact, manifest, payloadSha256, signature };
}
