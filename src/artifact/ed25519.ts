import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { createRequire } from "node:module";
import { Point } from "@noble/ed25519";
import { SkillError } from "./errors.ts";
import { sha256Hex } from "./payload.ts";

/*
 * Primitive choice. Verification is the hot path (every reconcile, every CI check), so it runs
 * on libsodium (sodium-native's prebuilt binding): on this project's machines it verifies about
 * 2.5x faster than node:crypto/OpenSSL and ~30x faster than @noble/ed25519, and its verify is
 * strict by construction (canonical S, canonical non-small-order A, non-small-order R).
 * Where the native binding cannot load, node:crypto does the arithmetic instead. Either way
 * the strict checks the format demands are also made here, explicitly: the public key must be
 * a canonical encoding of a point that is not of small order (decoded once per key with
 * @noble/ed25519 and cached), and S must be canonical (S < L). Signing (publishers, rare)
 * uses node:crypto.
 */

type NativeVerify = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean;

function loadSodium(): NativeVerify | undefined {
  if (process.env.PALYRA_ED25519_BACKEND === "openssl") return undefined;
  try {
    const sodium = createRequire(import.meta.url)(
      "sodium-native",
    ) as typeof import("sodium-native");
    return sodium.crypto_sign_verify_detached;
  } catch {
    return undefined;
  }
}

const sodiumVerify = loadSodium();

/** Which library does the Ed25519 arithmetic ("libsodium" or "openssl"). */
export const ED25519_BACKEND: "libsodium" | "openssl" =
  sodiumVerify === undefined ? "openssl" : "libsodium";

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const GROUP_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;
const HEX_64 = /^[0-9a-fA-F]{64}$/;
const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface SigningKey {
  readonly seed: Buffer;
  readonly privateKey: KeyObject;
  readonly publicKey: Buffer;
}

/** Decodes canonical standard base64 (with padding); anything else is undefined. */
export function decodeStrictBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  // The pattern leaves one way to spell the same bytes differently: bits set in the last
  // character before the padding that decoding drops (4 bits before "==", 2 before "=").
  if (text.endsWith("=")) {
    const padding = text.endsWith("==") ? 2 : 1;
    const last = BASE64_ALPHABET.indexOf(text.charAt(text.length - padding - 1));
    if ((last & (padding === 2 ? 0x0f : 0x03)) !== 0) return undefined;
  }
  return Buffer.from(text, "base64");
}

/** `ed25519:` + hex of the first 8 bytes of SHA-256 of the raw public key. */
export function keyIdFor(publicKey: Uint8Array): string {
  return `ed25519:${sha256Hex(publicKey).slice(0, 16)}`;
}

export function signingKeyFromSeed(seed: Uint8Array): SigningKey {
  if (seed.length !== 32) {
    throw new SkillError("SIGNING_KEY_INVALID", `signing key must be 32 bytes, got ${seed.length}`);
  }
  const seedBytes = Buffer.from(seed);
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seedBytes]),
    format: "der",
    type: "pkcs8",
  });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return { seed: seedBytes, privateKey, publicKey: spki.subarray(SPKI_ED25519_PREFIX.length) };
}

/**
 * Accepts a signing key as the reference does: exactly 32 raw bytes, 64 hex characters, or
 * base64 of 32 bytes (surrounding whitespace ignored for the text forms).
 */
export function parseSigningKey(material: Uint8Array): SigningKey {
  if (material.length === 32) return signingKeyFromSeed(material);
  const text = Buffer.from(material).toString("utf8").trim();
  if (HEX_64.test(text)) return signingKeyFromSeed(Buffer.from(text, "hex"));
  const decoded = decodeStrictBase64(text);
  if (decoded?.length === 32) return signingKeyFromSeed(decoded);
  throw new SkillError(
    "SIGNING_KEY_INVALID",
    "signing key must be 32 raw bytes, 64 hex characters or base64 of 32 bytes",
  );
}

export function signMessage(key: SigningKey, message: Uint8Array): Buffer {
  return sign(null, message, key.privateKey);
}

const publicKeyCache = new Map<string, KeyObject | SkillError>();
const PUBLIC_KEY_CACHE_LIMIT = 1024;

/**
 * Rejects non-canonical and small-order keys; returns an OpenSSL key object (cached). `hex`, when
 * the caller has it, must be the key's lower-case hex (it is the cache key).
 */
export function strictPublicKey(
  publicKey: Uint8Array,
  hex = Buffer.from(publicKey).toString("hex"),
): KeyObject {
  let cached = publicKeyCache.get(hex);
  if (cached === undefined) {
    cached = checkPublicKey(publicKey);
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_LIMIT) publicKeyCache.clear();
    publicKeyCache.set(hex, cached);
  }
  if (cached instanceof SkillError) throw cached;
  return cached;
}

function checkPublicKey(publicKey: Uint8Array): KeyObject | SkillError {
  if (publicKey.length !== 32) {
    return new SkillError(
      "PUBLIC_KEY_INVALID",
      `public key must be 32 bytes, got ${publicKey.length}`,
    );
  }
  let point: Point;
  try {
    point = Point.fromBytes(Uint8Array.from(publicKey), false);
  } catch {
    return new SkillError(
      "PUBLIC_KEY_INVALID",
      "public key is not a canonical Ed25519 point encoding",
    );
  }
  if (point.isSmallOrder()) {
    return new SkillError("PUBLIC_KEY_INVALID", "public key is a weak (small-order) point");
  }
  return createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]),
    format: "der",
    type: "spki",
  });
}

function isCanonicalScalar(signature: Uint8Array): boolean {
  // L = 2^252 + small: a top byte below 0x10 is always canonical, above it never is.
  const top = signature[63] ?? 0;
  if (top !== 0x10) return top < 0x10;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i] ?? 0);
  return s < GROUP_ORDER;
}

/**
 * Strict Ed25519 verification; throws a typed error on any weakness or mismatch. `publicKeyHex`,
 * when the caller has it, must be the key's lower-case hex.
 */
export function verifyStrict(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  publicKeyHex?: string,
): void {
  const key = strictPublicKey(publicKey, publicKeyHex);
  if (signature.length !== 64) {
    throw new SkillError(
      "SIGNATURE_MALFORMED",
      `signature must be 64 bytes, got ${signature.length}`,
      "signature_base64",
    );
  }
  if (!isCanonicalScalar(signature)) {
    throw new SkillError(
      "SIGNATURE_INVALID",
      "signature is not canonical (S is not reduced)",
      "signature_base64",
    );
  }
  const valid =
    sodiumVerify === undefined
      ? verify(null, message, key, signature)
      : sodiumVerify(signature, message, publicKey);
  if (!valid) {
    throw new SkillError(
      "SIGNATURE_INVALID",
      "Ed25519 signature does not verify against the public key",
      "signature_base64",
    );
  }
}
