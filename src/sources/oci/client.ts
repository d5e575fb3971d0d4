/**
 * The OCI distribution API (1.1), as much as fetching a skill needs: resolve a reference to its
 * manifest (a tag to a digest), then fetch the one layer by digest, verified while it streams.
 * Anonymous, Basic and Bearer-token authentication (the registry's challenge decides), with
 * tokens cached per registry, repository and credentials until shortly before they expire. Every
 * request goes through httpsRequest: the same address rules, limits and timeouts as the https
 * source, and credentials are never sent on to another origin. Errors are SourceErrors with a
 * code per cause (auth, not found, rate-limited with the registry's Retry-After, unreachable,
 * a manifest that is not a skill's).
 */

import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { Agent } from "node:https";
import { SourceError } from "../errors.ts";
import {
  type HttpsRequestOptions,
  type HttpsResponse,
  httpsRequest,
  secureContextFor,
} from "../https-source.ts";
import {
  basicAuthorization,
  type Challenge,
  parseChallenge,
  type RegistryCredentials,
  tokenRequest,
} from "./auth.ts";
import { OciManifestError, readSkillManifest, type SkillManifest } from "./manifest.ts";
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES } from "./media-types.ts";
import { formatOciReference, type OciReference, registryHost } from "./reference.ts";

export interface OciClientOptions
  extends Pick<
    HttpsRequestOptions,
    | "caBundlePem"
    | "addressPolicy"
    | "connectTimeoutMs"
    | "readTimeoutMs"
    | "totalTimeoutMs"
    | "signal"
    | "userAgent"
  > {
  credentials?: RegistryCredentials | undefined;
  /** Tokens shared across fetches (the operator keeps one); default: a cache per call. */
  tokens?: TokenCache;
  /** Kept-alive connections to registries, by CA bundle (the operator keeps one). */
  agents?: AgentPool;
  /** Plain http to the registry (the caller allows it for loopback registries only). */
  plainHttp?: boolean;
}

/**
 * Keep-alive agents by CA bundle: a registry answers many small requests (a manifest per
 * namespace and refresh, tokens, blobs), and a TLS handshake each costs more than the request.
 * Never shared across CA bundles; new sockets are address-checked as always.
 */
