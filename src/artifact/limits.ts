/** Entry names fixed by the format. */
export const MANIFEST_PATH = "skill.toml";
export const SIGNATURE_PATH = "signature.json";
export const SBOM_PATH = "sbom.cdx.json";
export const PROVENANCE_PATH = "provenance.json";
export const MODULES_PREFIX = "modules/";
export const ASSETS_PREFIX = "assets/";

export const PAYLOAD_CONTEXT = "palyra.skill.payload.v1";
export const SIGNATURE_ALGORITHM = "ed25519-sha256";

const MiB = 1024 * 1024;

/** Archive limits; the defaults are the spec's. Exceeding any of them rejects the artifact. */
export interface ArchiveLimits {
  readonly maxArtifactBytes: number;
  readonly maxEntryBytes: number;
  readonly maxTotalBytes: number;
  readonly maxEntries: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = Object.freeze({
  maxArtifactBytes: 64 * MiB,
  maxEntryBytes: 16 * MiB,
  maxTotalBytes: 64 * MiB,
  maxEntries: 256,
});

/** The runtime the compat block is checked against (the reference runtime's current values). */
export interface RuntimeTarget {
  readonly version: string;
  readonly protocolMajor: number;
}

export const DEFAULT_RUNTIME_TARGET: RuntimeTarget = Object.freeze({
  version: "0.1.0",
  protocolMajor: 1,
});
