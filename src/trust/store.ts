import { SkillError } from "../artifact/errors.ts";
import { isIdentifier } from "../artifact/identifiers.ts";
import { findDuplicateKey } from "../artifact/json-strict.ts";
import { compareUtf8 } from "../artifact/paths.ts";
import { rustTrim } from "../artifact/trim.ts";

/**
 * The trust store: allowlisted publisher keys and Trust-On-First-Use pins. The JSON document
 * is the reference CLI's (`trusted_publishers`, `tofu_publishers`), so a store moves freely
 * between the CLI, CI pipelines and the cluster's ConfigMap.
 */
export interface TrustStore {
  readonly trustedPublishers: ReadonlyMap<string, readonly string[]>;
  readonly tofuPublishers: ReadonlyMap<string, string>;
}

export interface TrustStoreDocument {
  trusted_publishers: Record<string, string[]>;
  tofu_publishers: Record<string, string>;
}

export const EMPTY_TRUST_STORE: TrustStore = Object.freeze({
  trustedPublishers: new Map(),
  tofuPublishers: new Map(),
});

function invalid(message: string, field?: string): SkillError {
  return new SkillError("TRUST_STORE_INVALID", message, field);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Publishers are identifiers; surrounding white space is dropped, as the reference does. */
export function normalizePublisher(publisher: string, field = "publisher"): string {
  const trimmed = rustTrim(publisher);
  if (!isIdentifier(trimmed)) {
    throw invalid(
      `${field}: publisher ${JSON.stringify(publisher)} must be a non-empty identifier of [a-z0-9._-:]`,
      field,
    );
  }
  return trimmed;
}

/** Keys are stored as 64 lower-case hex characters; input may be padded or upper-case. */
export function normalizePublicKeyHex(key: unknown, field = "public_key"): string {
  // ASCII-only lowercasing: no non-ASCII letter may turn into a hex digit.
  const normalized =
    typeof key === "string" ? rustTrim(key).replace(/[A-F]/g, (c) => c.toLowerCase()) : "";
  if (!/^[0-9a-f]*$/.test(normalized) || normalized.length % 2 !== 0) {
    throw invalid(`${field}: trusted publisher key must be hex`, field);
  }
  if (normalized.length !== 64)
    throw invalid(`${field}: trusted publisher key must decode to 32 bytes`, field);
  return normalized;
}

/** Validates a parsed trust-store document. Missing sections are empty; unknown fields fail. */
export function trustStoreFromDocument(document: unknown): TrustStore {
  if (!isPlainObject(document)) throw invalid("trust store must be a JSON object");
  for (const key of Object.keys(document)) {
    if (key !== "trusted_publishers" && key !== "tofu_publishers") {
      throw invalid(`unknown field ${JSON.stringify(key)}`, key);
    }
  }
  const trusted = document.trusted_publishers ?? {};
  const tofu = document.tofu_publishers ?? {};
  if (!isPlainObject(trusted))
    throw invalid("trusted_publishers must be an object", "trusted_publishers");
  if (!isPlainObject(tofu)) throw invalid("tofu_publishers must be an object", "tofu_publishers");

  const trustedPublishers = new Map<string, string[]>();
  for (const [raw, keys] of Object.entries(trusted)) {
    const field = `trusted_publishers.${raw}`;
    const publisher = normalizePublisher(raw, field);
    if (!Array.isArray(keys) || keys.length === 0) {
      throw invalid(
        `${field}: trusted publisher '${publisher}' must include at least one key`,
        field,
      );
    }
    const merged = [
      ...(trustedPublishers.get(publisher) ?? []),
      ...keys.map((k, i) => normalizePublicKeyHex(k, `${field}[${i}]`)),
    ];
    trustedPublishers.set(publisher, sortedKeys(merged));
  }
  const tofuPublishers = new Map<string, string>();
  for (const [raw, key] of Object.entries(tofu)) {
    const field = `tofu_publishers.${raw}`;
    const publisher = normalizePublisher(raw, field);
    const normalized = normalizePublicKeyHex(key, field);
    const existing = tofuPublishers.get(publisher);
    if (existing !== undefined && existing !== normalized) {
      throw invalid(`${field}: conflicting TOFU keys for publisher '${publisher}'`, field);
    }
    tofuPublishers.set(publisher, normalized);
  }
  return { trustedPublishers, tofuPublishers };
}

function sortedKeys(keys: Iterable<string>): string[] {
  return [...new Set(keys)].sort();
}

/** Parses a trust-store file; an empty or blank file is an empty store, as in the reference. */
export function parseTrustStore(text: string): TrustStore {
  if (text.trim() === "") return EMPTY_TRUST_STORE;
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw invalid(`trust store is not valid JSON: ${(error as Error).message}`);
  }
  // A publisher named twice would be read differently by another tool: refuse the document.
  const duplicate = findDuplicateKey(text);
  if (duplicate) {
    throw invalid(`trust store names ${JSON.stringify(duplicate.key)} twice at ${duplicate.path}`);
  }
  return trustStoreFromDocument(document);
}

