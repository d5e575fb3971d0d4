/**
 * The admission webhook's HTTPS server (express). Every answer is an AdmissionReview: malformed
 * input, an exception in a handler, or caches that have not synced yet all become denials, so
 * the webhook fails closed even when the API server's failurePolicy would not.
 */

import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import express, { type Request, type Response } from "express";
import type { KubeClient } from "../kube/client.ts";
import type { Logger } from "../operator/log.ts";
import {
  type AdmissionSnapshot,
  type Identity,
  reviewConfigMap,
  reviewNamespace,
  reviewSkill,
  reviewWorkload,
} from "./handlers.ts";
import { type AdmissionRequest, type AdmissionVerdict, deny, reviewResponse } from "./review.ts";

export const WEBHOOK_PATHS = {
  workloads: "/validate/workloads",
  skills: "/validate/skills",
  configmaps: "/validate/configmaps",
  namespaces: "/validate/namespaces",
} as const;

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
  /** Largest AdmissionReview accepted (objects can be large: 3 MiB etcd limit, twice for updates). */
  bodyLimitBytes?: number;
}

export class WebhookServer {
  #opts: WebhookServerOptions;
  #server: Server | undefined;

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
    app.use(express.raw({ type: () => true, limit: this.#opts.bodyLimitBytes ?? 8 * 1024 * 1024 }));
    const o = this.#opts;
    const route = (
      name: string,
      decide: (req: AdmissionRequest) => AdmissionVerdict | Promise<AdmissionVerdict>,
    ) =>
      app.post(WEBHOOK_PATHS[name as keyof typeof WEBHOOK_PATHS], (req: Request, res: Response) => {
        void this.#handle(name, req, res, decide);
      });
    route("workloads", (r) => reviewWorkload(r, o.snapshot));
    route("skills", (r) => reviewSkill(r, o.snapshot, (req, verb) => this.#authorize(req, verb)));
    route("configmaps", (r) => reviewConfigMap(r, o.snapshot, o.identity()));
    route("namespaces", (r) => reviewNamespace(r, o.identity()));
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

  async #authorize(req: AdmissionRequest, verb: string): Promise<boolean> {
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
              verb,
              group: "skills.palyra.dev",
              resource: "skills",
              name: req.name,
            },
          },
        },
      },
    );
    return review.status?.allowed === true;
  }
}
