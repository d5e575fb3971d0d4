/**
 * A thin Kubernetes REST client over one keep-alive HTTPS agent. Credentials and TLS come from
 * our KubeConfig (kubeconfig files, in-cluster service accounts, exec plugins); the
 * request path is ours so that the operator controls pooling, content types (merge patch on the
 * status subresource, metadata-only lists) and streaming watches without per-call overhead.
 */

import type { Agent as HttpAgentType, IncomingMessage } from "node:http";
import type { Agent as HttpsAgentType, RequestOptions } from "node:https";
import type { KubeConfig } from "./kubeconfig.ts";

// Not `import ... from "node:http"`: an ES module import of node:http evaluates every export,
// and its lazy WebSocket, CloseEvent and MessageEvent load Node's fetch implementation (undici),
// ~25 ms that each `palyra-skill status` and other cluster commands would pay at start.
const { Agent: HttpAgent, request: httpRequest } = process.getBuiltinModule("node:http");
const { Agent, request: httpsRequest } = process.getBuiltinModule("node:https");

export const MERGE_PATCH = "application/merge-patch+json";
export const JSON_PATCH = "application/json-patch+json";
/** A watch must ask for the item type: the list type makes the API server end the stream at once. */
export const METADATA_WATCH_ACCEPT =
  "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
export const METADATA_ACCEPT =
  "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

/** A failed API call: the HTTP status and the API server's Status reason and message. */
export class KubeApiError extends Error {
  declare readonly status: number;
  declare readonly reason: string;
  declare readonly method: string;
  declare readonly path: string;
  declare readonly retryAfterSeconds: number | undefined;

  constructor(
    status: number,
    reason: string,
    message: string,
    method: string,
    path: string,
    retryAfterSeconds?: number,
  ) {
    super(`${method} ${path}: ${status} ${reason}: ${message}`);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
    this.method = method;
    this.path = path;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  get notFound(): boolean {
    return this.status === 404;
  }
  get conflict(): boolean {
    return this.status === 409;
  }
  get gone(): boolean {
    return this.status === 410;
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof KubeApiError && e.status === 404;
}
export function isConflict(e: unknown): boolean {
  return e instanceof KubeApiError && e.status === 409;
}

/** What reconcilers need of a client: one request at a time (lets writes be gated by leadership). */
export interface KubeRequester {
  request<T>(path: string, req?: KubeRequest): Promise<T>;
}

/** A write attempted by a replica that does not hold the lease. */
export class NotLeaderError extends Error {
  constructor(method: string, path: string) {
    super(`${method} ${path.split("?")[0]}: refused, this replica is not the leader`);
    this.name = "NotLeaderError";
  }
}

/** Reads pass; writes pass only while `allowed()` (the replica leads), else NotLeaderError. */
export function gateWrites(client: KubeRequester, allowed: () => boolean): KubeRequester {
  return {
    request<T>(path: string, req: KubeRequest = {}): Promise<T> {
      const method = req.method ?? "GET";
      if (method !== "GET" && !allowed()) return Promise.reject(new NotLeaderError(method, path));
      return client.request<T>(path, req);
    },
  };
}

export interface KubeRequest {
  method?: string;
  body?: unknown;
  contentType?: string;
  accept?: string;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

interface Connection {
  server: URL;
  agent: HttpsAgentType | HttpAgentType;
  /** Authorization and impersonation headers (Impersonate-Group may repeat: an array). */
  headers: Record<string, string | string[]>;
  tls: Pick<RequestOptions, "ca" | "cert" | "key" | "servername" | "rejectUnauthorized">;
}

export interface KubeClientOptions {
  /** How often credentials are re-read (exec plugins, projected service-account tokens). */
  credentialRefreshMs?: number;
  maxSockets?: number;
  userAgent?: string;
  /** A request (not a watch) with no answer for this long fails (default 30 s). */
  requestTimeoutMs?: number;
  /** Called once per request with its outcome (status 0: no answer), e.g. for metrics. */
  onRequest?: (method: string, status: number, seconds: number) => void;
}

export class KubeClient {
  #config: KubeConfig;
  #conn: Connection;
  #refresh: NodeJS.Timeout | undefined;
  #userAgent: string;
  #onRequest: KubeClientOptions["onRequest"];
  #requestTimeoutMs: number;

  private constructor(config: KubeConfig, conn: Connection, options: KubeClientOptions) {
    this.#config = config;
    this.#conn = conn;
    this.#userAgent = options.userAgent ?? "palyra-skills-operator";
    this.#onRequest = options.onRequest;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  static async fromKubeConfig(
    config: KubeConfig,
    options: KubeClientOptions = {},
  ): Promise<KubeClient> {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    const conn = await connection(config, options.maxSockets ?? 64);
    const client = new KubeClient(config, conn, options);
    const every = options.credentialRefreshMs ?? 60_000;
    client.#refresh = setInterval(() => {
      connection(client.#config, options.maxSockets ?? 64, client.#conn).then(
        (fresh) => {
          client.#conn = fresh;
        },
        () => {
          // Keep the last good credentials; the next API error says what is wrong.
        },
      );
    }, every);
    client.#refresh.unref();
    return client;
  }

  get server(): string {
    return this.#conn.server.toString();
  }

  close(): void {
    if (this.#refresh) clearInterval(this.#refresh);
    this.#conn.agent.destroy();
  }

  /** One request; JSON in and out. Throws KubeApiError for non-2xx answers. */
  async request<T>(path: string, req: KubeRequest = {}): Promise<T> {
    const started = performance.now();
    const method = req.method ?? "GET";
    let status = 0;
    try {
      // A stalled API server (or its storage) must not hold a worker forever.
      const res = await this.#send(path, { timeoutMs: this.#requestTimeoutMs, ...req });
      const text = await readBody(res);
      status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) throw apiError(status, text, method, path, res);
      return (text ? JSON.parse(text) : {}) as T;
    } finally {
      this.#onRequest?.(method, status, (performance.now() - started) / 1000);
    }
  }

  /** A streaming GET (watch): each newline-delimited JSON value goes to onLine. */
  async stream(path: string, req: KubeRequest, onLine: (value: unknown) => void): Promise<void> {
    const started = performance.now();
    const res = await this.#send(path, req).catch((error: unknown) => {
      this.#onRequest?.("WATCH", 0, (performance.now() - started) / 1000);
      throw error;
    });
    const status = res.statusCode ?? 0;
    // A watch is counted when it opens; its duration is the time to the first byte.
    this.#onRequest?.("WATCH", status, (performance.now() - started) / 1000);
    if (status < 200 || status >= 300) {
      throw apiError(status, await readBody(res), "GET", path, res);
    }
    await new Promise<void>((resolve, reject) => {
      let pending = "";
      // A handler's error (e.g. 410 Gone inside the stream) is what the caller must see, not
      // the socket error that destroying the response produces.
      let failure: unknown;
      const settle = (error?: unknown) => {
        const e = failure ?? error;
        if (e === undefined) resolve();
        else reject(e);
      };
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        pending += chunk;
        let nl = pending.indexOf("\n");
        while (nl >= 0 && failure === undefined) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line) {
            try {
              onLine(JSON.parse(line));
            } catch (e) {
              failure = e;
              res.destroy();
              return;
            }
          }
          nl = pending.indexOf("\n");
        }
      });
      res.on("end", () => settle());
      res.on("error", (error) => settle(error));
      res.on("close", () => settle());
    });
  }

  #send(path: string, req: KubeRequest): Promise<IncomingMessage> {
    const conn = this.#conn;
    const url = new URL(path, conn.server);
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const headers: Record<string, string | string[]> = {
      ...conn.headers,
      Accept: req.accept ?? "application/json",
      "User-Agent": this.#userAgent,
    };
    if (payload) {
      headers["Content-Type"] = req.contentType ?? "application/json";
      headers["Content-Length"] = String(payload.length);
    }
    const method = req.method ?? "GET";
    const send = url.protocol === "http:" ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const r = send(
        url,
        {
          method,
          headers,
          agent: conn.agent,
          ...conn.tls,
          ...(req.signal ? { signal: req.signal } : {}),
        },
        resolve,
      );
      if (req.timeoutMs !== undefined) {
        r.setTimeout(req.timeoutMs, () => {
          r.destroy(new Error(`${method} ${url.pathname}: no answer within ${req.timeoutMs} ms`));
        });
      }
      r.on("error", reject);
      if (payload) r.write(payload);
      r.end();
    });
  }
}

