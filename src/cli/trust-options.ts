import { existsSync } from "node:fs";
import { SkillError } from "../artifact/errors.ts";
import { DEFAULT_ARCHIVE_LIMITS } from "../artifact/limits.ts";
import { type VerifiedArtifact, verifyArtifactAsync } from "../artifact/verify.ts";
import {
  addTrustedKey,
  EMPTY_TRUST_STORE,
  parseTrustStore,
  pinTofuKey,
  serializeTrustStore,
  type TrustStore,
} from "../trust/store.ts";
import { UsageError } from "./cli-error.ts";
import { readInput, readOptional, writeAtomic } from "./io.ts";
import { runtimeFromFlags } from "./runtime-options.ts";

/** Flags shared by verify and audit. */
export const TRUST_FLAGS = {
  "trust-store": { type: "string" },
  "trusted-publisher": { type: "string", multiple: true },
  "allow-tofu": { type: "boolean", default: false },
  "init-trust-store": { type: "boolean", default: false },
} as const;

export interface TrustFlagValues {
  "trust-store"?: string | undefined;
  "trusted-publisher"?: string[] | undefined;
  "allow-tofu"?: boolean | undefined;
  "init-trust-store"?: boolean | undefined;
}

export function loadStoreFile(path: string): TrustStore {
  const text = readOptional(path, "trust store");
  if (text === undefined) return EMPTY_TRUST_STORE;
  try {
    return parseTrustStore(text);
  } catch (error) {
    if (error instanceof SkillError) throw new UsageError(`trust store ${path}: ${error.message}`);
    throw error;
  }
}

export function saveStoreFile(path: string, store: TrustStore): void {
  writeAtomic(path, serializeTrustStore(store), 0o644);
}

/** The store a verification runs against: the file (if any) plus `--trusted-publisher` keys. */
export function trustStoreFromFlags(values: TrustFlagValues): TrustStore {
  const path = values["trust-store"];
  // A mistyped path must not read as an empty store (everything untrusted, or with
  // --allow-tofu a brand-new store pinning whatever comes first): only --init-trust-store
  // starts one.
  if (path !== undefined && !values["init-trust-store"] && !existsSync(path)) {
    throw new UsageError(
      `trust store ${path} does not exist; check the path, or pass --init-trust-store to start a new, empty store there`,
      "IO_ERROR",
    );
  }
  let store = path === undefined ? EMPTY_TRUST_STORE : loadStoreFile(path);
  for (const pair of values["trusted-publisher"] ?? []) {
    const at = pair.indexOf("=");
    const publisher = at < 0 ? "" : pair.slice(0, at).trim();
    const key = at < 0 ? "" : pair.slice(at + 1).trim();
    if (publisher === "" || key === "") {
      throw new UsageError(
        `invalid --trusted-publisher value '${pair.trim()}'; expected 'publisher=ed25519_hex_key'`,
      );
    }
    try {
      store = addTrustedKey(store, publisher, key);
    } catch (error) {
      if (error instanceof SkillError)
        throw new UsageError(`--trusted-publisher ${pair.trim()}: ${error.message}`);
      throw error;
    }
  }
  return store;
}

/**
 * Persists a newly pinned TOFU key. Only the pin is added to the file as it is now on disk,
 * so keys given with --trusted-publisher stay ephemeral to this run.
 */
export function persistNewPin(path: string, publisher: string, key: string): void {
  // Re-read: another writer may have pinned this publisher meanwhile; never overwrite a pin.
  saveStoreFile(path, pinTofuKey(loadStoreFile(path), publisher, key));
}

/**
 * Verifies an artifact file as verify and audit do: the trust flags' store, the runtime flags,
 * and a newly pinned TOFU key persisted to --trust-store.
 */
export async function verifyWithFlags(
  path: string,
  values: TrustFlagValues & Parameters<typeof runtimeFromFlags>[0],
): Promise<VerifiedArtifact> {
  const verified = await verifyArtifactAsync(
    readInput(path, "artifact", {
      bytes: DEFAULT_ARCHIVE_LIMITS.maxArtifactBytes,
      code: "ARTIFACT_TOO_LARGE",
    }),
    {
      trustStore: trustStoreFromFlags(values),
      allowTofu: values["allow-tofu"] ?? false,
      runtime: runtimeFromFlags(values),
    },
  );
  const storePath = values["trust-store"];
  if (verified.trustDecision === "tofu_newly_pinned" && storePath !== undefined) {
    persistNewPin(storePath, verified.manifest.publisher, verified.publicKeyHex);
  }
  return verified;
}
