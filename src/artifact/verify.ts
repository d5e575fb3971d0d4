import { decideTrust, type TrustDecision } from "../trust/decision.ts";
import type { TrustStore } from "../trust/store.ts";
import { validateProvenance, validateSbom } from "./attestations.ts";
import { canonicalManifest } from "./canonical-manifest.ts";
import {
  type CapabilityGrants,
  capabilityGrants,
  type PolicyBinding,
  policyBindings,
} from "./derived.ts";
import { keyIdFor, verifyStrict } from "./ed25519.ts";
import { SkillError } from "./errors.ts";
import { Sha256StreamClass, sha256HexOffThread } from "./inflate.ts";
import {
  type ArchiveLimits,
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
import {
  checkRuntimeCompatibility,
  collectManifestWarnings,
  type ManifestWarning,
  parseManifest,
  type SkillManifest,
} from "./manifest.ts";
import { normalizeEntryPath } from "./paths.ts";
import { hashPayloadAndEntries, PayloadHasher } from "./payload.ts";
import { decodeSignatureFields, parseSignature, type SignatureDocument } from "./signature.ts";
import { wasmHeaderProblem } from "./wasm.ts";
import { type ArchiveEntry, assertCrc, readArchive } from "./zip-reader.ts";

export interface InspectOptions {
  readonly limits?: ArchiveLimits;
  readonly runtime?: RuntimeTarget;
}

/** A verified artifact: contents parsed, signature and integrity checked; trust not decided. */
export interface InspectedArtifact {
  readonly manifest: SkillManifest;
  readonly manifestWarnings: ManifestWarning[];
  readonly signature: SignatureDocument;
  readonly publicKeyHex: string;
  readonly keyId: string;
  readonly payloadSha256: string;
  readonly entries: readonly ArchiveEntry[];
  /** Integrity digests of every payload entry but skill.toml, by path. */
  readonly entryDigests: ReadonlyMap<string, string>;
  readonly modules: readonly ArchiveEntry[];
}

// ignoreBOM keeps a leading U+FEFF as text, as the reference's String::from_utf8 does.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function requireEntry(byPath: Map<string, ArchiveEntry>, path: string): ArchiveEntry {
  const entry = byPath.get(path);
  if (entry === undefined) {
    throw new SkillError("MISSING_ENTRY", `artifact is missing required entry '${path}'`, path);
  }
  return entry;
}

export function isModulePath(path: string): boolean {
  return path.startsWith(MODULES_PREFIX) && path.endsWith(".wasm");
}

/** The integrity block must name exactly the payload entries other than skill.toml, with their digests. */
function checkIntegrity(manifest: SkillManifest, digests: ReadonlyMap<string, string>): void {
  const declared = new Map<string, string>();
  for (const file of manifest.integrity.files) {
    const path = normalizeEntryPath(file.path);
    if (declared.has(path)) {
      throw new SkillError(
        "INTEGRITY_MISMATCH",
        `manifest integrity lists '${path}' twice`,
        "integrity.files",
      );
    }
    declared.set(path, file.sha256);
  }
  for (const [path, digest] of digests) {
    const listed = declared.get(path);
    if (listed === undefined) {
      throw new SkillError(
        "INTEGRITY_MISMATCH",
        `manifest integrity does not list entry '${path}'`,
        "integrity.files",
      );
    }
    if (listed !== digest) {
      throw new SkillError(
        "INTEGRITY_MISMATCH",
        `manifest integrity digest for '${path}' is ${listed}, entry digest is ${digest}`,
        "integrity.files",
      );
    }
  }
  for (const path of declared.keys()) {
    if (!digests.has(path)) {
      throw new SkillError(
        "INTEGRITY_MISMATCH",
        `manifest integrity lists '${path}', which the artifact does not contain`,
        "integrity.files",
      );
    }
  }
}

/**
 * After a payload hash mismatch: the entries whose digest differs from the one skill.toml
 * lists (when skill.toml itself is intact, these are what was changed). Entries whose digest
 * is not computed yet, or not listed, are not named.
 */
