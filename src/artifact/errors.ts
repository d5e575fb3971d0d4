/**
 * Every failure the artifact library reports is a SkillError with a stable machine-readable
 * `code` (part of the public contract: CLI `--json`, CR status reasons, metrics labels) and a
 * human message. `field` names the offending manifest/JSON field or archive entry when known.
 */
export const ERROR_CODES = {
  // container
  ARTIFACT_TOO_LARGE: "artifact exceeds the archive size limit",
  ARCHIVE_MALFORMED: "archive is not a well-formed ZIP",
  ARCHIVE_UNSUPPORTED: "archive uses an unsupported ZIP feature",
  TOO_MANY_ENTRIES: "archive has more entries than allowed",
  ENTRY_TOO_LARGE: "an entry exceeds the uncompressed size limit",
  ARCHIVE_TOTAL_TOO_LARGE: "entries exceed the total uncompressed size limit",
  ENTRY_CORRUPT: "an entry's data is corrupt",
  ENTRY_NAME_MISMATCH: "local header and central directory disagree",
  INVALID_ENTRY_PATH: "an entry path is not allowed",
  DUPLICATE_ENTRY: "two entries normalise to the same path",
  MISSING_ENTRY: "a required entry is missing",
  // content
  MANIFEST_PARSE_ERROR: "skill.toml is not valid TOML",
  MANIFEST_INVALID: "skill.toml violates the manifest rules",
  MANIFEST_INCOMPATIBLE: "the skill is not compatible with the target runtime",
  SBOM_INVALID: "sbom.cdx.json is not a valid CycloneDX document",
  PROVENANCE_INVALID: "provenance.json is not a valid provenance document",
  INTEGRITY_MISMATCH: "the integrity block does not match the entries",
  // signature
  SIGNATURE_MALFORMED: "signature.json is malformed",
  UNSUPPORTED_ALGORITHM: "signature algorithm is not supported",
  PAYLOAD_HASH_MISMATCH: "payload hash does not match the signed one",
  KEY_ID_MISMATCH: "key_id does not match the public key",
  PUBLIC_KEY_INVALID: "public key is not an acceptable Ed25519 key",
  SIGNATURE_INVALID: "Ed25519 signature does not verify",
  PUBLISHER_MISMATCH: "signature publisher differs from the manifest publisher",
  // trust
  TRUSTED_KEY_MISMATCH: "trusted publisher key mismatch",
  TOFU_KEY_MISMATCH: "TOFU pinned key mismatch",
  UNTRUSTED_PUBLISHER: "untrusted publisher",
  TRUST_STORE_INVALID: "trust store document is invalid",
  // keys and inputs
  SIGNING_KEY_INVALID: "signing key is not a 32-byte Ed25519 seed",
  BUILD_INPUT_INVALID: "build input is invalid",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class SkillError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, field?: string) {
    super(message);
    this.name = "SkillError";
    this.code = code;
    this.field = field;
  }

  toJSON(): { code: ErrorCode; message: string; field?: string } {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

export function isSkillError(value: unknown): value is SkillError {
  return value instanceof SkillError;
}
