/**
 * Downloads an artifact over HTTPS under explicit limits: https only (redirects included), a
 * connect timeout, an idle-read timeout and an overall deadline, a size cap enforced while
 * streaming (the connection is cut the moment it is exceeded), and the SHA-256 of exactly the
 * bytes returned, hashed as they stream in. Messages never carry URL credentials or query
 * strings, nor certificate contents.
 *
 * With an address policy, every connection (redirect hops included) goes only to addresses the
 * policy admits: an IP-literal host is checked before connecting, a host name is resolved by a
 * lookup that checks every address it returns and hands the socket only those (so a DNS answer
 * cannot change between the check and the connect), and the connected peer is checked again.
 * What a target in a non-public range answers (status, lengths) is not echoed in messages.
 */

import { createHash } from "node:crypto";
import { type LookupAddress, type LookupAllOptions, type LookupOptions, lookup } from "node:dns";
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from "node:http";
import { Agent, request } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import type { AddressPolicy } from "./address-policy.ts";
import { SourceError } from "./errors.ts";

export interface FetchHttpsOptions {
  /** PEM bundle to trust instead of the system roots. */
  caBundlePem?: string;
  maxBytes: number;
  connectTimeoutMs?: number;
  readTimeoutMs?: number;
  totalTimeoutMs?: number;
  maxRedirects?: number;
  signal?: AbortSignal;
  userAgent?: string;
  /** Which addresses may be connected to; without it, no address is refused. */
  addressPolicy?: AddressPolicy | undefined;
  /**
   * Called once the headers of the final 2xx response arrived and its Content-Length (if any)
   * passed the maxBytes check, before the body is read: with a declared length, a buffer of
   * exactly that size is allocated next.
   */
  onStart?: ((declaredLength: number | undefined) => void) | undefined;
  /**
   * Called with each body chunk's length once it passed the size checks, before it is kept;
   * returning false fails the fetch with SOURCE_BUSY (transient).
   */
  onBodyBytes?: ((n: number) => boolean) | undefined;
}

/** A request with a method, headers and a body (registries): the same limits and address rules. */
export interface HttpsRequestOptions extends FetchHttpsOptions {
  method?: "GET" | "HEAD" | "PUT" | "POST" | "PATCH";
  /** Added to (and overriding) the defaults: Accept, Accept-Encoding, User-Agent. */
  headers?: Record<string, string>;
  body?: Buffer;
  /** Largest body read from an answer that is not 2xx (default 64 KiB); a longer one is cut. */
  maxErrorBytes?: number;
  /**
   * A keep-alive pool to use instead of an agent of this request's own: the caller keys it by
   * origin and CA (a custom CA must never leak into another pool). New sockets are checked by
   * the address policy as always; a reused one was checked when it connected.
   */
  agent?: Agent;
  /**
   * Plain http is allowed for this URL's origin (an OCI registry marked insecure, on loopback
   * only: the caller decides); never for another origin, never by a redirect from https.
   */
  allowPlainHttp?: boolean;
}

export interface HttpsResponse {
  status: number;
  headers: IncomingHttpHeaders;
  bytes: Buffer;
  /** SHA-256 of exactly `bytes`. */
  sha256: string;
  /** The URL that answered (after redirects). */
  url: string;
  /** The peer is in a range the policy treats as internal: do not echo its answer to tenants. */
  internal: boolean;
}

export interface FetchedArtifact {
  bytes: Buffer;
  sha256: string;
  url: string;
}

