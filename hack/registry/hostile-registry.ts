/**
 * A hostile OCI registry for tests: just enough of the distribution API (GET /v2/,
 * GET /v2/<repository>/manifests/<reference>, GET /v2/<repository>/blobs/<digest>, and a
 * bearer-token endpoint GET /token) to serve a real .palyra-skill artifact in the layout
 * `palyra-skill push` writes (src/sources/oci/publish.ts skillManifest), and to misbehave in one
 * chosen way per repository: 401 without a challenge, a token realm on another host name, a
 * manifest whose Content-Type says index, a layer that is not its digest, a blob longer than its
 * descriptor, a descriptor over the artifact limit, a blob redirected to plain http, a 429 storm,
 * a manifest served under a digest it does not have.
 *
 * HTTPS on 127.0.0.2 (the address the operator's tests may reach) with a CA of its own
 * (src/tls/pki.ts). The certificate also names the IPv4-mapped IPv6 form of that address
 * (`[::ffff:127.0.0.2]`): to a client that is another host name, although the connection ends
 * at the same server, so a token realm "on another host" needs no second address.
 *
 * Every request is counted per path (hits), every token request is recorded with the host name
 * it was sent to and whether it carried an Authorization header, and every response that was cut
 * by the client before it was fully written is counted (cuts), so tests can assert that the
 * operator does not hammer the registry, never sends credentials where it must not, and stops
 * reading a body at its limit. The server stops by itself after `lifetimeMs` (default 10 min)
 * and never keeps its process alive.
 */

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { inspectArtifactAsync } from "../../src/artifact/verify.ts";
import { MANIFEST_MEDIA_TYPE } from "../../src/sources/oci/media-types.ts";
import { skillManifest } from "../../src/sources/oci/publish.ts";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueServingCertificate,
} from "../../src/tls/pki.ts";

/** How one repository (mis)behaves. */
export type Behaviour =
  /** A well-behaved anonymous registry. */
  | { kind: "serve" }
  /** Every request for the repository: 401 without a WWW-Authenticate header. */
  | { kind: "unauthorized" }
  /**
   * Bearer auth: 401 with a challenge whose realm is this server's /token, named by the
   * registry's own host ("same") or by the IPv4-mapped IPv6 form of its address ("foreign":
   * another host to a client). The token endpoint wants the user's Basic credentials.
   */
  | { kind: "bearer"; realm: "same" | "foreign" }
  /** The manifest, a proper one, served with this Content-Type. */
  | { kind: "manifestContentType"; contentType: string }
  /** The layer's bytes with one byte flipped: its declared size, not its digest. */
  | { kind: "corruptBlob" }
  /** The blob streamed without a Content-Length, `extraBytes` longer than its descriptor. */
  | { kind: "longBlob"; extraBytes: number }
  /** The manifest's layer descriptor declares this size (the blob is the artifact). */
  | { kind: "declaredSize"; size: number }
  /** The blob request answered 302 to this location. */
  | { kind: "redirectBlob"; location: string }
  /** The manifest request answered with this status and headers (e.g. 429, Retry-After). */
  | { kind: "manifestStatus"; status: number; headers?: Record<string, string> }
  /**
   * The manifest served whatever digest is asked for, and that digest claimed in
   * Docker-Content-Digest: a registry answering a pinned reference with other bytes.
   */
  | { kind: "anyDigest" };

export interface HostedRepository {
  readonly name: string;
  readonly behaviour: Behaviour;
  /** The manifest bytes served (the layer descriptor as the behaviour wants it). */
  readonly manifest: Buffer;
  /** sha256:<hex> of the manifest bytes. */
  readonly manifestDigest: string;
  /** sha256:<hex> of the artifact: the layer's digest. */
  readonly layerDigest: string;
  /** The request paths of the manifest (by `tag`) and of the blob, for hits(). */
  manifestPath(tag?: string): string;
  readonly blobPath: string;
  /** host:port/name:tag */
  reference(tag?: string): string;
  /** host:port/name@digest (default: the manifest's own digest). */
  pinned(digest?: string): string;
}

/** One request to the token endpoint. */
export interface TokenRequest {
  /** The Host header: which name the client used for this server. */
  readonly host: string;
  /** Whether an Authorization header arrived (never its value). */
  readonly authorization: boolean;
  /** Whether it held this registry's user's credentials. */
  readonly authenticated: boolean;
  readonly scope: string | undefined;
}

export interface HostileRegistryOptions {
  /** The loopback address to listen on (default 127.0.0.2). */
  readonly host?: string;
  /** The server closes itself this long after start (default 10 minutes). */
  readonly lifetimeMs?: number;
}

const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const CHUNK = 64 * 1024;

