/**
 * Serving verified bytes by digest: `GET /v1/artifacts/sha256/<digest>` on every replica's
 * HTTPS server. The caller is a pod's init container with a projected ServiceAccount token for
 * our audience; the namespace comes from the TokenReview, never from the request, and must hold
 * an Enabled Skill whose verified artifact has that digest. Bytes are served from what this
 * replica verified, or fetched from the Skill's source and verified in full first, and only
 * when the digest matches: never unverified bytes. Every refusal is a JSON error.
 */

import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Skill } from "../api/v1alpha1/types.generated.ts";
import type { KubeRequester } from "../kube/client.ts";
import type { VerifiedStore } from "./verified-store.ts";

/** The audience of the tokens pods present (a projected ServiceAccount token volume). */
export const DELIVERY_AUDIENCE = "skills.palyra.dev";
export const ARTIFACT_ROUTE = /^\/v1\/artifacts\/sha256\/([0-9a-f]{64})$/;

export type TokenReviewResult =
  | { ok: true; namespace: string; username: string }
  | { ok: false; reason: string };

/** TokenReview with our audience, cached briefly by the token's hash (bounded). */
export class TokenReviewer {
  #client: KubeRequester;
  #ttlMs: number;
  #max: number;
  #cache = new Map<string, { result: TokenReviewResult; expires: number }>();

  constructor(client: KubeRequester, opts: { ttlMs?: number; max?: number } = {}) {
    this.#client = client;
    this.#ttlMs = opts.ttlMs ?? 30_000;
    this.#max = opts.max ?? 4096;
  }

  /** Throws when the API server cannot answer (the caller says 503). */
  async review(token: string): Promise<TokenReviewResult> {
    const key = createHash("sha256").update(token).digest("hex");
    const now = Date.now();
    const cached = this.#cache.get(key);
    if (cached && cached.expires > now) return cached.result;
    const review = await this.#client.request<{
      status?: {
        authenticated?: boolean;
        user?: { username?: string };
        audiences?: string[];
        error?: string;
      };
    }>("/apis/authentication.k8s.io/v1/tokenreviews", {
      method: "POST",
      timeoutMs: 5000,
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        spec: { token, audiences: [DELIVERY_AUDIENCE] },
      },
    });
    const status = review.status ?? {};
    const username = status.user?.username ?? "";
    const parts = username.split(":");
    let result: TokenReviewResult;
    if (status.authenticated !== true) {
      result = { ok: false, reason: "the token is not valid for this audience (or expired)" };
    } else if (!(status.audiences ?? []).includes(DELIVERY_AUDIENCE)) {
      result = { ok: false, reason: `the token's audience is not ${DELIVERY_AUDIENCE}` };
    } else if (parts.length !== 4 || parts[0] !== "system" || parts[1] !== "serviceaccount") {
      result = { ok: false, reason: "the token is not a ServiceAccount's" };
    } else {
      result = { ok: true, namespace: parts[2] as string, username };
    }
    if (this.#cache.size >= this.#max)
      this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(key, { result, expires: now + this.#ttlMs });
    return result;
  }
}

export interface ArtifactEndpointDeps {
  reviewer: Pick<TokenReviewer, "review">;
  /** An Enabled Skill (current generation) in the namespace whose verified artifact has the digest. */
  enabledSkillWithDigest(namespace: string, digest: string): Skill | undefined;
  /** Whether any namespace holds an Enabled Skill with the digest (404 when none does). */
  enabledAnywhere(digest: string): boolean;
  store: VerifiedStore;
  /** Fetches the Skill's source afresh and verifies it in full; throws unless it has `digest`. */
  fetchVerified(skill: Skill, digest: string): Promise<Buffer>;
  ready(): boolean;
  log?: (msg: string, fields: Record<string, unknown>) => void;
  served?: (result: "served" | "refused", code: number) => void;
}

function fail(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
    ...headers,
  });
  res.end(body);
}