async function connection(
  config: KubeConfig,
  maxSockets: number,
  previous?: Connection,
): Promise<Connection> {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const opts: RequestOptions & { headers: Record<string, string | string[]> } = { headers: {} };
  await config.applyToHTTPSOptions(opts);
  const server = new URL(cluster.server);
  const tls: Connection["tls"] = {};
  if (opts.ca) tls.ca = opts.ca;
  if (opts.cert) tls.cert = opts.cert;
  if (opts.key) tls.key = opts.key;
  if (opts.servername) tls.servername = opts.servername;
  if (opts.rejectUnauthorized === false) tls.rejectUnauthorized = false;
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    if (typeof v === "string" || (Array.isArray(v) && v.every((x) => typeof x === "string"))) {
      headers[k] = v;
    }
  }
  if (opts.auth) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
  if (previous && sameTls(previous.tls, tls)) {
    return { server, agent: previous.agent, headers, tls };
  }
  // Client certificates rotate too: new material gets a fresh pool and the old one drains.
  const agent =
    server.protocol === "http:"
      ? new HttpAgent({ keepAlive: true, maxSockets })
      : new Agent({ keepAlive: true, maxSockets, ...tls });
  if (previous) setTimeout(() => previous.agent.destroy(), 120_000).unref();
  return { server, agent, headers, tls };
}

function sameTls(a: Connection["tls"], b: Connection["tls"]): boolean {
  const text = (v: unknown) => (v === undefined ? "" : String(v));
  return (
    text(a.ca) === text(b.ca) &&
    text(a.cert) === text(b.cert) &&
    text(a.key) === text(b.key) &&
    a.rejectUnauthorized === b.rejectUnauthorized
  );
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", reject);
  });
}

function apiError(
  status: number,
  text: string,
  method: string,
  path: string,
  res: IncomingMessage,
): KubeApiError {
  let reason = "";
  let message = text.slice(0, 500);
  try {
    const body = JSON.parse(text) as { reason?: string; message?: string };
    reason = body.reason ?? "";
    message = body.message ?? message;
  } catch {
    // not a Status object
  }
  const retryAfter = Number(res.headers["retry-after"]);
  return new KubeApiError(
    status,
    reason || res.statusMessage || "Error",
    message,
    method,
    path.split("?")[0] ?? path,
    Number.isFinite(retryAfter) ? retryAfter : undefined,
  );
}
