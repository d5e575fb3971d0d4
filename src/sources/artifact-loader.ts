/**
 * Content-addressed artifact cache. A source (URL, ConfigMap/Secret key) resolves to the SHA-256
 * of its bytes; verification results are kept by that digest. Concurrent loads of one source
 * share one fetch, and of one digest share one verification, so an artifact referenced by many
 * Skills is fetched and verified once. The facts returned are those of the bytes fetched in the
 * same load: never verify one copy and report another.
 */

import { createHash } from "node:crypto";
import { rootCertificates } from "node:tls";
import type { Skill } from "../api/v1alpha1/types.generated.ts";
import { SkillError } from "../artifact/errors.ts";
import { type ArchiveLimits, DEFAULT_ARCHIVE_LIMITS, PROVENANCE_PATH } from "../artifact/limits.ts";
import { type InspectedArtifact, inspectArtifactAsync } from "../artifact/verify.ts";
import type { ArtifactObservation } from "../controller/skill/decide.ts";
import type { VerifiedArtifactFacts } from "../controller/skill/verdict.ts";
import { isSourceError, SourceError } from "./errors.ts";

export type SourceRef =
  | { kind: "url"; url: string; caBundlePem?: string }
  | { kind: "configMap" | "secret"; namespace: string; name: string; key: string }
  | { kind: "oci"; reference: string };

export function sourceRefOf(skill: Skill): SourceRef {
  const s = skill.spec.source;
  const namespace = skill.metadata.namespace ?? "default";
  if (s.url !== undefined) {
    return s.caBundle
      ? { kind: "url", url: s.url, caBundlePem: Buffer.from(s.caBundle, "base64").toString("utf8") }
      : { kind: "url", url: s.url };
  }
  if (s.configMapRef) {
    return {
      kind: "configMap",
      namespace,
      name: s.configMapRef.name,
      key: s.configMapRef.key ?? "artifact.palyra-skill",
    };
  }
  if (s.secretRef) {
    return {
      kind: "secret",
      namespace,
      name: s.secretRef.name,
      key: s.secretRef.key ?? "artifact.palyra-skill",
    };
  }
  return { kind: "oci", reference: s.oci?.reference ?? "" };
}

export function sourceKey(ref: SourceRef): string {
  switch (ref.kind) {
    case "url":
      return ref.caBundlePem
        ? `url:${ref.url}#ca=${createHash("sha256").update(ref.caBundlePem).digest("hex").slice(0, 16)}`
        : `url:${ref.url}`;
    case "oci":
      return `oci:${ref.reference}`;
    default:
      return `${ref.kind}:${ref.namespace}/${ref.name}#${ref.key}`;
  }
}

/** An object source's bytes and the resourceVersion they were read at. */
export interface ObjectSourceReader {
  /** The resourceVersion the cache (informer) knows, if any: a cheap freshness check. */
  version(kind: "configMap" | "secret", namespace: string, name: string): string | undefined;
  read(
    kind: "configMap" | "secret",
    namespace: string,
    name: string,
    key: string,
    maxBytes: number,
  ): Promise<{ bytes: Buffer; resourceVersion: string }>;
}

export type UrlFetcher = (
  url: string,
  opts: { caBundlePem?: string; maxBytes: number },
) => Promise<{ bytes: Buffer }>;

export interface ArtifactLoaderMetrics {
  /** One fetch: its bytes on success, its error code on failure. */
  fetch?(source: string, outcome: { seconds: number; bytes: number; error?: string }): void;
  /** A load answered from the cache (hit) or needing a fetch (miss). */
  cache?(result: "hit" | "miss"): void;
  verification?(result: "verified" | "rejected"): void;
}

export interface ArtifactLoaderOptions {
  fetchUrl: UrlFetcher;
  objects: ObjectSourceReader;
  /** How long a URL's digest is trusted before the URL is fetched again. */
  urlRefreshMs: number;
  limits?: ArchiveLimits;
  /** Budget for verified artifacts kept in memory (their decompressed entries). */
  maxCacheBytes?: number;
  metrics?: ArtifactLoaderMetrics;
  now?: () => number;
}

type Facts =
  | { kind: "verified"; facts: VerifiedArtifactFacts; bytes: number }
  | { kind: "rejected"; digest: string; error: SkillError; bytes: number };

interface Resolution {
  version: string | undefined;
  digest: string;
  at: number;
}

