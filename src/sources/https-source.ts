/**
 * Downloads an artifact over HTTPS under explicit limits: https only (redirects included), a
 * connect timeout, an idle-read timeout and an overall deadline, a size cap enforced while
 * streaming (the connection is cut the moment it is exceeded), and the SHA-256 of exactly the
 * bytes returned. Messages never carry URL credentials or query strings.
 */

import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { Agent, request } from "node:https";
import { createSecureContext, type SecureContext } from "node:tls";
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

function secureContextFor(caBundlePem: string): SecureContext {
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
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw new SourceError("SOURCE_URL_INVALID", "source URL is not a valid URL");
  }
  if (current.protocol !== "https:") {
    throw new SourceError("SOURCE_URL_INVALID", `source URL ${redactUrl(current)} is not https`);
  }
  const deadline = AbortSignal.timeout(opts.totalTimeoutMs ?? 120_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  // One agent per fetch: a custom CA must never leak into a shared connection pool.
  const agent = new Agent({
    keepAlive: false,
    ...(opts.caBundlePem ? { secureContext: secureContextFor(opts.caBundlePem) } : {}),
  });
  try {
    const maxRedirects = opts.maxRedirects ?? 3;
    for (let hop = 0; ; hop++) {
      const res = await get(current, agent, opts, signal, deadline);
      const status = res.statusCode ?? 0;
      if (REDIRECTS.has(status)) {
        res.resume();
        const location = res.headers.location;
        if (!location)
          throw new SourceError(
            "SOURCE_HTTP_ERROR",
            `${redactUrl(current)} answered ${status} without a Location`,
            false,
          );
        if (hop >= maxRedirects) {
          throw new SourceError(
            "SOURCE_REDIRECT_REFUSED",
            `${redactUrl(url)}: more than ${maxRedirects} redirects`,
          );
        }
        const next = new URL(location, current);
        if (next.protocol !== "https:") {
          throw new SourceError(
            "SOURCE_REDIRECT_REFUSED",
            `${redactUrl(current)} redirects to ${redactUrl(next)}, which is not https`,
          );
        }
        current = next;
        continue;
      }
      if (status < 200 || status >= 300) {
        res.resume();
        const transient = status >= 500 || status === 429 || status === 408;
        throw new SourceError(
          "SOURCE_HTTP_ERROR",
          `${redactUrl(current)} answered HTTP ${status}`,
          transient,
        );
      }
      const bytes = await readCapped(res, current, opts, signal, deadline);
      return {
        bytes,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        url: current.toString(),
      };
    }
  } finally {
    agent.destroy();
  }
}

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
    return new SourceError("SOURCE_TLS_ERROR", `${where}: TLS verification failed: ${e.message}`);
  }
  return new SourceError("SOURCE_UNREACHABLE", `${where}: ${code || e.message || String(error)}`);
}

function get(
  url: URL,
  agent: Agent,
  opts: FetchHttpsOptions,
  signal: AbortSignal,
  deadline: AbortSignal,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(url, deadline, opts.totalTimeoutMs ?? 120_000));
    const connectMs = opts.connectTimeoutMs ?? 10_000;
    let connected = false;
    let failure: SourceError | undefined;
    const req = request(url, {
      agent,
      headers: {
        Accept: "application/octet-stream, */*",
        "Accept-Encoding": "identity",
        "User-Agent": opts.userAgent ?? "palyra-skills-operator",
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
      socket.once("secureConnect", () => {
        connected = true;
        clearTimeout(connectTimer);
      });
    });
    const readMs = opts.readTimeoutMs ?? 30_000;
    req.setTimeout(readMs, () => {
      if (connected)
        fail(new SourceError("SOURCE_READ_TIMEOUT", `${redactUrl(url)}: no data for ${readMs} ms`));
    });
    req.on("response", (res) => {
      clearTimeout(connectTimer);
      // From here the body's idle timer (readCapped) is the only read timeout.
      req.setTimeout(0);
      signal.removeEventListener("abort", onAbort);
      resolve(res);
    });
    req.on("error", (error) => {
      clearTimeout(connectTimer);
      signal.removeEventListener("abort", onAbort);
      reject(failure ?? classify(error, url));
    });
    req.end();
  });
}

function readCapped(
  res: IncomingMessage,
  url: URL,
  opts: FetchHttpsOptions,
  signal: AbortSignal,
  deadline: AbortSignal,
): Promise<Buffer> {
  const declared = res.headers["content-length"];
  const expected = declared === undefined ? undefined : Number(declared);
  if (expected !== undefined && expected > opts.maxBytes) {
    res.destroy();
    return Promise.reject(
      new SourceError(
        "SOURCE_TOO_LARGE",
        `${redactUrl(url)}: Content-Length ${expected} exceeds the limit of ${opts.maxBytes} bytes`,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const readMs = opts.readTimeoutMs ?? 30_000;
    let idle = setTimeout(onIdle, readMs);
    function onIdle() {
      finish(new SourceError("SOURCE_READ_TIMEOUT", `${redactUrl(url)}: no data for ${readMs} ms`));
    }
    const onAbort = () => finish(abortError(url, deadline, opts.totalTimeoutMs ?? 120_000));
    signal.addEventListener("abort", onAbort, { once: true });
    function finish(error?: SourceError) {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      signal.removeEventListener("abort", onAbort);
      if (error) {
        res.destroy();
        reject(error);
      } else resolve(Buffer.concat(chunks, received));
    }
    res.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > opts.maxBytes) {
        finish(
          new SourceError(
            "SOURCE_TOO_LARGE",
            `${redactUrl(url)}: body exceeds the limit of ${opts.maxBytes} bytes`,
          ),
        );
        return;
      }
      chunks.push(chunk);
      clearTimeout(idle);
      idle = setTimeout(onIdle, readMs);
    });
    res.on("end", () => {
      if (expected !== undefined && received !== expected) {
        finish(
          new SourceError(
            "SOURCE_TRUNCATED",
            `${redactUrl(url)}: body ended after ${received} of ${expected} bytes`,
          ),
        );
      } else finish();
    });
    res.on("close", () => {
      if (!res.complete) {
        finish(
          new SourceError(
            "SOURCE_TRUNCATED",
            `${redactUrl(url)}: connection closed after ${received} bytes`,
          ),
        );
      }
    });
    // Once the headers arrived, a broken connection means a cut body.
    res.on("error", () =>
      finish(
        new SourceError(
          "SOURCE_TRUNCATED",
          `${redactUrl(url)}: connection broke after ${received} bytes`,
        ),
      ),
    );
  });
}
