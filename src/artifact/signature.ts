import { decodeStrictBase64 } from "./ed25519.ts";
import { SkillError } from "./errors.ts";
import { SHA256_HEX } from "./identifiers.ts";
import { findDuplicateKey, namesKeyTwice } from "./json-strict.ts";

/** signature.json, exactly as the format defines it. */
export interface SignatureDocument {
  readonly algorithm: string;
  readonly publisher: string;
  readonly key_id: string;
  readonly public_key_base64: string;
  readonly payload_sha256: string;
  readonly signature_base64: string;
  readonly signed_at_unix_ms: number;
}

const STRING_FIELDS = [
  "algorithm",
  "publisher",
  "key_id",
  "public_key_base64",
  "payload_sha256",
  "signature_base64",
] as const;
const FIELDS = new Set<string>([...STRING_FIELDS, "signed_at_unix_ms"]);

// ignoreBOM keeps a byte-order mark in the text so JSON.parse rejects it, as serde_json does.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function malformed(message: string, field?: string): SkillError {
  return new SkillError("SIGNATURE_MALFORMED", `signature.json: ${message}`, field);
}

/** Parses signature.json: exactly the known fields, each of the right type. */
export function parseSignature(bytes: Uint8Array): SignatureDocument {
  let value: unknown;
  let text: string;
  try {
    text = utf8.decode(bytes);
    value = JSON.parse(text);
  } catch (error) {
    throw malformed(`not valid UTF-8 JSON: ${(error as Error).message}`);
  }
  // One reading only: serde rejects a repeated field, JSON.parse would keep the last.
  const duplicate = namesKeyTwice(text, value) ? findDuplicateKey(text) : undefined;
  if (duplicate) {
    throw malformed(
      `duplicate field ${JSON.stringify(duplicate.key)} at ${duplicate.path}`,
      duplicate.key,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed("must be a JSON object");
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!FIELDS.has(key)) throw malformed(`unknown field ${JSON.stringify(key)}`, key);
  }
  for (const field of STRING_FIELDS) {
    if (typeof record[field] !== "string") throw malformed(`${field} must be a string`, field);
  }
  const signedAt = record.signed_at_unix_ms;
  if (typeof signedAt !== "number" || !Number.isSafeInteger(signedAt) || signedAt < 0) {
    throw malformed("signed_at_unix_ms must be a non-negative integer", "signed_at_unix_ms");
  }
  return record as unknown as SignatureDocument;
}

export interface DecodedSignature {
  readonly publicKey: Buffer;
  readonly signature: Buffer;
}

/** Decodes and shape-checks the key and signature fields (strict base64, exact lengths). */
export function decodeSignatureFields(document: SignatureDocument): DecodedSignature {
  if (!SHA256_HEX.test(document.payload_sha256)) {
    throw malformed("payload_sha256 must be 64 lower-case hex characters", "payload_sha256");
  }
  const publicKey = decodeStrictBase64(document.public_key_base64);
  if (publicKey === undefined)
    throw malformed("public_key_base64 is not canonical standard base64", "public_key_base64");
  if (publicKey.length !== 32) {
    throw new SkillError(
      "PUBLIC_KEY_INVALID",
      `public key must be 32 bytes, got ${publicKey.length}`,
      "public_key_base64",
    );
  }
  const signature = decodeStrictBase64(document.signature_base64);
  if (signature === undefined)
    throw malformed("signature_base64 is not canonical standard base64", "signature_base64");
  if (signature.length !== 64)
    throw malformed(`signature must be 64 bytes, got ${signature.length}`, "signature_base64");
  return { publicKey, signature };
}