export class ArtifactLoader {
  #opts: ArtifactLoaderOptions;
  #limits: ArchiveLimits;
  #resolutions = new Map<string, Resolution>();
  #facts = new Map<string, Facts>();
  #factBytes = 0;
  #inflight = new Map<string, Promise<unknown>>();
  #refs = new Map<string, { source: string; digest: string | undefined }>();
  #fetches = 0;
  #verifications = 0;

  constructor(opts: ArtifactLoaderOptions) {
    this.#opts = opts;
    this.#limits = opts.limits ?? DEFAULT_ARCHIVE_LIMITS;
  }

  get fetches(): number {
    return this.#fetches;
  }
  get verifications(): number {
    return this.#verifications;
  }
  get cachedArtifacts(): number {
    return this.#facts.size;
  }
  get cachedBytes(): number {
    return this.#factBytes;
  }

  /** Loads the artifact a Skill names, checks the optional digest pin first, then verifies. */
  async load(owner: string, ref: SourceRef, pin?: string): Promise<ArtifactObservation> {
    if (ref.kind === "oci") {
      this.#track(owner, sourceKey(ref), undefined);
      return {
        kind: "unsupported",
        message: `OCI sources are not supported yet (${ref.reference}); use a url, configMapRef or secretRef source`,
      };
    }
    const key = sourceKey(ref);
    const now = (this.#opts.now ?? Date.now)();
    const cached = this.#resolutions.get(key);
    const version =
      ref.kind === "url"
        ? undefined
        : this.#opts.objects.version(ref.kind, ref.namespace, ref.name);
    const fresh =
      cached !== undefined &&
      (ref.kind === "url"
        ? now - cached.at < this.#opts.urlRefreshMs
        : version !== undefined && cached.version === version);
    if (fresh && cached) {
      const facts = this.#touch(cached.digest);
      if (facts) {
        this.#opts.metrics?.cache?.("hit");
        return this.#observe(owner, key, cached.digest, facts, pin);
      }
    }
    this.#opts.metrics?.cache?.("miss");

    let fetched: { bytes: Buffer; digest: string; version: string | undefined };
    try {
      fetched = await this.#once(`fetch:${key}`, () => this.#fetch(ref));
    } catch (error) {
      this.#track(owner, key, undefined);
      if (isSourceError(error)) {
        return {
          kind: "fetchFailed",
          code: error.code,
          message: error.message,
          transient: error.transient,
        };
      }
      throw error;
    }
    this.#resolutions.set(key, { version: fetched.version, digest: fetched.digest, at: now });
    // The pin is checked before a single byte is parsed.
    if (pin !== undefined && pin.toLowerCase() !== fetched.digest) {
      this.#track(owner, key, undefined);
      return { kind: "digestMismatch", expected: pin.toLowerCase(), actual: fetched.digest };
    }
    const facts =
      this.#touch(fetched.digest) ??
      (await this.#once(`verify:${fetched.digest}`, () =>
        this.#verify(fetched.digest, fetched.bytes),
      ));
    return this.#observe(owner, key, fetched.digest, facts, pin);
  }

  /** The signing key of a verified artifact still in the cache, by digest (no I/O). */
  signingKeyOf(digest: string): string | undefined {
    const facts = this.#facts.get(digest);
    return facts?.kind === "verified" ? facts.facts.inspected.publicKeyHex : undefined;
  }

  /** Forgets what is kept for a Skill that is gone; unreferenced artifacts go with it. */
  release(owner: string): void {
    const ref = this.#refs.get(owner);
    if (!ref) return;
    this.#refs.delete(owner);
    let sourceUsed = false;
    let digestUsed = false;
    for (const other of this.#refs.values()) {
      if (other.source === ref.source) sourceUsed = true;
      if (ref.digest !== undefined && other.digest === ref.digest) digestUsed = true;
    }
    if (!sourceUsed) this.#resolutions.delete(ref.source);
    if (ref.digest !== undefined && !digestUsed) this.#evict(ref.digest);
  }

  /** Forces the next load of this source to fetch again (e.g. the URL may have changed). */
  invalidate(ref: SourceRef): void {
    this.#resolutions.delete(sourceKey(ref));
  }

