/**
 * A real HTTPS artifact server on a loopback address of its own (127.0.0.2 by default) with its
 * own CA: the quick start's and the integration tests' stand-in for a release bucket. Its own
 * address lets the operator allow exactly it (--source-allowed-cidrs 127.0.0.2/32) while the
 * API server on 127.0.0.1 stays out of reach. It can go down and come back on the same port, to
 * show a Skill going Failed and recovering.
 */

/** The loopback address artifact servers listen on, and the operator is allowed to reach. */
export const ARTIFACT_HOST = "127.0.0.2";

import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueServingCertificate,
} from "../../src/tls/pki.ts";

/** Ways a release server misbehaves (the fault tests use each). */
export type ArtifactFault =
  /** Answers with this HTTP status. */
  | { kind: "status"; status: number }
  /** Sends the headers and the first `bytes` of the body, then nothing, keeping the socket open. */
  | { kind: "hang"; bytes: number }
  /** Sends one byte every `everyMs`: never idle long enough for a read timeout. */
  | { kind: "trickle"; everyMs: number }
  /** Resets the connection before answering. */
  | { kind: "reset" }
  /** Serves `bytes` instead of the file from the `after`+1-th request for it on. */
  | { kind: "swap"; bytes: Buffer; after: number }
  /** Redirects (302) to `location`. */
  | { kind: "redirect"; location: string };

export class ArtifactServer {
  readonly ca: CertificateAuthority;
  #files = new Map<string, Buffer>();
  #faults = new Map<string, ArtifactFault>();
  #hits = new Map<string, number>();
  #timers = new Set<NodeJS.Timeout>();
  #server: Server | undefined;
  #port = 0;
  #cert: { certPem: string; keyPem: string };
  requests = 0;

  readonly host: string;

  constructor(host = ARTIFACT_HOST) {
    this.host = host;
    this.ca = createCertificateAuthority({ commonName: "palyra local artifact CA" });
    this.#cert = issueServingCertificate(this.ca, {
      commonName: host,
      dnsNames: ["localhost"],
      ipAddresses: [host],
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
    return `https://${this.host}:${this.#port}/${path.replace(/^\//, "")}`;
  }

  put(path: string, bytes: Buffer): string {
    this.#files.set(`/${path.replace(/^\//, "")}`, bytes);
    return this.url(path);
  }

  /** Makes requests for `path` misbehave (undefined: behave again). */
  fault(path: string, fault: ArtifactFault | undefined): void {
    const key = `/${path.replace(/^\//, "")}`;
    if (fault) this.#faults.set(key, fault);
    else this.#faults.delete(key);
  }

  /** Requests received for one path. */
  hits(path: string): number {
    return this.#hits.get(`/${path.replace(/^\//, "")}`) ?? 0;
  }

  async start(): Promise<void> {
    const server = createServer(
      { cert: this.#cert.certPem, key: this.#cert.keyPem },
      (req, res) => {
        this.requests++;
        const path = (req.url ?? "/").split("?")[0] ?? "/";
        const hit = (this.#hits.get(path) ?? 0) + 1;
        this.#hits.set(path, hit);
        const fault = this.#faults.get(path);
        if (fault?.kind === "redirect")
          return void res.writeHead(302, { Location: fault.location }).end();
        let body = this.#files.get(path);
        if (!body) return void res.writeHead(404).end("not found\n");
        if (fault?.kind === "status") return void res.writeHead(fault.status).end("fault\n");
        if (fault?.kind === "reset") return void req.socket.destroy();
        if (fault?.kind === "swap" && hit > fault.after) body = fault.bytes;
        res.writeHead(200, {
          "Content-Type": "application/octet-stream",
          "Content-Length": body.length,
        });
        if (fault?.kind === "hang") return void res.write(body.subarray(0, fault.bytes));
        if (fault?.kind === "trickle") {
          let sent = 0;
          const timer = setInterval(() => {
            if (res.destroyed || sent >= body.length) {
              clearInterval(timer);
              this.#timers.delete(timer);
              if (!res.destroyed) res.end();
              return;
            }
            res.write(body.subarray(sent, sent + 1));
            sent++;
          }, fault.everyMs);
          this.#timers.add(timer);
          return;
        }
        res.end(body);
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, this.host, () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops listening (connections are refused) until start() is called again. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