/** The URL as it may appear in logs and status: no user info, no query. */
export function redactUrl(url: URL | string): string {
  try {
    const u = new URL(String(url));
    const query = u.search ? "?…" : "";
    return `${u.protocol}//${u.username || u.password ? "…@" : ""}${u.host}${u.pathname}${query}`;
  } catch {
    return "<invalid URL>";
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

// Parsing a CA bundle (the system roots plus the Skill's own CA) costs about a megabyte of
// native memory per TLS context; many Skills share a few bundles, so contexts are shared too.
const contexts = new Map<string, SecureContext>();

export function secureContextFor(caBundlePem: string): SecureContext {
  const key = createHash("sha256").update(caBundlePem).digest("hex");
  let context = contexts.get(key);
  if (context) {
    contexts.delete(key); // most recently used last
  } else {
    context = createSecureContext({ ca: caBundlePem });
    if (contexts.size >= 32) contexts.delete(contexts.keys().next().value as string);
  }
  contexts.set(key, context);
  return context;
}

export async function fetchHttps(url: string, opts: FetchHttpsOptions): Promise<FetchedArtifact> {
  const res = await httpsRequest(url, { ...opts, maxErrorBytes: 0 });
  if (res.status < 200 || res.status >= 300) {
    const transient = res.status >= 500 || res.status === 429 || res.status === 408;
    throw new SourceError(
      "SOURCE_HTTP_ERROR",
      res.internal
        ? `${redactUrl(res.url)} answered an HTTP error status (not shown: internal address)`
        : `${redactUrl(res.url)} answered HTTP ${res.status}`,
      transient,
      res.internal ? `HTTP ${res.status}` : undefined,
    );
  }
  return { bytes: res.bytes, sha256: res.sha256, url: res.url };
}

/**
 * One HTTPS exchange under the limits of fetchHttps, answered whatever its status: a 2xx body is
 * read under maxBytes (and the streaming hooks), another status's body under maxErrorBytes.
 * GET and HEAD follow redirects (https only, at most maxRedirects); an Authorization header is
 * never sent on to another origin (a registry redirecting a blob to storage).
 */
export async function httpsRequest(url: string, opts: HttpsRequestOptions): Promise<HttpsResponse> {
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw new SourceError("SOURCE_URL_INVALID", "source URL is not a valid URL");
  }
  const plain = current.protocol === "http:" && opts.allowPlainHttp === true;
  if (current.protocol !== "https:" && !plain) {
    throw new SourceError("SOURCE_URL_INVALID", `source URL ${redactUrl(current)} is not https`);
  }
  const origin = current.origin;
  const deadline = AbortSignal.timeout(opts.totalTimeoutMs ?? 120_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  // One agent per fetch (unless the caller pools by origin and CA): a custom CA must never
  // leak into a shared connection pool.
  const own = opts.agent === undefined || plain;
  const agent: Agent | HttpAgent = plain
    ? new HttpAgent({ keepAlive: false })
    : (opts.agent ??
      new Agent({
        keepAlive: false,
        ...(opts.caBundlePem ? { secureContext: secureContextFor(opts.caBundlePem) } : {}),
      }));
  const method = opts.method ?? "GET";
  const follows = method === "GET" || method === "HEAD";
  let headers = { ...(opts.headers ?? {}) };
  try {
    const maxRedirects = opts.maxRedirects ?? 3;
    for (let hop = 0; ; hop++) {
      const { res, remoteAddress } = await get(current, agent, opts, signal, deadline, headers);
      // What an internal target (an allowed exception) answered is not echoed back.
      const internal = isInternalPeer(opts.addressPolicy, remoteAddress);
      const status = res.statusCode ?? 0;
      if (follows && REDIRECTS.has(status)) {
        res.resume();
        const location = res.headers.location;
        if (!location)
          throw new SourceError(
            "SOURCE_HTTP_ERROR",
            `${redactUrl(current)} answered ${internal ? "a redirect" : status} without a Location`,
            false,
          );
        if (hop >= maxRedirects) {
          throw new SourceError(
            "SOURCE_REDIRECT_REFUSED",
            `${redactUrl(url)}: more than ${maxRedirects} redirects`,
          );
        }
        const next = new URL(location, current);
        // Plain http stays on the one origin it was allowed for.
        if (plain ? next.origin !== origin : next.protocol !== "https:") {
          throw new SourceError(
            "SOURCE_REDIRECT_REFUSED",
            `${redactUrl(current)} redirects to ${redactUrl(next)}, which is not https`,
          );
        }
        if (next.origin !== current.origin) {
          // Credentials are for the origin that asked for them.
          headers = Object.fromEntries(
            Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"),
          );
        }
        current = next;
        continue;
      }
      const ok = status >= 200 && status < 300;
      if (method === "HEAD" || (!ok && (opts.maxErrorBytes ?? 64 * 1024) === 0)) {
        res.resume();
        return {
          status,
          headers: res.headers,
          bytes: Buffer.alloc(0),
          sha256: EMPTY_SHA256,
          url: current.toString(),
          internal,
        };
      }
      const limits: FetchHttpsOptions = ok
        ? opts
        : {
            ...opts,
            maxBytes: opts.maxErrorBytes ?? 64 * 1024,
            onStart: undefined,
            onBodyBytes: undefined,
          };
      const { bytes, sha256 } = await readBody(res, current, limits, signal, deadline, internal);
      return { status, headers: res.headers, bytes, sha256, url: current.toString(), internal };
    }
  } finally {
    if (own) agent.destroy();
  }
}

const EMPTY_SHA256 = createHash("sha256").digest("hex");

function abortError(url: URL, deadline: AbortSignal, totalMs: number): SourceError {
  return deadline.aborted
    ? new SourceError(
        "SOURCE_TIMEOUT",
        `${redactUrl(url)}: no complete answer within ${totalMs} ms`,
      )
    : new SourceError("SOURCE_ABORTED", `${redactUrl(url)}: fetch aborted`);
}

function classify(error: unknown, url: URL): SourceError {
  if (error instanceof SourceError) return error;
  const e = error as NodeJS.ErrnoException;
  const where = redactUrl(url);
  const code = e.code ?? "";
  if (
    [
      "ECONNREFUSED",
      "ENOTFOUND",
      "ECONNRESET",
      "EHOSTUNREACH",
      "ENETUNREACH",
      "EAI_AGAIN",
      "EPIPE",
    ].includes(code)
  ) {
    return new SourceError("SOURCE_UNREACHABLE", `${where}: ${code}`);
  }
  if (
    /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|HOSTNAME|ERR_TLS/i.test(code) ||
    /certificate|altnames/i.test(e.message ?? "")
  ) {
    // Only the code: the message can carry the certificate's subject and names.
    return new SourceError(
      "SOURCE_TLS_ERROR",
      `${where}: TLS verification failed (${code || "no error code"})`,
    );
  }
  return new SourceError("SOURCE_UNREACHABLE", `${where}: ${code || e.message || String(error)}`);
}

/**
 * The policy's refusal of `address` as a SourceError, or undefined when it may be reached. An
 * address that came from DNS is not named: status is tenant-readable, and the operator's
 * resolver must not become a way to map the cluster's internal names to addresses.
 */
function refusal(
  policy: AddressPolicy,
  address: string,
  url: URL,
  fromDns = false,
): SourceError | undefined {
  let verdict: ReturnType<AddressPolicy["check"]>;
  try {
    verdict = policy.check(address);
  } catch {
    return new SourceError(
      "SOURCE_ADDRESS_BLOCKED",
      `${redactUrl(url)}: address ${JSON.stringify(address)} is not an IP address, so it cannot be checked`,
      false,
    );
  }
  if (verdict.allowed) return undefined;
  const why = verdict.overridable
    ? "which artifact sources may not reach (allow it with --source-allowed-cidrs)"
    : "which artifact sources may never reach";
  return new SourceError(
    "SOURCE_ADDRESS_BLOCKED",
    fromDns
      ? `${redactUrl(url)}: the host resolves to an address in a range ${why}`
      : `${redactUrl(url)}: address ${address} is in ${verdict.range}, ${why}`,
    false,
  );
}

/** Fail closed: an unknown or unparseable peer counts as internal. */
function isInternalPeer(policy: AddressPolicy | undefined, address: string | undefined): boolean {
  if (!policy) return false;
  if (address === undefined) return true;
  try {
    return policy.isInternal(address);
  } catch {
    return true;
  }
}

/** Resolves every address of a name, as `dns.lookup(hostname, { all: true })` does. */
export type ResolveAll = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for net/tls/https connections that resolves all addresses of the name, refuses the
 * connection (SOURCE_ADDRESS_BLOCKED) if the policy refuses any of them, and otherwise hands the
 * socket only those checked addresses, in either callback shape (`options.all` → the array; else
 * the first address and its family).
 */
export function guardedLookup(
  policy: AddressPolicy,
  url: URL,
  resolve: ResolveAll = lookup,
): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    const wantsAll = options.all === true;
    resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, wantsAll ? [] : "");
      const first = addresses[0];
      if (!first) {
        const none: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
        none.code = "ENOTFOUND";
        return callback(none, wantsAll ? [] : "");
      }
      for (const { address } of addresses) {
        const refused = refusal(policy, address, url, true);
        if (refused) return callback(refused, wantsAll ? [] : "");
      }
      if (wantsAll)
        callback(
          null,
          addresses.map(({ address, family }) => ({ address, family })),
        );
      else callback(null, first.address, first.family);
    });
  };
}

