import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { createRequire } from "node:module";
import { Point } from "@noble/ed25519";
import { SkillError } from "./errors.ts";
import { sha256Hex } from "./payload.ts";

/*
 * Primitive choice. Verification is the hot path (every reconcile, every CI check), so it runs
 * on ed25519-dalek in the project's Node-API addon (native/, next to the inflater): the
 * reference crate's own library and version line, called the way the reference calls it
 * (`VerifyingKey::from_bytes`, then `verify`), so a signature passes here exactly when it
 * passes there. It is also the fastest here: ~40 µs a verification against libsodium's ~58 µs
 * in the same process, less again for a key seen before (the addon keeps decoded keys, bounded).
 * Where the addon is not built (or PALYRA_ED25519_BACKEND=libsodium), libsodium does the
 * arithmetic (sodium-native's prebuilt binding); where that cannot load either (or
 * PALYRA_ED25519_BACKEND=openssl), node:crypto does. Whichever runs, the strict checks the format
 * demands are made here first, explicitly: the public key must be a canonical encoding of a
 * point that is not of small order (decoded once per key with @noble/ed25519 and cached), and
 * S must be canonical (S < L). After those the three backends differ only on a small-order R
 * (test/unit/ed25519-differential.test.ts): dalek, so the reference, accepts it when the
 * equation holds; libsodium and OpenSSL refuse it. Only the key's holder can make such a
 * signature; the fallbacks give the reference's answer anyway, by checking the equation with
 * @noble/ed25519 when they refuse a signature whose R is of small order.
 * Signing (publishers, rare) uses node:crypto.
 */

type NativeVerify = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean;
type AddonVerify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

function loadAddon(): AddonVerify | undefined {
  const forced = process.env.PALYRA_ED25519_BACKEND;
  if (forced === "libsodium" || forced === "openssl") return undefined;
  try {
    const addon = createRequire(import.meta.url)("../../native/palyra-native.node") as {
      ed25519Verify?: AddonVerify;
    };
    // An addon built before it had Ed25519 verification: the fallbacks do the work.
    return typeof addon.ed25519Verify === "function" ? addon.ed25519Verify : undefined;
  } catch {
    return undefined;
  }
}

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

const addonVerify = loadAddon();
const sodiumVerify = addonVerify === undefined ? loadSodium() : undefined;

/** Which library does the Ed25519 arithmetic ("ed25519-dalek", "libsodium" or "openssl"). */
export const ED25519_BACKEND: "ed25519-dalek" | "libsodium" | "openssl" =
  addonVerify !== undefined
    ? "ed25519-dalek"
    : sodiumVerify !== undefined
      ? "libsodium"
      : "openssl";

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

function readLittleEndian(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] ?? 0);
  return n;
}

/**
 * The reference's rule (ed25519-dalek's verify) for a signature whose R is of small order: the
 * cofactorless equation [S]B - [k]A = R, compared by encoding. For the fallbacks only; the key
 * has passed strictPublicKey and S is canonical.
 */
function holdsWithSmallOrderR(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const rBytes = signature.subarray(0, 32);
  let r: Point;
  try {
    r = Point.fromBytes(Uint8Array.from(rBytes), false);
  } catch {
    return false;
  }
  if (!r.isSmallOrder()) return false;
  const a = Point.fromBytes(Uint8Array.from(publicKey), false);
  const digest = createHash("sha512").update(rBytes).update(publicKey).update(message).digest();
  const k = readLittleEndian(digest) % GROUP_ORDER;
  const s = readLittleEndian(signature.subarray(32, 64));
  const expected = Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(k)).toBytes();
  return Buffer.from(expected).equals(rBytes);
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
    (addonVerify !== undefined
      ? addonVerify(publicKey, message, signature)
      : sodiumVerify !== undefined
        ? sodiumVerify(signature, message, publicKey)
        : verify(null, message, key, signature)) ||
    // libsodium and OpenSSL refuse a small-order R outright; the reference checks it like any
    // other R. Only signatures they refused get here, so the slow arithmetic is rare.
    (addonVerify === undefined && holdsWithSmallOrderR(publicKey, message, signature));
  if (!valid) {
    throw new SkillError(
      "SIGNATURE_INVALID",
      "Ed25519 signature does not verify against the public key",
      "signature_base64",
    );
  }
}