function changedEntries(manifest: SkillManifest, digests: ReadonlyMap<string, string>): string[] {
  const changed: string[] = [];
  for (const file of manifest.integrity.files) {
    let path: string;
    try {
      path = normalizeEntryPath(file.path);
    } catch {
      continue; // checkIntegrity reports a bad listed path; here it only cannot be named
    }
    const actual = digests.get(path);
    if (actual !== undefined && actual !== file.sha256) changed.push(path);
  }
  return changed;
}

/** What phase one establishes: contents parsed, payload hash and signature verified. */
interface SignedContents {
  readonly entries: readonly ArchiveEntry[];
  readonly manifest: SkillManifest;
  readonly signature: SignatureDocument;
  readonly publicKeyHex: string;
  readonly keyId: string;
  readonly payloadSha256: string;
  readonly modules: readonly ArchiveEntry[];
}

/**
 * Phase one, in the reference's order (so both tools report the same first failure):
 * manifest, SBOM, provenance, modules, signature file, payload hash, Ed25519, publisher.
 */
function verifySignedContents(
  entries: readonly ArchiveEntry[],
  payloadSha256: string,
  digests: ReadonlyMap<string, string>,
): SignedContents {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  let manifestText: string;
  try {
    manifestText = utf8.decode(requireEntry(byPath, MANIFEST_PATH).data);
  } catch (error) {
    if (error instanceof SkillError) throw error;
    throw new SkillError(
      "MANIFEST_PARSE_ERROR",
      "manifest parse failed: skill.toml is not valid UTF-8",
    );
  }
  const manifest = parseManifest(manifestText);
  validateSbom(requireEntry(byPath, SBOM_PATH).data);
  validateProvenance(requireEntry(byPath, PROVENANCE_PATH).data);
  const modules = entries.filter((e) => isModulePath(e.path));
  if (modules.length === 0) {
    throw new SkillError(
      "MISSING_ENTRY",
      "artifact is missing required entry 'modules/*.wasm'",
      "modules/*.wasm",
    );
  }
  const signatureEntry = requireEntry(byPath, SIGNATURE_PATH);
  assertCrc(signatureEntry);
  const signature = parseSignature(signatureEntry.data);

  if (payloadSha256 !== signature.payload_sha256) {
    // A damaged entry explains a mismatch better than the hash does.
    for (const entry of entries) assertCrc(entry);
    const changed = changedEntries(manifest, digests);
    throw new SkillError(
      "PAYLOAD_HASH_MISMATCH",
      `artifact payload hash mismatch: signed ${signature.payload_sha256}, computed ${payloadSha256}${changed.length === 0 ? "" : `; changed since signing: ${changed.map((p) => `'${p}'`).join(", ")} (no longer matches the integrity digest in skill.toml)`}`,
      changed.length === 1 ? changed[0] : "payload_sha256",
    );
  }
  if (signature.algorithm !== SIGNATURE_ALGORITHM) {
    throw new SkillError(
      "UNSUPPORTED_ALGORITHM",
      `signature algorithm ${JSON.stringify(signature.algorithm)} is not supported (expected ${SIGNATURE_ALGORITHM})`,
      "algorithm",
    );
  }
  const { publicKey, signature: signatureBytes } = decodeSignatureFields(signature);
  const { keyId, hex } = keyNames(signature.public_key_base64, publicKey);
  if (signature.key_id !== keyId) {
    throw new SkillError(
      "KEY_ID_MISMATCH",
      `signature key_id ${JSON.stringify(signature.key_id)} does not match the public key (${keyId})`,
      "key_id",
    );
  }
  message.write(payloadSha256, 0, "latin1");
  verifyStrict(publicKey, message, signatureBytes, hex);
  if (signature.publisher !== manifest.publisher) {
    throw new SkillError(
      "PUBLISHER_MISMATCH",
      `signature publisher ${JSON.stringify(signature.publisher)} differs from manifest publisher ${JSON.stringify(manifest.publisher)}`,
      "publisher",
    );
  }
  return { entries, manifest, signature, publicKeyHex: hex, keyId, payloadSha256, modules };
}

// The signed message: the payload hash's 64 hex characters (checked by decodeSignatureFields).
const message = Buffer.alloc(64);

/** Key id and hex of a public key, by its (canonical) base64 in signature.json; memoised. */
const keyNamesByBase64 = new Map<string, { readonly keyId: string; readonly hex: string }>();

