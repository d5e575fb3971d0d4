/**
 * The webhook as one part of the operator process: certificate bootstrap and renewal (shared by
 * all replicas through a Secret), the HTTPS server, and the registration kept in step with the
 * certificate and the policies.
 */

import type { ArtifactEndpointDeps } from "../delivery/artifact-endpoint.ts";
import type { DeliveryConfig } from "../delivery/pod-mutation.ts";
import type { KubeClient } from "../kube/client.ts";
import type { OwnerReference } from "../kube/owner.ts";
import { whoAmI } from "../kube/whoami.ts";
import type { Logger } from "../operator/log.ts";
import { boundedLabel, type OperatorMetrics } from "../operator/metrics.ts";
import { type WebhookCertificate, WebhookCertificates } from "./certificates.ts";
import type { AdmissionSnapshot, Identity } from "./handlers.ts";
import { type ClientTarget, ensureRegistration } from "./registration.ts";
import { WebhookServer } from "./server.ts";

const OPERATIONS = new Set(["CREATE", "UPDATE", "DELETE", "CONNECT"]);
// What the registered rules send; anything else is counted as "other".
const REVIEWED_KINDS = new Set([
  "Pod",
  "Deployment",
  "StatefulSet",
  "DaemonSet",
  "ReplicaSet",
  "Job",
  "CronJob",
  "Skill",
  "ConfigMap",
  "Namespace",
  "Binding",
]);

export interface WebhookConfig {
  host: string;
  port: number;
  /** How the API server reaches the webhook: a Service in the cluster, else this process's URL. */
  service?: { namespace: string; name: string; port: number };
  secretName: string;
  /** `self`: issue and renew into the Secret; `secret`: only read what another issuer wrote. */
  certificateSource?: "self" | "secret";
  /** With `secret`: how long to wait at start for the issuer to write it (default 5 minutes). */
  certificateWaitMs?: number;
  configurationName: string;
  /** Manage the ValidatingWebhookConfiguration (off when a chart owns it and only the caBundle is injected elsewhere). */
  register: boolean;
  adminGroups: string[];
  /** How often the certificate and registration are checked. */
  refreshMs?: number;
  /** Serving-certificate lifetime (default one year). */
  certificateValiditySeconds?: number;
  /** After a CA change, how long to wait for the API server to trust the new CA before serving from it. */
  caRolloverGraceMs?: number;
  /** Bind new pods to exact payloads: the init container's image and where skills appear. */
  podDelivery?: {
    image: string;
    mountPath?: string;
    /** The init container's resources (requests/limits by resource name). */
    resources?: Record<string, Record<string, string>>;
  };
}

export interface WebhookDeps {
  client: KubeClient;
  /** Owner of the configuration and the certificate Secret (see src/kube/owner.ts). */
  owner?: OwnerReference;
  snapshot: AdmissionSnapshot;
  ready: () => boolean;
  log: Logger;
  metrics: OperatorMetrics;
  operatorNamespace: string;
  /** Namespace label keys the policies select by (each guarded by its own webhook). */
  guardedNamespaceLabels: () => string[];
  /** Verified artifacts served to pods on the webhook's server (delivery). */
  artifacts?: ArtifactEndpointDeps;
}

export class Webhook {
  #cfg: WebhookConfig;
  #d: WebhookDeps;
  #certs: WebhookCertificates;
  #server: WebhookServer | undefined;
  #current: WebhookCertificate | undefined;
  #timer: NodeJS.Timeout | undefined;
  #operatorUser = "";
  #pending: Promise<void> | undefined;
  #again = false;