export class HostileRegistry {
  readonly host: string;
  readonly ca: CertificateAuthority;
  readonly user = { username: "hostile", password: randomBytes(12).toString("hex") };
  /** Every token request, in order. */
  readonly tokenRequests: TokenRequest[] = [];
  requests = 0;
  #cert: { certPem: string; keyPem: string };
  #repositories = new Map<string, { repo: HostedRepository; artifact: Buffer; corrupt?: Buffer }>();
  #hits = new Map<string, number>();
  #cuts = new Map<string, number>();
  #tokens = new Set<string>();
  #server: Server | undefined;
  #lifetime: NodeJS.Timeout | undefined;
  #lifetimeMs: number;
  #port = 0;

  constructor(opts: HostileRegistryOptions = {}) {
    this.host = opts.host ?? "127.0.0.2";
    this.#lifetimeMs = opts.lifetimeMs ?? 10 * 60_000;
    this.ca = createCertificateAuthority({ commonName: "palyra hostile registry CA" });
    this.#cert = issueServingCertificate(this.ca, {
      commonName: this.host,
      ipAddresses: [this.host, `::ffff:${this.host}`],
    });
  }

  get port(): number {
    return this.#port;
  }

  /** host:port, as a reference names the registry. */
  get registry(): string {
    return `${this.host}:${this.#port}`;
  }

  /** The same server under another host name: its IPv4-mapped IPv6 address. */
  get foreignOrigin(): string {
    return `https://${this.foreignRegistry}`;
  }

  /** The CA as a Skill's caBundle wants it (base64 of the PEM). */
  get caBundle(): string {
    return Buffer.from(this.ca.certPem).toString("base64");
  }

  /** This registry named by its IPv4-mapped IPv6 address: [::ffff:127.0.0.2]:port. */
  get foreignRegistry(): string {
    return `[::ffff:${this.host}]:${this.#port}`;
  }

  /**
   * A kubernetes.io/dockerconfigjson document with this registry's user, for both of its names
   * (registry and foreignRegistry).
   */
  dockerConfigJson(): string {
    const auth = Buffer.from(`${this.user.username}:${this.user.password}`).toString("base64");
    return JSON.stringify({
      auths: { [this.registry]: { auth }, [this.foreignRegistry]: { auth } },
    });
  }

  /** Requests received for one path (without its query). */
  hits(path: string): number {
    return this.#hits.get(path) ?? 0;
  }

  /** Requests received for any path of one repository (manifests and blobs). */
  repositoryHits(name: string): number {
    let n = 0;
    for (const [path, hits] of this.#hits) if (path.startsWith(`/v2/${name}/`)) n += hits;
    return n;
  }

  /** Responses to one path the client closed before they were fully written. */
  cuts(path: string): number {
    return this.#cuts.get(path) ?? 0;
  }

  /** Hosts `artifact` as repository `name`, behaving as `behaviour`. */
  async repository(
    name: string,
    artifact: Buffer,
    behaviour: Behaviour = { kind: "serve" },
  ): Promise<HostedRepository> {
    if (this.#repositories.has(name)) throw new Error(`repository ${name} exists already`);
    const inspected = await inspectArtifactAsync(artifact);
    const m = inspected.manifest;
    const facts = {
      skillId: m.skill_id,
      version: m.version,
      publisher: m.publisher,
      keyId: inspected.keyId,
      payloadSha256: inspected.payloadSha256,
    };
    let manifest = skillManifest(artifact, facts, `${name}.palyra-skill`, "2024-01-01T00:00:00Z");
    if (behaviour.kind === "declaredSize") {
      const doc = JSON.parse(manifest.toString("utf8")) as { layers: { size: number }[] };
      (doc.layers[0] as { size: number }).size = behaviour.size;
      manifest = Buffer.from(JSON.stringify(doc));
    }
    const registry = () => this.registry;
    const manifestDigest = sha256(manifest);
    const layerDigest = sha256(artifact);
    const repo: HostedRepository = {
      name,
      behaviour,
      manifest,
      manifestDigest,
      layerDigest,
      manifestPath: (tag = "1") => `/v2/${name}/manifests/${tag}`,
      blobPath: `/v2/${name}/blobs/${layerDigest}`,
      reference: (tag = "1") => `${registry()}/${name}:${tag}`,
      pinned: (digest = manifestDigest) => `${registry()}/${name}@${digest}`,
    };
    let corrupt: Buffer | undefined;
    if (behaviour.kind === "corruptBlob") {
      corrupt = Buffer.from(artifact);
      const i = corrupt.length >> 1;
      corrupt[i] = (corrupt[i] ?? 0) ^ 0xff;
    }
    this.#repositories.set(name, { repo, artifact, ...(corrupt ? { corrupt } : {}) });
    return repo;
  }

  async start(): Promise<void> {
    const server = createServer({ cert: this.#cert.certPem, key: this.#cert.keyPem }, (req, res) =>
      this.#handle(req, res),
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, this.host, () => resolve());
    });
    server.unref();
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
    this.#lifetime = setTimeout(() => void this.stop(), this.#lifetimeMs);
    this.#lifetime.unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#lifetime);
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    const url = new URL(req.url ?? "/", "https://registry.invalid");
    const path = url.pathname;
    this.#hits.set(path, (this.#hits.get(path) ?? 0) + 1);
    res.on("close", () => {
      if (!res.writableFinished) this.#cuts.set(path, (this.#cuts.get(path) ?? 0) + 1);
    });
    if (req.method !== "GET" && req.method !== "HEAD") return void error(res, 405, "UNSUPPORTED");
    if (path === "/token") return void this.#token(req, res, url);
    if (path === "/v2/" || path === "/v2") return void json(res, 200, {});
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    const hosted = m ? this.#repositories.get(m[1] as string) : undefined;
    if (!m || !hosted) return void error(res, 404, "NAME_UNKNOWN");
    const { repo, artifact } = hosted;
    const b = repo.behaviour;
    const what = m[2] as "manifests" | "blobs";
    const target = m[3] as string;

    if (b.kind === "unauthorized") return void error(res, 401, "UNAUTHORIZED");
    if (b.kind === "bearer" && !this.#bearerOk(req)) {
      const realm = `${b.realm === "same" ? `https://${this.registry}` : this.foreignOrigin}/token`;
      res.setHeader(
        "WWW-Authenticate",
        `Bearer realm="${realm}",service="hostile",scope="repository:${repo.name}:pull"`,
      );
      return void error(res, 401, "UNAUTHORIZED");
    }

    if (what === "manifests") {
      if (b.kind === "manifestStatus") {
        res.writeHead(b.status, b.headers ?? {});
        return void res.end();
      }
      const isDigest = target.startsWith("sha256:");
      if (isDigest && target !== repo.manifestDigest && b.kind !== "anyDigest")
        return void error(res, 404, "MANIFEST_UNKNOWN");
      res.writeHead(200, {
        "Content-Type": b.kind === "manifestContentType" ? b.contentType : MANIFEST_MEDIA_TYPE,
        "Content-Length": repo.manifest.length,
        "Docker-Content-Digest": b.kind === "anyDigest" && isDigest ? target : repo.manifestDigest,
      });
      return void res.end(req.method === "HEAD" ? undefined : repo.manifest);
    }

    if (target !== repo.layerDigest) return void error(res, 404, "BLOB_UNKNOWN");
    if (b.kind === "redirectBlob") {
      res.writeHead(302, { Location: b.location });
      return void res.end();
    }
    if (b.kind === "longBlob") {
      res.writeHead(200, { "Content-Type": "application/octet-stream" }); // chunked
      return void this.#stream(res, artifact, b.extraBytes);
    }
    const body = hosted.corrupt ?? artifact;
    res.writeHead(200, {
      "Content-Type": "application/octet-stream",
      "Content-Length": body.length,
      "Docker-Content-Digest": repo.layerDigest,
    });
    res.end(req.method === "HEAD" ? undefined : body);
  }

  /** The artifact, then `extra` more bytes, as fast as the client reads them. */
  #stream(res: ServerResponse, artifact: Buffer, extra: number): void {
    const filler = Buffer.alloc(CHUNK, 0x5a);
    let offset = 0;
    const total = artifact.length + extra;
    const pump = () => {
      while (offset < total && !res.destroyed) {
        const n = Math.min(CHUNK, total - offset);
        const chunk =
          offset < artifact.length
            ? artifact.subarray(offset, Math.min(offset + n, artifact.length))
            : filler.subarray(0, n);
        offset += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  }

  #bearerOk(req: IncomingMessage): boolean {
    const h = req.headers.authorization ?? "";
    return h.startsWith("Bearer ") && this.#tokens.has(h.slice("Bearer ".length));
  }

  #token(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const header = req.headers.authorization;
    let authenticated = false;
    if (header?.startsWith("Basic ")) {
      const expected = Buffer.from(`${this.user.username}:${this.user.password}`);
      const given = Buffer.from(header.slice("Basic ".length), "base64");
      authenticated = given.length === expected.length && timingSafeEqual(given, expected);
    }
    this.tokenRequests.push({
      host: req.headers.host ?? "",
      authorization: header !== undefined,
      authenticated,
      scope: url.searchParams.get("scope") ?? undefined,
    });
    if (!authenticated) {
      res.setHeader("WWW-Authenticate", 'Basic realm="hostile registry token service"');
      return void error(res, 401, "UNAUTHORIZED");
    }
    const token = randomBytes(18).toString("base64url");
    this.#tokens.add(token);
    json(res, 200, { token, access_token: token, expires_in: 300 });
  }
}

function json(res: ServerResponse, status: number, doc: unknown): void {
  const body = Buffer.from(JSON.stringify(doc));
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": body.length });
  res.end(body);
}

function error(res: ServerResponse, status: number, code: string): void {
  json(res, status, { errors: [{ code, message: code.toLowerCase().replace(/_/g, " ") }] });
}