function keyNames(base64: string, publicKey: Buffer): { keyId: string; hex: string } {
  let names = keyNamesByBase64.get(base64);
  if (names === undefined) {
    names = { keyId: keyIdFor(publicKey), hex: publicKey.toString("hex") };
    if (keyNamesByBase64.size >= 1024) keyNamesByBase64.clear();
    keyNamesByBase64.set(base64, names);
  }
  return names;
}

/**
 * Entries of an artifact under verification (CRCs are left to verifySignedContents), hashed
 * while they are read: the payload hash and the digests `digestOf` selects. Hashing throws
 * nothing, so the first failure reported is still the reference's.
 */
function readAndHash(
  bytes: Uint8Array,
  options: InspectOptions,
  digestOf: (entry: ArchiveEntry) => boolean,
): { entries: ArchiveEntry[]; payloadSha256: string; digests: Map<string, string> } {
  const payload = new PayloadHasher(digestOf);
  const entries = readArchive(bytes, options.limits ?? DEFAULT_ARCHIVE_LIMITS, {
    verifyCrc: false,
    digests: true,
    payload,
  });
  return { entries, payloadSha256: payload.finish(), digests: payload.digests };
}

/**
 * A module that is not even shaped like WebAssembly verifies (the signature covers whatever
 * bytes were signed) but can never load: said at verify time, failed by the audit. Only the
 * 8-byte header is checked here; full validation is the audit's (and build's).
 */
function moduleWarnings(modules: readonly ArchiveEntry[]): ManifestWarning[] {
  return modules.flatMap((module) => {
    const problem = wasmHeaderProblem(module.data);
    return problem === undefined
      ? []
      : [
          {
            code: "module_not_webassembly",
            severity: "warning" as const,
            message: `module '${module.path}' is not a WebAssembly binary module (${problem}); the audit will fail it`,
          },
        ];
  });
}

/** Phase two: integrity block, runtime compatibility, warnings. */
function finishInspection(
  contents: SignedContents,
  entryDigests: ReadonlyMap<string, string>,
  options: InspectOptions,
): InspectedArtifact {
  checkIntegrity(contents.manifest, entryDigests);
  checkRuntimeCompatibility(contents.manifest, options.runtime ?? DEFAULT_RUNTIME_TARGET);
  return {
    manifest: contents.manifest,
    manifestWarnings: [
      ...collectManifestWarnings(contents.manifest),
      ...moduleWarnings(contents.modules),
    ],
    signature: contents.signature,
    publicKeyHex: contents.publicKeyHex,
    keyId: contents.keyId,
    payloadSha256: contents.payloadSha256,
    entries: contents.entries,
    entryDigests,
    modules: contents.modules,
  };
}

/**
 * Verifies an artifact without a trust decision: archive under the limits, then the
 * reference's order of checks (manifest, SBOM, provenance, modules, signature file, payload
 * hash, Ed25519, publisher, integrity, runtime compatibility).
 */
export function inspectArtifact(
  bytes: Uint8Array,
  options: InspectOptions = {},
): InspectedArtifact {
  const { entries, payloadSha256, digests } = readAndHash(bytes, options, needsDigest);
  return finishInspection(verifySignedContents(entries, payloadSha256, digests), digests, options);
}

/** Entries the integrity block must describe: every payload entry but skill.toml. */
function needsDigest(entry: ArchiveEntry): boolean {
  return entry.path !== MANIFEST_PATH && entry.path !== SIGNATURE_PATH;
}

/*
 * Entries at least this large have their integrity digest computed on the thread pool, in
 * parallel with the payload hash on this thread. The addon hashes an entry where it is; without
 * it, WebCrypto copies the entry first, which pays only for much larger entries (measured: below
 * a few MiB the copy and the hand-off cost more than the second core saves).
 */
const PARALLEL_DIGEST_BYTES = sha256HexOffThread === undefined ? 4 * 1024 * 1024 : 256 * 1024;

async function digestOffThread(data: Buffer): Promise<string> {
  if (sha256HexOffThread !== undefined) return sha256HexOffThread(data);
  return Buffer.from(await crypto.subtle.digest("SHA-256", data)).toString("hex");
}