  constructor(cfg: WebhookConfig, deps: WebhookDeps) {
    this.#cfg = cfg;
    this.#d = deps;
    const svc = cfg.service;
    this.#certs = new WebhookCertificates(deps.client, {
      namespace: deps.operatorNamespace,
      secretName: cfg.secretName,
      dnsNames: svc
        ? [`${svc.name}.${svc.namespace}.svc`, `${svc.name}.${svc.namespace}.svc.cluster.local`]
        : ["localhost"],
      ...(svc ? {} : { ipAddresses: ["127.0.0.1"] }),
      readOnly: cfg.certificateSource === "secret",
      ...(deps.owner ? { owner: deps.owner } : {}),
      ...(cfg.certificateValiditySeconds
        ? { validitySeconds: cfg.certificateValiditySeconds }
        : {}),
    });
  }

  get port(): number {
    return this.#server?.port ?? 0;
  }

  get identity(): Identity {
    return { operatorUser: this.#operatorUser, adminGroups: this.#cfg.adminGroups };
  }

  async start(): Promise<void> {
    // The operator's own user name, as the API server sees it (for the trust-store guard).
    this.#operatorUser = await whoAmI(this.#d.client);
    this.#current = await this.#firstCertificate();
    this.#server = new WebhookServer({
      host: this.#cfg.host,
      port: this.#cfg.port,
      cert: this.#current,
      snapshot: this.#d.snapshot,
      identity: () => this.identity,
      client: this.#d.client,
      ready: this.#d.ready,
      log: this.#d.log,
      onShed: (reason) => this.#d.metrics.admissionShed.inc({ reason }),
      podDelivery: () => this.#deliveryConfig(),
      ...(this.#d.artifacts ? { artifacts: this.#d.artifacts } : {}),
      metrics: {
        review: (o, seconds) => {
          const operation = boundedLabel(o.operation, OPERATIONS);
          const kind = boundedLabel(o.kind, REVIEWED_KINDS);
          const m = this.#d.metrics;
          m.admissionReviews.inc({ webhook: o.webhook, operation, kind, result: o.result });
          m.admissionDuration.observe({ operation, kind, allowed: String(o.allowed) }, seconds);
        },
      },
    });
    await this.#server.start();
    this.#d.log.info("webhook listening", {
      address: `${this.#cfg.host}:${this.port}`,
      certificateNotAfter: this.#current.notAfter.toISOString(),
      operatorUser: this.#operatorUser,
    });
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#cfg.refreshMs ?? 60_000);
    this.#timer.unref();
  }

  /**
   * The certificate to start serving with. Issued by another (cert-manager) it may not exist
   * yet right after install: wait for it, with backoff, rather than crash-loop.
   */
  async #firstCertificate(): Promise<WebhookCertificate> {
    if (this.#cfg.certificateSource !== "secret") return this.#certs.ensure();
    const deadline = Date.now() + (this.#cfg.certificateWaitMs ?? 300_000);
    for (let delay = 500; ; delay = Math.min(delay * 2, 10_000)) {
      try {
        return await this.#certs.ensure();
      } catch (error) {
        if (Date.now() + delay > deadline) throw error;
        this.#d.log.info("waiting for the webhook certificate from its issuer", {
          secret: this.#cfg.secretName,
          reason: (error as Error).message,
        });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Re-checks the certificate (renewing it when due) and the registration; never throws. */
  refresh(): Promise<void> {
    // Before the server listens there is no port to register (policy events arrive while the
    // caches fill, before start() is done); start() refreshes once it listens.
    if (this.#server === undefined || this.port === 0) return Promise.resolve();
    if (this.#pending) {
      this.#again = true;
      return this.#pending;
    }
    this.#pending = this.#refreshOnce()
      .catch((error: unknown) => this.#d.log.warn("webhook refresh failed; will retry", { error }))
      .finally(() => {
        this.#pending = undefined;
        if (this.#again) {
          this.#again = false;
          void this.refresh();
        }
      });
    return this.#pending;
  }

  async #refreshOnce(): Promise<void> {
    const next = await this.#certs.ensure();
    const previous = this.#current;
    this.#current = next;
    // The API server must trust a new CA before we serve a certificate from it: register the
    // bundle (old and new CA) first, and give the API server time to load it.
    const caChanged = previous !== undefined && previous.caBundlePem !== next.caBundlePem;
    if (this.#cfg.register) await this.#register(next);
    if (previous && next.certPem !== previous.certPem) {
      if (caChanged) await new Promise((r) => setTimeout(r, this.#cfg.caRolloverGraceMs ?? 10_000));
      this.#server?.setCertificate(next);
      this.#d.log.info("webhook certificate renewed", {
        notAfter: next.notAfter.toISOString(),
        caChanged,
      });
    }
  }

  async #register(cert: WebhookCertificate): Promise<void> {
    const target: ClientTarget = this.#cfg.service
      ? { service: this.#cfg.service }
      : { url: `https://127.0.0.1:${this.port}` };
    const result = await ensureRegistration(this.#d.client, {
      name: this.#cfg.configurationName,
      target,
      caBundlePem: cert.caBundlePem,
      operatorNamespace: this.#d.operatorNamespace,
      guardedNamespaceLabels: this.#d.guardedNamespaceLabels(),
      ...(this.#cfg.podDelivery ? { podDelivery: true } : {}),
      ...(this.#d.owner ? { owner: this.#d.owner } : {}),
    });
    if (result !== "unchanged") {
      this.#d.log.info(`webhook configuration ${result}`, { name: this.#cfg.configurationName });
    }
  }

  /** What the pod mutation writes: the operator's image, its own URL and CA. */
  #deliveryConfig(): DeliveryConfig | undefined {
    const d = this.#cfg.podDelivery;
    if (!d || !this.#current) return undefined;
    const svc = this.#cfg.service;
    return {
      image: d.image,
      operatorUrl: svc
        ? `https://${svc.name}.${svc.namespace}.svc:${svc.port}`
        : `https://127.0.0.1:${this.port}`,
      caPem: this.#current.caBundlePem,
      mountPath: d.mountPath ?? "/var/run/palyra/skills",
      ...(d.resources ? { resources: d.resources } : {}),
    };
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#pending;
    await this.#server?.stop();
  }
}