  #observe(
    owner: string,
    key: string,
    digest: string,
    facts: Facts,
    pin: string | undefined,
  ): ArtifactObservation {
    if (pin !== undefined && pin.toLowerCase() !== digest) {
      this.#track(owner, key, undefined);
      return { kind: "digestMismatch", expected: pin.toLowerCase(), actual: digest };
    }
    this.#track(owner, key, digest);
    return facts.kind === "verified"
      ? { kind: "verified", facts: facts.facts }
      : { kind: "rejected", digest, code: facts.error.code, message: facts.error.message };
  }

  #track(owner: string, source: string, digest: string | undefined): void {
    const prev = this.#refs.get(owner);
    this.#refs.set(owner, { source, digest });
    if (prev && (prev.source !== source || prev.digest !== digest)) {
      // Re-run release logic for what the owner no longer references.
      const stillSource = [...this.#refs.values()].some((r) => r.source === prev.source);
      if (!stillSource) this.#resolutions.delete(prev.source);
      if (
        prev.digest !== undefined &&
        ![...this.#refs.values()].some((r) => r.digest === prev.digest)
      ) {
        this.#evict(prev.digest);
      }
    }
  }

  async #fetch(
    ref: Exclude<SourceRef, { kind: "oci" }>,
  ): Promise<{ bytes: Buffer; digest: string; version: string | undefined }> {
    const maxBytes = this.#limits.maxArtifactBytes;
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      let bytes: Buffer;
      let version: string | undefined;
      if (ref.kind === "url") {
        // The CA bundle adds to the system roots, as the CRD documents.
        const ca = ref.caBundlePem
          ? `${rootCertificates.join("\n")}\n${ref.caBundlePem}`
          : undefined;
        ({ bytes } = await this.#opts.fetchUrl(
          ref.url,
          ca ? { caBundlePem: ca, maxBytes } : { maxBytes },
        ));
      } else {
        ({ bytes, resourceVersion: version } = await this.#opts.objects.read(
          ref.kind,
          ref.namespace,
          ref.name,
          ref.key,
          maxBytes,
        ));
      }
      this.#fetches++;
      this.#opts.metrics?.fetch?.(ref.kind, { seconds: seconds(), bytes: bytes.length });
      return { bytes, digest: createHash("sha256").update(bytes).digest("hex"), version };
    } catch (error) {
      const code = isSourceError(error) ? error.code : "INTERNAL";
      this.#opts.metrics?.fetch?.(ref.kind, { seconds: seconds(), bytes: 0, error: code });
      throw error;
    }
  }

  async #verify(digest: string, bytes: Buffer): Promise<Facts> {
    let facts: Facts;
    try {
      const full = await inspectArtifactAsync(bytes, { limits: this.#limits });
      // Decisions need the manifest, the key, the payload hash and the modules (the audit
      // inspects them); assets, SBOM and the artifact's bytes are not kept. Module bytes are
      // copied so that no view keeps the whole artifact buffer alive.
      const inspected: InspectedArtifact = {
        ...full,
        entries: [],
        entryDigests: new Map(),
        modules: full.modules.map((m) => ({ ...m, data: Buffer.from(m.data) })),
      };
      facts = {
        kind: "verified",
        facts: { digest, inspected, builderId: provenanceBuilderId(full) },
        bytes: inspected.modules.reduce((n, m) => n + m.data.length, 0),
      };
      this.#opts.metrics?.verification?.("verified");
    } catch (error) {
      if (!(error instanceof SkillError)) throw error;
      facts = { kind: "rejected", digest, error, bytes: 0 };
      this.#opts.metrics?.verification?.("rejected");
    }
    this.#verifications++;
    this.#store(digest, facts);
    return facts;
  }

  #store(digest: string, facts: Facts): void {
    this.#facts.set(digest, facts);
    this.#factBytes += facts.bytes;
    const budget = this.#opts.maxCacheBytes ?? 256 * 1024 * 1024;
    // Least recently used first; an evicted artifact is simply fetched again when needed.
    for (const [d, f] of this.#facts) {
      if (this.#factBytes <= budget || d === digest) break;
      this.#facts.delete(d);
      this.#factBytes -= f.bytes;
    }
  }

  #touch(digest: string): Facts | undefined {
    const facts = this.#facts.get(digest);
    if (facts) {
      this.#facts.delete(digest);
      this.#facts.set(digest, facts);
    }
    return facts;
  }

  #evict(digest: string): void {
    const facts = this.#facts.get(digest);
    if (facts) {
      this.#facts.delete(digest);
      this.#factBytes -= facts.bytes;
    }
  }

  #once<T>(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.#inflight.get(key);
    if (running) return running as Promise<T>;
    const p = work().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }
}

export function provenanceBuilderId(inspected: InspectedArtifact): string | undefined {
  const entry = inspected.entries.find((e) => e.path === PROVENANCE_PATH);
  if (!entry) return undefined;
  try {
    const doc = JSON.parse(entry.data.toString("utf8")) as { builder?: { id?: unknown } };
    return typeof doc.builder?.id === "string" ? doc.builder.id : undefined;
  } catch {
    return undefined;
  }
}

export { SourceError };
