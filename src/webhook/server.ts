/**
 * The admission webhook's HTTPS server (express). Every answer is an AdmissionReview: malformed
 * input, an exception in a handler, or caches that have not synced yet all become denials, so
 * the webhook fails closed even when the API server's failurePolicy would not.
 */

import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import express, { type Request, type Response } from "express";
import {
  ARTIFACT_ROUTE,
  type ArtifactEndpointDeps,
  serveArtifact,
} from "../delivery/artifact-endpoint.ts";
import type { DeliveryConfig } from "../delivery/pod-mutation.ts";
import { checkPodDelivery, mutatePod } from "../delivery/pod-webhook.ts";
import type { KubeClient } from "../kube/client.ts";
import type { Logger } from "../operator/log.ts";
import {
  type AdmissionSnapshot,
  guardedNamespaceLabels,
  type Identity,
  reviewConfigMap,
  reviewNamespace,
  reviewSkill,
  reviewWorkload,
} from "./handlers.ts";
import { mutateSkill } from "./requester.ts";
import {
  type AdmissionRequest,
  type AdmissionVerdict,
  allow,
  deny,
  reviewResponse,
} from "./review.ts";

export const WEBHOOK_PATHS = {
  workloads: "/validate/workloads",
  skills: "/validate/skills",
  configmaps: "/validate/configmaps",
  namespaces: "/validate/namespaces",
  mutateSkills: "/mutate/skills",
  mutatePods: "/mutate/pods",
} as const;

// The largest review the API server sends: an UPDATE carries the object and the old object,
// each at most the API server's 3 MiB request limit, plus the envelope.
export const DEFAULT_BODY_LIMIT_BYTES = 6 * 1024 * 1024 + 64 * 1024;

export interface ReviewOutcome {
  webhook: string;
  /** CREATE, UPDATE, DELETE or CONNECT, as the API server sent it ("" if unreadable). */
  operation: string;
  /** The reviewed object's kind, e.g. Deployment ("" if unreadable). */
  kind: string;
  result: "allowed" | "denied" | "warned" | "error";
  allowed: boolean;
}

export interface WebhookMetrics {
  review(outcome: ReviewOutcome, seconds: number): void;
}

export interface WebhookServerOptions {
  host: string;
  port: number;
  cert: { certPem: string; keyPem: string };
  snapshot: AdmissionSnapshot;
  identity: () => Identity;
  client: KubeClient;
  ready: () => boolean;
  log: Logger;
  metrics?: WebhookMetrics;
  /** Largest AdmissionReview accepted (DEFAULT_BODY_LIMIT_BYTES). */
  bodyLimitBytes?: number;
  /** Reviews handled at once; more are answered 429 at once (default 64). */
  maxConcurrentReviews?: number;
  /** Request bytes (by Content-Length) of the reviews in flight, at most (default 32 MiB). */
  maxInflightBytes?: number;
  /**
   * Artifact downloads (delivery) at once; more are answered 429 (default 64). Their own slots,
   * so that pods downloading (or stalling) never take admission reviews' slots.
   */
  maxConcurrentDownloads?: number;
  /** A review refused for load (429). */
  onShed?: (reason: "concurrency" | "bytes" | "downloads") => void;
  /** Verified artifacts served to pods on the same server (delivery), when configured. */
  artifacts?: ArtifactEndpointDeps;
  /** Pods are bound to exact payloads (delivery) when this gives a configuration. */
  podDelivery?: () => DeliveryConfig | undefined;
}

export class WebhookServer {
  #opts: WebhookServerOptions;
  #server: Server | undefined;
  #inflight = 0;
  #inflightBytes = 0;
  #downloads = 0;

  constructor(opts: WebhookServerOptions) {
    this.#opts = opts;
  }