export class AgentPool {
  #agents = new Map<string, Agent>();
  for(caBundlePem: string | undefined): Agent {
    const key = caBundlePem ? createHash("sha256").update(caBundlePem).digest("hex") : "system";
    let agent = this.#agents.get(key);
    if (!agent) {
      agent = new Agent({
        keepAlive: true,
        maxSockets: 8,
        maxFreeSockets: 2,
        timeout: 30_000,
        ...(caBundlePem ? { secureContext: secureContextFor(caBundlePem) } : {}),
      });
      if (this.#agents.size >= 32) {
        const [oldest, old] = this.#agents.entries().next().value as [string, Agent];
        old.destroy();
        this.#agents.delete(oldest);
      }
      this.#agents.set(key, agent);
    }
    return agent;
  }
  destroy(): void {
    for (const a of this.#agents.values()) a.destroy();
    this.#agents.clear();
  }
}

/** Authorization values (bearer tokens, Basic) by registry, scope and credentials; bounded. */
export class TokenCache {
  #entries = new Map<string, { token: string; expires: number }>();
  #pending = new Map<string, Promise<string>>();
  /** One token request per key at a time: concurrent misses share it. */
  once(key: string, fetch: () => Promise<string>): Promise<string> {
    let p = this.#pending.get(key);
    if (!p) {
      p = fetch().finally(() => this.#pending.delete(key));
      this.#pending.set(key, p);
    }
    return p;
  }
  #max: number;
  constructor(max = 1024) {
    this.#max = max;
  }
  get(key: string, now = Date.now()): string | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.expires <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.token;
  }
  set(key: string, token: string, expiresInSeconds: number, now = Date.now()): void {
    // Renew 10 s early; the protocol's default lifetime is 60 s.
    const ttl = Math.max(0, Math.min(expiresInSeconds, 3600) - 10) * 1000;
    if (ttl <= 0) return;
    if (this.#entries.size >= this.#max)
      this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, { token, expires: now + ttl });
  }
}

/** What the registry answered for a reference: the manifest and its digest. */
export interface ResolvedOci {
  readonly manifest: SkillManifest;
  /** The reference pinned to the manifest's digest. */
  readonly pinned: string;
}

const baseUrl = (ref: OciReference, opts: { plainHttp?: boolean } = {}) =>
  `${opts.plainHttp ? "http" : "https"}://${ref.registry}/v2/${ref.repository}`;

/** Resolves a reference (tag or digest) to a skill's manifest. */
export async function resolveOci(
  ref: OciReference,
  opts: OciClientOptions & { maxArtifactBytes: number },
): Promise<ResolvedOci> {
  const target = ref.digest ?? ref.tag ?? "";
  const res = await registryGet(ref, `${baseUrl(ref, opts)}/manifests/${target}`, opts, {
    headers: { Accept: MANIFEST_ACCEPT },
    maxBytes: MAX_MANIFEST_BYTES,
  });
  const where = formatOciReference(ref);
  let manifest: SkillManifest;
  try {
    manifest = readSkillManifest(
      res.bytes,
      headerValue(res.headers["content-type"]),
      opts.maxArtifactBytes,
    );
  } catch (error) {
    if (error instanceof OciManifestError)
      throw new SourceError("SOURCE_MANIFEST_INVALID", `${where}: ${error.message}`, false);
    throw error;
  }
  if (ref.digest !== undefined && manifest.digest !== ref.digest) {
    throw new SourceError(
      "SOURCE_DIGEST_MISMATCH",
      `${where}: the registry served a manifest with digest ${manifest.digest}, not the one named`,
      false,
    );
  }
  const told = headerValue(res.headers["docker-content-digest"]);
  if (told !== undefined && told !== manifest.digest && told.startsWith("sha256:")) {
    throw new SourceError(
      "SOURCE_DIGEST_MISMATCH",
      `${where}: the registry says the manifest is ${told}, but its bytes are ${manifest.digest}`,
      false,
    );
  }
  return {
    manifest,
    pinned: formatOciReference({
      registry: ref.registry,
      repository: ref.repository,
      digest: manifest.digest,
    }),
  };
}

/**
 * The layer's bytes, fetched by digest: the size is the descriptor's (a longer body is cut as it
 * streams), and the sha256 of what arrived must be the digest.
 */
export async function fetchOciLayer(
  ref: OciReference,
  layer: { digest: string; size: number },
  opts: OciClientOptions & Pick<HttpsRequestOptions, "onStart" | "onBodyBytes">,
): Promise<{ bytes: Buffer; sha256: string }> {
  const res = await registryGet(ref, `${baseUrl(ref, opts)}/blobs/${layer.digest}`, opts, {
    maxBytes: layer.size,
    ...(opts.onStart ? { onStart: opts.onStart } : {}),
    ...(opts.onBodyBytes ? { onBodyBytes: opts.onBodyBytes } : {}),
  });
  const where = `${ref.registry}/${ref.repository}@${layer.digest}`;
  if (res.bytes.length !== layer.size) {
    throw new SourceError(
      "SOURCE_TRUNCATED",
      `${where}: the blob is ${res.bytes.length} bytes, not the ${layer.size} its descriptor declares`,
    );
  }
  if (`sha256:${res.sha256}` !== layer.digest) {
    throw new SourceError(
      "SOURCE_DIGEST_MISMATCH",
      `${where}: the blob's bytes have sha256 ${res.sha256}, not its digest`,
      false,
    );
  }
  return { bytes: res.bytes, sha256: res.sha256 };
}

/** A GET with the registry's authentication, mapping its answers to typed errors. */
function registryGet(
  ref: OciReference,
  url: string,
  opts: OciClientOptions,
  req: Pick<HttpsRequestOptions, "headers" | "maxBytes" | "onStart" | "onBodyBytes">,
): Promise<HttpsResponse> {
  return registryRequest(ref, url, opts, req, "pull").then((res) => checked(ref, res));
}

/**
 * One request with the registry's authentication (anonymous first, then what its challenge asks
 * for, with a token for `actions` on the repository); the answer unchecked, 401 aside.
 */
export async function registryRequest(
  ref: OciReference,
  url: string,
  opts: OciClientOptions,
  req: Pick<
    HttpsRequestOptions,
    "method" | "headers" | "body" | "maxBytes" | "onStart" | "onBodyBytes"
  >,
  actions: "pull" | "pull,push",
): Promise<HttpsResponse> {
  const tokens = opts.tokens ?? new TokenCache(8);
  const scope = `repository:${ref.repository}:${actions}`;
  const cacheKey = `${ref.registry}|${scope}|${credentialsKey(opts.credentials)}`;
  const send = (authorization: string | undefined) =>
    httpsRequest(url, {
      ...pickHttps(opts),
      ...req,
      headers: {
        ...(req.headers ?? {}),
        ...(authorization ? { Authorization: authorization } : {}),
      },
    });
  // What answered this registry's challenge last (a bearer token, or Basic): sent up front.
  const cached = tokens.get(cacheKey);
  // A cached token first; otherwise anonymously, and the registry's challenge says what next.
  let res = await send(cached);
  if (res.status === 401) {
    const challenge = parseChallenge(res.headers["www-authenticate"]);
    const authorization = await answer(ref, challenge, scope, cacheKey, opts, tokens, res);
    res = await send(authorization);
    if (res.status === 401) {
      throw authFailed(ref, res, "the registry refused the credentials it asked for");
    }
  }
  return res;
}

/** The Authorization that answers a challenge, fetching a bearer token if it asks for one. */
async function answer(
  ref: OciReference,
  challenge: Challenge | undefined,
  scope: string,
  cacheKey: string,
  opts: OciClientOptions,
  tokens: TokenCache,
  res: HttpsResponse,
): Promise<string> {
  const where = `${ref.registry}/${ref.repository}`;
  if (!challenge) {
    throw authFailed(
      ref,
      res,
      "the registry answered 401 without a Basic or Bearer challenge, so it cannot be authenticated with",
    );
  }
  if (opts.plainHttp) {
    throw new SourceError(
      "SOURCE_AUTH_FAILED",
      `${where}: the registry asks for credentials, which are never sent over plain http (insecure)`,
      false,
    );
  }
  if (challenge.scheme === "basic") {
    if (!opts.credentials) {
      throw new SourceError(
        "SOURCE_AUTH_FAILED",
        `${where}: the registry asks for a user name and password, and none is configured (a kubernetes.io/dockerconfigjson Secret)`,
        false,
      );
    }
    const authorization = basicAuthorization(opts.credentials);
    // Basic registries are asked with credentials first from now on (not anonymously, then again).
    tokens.set(cacheKey, authorization, 300);
    return authorization;
  }
  // Concurrent resolutions that miss the cache share one token request.
  const bearer = async (): Promise<string> => {
    let request: ReturnType<typeof tokenRequest>;
    try {
      request = tokenRequest(challenge, registryHost(ref), scope);
    } catch (error) {
      throw new SourceError("SOURCE_AUTH_FAILED", `${where}: ${(error as Error).message}`, false);
    }
    const withCredentials = request.sendCredentials && opts.credentials !== undefined;
    const tokenRes = await httpsRequest(request.url.toString(), {
      ...pickHttps(opts),
      maxBytes: 64 * 1024,
      headers: {
        Accept: "application/json",
        ...(withCredentials && opts.credentials
          ? { Authorization: basicAuthorization(opts.credentials) }
          : {}),
      },
    });
    if (tokenRes.status === 429) throw rateLimited(ref, tokenRes);
    if (tokenRes.status < 200 || tokenRes.status >= 300) {
      const foreign = !request.sendCredentials && opts.credentials !== undefined;
      throw new SourceError(
        "SOURCE_AUTH_FAILED",
        `${where}: the token service ${request.url.origin} refused ${withCredentials ? "the credentials" : "an anonymous request"}${tokenRes.internal ? "" : ` (HTTP ${tokenRes.status})`}${foreign ? `; credentials are sent only to ${registryHost(ref)} itself, not to a realm on another host` : ""}`,
        tokenRes.status >= 500,
      );
    }
    let token: string | undefined;
    let expiresIn = 60;
    try {
      const doc = JSON.parse(tokenRes.bytes.toString("utf8")) as {
        token?: unknown;
        access_token?: unknown;
        expires_in?: unknown;
      };
      const t = typeof doc.token === "string" ? doc.token : doc.access_token;
      token = typeof t === "string" && t.length > 0 ? t : undefined;
      if (typeof doc.expires_in === "number" && doc.expires_in > 0) expiresIn = doc.expires_in;
    } catch {
      token = undefined;
    }
    if (!token || /[\s\r\n]/.test(token)) {
      throw new SourceError(
        "SOURCE_AUTH_FAILED",
        `${where}: the token service ${request.url.origin} answered no usable token`,
        false,
      );
    }
    tokens.set(cacheKey, `Bearer ${token}`, expiresIn);
    return `Bearer ${token}`;
  };
  return tokens.once(cacheKey, bearer);
}

/** The answer if 2xx, else the typed error its status means. */
export function checked(ref: OciReference, res: HttpsResponse): HttpsResponse {
  const where = `${ref.registry}/${ref.repository}`;
  const s = res.status;
  if (s >= 200 && s < 300) return res;
  if (s === 429) throw rateLimited(ref, res);
  const code = res.internal ? undefined : registryErrorCode(res.bytes);
  const said = code ? ` (${code})` : "";
  if (s === 401 || s === 403) throw authFailed(ref, res, `access denied${said}`);
  if (s === 404) {
    throw new SourceError("SOURCE_NOT_FOUND", `${where}: not found in the registry${said}`);
  }
  throw new SourceError(
    "SOURCE_HTTP_ERROR",
    res.internal
      ? `${where}: the registry answered an HTTP error status (not shown: internal address)`
      : `${where}: the registry answered HTTP ${s}${said}`,
    s >= 500 || s === 408,
    res.internal ? `HTTP ${s}` : undefined,
  );
}

function authFailed(ref: OciReference, res: HttpsResponse, why: string): SourceError {
  return new SourceError(
    "SOURCE_AUTH_FAILED",
    `${ref.registry}/${ref.repository}: ${why}${res.internal ? "" : ` (HTTP ${res.status})`}`,
    false,
  );
}

/** 429, retried no sooner than the registry asks (at most 10 minutes). */
function rateLimited(ref: OciReference, res: HttpsResponse): SourceError {
  const after = retryAfterMs(headerValue(res.headers["retry-after"]));
  return new SourceError(
    "SOURCE_RATE_LIMITED",
    `${ref.registry}/${ref.repository}: the registry is rate-limiting us${after !== undefined ? `; retrying after ${Math.ceil(after / 1000)} s as it asks` : ""}`,
    true,
    undefined,
    after,
  );
}

/** Retry-After in seconds or as an HTTP date, bounded to 10 minutes; undefined if absent or bad. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d{1,10}$/.test(trimmed)) ms = Number(trimmed) * 1000;
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(ms, 0), 10 * 60_000);
}

/** The first error code of a distribution error body ({"errors":[{"code":...}]}), if any. */
function registryErrorCode(body: Buffer): string | undefined {
  try {
    const doc = JSON.parse(body.toString("utf8")) as { errors?: { code?: unknown }[] };
    const code = doc.errors?.[0]?.code;
    return typeof code === "string" && /^[A-Z_]{1,64}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

function headerValue(h: IncomingHttpHeaders[string]): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

function credentialsKey(c: RegistryCredentials | undefined): string {
  return c
    ? createHash("sha256").update(`${c.username}\n${c.password}`).digest("hex").slice(0, 16)
    : "anonymous";
}

function pickHttps(opts: OciClientOptions): Omit<HttpsRequestOptions, "maxBytes"> {
  return {
    ...(opts.caBundlePem ? { caBundlePem: opts.caBundlePem } : {}),
    ...(opts.addressPolicy ? { addressPolicy: opts.addressPolicy } : {}),
    ...(opts.connectTimeoutMs ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.readTimeoutMs ? { readTimeoutMs: opts.readTimeoutMs } : {}),
    ...(opts.totalTimeoutMs ? { totalTimeoutMs: opts.totalTimeoutMs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.userAgent ? { userAgent: opts.userAgent } : {}),
    ...(opts.agents && !opts.plainHttp ? { agent: opts.agents.for(opts.caBundlePem) } : {}),
    ...(opts.plainHttp ? { allowPlainHttp: true } : {}),
    // A registry redirecting a blob elsewhere (storage) is followed, https only.
    maxRedirects: 3,
  };
}