function get(
  url: URL,
  agent: Agent | HttpAgent,
  opts: HttpsRequestOptions,
  signal: AbortSignal,
  deadline: AbortSignal,
  extraHeaders: Record<string, string> = {},
): Promise<{ res: IncomingMessage; remoteAddress: string | undefined }> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(url, deadline, opts.totalTimeoutMs ?? 120_000));
    const policy = opts.addressPolicy;
    let guard: LookupFunction | undefined;
    if (policy) {
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
      if (isIP(host)) {
        // net connects to an IP literal without calling lookup: check it here.
        const refused = refusal(policy, host, url);
        if (refused) return reject(refused);
      } else guard = guardedLookup(policy, url);
    }
    const connectMs = opts.connectTimeoutMs ?? 10_000;
    let connected = false;
    let remoteAddress: string | undefined;
    let failure: SourceError | undefined;
    const plain = url.protocol === "http:";
    const send = plain ? httpRequest : request;
    const req = send(url, {
      agent: agent as Agent,
      method: opts.method ?? "GET",
      ...(guard ? { lookup: guard } : {}),
      headers: {
        Accept: "application/octet-stream, */*",
        "Accept-Encoding": "identity",
        "User-Agent": opts.userAgent ?? "palyra-skills-operator",
        ...extraHeaders,
        ...(opts.body ? { "Content-Length": String(opts.body.length) } : {}),
      },
    });
    const fail = (error: SourceError) => {
      failure ??= error;
      req.destroy(error);
    };
    const connectTimer = setTimeout(
      () =>
        fail(
          new SourceError(
            "SOURCE_CONNECT_TIMEOUT",
            `${redactUrl(url)}: no TLS connection within ${connectMs} ms`,
          ),
        ),
      connectMs,
    );
    const onAbort = () => fail(abortError(url, deadline, opts.totalTimeoutMs ?? 120_000));
    signal.addEventListener("abort", onAbort, { once: true });
    req.on("socket", (socket) => {
      const onConnect = () => {
        remoteAddress = socket.remoteAddress;
        if (!policy) return;
        // Belt and braces: the peer actually connected to is one the policy admits.
        const refused =
          remoteAddress === undefined
            ? new SourceError(
                "SOURCE_ADDRESS_BLOCKED",
                `${redactUrl(url)}: the connected address is unknown, so it cannot be checked`,
                false,
              )
            : refusal(policy, remoteAddress, url, true);
        if (refused) fail(refused);
      };
      if (socket.connecting || socket.remoteAddress === undefined)
        socket.once("connect", onConnect);
      else onConnect();
      if (!socket.connecting && !plain && (socket as TLSSocket).encrypted && socket.remoteAddress) {
        // A kept-alive socket from the caller's pool: connected (and checked) already.
        connected = true;
        clearTimeout(connectTimer);
      } else {
        socket.once(plain ? "connect" : "secureConnect", () => {
          connected = true;
          clearTimeout(connectTimer);
        });
      }
    });
    const readMs = opts.readTimeoutMs ?? 30_000;
    req.setTimeout(readMs, () => {
      if (connected)
        fail(new SourceError("SOURCE_READ_TIMEOUT", `${redactUrl(url)}: no data for ${readMs} ms`));
    });
    req.on("response", (res) => {
      clearTimeout(connectTimer);
      // From here the body's idle timer (readBody) is the only read timeout.
      req.setTimeout(0);
      signal.removeEventListener("abort", onAbort);
      resolve({ res, remoteAddress: remoteAddress ?? res.socket.remoteAddress });
    });
    req.on("error", (error) => {
      clearTimeout(connectTimer);
      signal.removeEventListener("abort", onAbort);
      reject(failure ?? classify(error, url));
    });
    req.end(opts.body);
  });
}