const sortedEntries = <V>(map: ReadonlyMap<string, V>): [string, V][] =>
  [...map.entries()].sort(([a], [b]) => compareUtf8(a, b));

/** The reference's document: publishers sorted (its maps are ordered), keys sorted. */
export function trustStoreToDocument(store: TrustStore): TrustStoreDocument {
  return {
    trusted_publishers: Object.fromEntries(
      sortedEntries(store.trustedPublishers).map(([p, k]) => [p, [...k]]),
    ),
    tofu_publishers: Object.fromEntries(sortedEntries(store.tofuPublishers)),
  };
}

/** Pretty JSON without a trailing newline, byte-for-byte what the reference CLI writes. */
export function serializeTrustStore(store: TrustStore): string {
  return JSON.stringify(trustStoreToDocument(store), null, 2);
}

/** Adds keys to an allowlisted publisher (key rotation keeps the old key until removed). */
export function addTrustedKey(store: TrustStore, publisher: string, key: string): TrustStore {
  const name = normalizePublisher(publisher);
  const checked = normalizePublicKeyHex(key);
  const trustedPublishers = new Map(store.trustedPublishers);
  trustedPublishers.set(name, sortedKeys([...(trustedPublishers.get(name) ?? []), checked]));
  return { ...store, trustedPublishers };
}

/** Removes one key, or the whole publisher when `key` is omitted, from allowlist and pins. */
export function removeTrust(store: TrustStore, publisher: string, key?: string): TrustStore {
  publisher = normalizePublisher(publisher);
  const trustedPublishers = new Map(store.trustedPublishers);
  const tofuPublishers = new Map(store.tofuPublishers);
  if (key === undefined) {
    trustedPublishers.delete(publisher);
    tofuPublishers.delete(publisher);
  } else {
    const wanted = normalizePublicKeyHex(key);
    const remaining = (trustedPublishers.get(publisher) ?? []).filter((k) => k !== wanted);
    if (remaining.length > 0) trustedPublishers.set(publisher, remaining);
    else trustedPublishers.delete(publisher);
    if (tofuPublishers.get(publisher) === wanted) tofuPublishers.delete(publisher);
  }
  return { trustedPublishers, tofuPublishers };
}

/** Pins a publisher's key. A pin for another key is never overwritten. */
export function pinTofuKey(store: TrustStore, publisher: string, key: string): TrustStore {
  const name = normalizePublisher(publisher);
  const pin = normalizePublicKeyHex(key);
  const existing = store.tofuPublishers.get(name);
  if (existing !== undefined && existing !== pin) {
    throw new SkillError(
      "TOFU_KEY_MISMATCH",
      `TOFU pinned key mismatch for publisher ${JSON.stringify(name)}: pinned ${existing}, got ${pin}`,
      name,
    );
  }
  const tofuPublishers = new Map(store.tofuPublishers);
  tofuPublishers.set(name, pin);
  return { ...store, tofuPublishers };
}