/** The request handler for ARTIFACT_ROUTE (the caller matched the path). */
export async function serveArtifact(
  deps: ArtifactEndpointDeps,
  req: IncomingMessage,
  res: ServerResponse,
  digest: string,
): Promise<void> {
  const refuse = (status: number, code: string, message: string, h?: Record<string, string>) => {
    deps.served?.("refused", status);
    fail(res, status, code, message, h);
  };
  if (!deps.ready()) return refuse(503, "NOT_READY", "the operator's caches have not synced yet");
  const auth = req.headers.authorization ?? "";
  const token = /^Bearer ([^\s]+)$/.exec(auth)?.[1];
  if (!token) {
    return refuse(
      401,
      "UNAUTHENTICATED",
      "a ServiceAccount token is required (Authorization: Bearer)",
      {
        "WWW-Authenticate": "Bearer",
      },
    );
  }
  let who: TokenReviewResult;
  try {
    who = await deps.reviewer.review(token);
  } catch (error) {
    deps.log?.("token review failed; refusing", { error: (error as Error).message });
    return refuse(503, "TOKEN_REVIEW_UNAVAILABLE", "the token cannot be checked now; retry");
  }
  if (!who.ok) return refuse(401, "UNAUTHENTICATED", who.reason, { "WWW-Authenticate": "Bearer" });
  const skill = deps.enabledSkillWithDigest(who.namespace, digest);
  if (!skill) {
    return deps.enabledAnywhere(digest)
      ? refuse(
          403,
          "FORBIDDEN",
          `namespace ${who.namespace} holds no Enabled Skill with artifact sha256:${digest}`,
        )
      : refuse(404, "NOT_FOUND", `no Enabled Skill has artifact sha256:${digest}`);
  }
  let bytes = deps.store.get(digest);
  if (!bytes) {
    try {
      bytes = await deps.fetchVerified(skill, digest);
    } catch (error) {
      deps.log?.("verified bytes unavailable", {
        digest,
        skill: `${skill.metadata.namespace}/${skill.metadata.name}`,
        error: (error as Error).message,
      });
      return refuse(
        503,
        "ARTIFACT_UNAVAILABLE",
        `the verified bytes of sha256:${digest} cannot be served now: ${(error as Error).message}`,
      );
    }
  }
  deps.served?.("served", 200);
  res.writeHead(200, {
    "Content-Type": "application/octet-stream",
    "Content-Length": bytes.length,
    ETag: `"sha256:${digest}"`,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  sendBytes(res, bytes);
}

/**
 * Bytes per write of an answer. One write of a whole artifact is encrypted by TLS into a buffer
 * of its own: a copy per request (50 downloads of 32 MiB at once held 1.2 GiB more resident,
 * bench:delivery). Slices of the stored buffer, written as the socket drains, copy nothing and
 * keep at most about one slice per connection in flight.
 */
export const WRITE_CHUNK_BYTES = 256 * 1024;

/**
 * A reader that stops reading is cut off: it would hold a download slot for as long as it
 * liked. 30 s without the socket draining, or 5 min in all (64 MiB at 220 KB/s).
 */
export const DOWNLOAD_IDLE_MS = 30_000;
export const DOWNLOAD_TOTAL_MS = 300_000;

/** Writes `bytes` in slices, each after the previous one drained; stops when the socket closes. */
export function sendBytes(
  res: ServerResponse,
  bytes: Buffer,
  limits: { idleMs: number; totalMs: number } = {
    idleMs: DOWNLOAD_IDLE_MS,
    totalMs: DOWNLOAD_TOTAL_MS,
  },
): void {
  let offset = 0;
  let idle: NodeJS.Timeout | undefined;
  const total = setTimeout(() => res.destroy(), limits.totalMs);
  total.unref();
  const pump = () => {
    if (idle) clearTimeout(idle);
    while (!res.destroyed) {
      const end = Math.min(offset + WRITE_CHUNK_BYTES, bytes.length);
      const chunk = bytes.subarray(offset, end);
      offset = end;
      if (offset === bytes.length) {
        res.end(chunk);
        return;
      }
      if (!res.write(chunk)) {
        idle = setTimeout(() => res.destroy(), limits.idleMs);
        idle.unref();
        res.once("drain", pump);
        return;
      }
    }
  };
  res.once("close", () => {
    clearTimeout(total);
    if (idle) clearTimeout(idle);
    res.off("drain", pump);
  });
  pump();
}