  get port(): number {
    return (this.#server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** Serves a new certificate for new connections; open connections finish on the old one. */
  setCertificate(cert: { certPem: string; keyPem: string }): void {
    this.#server?.setSecureContext({ cert: cert.certPem, key: cert.keyPem });
  }

  async start(): Promise<void> {
    const app = express();
    app.disable("x-powered-by");
    app.set("etag", false);
    const o = this.#opts;
    const bodyLimit = o.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
    // Anyone who reaches the port can send bodies: bound what is held at once, before reading.
    app.use((req: Request, res: Response, next: () => void) => {
      // Artifact downloads (delivery) have slots of their own: each may cost a TokenReview and
      // last as long as its reader (bounded by sendBytes), and reviews must never wait on them.
      if (req.method === "GET" && req.path.startsWith("/v1/artifacts/")) {
        if (this.#downloads >= (o.maxConcurrentDownloads ?? 64)) {
          o.onShed?.("downloads");
          res
            .status(429)
            .set("Retry-After", "1")
            .json({
              error: { code: "TOO_MANY_REQUESTS", message: "too many downloads in flight" },
            });
          return;
        }
        this.#downloads++;
        let done = false;
        const release = () => {
          if (!done) this.#downloads--;
          done = true;
        };
        res.once("finish", release);
        res.once("close", release);
        return next();
      }
      if (req.method !== "POST") return next();
      const declared = Number(req.headers["content-length"] ?? bodyLimit);
      if (Number.isFinite(declared) && declared > bodyLimit) {
        // Refused before a byte of the body is read, and the connection is not kept for it.
        res.status(413).set("Connection", "close").type("text/plain").send("review too large\n");
        return;
      }
      const size =
        Number.isFinite(declared) && declared >= 0 ? Math.min(declared, bodyLimit) : bodyLimit;
      const shed = (reason: "concurrency" | "bytes", message: string) => {
        o.onShed?.(reason);
        res.status(429).set("Retry-After", "1").type("text/plain").send(`${message}\n`);
      };
      if (this.#inflight >= (o.maxConcurrentReviews ?? 64)) {
        return shed("concurrency", "too many admission reviews in flight");
      }
      if (this.#inflightBytes + size > (o.maxInflightBytes ?? 32 * 1024 * 1024)) {
        return shed("bytes", "too many admission review bytes in flight");
      }
      this.#inflight++;
      this.#inflightBytes += size;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.#inflight--;
        this.#inflightBytes -= size;
      };
      res.once("finish", release);
      res.once("close", release);
      next();
    });
    app.use(express.raw({ type: () => true, limit: bodyLimit }));
    const route = (
      name: string,
      decide: (req: AdmissionRequest) => AdmissionVerdict | Promise<AdmissionVerdict>,
    ) =>
      app.post(WEBHOOK_PATHS[name as keyof typeof WEBHOOK_PATHS], (req: Request, res: Response) => {
        void this.#handle(name, req, res, decide);
      });
    route("workloads", (r) => {
      const verdict = reviewWorkload(r, o.snapshot, o.identity());
      const delivery = o.podDelivery?.();
      return verdict.allowed && delivery ? checkPodDelivery(r, o.snapshot, delivery) : verdict;
    });
    route("mutatePods", (r) => {
      const delivery = o.podDelivery?.();
      return delivery ? mutatePod(r, o.snapshot, delivery) : allow();
    });
    route("skills", (r) =>
      reviewSkill(r, o.snapshot, (req, attrs) => this.#authorize(req, attrs), o.identity()),
    );
    route("configmaps", (r) => reviewConfigMap(r, o.identity()));
    route("namespaces", (r) =>
      reviewNamespace(r, o.identity(), guardedNamespaceLabels(o.snapshot.policies())),
    );
    route("mutateSkills", (r) => mutateSkill(r, o.identity().operatorUser));
    const artifacts = o.artifacts;
    if (artifacts) {
      app.get(/^\/v1\/artifacts\//, (req: Request, res: Response) => {
        const digest = ARTIFACT_ROUTE.exec(req.path)?.[1];
        if (!digest) {
          res.status(404).json({
            error: {
              code: "NOT_FOUND",
              message: "not an artifact path (/v1/artifacts/sha256/<64 hex>)",
            },
          });
          return;
        }
        void serveArtifact(artifacts, req, res, digest).catch((error: unknown) => {
          o.log.error("artifact request failed", { error });
          if (!res.headersSent)
            res.status(500).json({ error: { code: "INTERNAL", message: "internal error" } });
          else res.destroy();
        });
      });
    }
    app.get("/healthz", (_req, res) => {
      res.type("text/plain").send("ok\n");
    });
    // Body-parser errors (too large, aborted) end here: answer without a stack trace.
    app.use(
      (error: Error & { status?: number }, _req: Request, res: Response, _next: () => void) => {
        res
          .status(error.status ?? 400)
          .type("text/plain")
          .send(`${error.message}\n`);
      },
    );

    const server = createServer(
      { cert: o.cert.certPem, key: o.cert.keyPem, minVersion: "TLSv1.2" },
      app,
    );
    server.keepAliveTimeout = 120_000;
    // The API server sends a review whole and waits at most 30 s (we register 5 s): a client
    // that dribbles a body holds a review slot no longer than this.
    server.headersTimeout = 10_000;
    server.requestTimeout = 15_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(o.port, o.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#server = server;
  }

  /** Stops accepting; lets in-flight reviews finish (at most `graceMs`), then closes all. */
  async stop(graceMs = 5000): Promise<void> {
    const server = this.#server;
    if (!server) return;
    // The API server keeps connections alive between reviews: close each as it goes idle.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const hard = setTimeout(() => server.closeAllConnections(), graceMs);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    clearInterval(sweep);
    clearTimeout(hard);
  }

  async #handle(
    name: string,
    req: Request,
    res: Response,
    decide: (req: AdmissionRequest) => AdmissionVerdict | Promise<AdmissionVerdict>,
  ): Promise<void> {
    const started = performance.now();
    let uid = "";
    let operation = "";
    let kind = "";
    let object: { namespace?: string | undefined; name?: string | undefined } = {};
    let verdict: AdmissionVerdict;
    let result: "allowed" | "denied" | "warned" | "error" = "error";
    try {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const review = JSON.parse(body.toString("utf8")) as { request?: AdmissionRequest };
      const request = review.request;
      if (!request || typeof request.uid !== "string") {
        res.status(400).type("text/plain").send("not an admission.k8s.io/v1 AdmissionReview\n");
        return;
      }
      uid = request.uid;
      operation = String(request.operation ?? "");
      kind = String(request.kind?.kind ?? "");
      object = { namespace: request.namespace, name: request.name };
      if (!this.#opts.ready()) {
        verdict = deny(
          "palyra-skills-operator is starting: its caches have not synced, so nothing can be admitted yet",
          503,
        );
      } else {
        verdict = await decide(request);
        result = !verdict.allowed ? "denied" : verdict.warnings?.length ? "warned" : "allowed";
      }
    } catch (error) {
      if (!uid) {
        res.status(400).type("text/plain").send("request body is not JSON\n");
        return;
      }
      this.#opts.log.error("admission handler failed; denying", {
        webhook: name,
        kind,
        operation,
        ...object,
        error,
      });
      verdict = deny(
        `palyra-skills-operator could not evaluate this request (${(error as Error).message}); denied to fail closed`,
        500,
      );
    }
    res.json(reviewResponse(uid, verdict));
    this.#opts.metrics?.review(
      { webhook: name, operation, kind, result, allowed: verdict.allowed },
      (performance.now() - started) / 1000,
    );
  }

  async #authorize(
    req: AdmissionRequest,
    attrs: { verb: string; resource: string; name?: string },
  ): Promise<boolean> {
    const u = req.userInfo;
    const review = await this.#opts.client.request<{ status?: { allowed?: boolean } }>(
      "/apis/authorization.k8s.io/v1/subjectaccessreviews",
      {
        method: "POST",
        timeoutMs: 3000,
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user: u.username,
            uid: u.uid,
            groups: u.groups,
            extra: u.extra,
            resourceAttributes: {
              namespace: req.namespace,
              verb: attrs.verb,
              group: "skills.palyra.dev",
              resource: attrs.resource,
              name: attrs.name,
            },
          },
        },
      },
    );
    return review.status?.allowed === true;
  }
}