/**
 * Reads the body under the limits, hashing each chunk as it arrives. With a Content-Length the
 * body goes straight into one buffer of that size (and a body longer than declared is refused
 * as it arrives); without one, the chunks are concatenated once at the end.
 */
function readBody(
  res: IncomingMessage,
  url: URL,
  opts: FetchHttpsOptions,
  signal: AbortSignal,
  deadline: AbortSignal,
  internal: boolean,
): Promise<{ bytes: Buffer; sha256: string }> {
  const where = redactUrl(url);
  const declared = res.headers["content-length"];
  if (declared !== undefined && !/^\d{1,15}$/.test(declared)) {
    res.destroy();
    return Promise.reject(
      new SourceError("SOURCE_HTTP_ERROR", `${where} answered an invalid Content-Length`, false),
    );
  }
  const expected = declared === undefined ? undefined : Number(declared);
  if (expected !== undefined && expected > opts.maxBytes) {
    res.destroy();
    return Promise.reject(
      new SourceError(
        "SOURCE_TOO_LARGE",
        internal
          ? `${where}: the declared Content-Length exceeds the limit of ${opts.maxBytes} bytes`
          : `${where}: Content-Length ${expected} exceeds the limit of ${opts.maxBytes} bytes`,
      ),
    );
  }
  try {
    opts.onStart?.(expected);
  } catch (error) {
    res.destroy();
    return Promise.reject(error);
  }
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    const whole = expected === undefined ? undefined : Buffer.allocUnsafeSlow(expected);
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const readMs = opts.readTimeoutMs ?? 30_000;
    let idle = setTimeout(onIdle, readMs);
    function onIdle() {
      finish(new SourceError("SOURCE_READ_TIMEOUT", `${where}: no data for ${readMs} ms`));
    }
    const onAbort = () => finish(abortError(url, deadline, opts.totalTimeoutMs ?? 120_000));
    signal.addEventListener("abort", onAbort, { once: true });
    function finish(error?: unknown) {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      signal.removeEventListener("abort", onAbort);
      if (error) {
        res.destroy();
        reject(error);
      } else {
        resolve({ bytes: whole ?? Buffer.concat(chunks, received), sha256: hash.digest("hex") });
      }
    }
    const cut = (code: "SOURCE_TRUNCATED", detail: string, hidden: string) =>
      finish(new SourceError(code, `${where}: ${internal ? hidden : detail}`));
    res.on("data", (chunk: Buffer) => {
      if (settled) return;
      const total = received + chunk.length;
      if (expected !== undefined && total > expected) {
        finish(
          new SourceError(
            "SOURCE_TOO_LARGE",
            internal
              ? `${where}: body is longer than its declared Content-Length`
              : `${where}: body is longer than its Content-Length of ${expected} bytes`,
          ),
        );
        return;
      }
      if (total > opts.maxBytes) {
        finish(
          new SourceError(
            "SOURCE_TOO_LARGE",
            `${where}: body exceeds the limit of ${opts.maxBytes} bytes`,
          ),
        );
        return;
      }
      try {
        if (opts.onBodyBytes && !opts.onBodyBytes(chunk.length)) {
          finish(
            new SourceError(
              "SOURCE_BUSY",
              `${where}: the operator's budget for artifact bytes in flight is exhausted; retrying later`,
              true,
            ),
          );
          return;
        }
      } catch (error) {
        finish(error);
        return;
      }
      hash.update(chunk);
      if (whole) chunk.copy(whole, received);
      else chunks.push(chunk);
      received = total;
      clearTimeout(idle);
      idle = setTimeout(onIdle, readMs);
    });
    res.on("end", () => {
      if (expected !== undefined && received !== expected) {
        cut(
          "SOURCE_TRUNCATED",
          `body ended after ${received} of ${expected} bytes`,
          "body ended before its declared length",
        );
      } else finish();
    });
    res.on("close", () => {
      if (!res.complete) {
        cut(
          "SOURCE_TRUNCATED",
          `connection closed after ${received} bytes`,
          "connection closed before the body was complete",
        );
      }
    });
    // Once the headers arrived, a broken connection means a cut body.
    res.on("error", () =>
      cut(
        "SOURCE_TRUNCATED",
        `connection broke after ${received} bytes`,
        "connection broke before the body was complete",
      ),
    );
  });
}