/**
 * The same verification as inspectArtifact, but the integrity digests of large entries that were
 * not hashed while inflating (Stored ones; every large one where the addon is not loaded) run on
 * libuv's thread pool while this thread hashes the payload and checks the signature, so such an
 * artifact costs about one SHA-256 pass on this thread instead of two.
 */
export async function inspectArtifactAsync(
  bytes: Uint8Array,
  options: InspectOptions = {},
): Promise<InspectedArtifact> {
  const here = (e: ArchiveEntry) =>
    needsDigest(e) && (e.sha256 !== undefined || e.data.length < PARALLEL_DIGEST_BYTES);
  const offThreadDigests = (entries: readonly ArchiveEntry[]) =>
    entries
      .filter((e) => needsDigest(e) && !here(e))
      .map((e) => [e.path, digestOffThread(e.data)] as const);
  let entries: ArchiveEntry[];
  let payloadSha256: string | undefined;
  let digests: Map<string, string> | undefined;
  let offThread: (readonly [string, Promise<string>])[];
  if (Sha256StreamClass !== undefined) {
    // The addon hashes large Deflate entries while inflating them; the rest goes off thread.
    ({ entries, payloadSha256, digests } = readAndHash(bytes, options, here));
    offThread = offThreadDigests(entries);
  } else {
    entries = readArchive(bytes, options.limits ?? DEFAULT_ARCHIVE_LIMITS, { verifyCrc: false });
    offThread = offThreadDigests(entries);
  }
  let contents: SignedContents;
  try {
    if (payloadSha256 === undefined || digests === undefined) {
      ({ payloadSha256, digests } = hashPayloadAndEntries(entries, here));
    }
    contents = verifySignedContents(entries, payloadSha256, digests);
  } finally {
    // Never leave a rejected digest promise unobserved, whatever phase one decided.
    await Promise.allSettled(offThread.map(([, digest]) => digest));
  }
  for (const [path, digest] of offThread) digests.set(path, await digest);
  // In archive order, as inspectArtifact gives them.
  const ordered = new Map<string, string>();
  for (const entry of entries.filter(needsDigest)) {
    ordered.set(entry.path, digests.get(entry.path) as string);
  }
  return finishInspection(contents, ordered, options);
}

export interface DerivedViews {
  readonly capabilityGrants: CapabilityGrants;
  readonly policyBindings: PolicyBinding[];
}

export function derivedViews(manifest: SkillManifest): DerivedViews {
  return { capabilityGrants: capabilityGrants(manifest), policyBindings: policyBindings(manifest) };
}

export interface VerifyOptions extends InspectOptions {
  readonly trustStore: TrustStore;
  readonly allowTofu?: boolean;
}

export interface VerifiedArtifact extends InspectedArtifact, DerivedViews {
  readonly trustDecision: TrustDecision;
  /** The trust store after the decision: differs from the input only when a key was newly pinned. */
  readonly trustStore: TrustStore;
}

/** Full verification: inspect, then the trust decision for (manifest publisher, signing key). */
export function verifyArtifact(bytes: Uint8Array, options: VerifyOptions): VerifiedArtifact {
  return decide(inspectArtifact(bytes, options), options);
}

/** verifyArtifact with the large-entry digests on the thread pool (see inspectArtifactAsync). */
export async function verifyArtifactAsync(
  bytes: Uint8Array,
  options: VerifyOptions,
): Promise<VerifiedArtifact> {
  return decide(await inspectArtifactAsync(bytes, options), options);
}

function decide(inspected: InspectedArtifact, options: VerifyOptions): VerifiedArtifact {
  const outcome = decideTrust(
    options.trustStore,
    inspected.manifest.publisher,
    inspected.publicKeyHex,
    options.allowTofu ?? false,
  );
  return {
    ...inspected,
    ...derivedViews(inspected.manifest),
    trustDecision: outcome.decision,
    trustStore: outcome.store,
  };
}

/** The verification report, with the reference's field names and order. */
export function verificationReport(verified: VerifiedArtifact): Record<string, unknown> {
  return {
    accepted: true,
    trust_decision: verified.trustDecision,
    payload_sha256: verified.payloadSha256,
    manifest: canonicalManifest(verified.manifest),
    manifest_warnings: verified.manifestWarnings,
    capability_grants: verified.capabilityGrants,
    policy_bindings: verified.policyBindings,
  };
}
