/**
 * The webhook's serving certificate, bootstrapped by the operator and kept in one Secret so that
 * every replica serves the same certificate. The Secret holds the CA (key included, to issue
 * the next certificate), the serving key pair and `ca.crt`, the bundle the API server trusts.
 * A certificate is renewed when a third of its life remains; a renewed CA is added to the
 * bundle next to the old one, so requests never fail while replicas switch over. Writes use
 * the read resourceVersion: when two replicas renew at once, one wins and the other adopts it.
 */

import { X509Certificate } from "node:crypto";
import { KubeApiError, type KubeClient } from "../kube/client.ts";
import { type OwnerReference, ownedBy } from "../kube/owner.ts";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueServingCertificate,
} from "../tls/pki.ts";

export interface WebhookCertificate {
  /** The CA bundle for the webhook configuration (one or two CA certificates). */
  caBundlePem: string;
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

export interface CertificateOptions {
  namespace: string;
  secretName: string;
  dnsNames: string[];
  ipAddresses?: string[];
  /** Lifetime of a serving certificate (renewed when a third of it remains). */
  validitySeconds?: number;
  caValiditySeconds?: number;
  now?: () => Date;
  /**
   * Another issuer (cert-manager) owns the Secret: read `tls.crt`, `tls.key` and `ca.crt`,
   * never write. Renewal is that issuer's; every refresh picks up what it wrote.
   */
  readOnly?: boolean;
  /** Owner of a Secret this operator creates (see src/kube/owner.ts). */
  owner?: OwnerReference;
}

interface SecretObject {
  metadata: { resourceVersion?: string; name?: string };
  type?: string;
  data?: Record<string, string>;
}

const b64 = (text: string) => Buffer.from(text).toString("base64");
const unb64 = (text: string | undefined) =>
  text ? Buffer.from(text, "base64").toString("utf8") : "";

const DAY = 86_400;

/** Due when less than a third of the intended lifetime remains (issuance is backdated). */
function needsRenewal(certPem: string, now: Date, lifetimeSeconds: number): boolean {
  try {
    const to = new Date(new X509Certificate(certPem).validTo).getTime();
    return to - now.getTime() < (lifetimeSeconds * 1000) / 3;
  } catch {
    return true;
  }
}

function coversNames(certPem: string, dnsNames: string[], ips: string[]): boolean {
  try {
    const san = new X509Certificate(certPem).subjectAltName ?? "";
    return (
      dnsNames.every((d) => san.includes(`DNS:${d}`)) &&
      ips.every((ip) => san.includes(`IP Address:${ip}`))
    );
  } catch {
    return false;
  }
}

interface Decoded {
  certPem: string;
  caCertPem: string;
  ca: CertificateAuthority;
  material: WebhookCertificate;
}

export class WebhookCertificates {
  #client: KubeClient;
  #opts: CertificateOptions;

  constructor(client: KubeClient, opts: CertificateOptions) {
    this.#client = client;
    this.#opts = opts;
  }

  get #leafSeconds(): number {
    return this.#opts.validitySeconds ?? 365 * DAY;
  }

  get #caSeconds(): number {
    return Math.max(this.#opts.caValiditySeconds ?? 3650 * DAY, 3 * this.#leafSeconds);
  }

