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
  | {
      kind: "oci";
      /** The Skill's namespace: its pull Secret is read there. */
      namespace: string;
      reference: string;
      caBundlePem?: string;
      /** A kubernetes.io/dockerconfigjson Secret in the namespace. */
      pullSecret?: string;
      /** Plain http (a loopback registry only). */
      insecure?: boolean;
    };

/** Where an OCI artifact came from, as resolved: for the Skill's status. */
export interface ResolvedSource {
  /** registry/repository@sha256:<manifest digest>. */
  reference: string;
  tag?: string;
}

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
  const oci = s.oci;
  return {
    kind: "oci",
    namespace,
    reference: oci?.reference ?? "",
    ...(oci?.caBundle ? { caBundlePem: Buffer.from(oci.caBundle, "base64").toString("utf8") } : {}),
    ...(oci?.pullSecretRef ? { pullSecret: oci.pullSecretRef.name } : {}),
    ...(oci?.insecure ? { insecure: true } : {}),
  };
}

export function sourceKey(ref: SourceRef): string {
  switch (ref.kind) {
    case "url":
      return ref.caBundlePem
        ? `url:${ref.url}#ca=${createHash("sha256").update(ref.caBundlePem).digest("hex").slice(0, 16)}`
        : `url:${ref.url}`;
    case "oci":
      // Credentials are a namespace's own (its pull Secret, or its default ServiceAccount's
      // imagePullSecrets): a resolution is never shared across namespaces; downloads are, by digest.
      return `oci:${ref.namespace}/${ref.reference}${ref.caBundlePem ? `#ca=${createHash("sha256").update(ref.caBundlePem).digest("hex").slice(0, 16)}` : ""}${ref.pullSecret ? `#secret=${ref.pullSecret}` : ""}${ref.insecure ? "#insecure" : ""}`;
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
  opts: {
    caBundlePem?: string;
    maxBytes: number;
    /** The final answer's declared length, before its body is read (byte accounting). */
    onStart?: (declaredLength: number | undefined) => void;
    /** Each body chunk's length before it is kept; false stops the fetch (SOURCE_BUSY). */
    onBodyBytes?: (n: number) => boolean;
  },
) => Promise<{ bytes: Buffer; sha256?: string }>;

/**
 * Resolves an OCI reference with the Skill's credentials (always: access is the registry's to
 * decide), then downloads the layer unless `have(digest)` says it is verified already.
 */
export type OciFetcher = (
  ref: Extract<SourceRef, { kind: "oci" }>,
  opts: {
    maxBytes: number;
    have: (digest: string) => boolean;
    /** Runs a layer download once per digest, however many sources resolve to it at once. */
    share?: (
      digest: string,
      download: () => Promise<{ bytes: Buffer; sha256: string }>,
    ) => Promise<{ bytes: Buffer; sha256: string }>;
    onStart?: (declaredLength: number | undefined) => void;
    onBodyBytes?: (n: number) => boolean;
  },
) => Promise<{ digest: string; bytes?: Buffer; source: ResolvedSource }>;

/** A Skill whose artifact is being fetched, or waits for a fetch slot: reconciled again later. */
export interface ArtifactWaiting {
  kind: "waiting";
  message: string;
}

export interface ArtifactLoaderMetrics {
  /** One fetch: its bytes on success, its error code on failure. */
  fetch?(
    source: string,
    outcome: { seconds: number; bytes: number; error?: string; message?: string; detail?: string },
  ): void;
  /** A load answered from the cache (hit) or needing a fetch (miss). */
  cache?(result: "hit" | "miss"): void;
  verification?(result: "verified" | "rejected"): void;
}

export interface ArtifactLoaderOptions {
  fetchUrl: UrlFetcher;
  /** OCI sources; without it they are SOURCE_UNSUPPORTED. */
  fetchOci?: OciFetcher;
  objects: ObjectSourceReader;
  /** How long a URL's digest is trusted before the URL is fetched again. */
  urlRefreshMs: number;
  limits?: ArchiveLimits;
  /** Budget for verified artifacts kept in memory (their decompressed modules); default 64 MiB. */
  maxCacheBytes?: number;
  /** Bytes of downloaded artifacts held at once, until verified (default 96 MiB). */
  maxInflightBytes?: number;
  /** URL fetches (download and verification) at once, in all (default 8). */
  maxFetches?: number;
  /** URL fetches at once for one namespace, so one tenant's slow sources cannot starve others (default 2). */
  maxFetchesPerNamespace?: number;
  /** How long a reconcile waits for a running fetch before it lets go of its worker (default 1 s). */
  waitMs?: number;
  /** Reconciles of one namespace that wait on fetches at once; more are told to wait (default 4). */
  maxWaitingPerNamespace?: number;
  /** A Skill told to wait (ArtifactWaiting) may now be reconciled again. */
  onReady?: (owner: string) => void;
  /** Bytes that verified, by their digest (delivery keeps them to serve pods). */
  onVerified?: (digest: string, bytes: Buffer) => void;
  metrics?: ArtifactLoaderMetrics;
  now?: () => number;
}

/** A URL fetch waiting for a slot, or running. */
interface UrlFetch {
  key: string;
  ref: Extract<SourceRef, { kind: "url" | "oci" }>;
  namespace: string;
  /** Skills told to wait on it: woken when it ends. */
  parked: Set<string>;
  /** Digest pins of the Skills that asked for it; a Skill without a pin adds "". */
  pins: Set<string>;
  running?: Promise<void> | undefined;
  /** When it ended: the artifact digest, or the error. */
  outcome?: { digest: string; source?: ResolvedSource } | { error: unknown };
}

// Artifacts this large are verified one at a time: their inflated entries are not counted in
// the bytes-in-flight budget, so at most one of them is inflated at once.
const LARGE_ARTIFACT_BYTES = 4 * 1024 * 1024;
// A failed URL is not fetched again within this long: Skills woken by the failure see it once.
const FAILURE_MEMORY_MS = 5_000;

/** A download that does not fit the bytes-in-flight budget now: back in line (transient). */
const budgetExhausted = () =>
  new SourceError(
    "SOURCE_BUSY",
    "the operator's budget for artifact bytes in flight is exhausted; retrying later",
    true,
  );

type Facts =
  | { kind: "verified"; facts: VerifiedArtifactFacts; bytes: number }
  | { kind: "rejected"; digest: string; error: SkillError; bytes: number };

interface Resolution {
  version: string | undefined;
  digest: string;
  at: number;
  source?: ResolvedSource;
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
  #urlFetches = new Map<string, UrlFetch>();
  #queue: UrlFetch[] = [];
  #running = 0;
  #runningByNamespace = new Map<string, number>();
  #waitingByNamespace = new Map<string, number>();
  #inflightBytes = 0;
  #failures = new Map<string, { error: unknown; at: number }>();
  #largeVerification: Promise<unknown> = Promise.resolve();

  constructor(opts: ArtifactLoaderOptions) {
    this.#opts = opts;
    this.#limits = opts.limits ?? DEFAULT_ARCHIVE_LIMITS;
  }

  /** Bytes of downloaded, not yet verified artifacts held now. */
  get inflightBytes(): number {
    return this.#inflightBytes;
  }

  /** URL fetches running now. */
  get runningFetches(): number {
    return this.#running;
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

  /**
   * Loads the artifact a Skill names, checks the optional digest pin first, then verifies. A URL
   * that is not cached is fetched by a bounded scheduler: the caller waits for it a short while,
   * then gets ArtifactWaiting and is reconciled again (onReady) when the fetch ends.
   */
  async load(
    owner: string,
    ref: SourceRef,
    pin?: string,
  ): Promise<ArtifactObservation | ArtifactWaiting> {
    if (ref.kind === "oci" && !this.#opts.fetchOci) {
      this.#track(owner, sourceKey(ref), undefined);
      return { kind: "unsupported", message: "OCI sources are not enabled in this operator" };
    }
    const key = sourceKey(ref);
    const now = (this.#opts.now ?? Date.now)();
    const cached = this.#resolutions.get(key);
    const version =
      ref.kind === "url" || ref.kind === "oci"
        ? undefined
        : this.#opts.objects.version(ref.kind, ref.namespace, ref.name);
    const fresh =
      cached !== undefined &&
      (ref.kind === "url" || ref.kind === "oci"
        ? now - cached.at < this.#opts.urlRefreshMs
        : version !== undefined && cached.version === version);
    if (fresh && cached) {
      const facts = this.#touch(cached.digest);
      if (facts) {
        this.#opts.metrics?.cache?.("hit");
        return this.#observe(owner, key, cached.digest, facts, pin, cached.source);
      }
    }
    this.#opts.metrics?.cache?.("miss");
    if (ref.kind === "url" || ref.kind === "oci") return this.#loadUrl(owner, key, ref, pin, now);

    let fetched: { bytes: Buffer; digest: string; version: string | undefined };
    try {
      fetched = await this.#once(`fetch:${key}`, () => this.#fetchObject(ref));
    } catch (error) {
      return this.#failed(owner, key, error);
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

  async #loadUrl(
    owner: string,
    key: string,
    ref: Extract<SourceRef, { kind: "url" | "oci" }>,
    pin: string | undefined,
    now: number,
  ): Promise<ArtifactObservation | ArtifactWaiting> {
    const failure = this.#failures.get(key);
    // A registry that asked us to wait (Retry-After) is left alone that long, by every Skill.
    const memory = Math.max(
      FAILURE_MEMORY_MS,
      isSourceError(failure?.error) ? (failure.error.retryAfterMs ?? 0) : 0,
    );
    if (failure && now - failure.at < memory) return this.#failed(owner, key, failure.error);
    const namespace = owner.slice(0, Math.max(0, owner.indexOf("/")));
    let fetch = this.#urlFetches.get(key);
    if (!fetch) {
      fetch = { key, ref, namespace, parked: new Set(), pins: new Set() };
      this.#urlFetches.set(key, fetch);
      this.#queue.push(fetch);
      this.#pump();
    }
    fetch.pins.add(pin?.toLowerCase() ?? "");
    const waiting = this.#waitingByNamespace.get(namespace) ?? 0;
    if (fetch.running && waiting < (this.#opts.maxWaitingPerNamespace ?? 4)) {
      this.#waitingByNamespace.set(namespace, waiting + 1);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          fetch.running,
          new Promise((r) => {
            timer = setTimeout(r, this.#opts.waitMs ?? 1000);
          }),
        ]);
      } finally {
        clearTimeout(timer);
        const n = (this.#waitingByNamespace.get(namespace) ?? 1) - 1;
        if (n > 0) this.#waitingByNamespace.set(namespace, n);
        else this.#waitingByNamespace.delete(namespace);
      }
    }
    const outcome = fetch.outcome;
    if (outcome === undefined) {
      // What the Skill used before stays cached until its new answer is known.
      fetch.parked.add(owner);
      return {
        kind: "waiting",
        message: fetch.running
          ? "the artifact is being fetched"
          : "waiting for a fetch slot (fetches are limited in all and per namespace)",
      };
    }
    if ("error" in outcome) return this.#failed(owner, key, outcome.error);
    // The pin is checked before a single byte is parsed.
    if (pin !== undefined && pin.toLowerCase() !== outcome.digest) {
      this.#track(owner, key, undefined);
      return {
        kind: "digestMismatch",
        expected: pin.toLowerCase(),
        actual: outcome.digest,
        ...(outcome.source ? { source: outcome.source } : {}),
      };
    }
    const facts = this.#touch(outcome.digest);
    if (!facts) {
      // Evicted already (a tiny cache): fetch again.
      this.#resolutions.delete(key);
      return this.load(owner, ref, pin);
    }
    return this.#observe(owner, key, outcome.digest, facts, pin, outcome.source);
  }

  #failed(owner: string, key: string, error: unknown): ArtifactObservation {
    this.#track(owner, key, undefined);
    if (isSourceError(error)) {
      return {
        kind: "fetchFailed",
        code: error.code,
        message: error.message,
        transient: error.transient,
        ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
      };
    }
    throw error;
  }

  /** Starts queued fetches while there are slots, taking namespaces in turn. */
  #pump(): void {
    const max = this.#opts.maxFetches ?? 8;
    const perNamespace = this.#opts.maxFetchesPerNamespace ?? 2;
    while (this.#running < max) {
      const i = this.#queue.findIndex(
        (f) => (this.#runningByNamespace.get(f.namespace) ?? 0) < perNamespace,
      );
      if (i < 0) return;
      const [fetch] = this.#queue.splice(i, 1) as [UrlFetch];
      // Fairness: the namespace that just got a slot goes to the back of the line.
      const rest = this.#queue.filter((f) => f.namespace === fetch.namespace);
      this.#queue = [...this.#queue.filter((f) => f.namespace !== fetch.namespace), ...rest];
      this.#start(fetch);
    }
  }

  #start(fetch: UrlFetch): void {
    this.#running++;
    this.#runningByNamespace.set(
      fetch.namespace,
      (this.#runningByNamespace.get(fetch.namespace) ?? 0) + 1,
    );
    fetch.running = this.#fetchAndVerify(fetch).finally(() => {
      this.#running--;
      const n = (this.#runningByNamespace.get(fetch.namespace) ?? 1) - 1;
      if (n > 0) this.#runningByNamespace.set(fetch.namespace, n);
      else this.#runningByNamespace.delete(fetch.namespace);
      this.#pump();
    });
  }

  async #fetchAndVerify(fetch: UrlFetch): Promise<void> {
    const now = (this.#opts.now ?? Date.now)();
    const { reserve, release } = this.#inflightBudget();
    try {
      const fetched: { bytes?: Buffer; digest: string; source?: ResolvedSource } =
        fetch.ref.kind === "oci"
          ? await this.#fetchOci(fetch.ref, reserve)
          : await this.#fetchUrl(fetch.ref, reserve);
      this.#resolutions.set(fetch.key, {
        version: undefined,
        digest: fetched.digest,
        at: now,
        ...(fetched.source ? { source: fetched.source } : {}),
      });
      // Bytes no Skill asked for (every one pins another digest) are never parsed.
      const wanted = fetch.pins.has("") || fetch.pins.has(fetched.digest);
      const bytes = fetched.bytes;
      if (wanted && bytes && !this.#touch(fetched.digest)) {
        const verify = () => this.#verify(fetched.digest, bytes);
        if (bytes.length >= LARGE_ARTIFACT_BYTES) {
          const turn = this.#largeVerification.then(() =>
            this.#once(`verify:${fetched.digest}`, verify),
          );
          this.#largeVerification = turn.catch(() => undefined);
          await turn;
        } else await this.#once(`verify:${fetched.digest}`, verify);
      }
      fetch.outcome = {
        digest: fetched.digest,
        ...(fetched.source ? { source: fetched.source } : {}),
      };
      this.#failures.delete(fetch.key);
    } catch (error) {
      if (isSourceError(error) && error.code === "SOURCE_BUSY") {
        // Out of byte budget: back in line (after the others) once bytes are released.
        release();
        fetch.running = undefined;
        setTimeout(() => {
          this.#queue.push(fetch);
          this.#pump();
        }, 250).unref();
        return;
      }
      fetch.outcome = { error };
      this.#failures.set(fetch.key, { error, at: (this.#opts.now ?? Date.now)() });
    } finally {
      release();
    }
    this.#urlFetches.delete(fetch.key);
    for (const owner of fetch.parked) this.#opts.onReady?.(owner);
  }

  /** One download's share of the bytes-in-flight budget: reserve as bytes arrive, release once. */
  #inflightBudget(): { reserve: (n: number) => boolean; release: () => void } {
    let held = 0;
    return {
      reserve: (n) => {
        if (this.#inflightBytes + n > (this.#opts.maxInflightBytes ?? 96 * 1024 * 1024))
          return false;
        this.#inflightBytes += n;
        held += n;
        return true;
      },
      release: () => {
        this.#inflightBytes -= held;
        held = 0;
      },
    };
  }

  /**
   * Fetches a source afresh and verifies it in full, for serving verified bytes that are not
   * kept any more: the bytes only when they have `digest` (checked before parsing), else a
   * SourceError (SOURCE_DIGEST_MISMATCH) or the library's SkillError. Concurrent calls for one
   * digest share one fetch; the downloaded bytes count against the in-flight budget.
   */
  fetchVerifiedBytes(ref: SourceRef, digest: string): Promise<Buffer> {
    return this.#once(`serve:${digest}`, async () => {
      const { reserve, release } = this.#inflightBudget();
      try {
        const fetched =
          ref.kind === "url"
            ? await this.#fetchUrl(ref, reserve)
            : ref.kind === "oci"
              ? await this.#fetchOci(ref, reserve, true)
              : await this.#fetchObject(ref);
        if (!fetched.bytes) throw new SourceError("SOURCE_UNSUPPORTED", "no bytes fetched");
        if (fetched.digest !== digest) {
          throw new SourceError(
            "SOURCE_DIGEST_MISMATCH",
            `the source now serves sha256:${fetched.digest}, not the verified sha256:${digest}`,
            false,
          );
        }
        await inspectArtifactAsync(fetched.bytes, { limits: this.#limits });
        this.#opts.onVerified?.(digest, fetched.bytes);
        return fetched.bytes;
      } finally {
        release();
      }
    });
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
    source?: ResolvedSource,
  ): ArtifactObservation {
    const from = source ? { source } : {};
    if (pin !== undefined && pin.toLowerCase() !== digest) {
      this.#track(owner, key, undefined);
      return { kind: "digestMismatch", expected: pin.toLowerCase(), actual: digest, ...from };
    }
    this.#track(owner, key, digest);
    return facts.kind === "verified"
      ? { kind: "verified", facts: facts.facts, ...from }
      : { kind: "rejected", digest, code: facts.error.code, message: facts.error.message, ...from };
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

  /** One URL download, accounting its bytes in the in-flight budget as they arrive. */
  async #fetchUrl(
    ref: Extract<SourceRef, { kind: "url" }>,
    reserve: (n: number) => boolean,
  ): Promise<{ bytes: Buffer; digest: string }> {
    const maxBytes = this.#limits.maxArtifactBytes;
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    let declared: number | undefined;
    try {
      // The CA bundle adds to the system roots, as the CRD documents.
      const ca = ref.caBundlePem ? `${rootCertificates.join("\n")}\n${ref.caBundlePem}` : undefined;
      const { bytes, sha256 } = await this.#opts.fetchUrl(ref.url, {
        ...(ca ? { caBundlePem: ca } : {}),
        maxBytes,
        // A declared length is reserved whole before the body is read; otherwise chunk by chunk.
        onStart: (length) => {
          if (length === undefined) return;
          if (!reserve(length)) throw budgetExhausted();
          declared = length;
        },
        onBodyBytes: (n) => declared !== undefined || reserve(n),
      });
      this.#fetches++;
      this.#opts.metrics?.fetch?.("url", { seconds: seconds(), bytes: bytes.length });
      return { bytes, digest: sha256 ?? createHash("sha256").update(bytes).digest("hex") };
    } catch (error) {
      this.#fetchFailed("url", seconds(), error);
      throw error;
    }
  }

  /**
   * One OCI resolution (always, with the Skill's credentials) and, unless the digest is verified
   * already (or `always`), the layer's download, accounted in the in-flight budget.
   */
  async #fetchOci(
    ref: Extract<SourceRef, { kind: "oci" }>,
    reserve: (n: number) => boolean,
    always = false,
  ): Promise<{ bytes?: Buffer; digest: string; source: ResolvedSource }> {
    const fetchOci = this.#opts.fetchOci;
    if (!fetchOci) throw new SourceError("SOURCE_UNSUPPORTED", "OCI sources are not enabled");
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    let declared: number | undefined;
    try {
      const fetched = await fetchOci(ref, {
        maxBytes: this.#limits.maxArtifactBytes,
        have: (digest) => !always && this.#facts.has(digest),
        // Counted once, by the download itself: sharers get the same bytes, not another fetch.
        share: (digest, download) =>
          this.#once(`download:${digest}`, async () => {
            const layer = await download();
            this.#fetches++;
            this.#opts.metrics?.fetch?.("oci", { seconds: seconds(), bytes: layer.bytes.length });
            return layer;
          }),
        onStart: (length) => {
          if (length === undefined) return;
          if (!reserve(length)) throw budgetExhausted();
          declared = length;
        },
        onBodyBytes: (n) => declared !== undefined || reserve(n),
      });
      // A download is a fetch (counted where it ran, in share); a resolution is not.
      return fetched;
    } catch (error) {
      this.#fetchFailed("oci", seconds(), error);
      throw error;
    }
  }

  /** A failed download, for the metrics and the log line (the detail only there). */
  #fetchFailed(source: "url" | "oci", seconds: number, error: unknown): void {
    const e = isSourceError(error) ? error : undefined;
    this.#opts.metrics?.fetch?.(source, {
      seconds,
      bytes: 0,
      error: e?.code ?? "INTERNAL",
      message: (error as Error).message,
      ...(e?.detail ? { detail: e.detail } : {}),
    });
  }

  async #fetchObject(
    ref: Extract<SourceRef, { kind: "configMap" | "secret" }>,
  ): Promise<{ bytes: Buffer; digest: string; version: string | undefined }> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const { bytes, resourceVersion: version } = await this.#opts.objects.read(
        ref.kind,
        ref.namespace,
        ref.name,
        ref.key,
        this.#limits.maxArtifactBytes,
      );
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
      this.#opts.onVerified?.(digest, bytes);
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
    const budget = this.#opts.maxCacheBytes ?? 64 * 1024 * 1024;
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
