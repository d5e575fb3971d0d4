import { SkillError } from "./errors.ts";
import { findDuplicateKey, namesKeyTwice } from "./json-strict.ts";

// ignoreBOM keeps a byte-order mark in the text so JSON.parse rejects it, as serde_json does.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function parseJsonObject(
  bytes: Uint8Array,
  code: "SBOM_INVALID" | "PROVENANCE_INVALID",
  what: string,
): Record<string, unknown> {
  let value: unknown;
  let text: string;
  try {
    text = decoder.decode(bytes);
    value = JSON.parse(text);
  } catch (error) {
    throw new SkillError(code, `invalid ${what} payload: ${(error as Error).message}`);
  }
  const duplicate = namesKeyTwice(text, value) ? findDuplicateKey(text) : undefined;
  if (duplicate) {
    throw new SkillError(
      code,
      `invalid ${what} payload: duplicate field ${JSON.stringify(duplicate.key)} at ${duplicate.path}`,
      duplicate.key,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SkillError(code, `${what} must be JSON object`);
  }
  return value as Record<string, unknown>;
}

/** sbom.cdx.json: a CycloneDX document with a non-empty specVersion. */
export function validateSbom(bytes: Uint8Array): void {
  const sbom = parseJsonObject(bytes, "SBOM_INVALID", "SBOM");
  if (sbom.bomFormat !== "CycloneDX") {
    throw new SkillError(
      "SBOM_INVALID",
      "sbom.cdx.json must declare bomFormat='CycloneDX'",
      "bomFormat",
    );
  }
  if (typeof sbom.specVersion !== "string" || sbom.specVersion === "") {
    throw new SkillError("SBOM_INVALID", "sbom.cdx.json must include specVersion", "specVersion");
  }
}

/** provenance.json: SLSA-style, with a builder object and a non-empty subject array. */
export function validateProvenance(bytes: Uint8Array): void {
  const provenance = parseJsonObject(bytes, "PROVENANCE_INVALID", "provenance");
  const builder = provenance.builder;
  if (typeof builder !== "object" || builder === null || Array.isArray(builder)) {
    throw new SkillError("PROVENANCE_INVALID", "provenance must include builder object", "builder");
  }
  if (!Array.isArray(provenance.subject) || provenance.subject.length === 0) {
    throw new SkillError(
      "PROVENANCE_INVALID",
      "provenance must include non-empty subject array",
      "subject",
    );
  }
}