  get #path(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.#opts.namespace)}/secrets/${encodeURIComponent(this.#opts.secretName)}`;
  }

  /** The current certificate, issuing or renewing (and storing) it when needed. */
  async ensure(): Promise<WebhookCertificate> {
    if (this.#opts.readOnly) return this.#readIssued();
    for (let attempt = 0; attempt < 5; attempt++) {
      const secret = await this.#read();
      const current = secret ? this.#decode(secret) : undefined;
      if (current && !this.#stale(current.certPem, current.caCertPem)) return current.material;
      const next = this.#issue(current);
      try {
        if (secret) {
          await this.#client.request(this.#path, {
            method: "PUT",
            body: { ...secret, data: next.data },
            timeoutMs: 10_000,
          });
        } else {
          await this.#client.request(
            `/api/v1/namespaces/${encodeURIComponent(this.#opts.namespace)}/secrets`,
            {
              method: "POST",
              body: {
                apiVersion: "v1",
                kind: "Secret",
                type: "kubernetes.io/tls",
                metadata: {
                  name: this.#opts.secretName,
                  labels: { "app.kubernetes.io/managed-by": "palyra-skills-operator" },
                  ...ownedBy(this.#opts.owner),
                },
                data: next.data,
              },
              timeoutMs: 10_000,
            },
          );
        }
        return next.material;
      } catch (error) {
        // Another replica wrote first: read again and adopt its certificate.
        if (!(error instanceof KubeApiError && (error.conflict || error.status === 409)))
          throw error;
      }
    }
    throw new Error(
      `could not settle the webhook certificate in Secret ${this.#opts.namespace}/${this.#opts.secretName}`,
    );
  }

  async #readIssued(): Promise<WebhookCertificate> {
    const where = `Secret ${this.#opts.namespace}/${this.#opts.secretName}`;
    const secret = await this.#read();
    if (secret === undefined) {
      throw new Error(
        `${where} does not exist yet (--webhook-certificates secret: is its issuer, e.g. cert-manager, running?)`,
      );
    }
    const d = secret.data ?? {};
    const certPem = unb64(d["tls.crt"]);
    const keyPem = unb64(d["tls.key"]);
    const caBundlePem = unb64(d["ca.crt"]);
    const missing = [
      ["tls.crt", certPem],
      ["tls.key", keyPem],
      ["ca.crt", caBundlePem],
    ].filter(([, value]) => !value);
    if (missing.length > 0) {
      throw new Error(`${where} lacks ${missing.map(([k]) => k).join(", ")}`);
    }
    let notAfter: Date;
    try {
      notAfter = new Date(new X509Certificate(certPem).validTo);
    } catch (error) {
      throw new Error(`${where}: tls.crt is not a PEM certificate (${(error as Error).message})`);
    }
    if (!coversNames(certPem, this.#opts.dnsNames, this.#opts.ipAddresses ?? [])) {
      throw new Error(`${where}: tls.crt does not name ${this.#opts.dnsNames.join(", ")}`);
    }
    return { caBundlePem, certPem, keyPem, notAfter };
  }

  async #read(): Promise<SecretObject | undefined> {
    try {
      return await this.#client.request<SecretObject>(this.#path, { timeoutMs: 10_000 });
    } catch (error) {
      if (error instanceof KubeApiError && error.notFound) return undefined;
      throw error;
    }
  }

  #decode(secret: SecretObject): Decoded | undefined {
    const d = secret.data ?? {};
    const certPem = unb64(d["tls.crt"]);
    const keyPem = unb64(d["tls.key"]);
    const caCertPem = unb64(d["ca-cert.pem"]);
    const caKeyPem = unb64(d["ca-key.pem"]);
    const caBundlePem = unb64(d["ca.crt"]);
    if (!certPem || !keyPem || !caCertPem || !caKeyPem || !caBundlePem) return undefined;
    let notAfter: Date;
    try {
      notAfter = new Date(new X509Certificate(certPem).validTo);
    } catch {
      return undefined;
    }
    return {
      certPem,
      caCertPem,
      ca: { certPem: caCertPem, keyPem: caKeyPem },
      material: { caBundlePem, certPem, keyPem, notAfter },
    };
  }

  #stale(certPem: string, caCertPem: string): boolean {
    const now = (this.#opts.now ?? (() => new Date()))();
    return (
      needsRenewal(certPem, now, this.#leafSeconds) ||
      needsRenewal(caCertPem, now, this.#caSeconds) ||
      !coversNames(certPem, this.#opts.dnsNames, this.#opts.ipAddresses ?? [])
    );
  }

  #issue(current: Decoded | undefined) {
    const now = (this.#opts.now ?? (() => new Date()))();
    let ca: CertificateAuthority;
    let bundle: string;
    if (current && !needsRenewal(current.caCertPem, now, this.#caSeconds)) {
      ca = current.ca;
      bundle = current.material.caBundlePem;
    } else {
      ca = createCertificateAuthority({
        commonName: `palyra-skills-operator webhook CA ${now.toISOString().slice(0, 10)}`,
        validityDays: this.#caSeconds / DAY,
        now,
      });
      // Trust the old CA too until every replica serves a certificate from the new one.
      bundle = current ? `${ca.certPem}${current.caCertPem}` : ca.certPem;
    }
    const leaf = issueServingCertificate(ca, {
      commonName: this.#opts.dnsNames[0] ?? this.#opts.ipAddresses?.[0] ?? "palyra-skills-operator",
      dnsNames: this.#opts.dnsNames,
      ...(this.#opts.ipAddresses ? { ipAddresses: this.#opts.ipAddresses } : {}),
      validityDays: this.#leafSeconds / DAY,
      now,
    });
    return {
      data: {
        "tls.crt": b64(leaf.certPem),
        "tls.key": b64(leaf.keyPem),
        "ca.crt": b64(bundle),
        "ca-cert.pem": b64(ca.certPem),
        "ca-key.pem": b64(ca.keyPem),
      },
      material: {
        caBundlePem: bundle,
        certPem: leaf.certPem,
        keyPem: leaf.keyPem,
        notAfter: new Date(new X509Certificate(leaf.certPem).validTo),
      },
    };
  }
}
