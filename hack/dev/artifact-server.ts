/**
 * A real HTTPS artifact server on 127.0.0.1 with its own CA (the quick start's and the
 * integration tests' stand-in for a release bucket). It can go down and come back on the same
 * port, to show a Skill going Failed and recovering.
 */

import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueServingCertificate,
} from "../../src/tls/pki.ts";

export class ArtifactServer {
  readonly ca: CertificateAuthority;
  #files = new Map<string, Buffer>();
  #server: Server | undefined;
  #port = 0;
  #cert: { certPem: string; keyPem: string };
  requests = 0;

  constructor() {
    this.ca = createCertificateAuthority({ commonName: "palyra local artifact CA" });
    this.#cert = issueServingCertificate(this.ca, {
      commonName: "127.0.0.1",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
    });
  }

  /** The CA bundle as a Skill's spec.source.caBundle expects it (base64 of the PEM). */
  get caBundle(): string {
    return Buffer.from(this.ca.certPem).toString("base64");
  }

  get port(): number {
    return this.#port;
  }

  url(path: string): string {
    return `https://127.0.0.1:${this.#port}/${path.replace(/^\//, "")}`;
  }

  put(path: string, bytes: Buffer): string {
    this.#files.set(`/${path.replace(/^\//, "")}`, bytes);
    return this.url(path);
  }

  async start(): Promise<void> {
    const server = createServer(
      { cert: this.#cert.certPem, key: this.#cert.keyPem },
      (req, res) => {
        this.requests++;
        const body = this.#files.get((req.url ?? "/").split("?")[0] ?? "/");
        if (!body) return void res.writeHead(404).end("not found\n");
        res.writeHead(200, {
          "Content-Type": "application/octet-stream",
          "Content-Length": body.length,
        });
        res.end(body);
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, "127.0.0.1", () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops listening (connections are refused) until start() is called again. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
