/**
 * A Docker/distribution token server for the local test registry (auth: token): HTTPS on
 * 127.0.0.1, one user, ES256 JWTs the registry's `auth.token` verifier accepts.
 *
 *   GET  /token?service=S&scope=repository:NAME:pull,push   (Basic auth, or anonymous)
 *     -> 200 {token, access_token, expires_in, issued_at}
 *   POST /token  grant_type=password&username=..&password=..&service=S&scope=...  (OAuth2 form)
 *     -> 200 {access_token, token, expires_in, issued_at, scope}
 *
 * The user gets every action it asks for on any repository (and `registry:catalog:*`); an
 * anonymous caller gets `pull` only, and only when `anonymousPull` is set, else 401. Wrong
 * credentials are always 401. Scopes may come as several `scope` parameters and/or
 * space-separated in one.
 *
 * Signing: a token CA of its own whose certificate is the registry's `rootcertbundle`.
 * distribution v3.1 trusts a token either by
 *  - `kid`: a key in the bundle named by its JWK thumbprint (RFC 7638 shape, SHA-256,
 *    base64url) — computed the way distribution does, from big.Int bytes, so a P-256 coordinate
 *    with a leading zero byte is hashed *without* it (see jwkThumbprint); the libtrust-style
 *    "ABCD:EFGH:..." key IDs of registry v2 are no longer recognised. Tokens are then signed
 *    with the bundle certificate's own key.
 *  - `x5c`: a certificate chain that verifies against the bundle (any extended key usage).
 *    Tokens are then signed with a leaf key issued by the token CA, the leaf in `x5c`.
 * `keyHeader` picks one (default `kid`); it can be switched while running.
 */

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
  timingSafeEqual,
  X509Certificate,
} from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueServingCertificate,
} from "../../src/tls/pki.ts";

export interface TokenUser {
  readonly username: string;
  readonly password: string;
}

export type TokenKeyHeader = "kid" | "x5c";

export interface TokenServerOptions {
  /** The registry's `auth.token.service`: the token's audience. */
  readonly service: string;
  /** The registry's `auth.token.issuer`: the token's `iss`. */
  readonly issuer: string;
  readonly user: TokenUser;
  /** The loopback address to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** Serving certificate and key for that address (PEM). */
  readonly tls: { readonly certPem: string; readonly keyPem: string };
  /** Anonymous callers get pull tokens (else 401). Default false. */
  readonly anonymousPull?: boolean;
  readonly keyHeader?: TokenKeyHeader;
  /** The token CA (default: a fresh one). Its certificate is the bundle; in kid mode its key
   *  signs the tokens. */
  readonly signingAuthority?: CertificateAuthority;
  /** Token lifetime; default 300 s (the registry allows 60 s of clock skew either side). */
  readonly ttlSeconds?: number;
}

/** One answered token request, for tests to see what a client asked for and got. */
export interface TokenGrant {
  readonly method: string;
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly access: readonly ResourceActions[];
}

export interface ResourceActions {
  readonly type: string;
  readonly name: string;
  readonly actions: string[];
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

/**
 * The key ID distribution v3 gives a key in its rootcertbundle (token.GetJWKThumbprint):
 * SHA-256 over `{"crv":..,"kty":"EC","x":..,"y":..}`, base64url. It encodes the coordinates
 * from Go's big.Int.Bytes(), which drops leading zero bytes: RFC 7638 keeps them (fixed 32
 * bytes for P-256), so for about 1 key in 128 the two thumbprints differ. This matches
 * distribution's.
 */
export function jwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: "jwk" });
  const trim = (v: string | undefined) => {
    const bytes = Buffer.from(v ?? "", "base64url");
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    return b64url(bytes.subarray(i));
  };
  if (jwk.kty === "EC")
    return b64url(
      createHash("sha256")
        .update(`{"crv":"${jwk.crv}","kty":"EC","x":"${trim(jwk.x)}","y":"${trim(jwk.y)}"}`)
        .digest(),
    );
  throw new Error(`jwkThumbprint: unsupported key type ${jwk.kty}`);
}

function pemToDer(pem: string): Buffer {
  return new X509Certificate(pem).raw;
}

export class TokenServer {
  private server: Server | undefined;
  private readonly options: TokenServerOptions;
  /** The certificate(s) the registry trusts (`auth.token.rootcertbundle`), PEM. */
  readonly rootCertBundlePem: string;
  private readonly caKey: KeyObject;
  private readonly leafKey: KeyObject;
  private readonly leafDer: Buffer;
  /** The `kid` of tokens signed in kid mode: the bundle key's thumbprint. */
  readonly kid: string;
  /** How tokens name their key; may be switched while running. */
  keyHeader: TokenKeyHeader;
  /** Whether anonymous callers get pull tokens; may be switched while running. */
  anonymousPull: boolean;
  readonly grants: TokenGrant[] = [];
  private port = 0;

  constructor(options: TokenServerOptions) {
    this.options = options;
    this.keyHeader = options.keyHeader ?? "kid";
    this.anonymousPull = options.anonymousPull ?? false;
    const ca =
      options.signingAuthority ??
      createCertificateAuthority({ commonName: "palyra test registry token CA" });
    const leaf = issueServingCertificate(ca, { commonName: "palyra test registry token signer" });
    this.rootCertBundlePem = ca.certPem;
    this.caKey = createPrivateKey(ca.keyPem);
    this.kid = jwkThumbprint(createPublicKey(this.caKey));
    this.leafKey = createPrivateKey(leaf.keyPem);
    this.leafDer = pemToDer(leaf.certPem);
  }

  /** https://127.0.0.1:PORT/token, once started: the registry's `auth.token.realm`. */
  get realm(): string {
    if (!this.server) throw new Error("token server not started");
    return `https://${this.options.host ?? "127.0.0.1"}:${this.port}/token`;
  }

  async start(port = 0): Promise<void> {
    const server = createServer(
      { cert: this.options.tls.certPem, key: this.options.tls.keyPem },
      (req, res) => {
        this.handle(req, res).catch((error: unknown) => {
          if (!res.headersSent)
            json(res, 500, { errors: [{ code: "UNKNOWN", message: String(error) }] });
          else res.destroy();
        });
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, this.options.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** A signed token for `subject` with exactly `access` (tests forge narrower, expired or
   *  otherwise odd tokens: `kid` overrides the key ID in kid mode). */
  issue(
    subject: string,
    access: readonly ResourceActions[],
    options: { ttlSeconds?: number; kid?: string } = {},
  ): string {
    const now = Math.floor(Date.now() / 1000);
    const ttlSeconds = options.ttlSeconds;
    const header =
      this.keyHeader === "kid"
        ? { alg: "ES256", typ: "JWT", kid: options.kid ?? this.kid }
        : { alg: "ES256", typ: "JWT", x5c: [this.leafDer.toString("base64")] };
    const claims = {
      iss: this.options.issuer,
      sub: subject,
      aud: this.options.service,
      exp: now + (ttlSeconds ?? this.options.ttlSeconds ?? 300),
      nbf: now,
      iat: now,
      jti: randomBytes(16).toString("hex"),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const key = this.keyHeader === "kid" ? this.caKey : this.leafKey;
    // JWS ES256 is the raw r||s pair, not DER.
    const signature = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
    return `${input}.${b64url(signature)}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    if (url.pathname !== "/token") {
      json(res, 404, { errors: [{ code: "NOT_FOUND", message: "not found" }] });
      return;
    }
    let params: URLSearchParams;
    let credentials: TokenUser | undefined;
    if (req.method === "GET") {
      params = url.searchParams;
      credentials = basicCredentials(req.headers.authorization);
    } else if (req.method === "POST") {
      params = new URLSearchParams(await readBody(req));
      const grant = params.get("grant_type");
      if (grant !== "password") {
        json(res, 400, {
          error: "unsupported_grant_type",
          error_description: "only grant_type=password",
        });
        return;
      }
      credentials = {
        username: params.get("username") ?? "",
        password: params.get("password") ?? "",
      };
    } else {
      res.setHeader("Allow", "GET, POST");
      json(res, 405, { errors: [{ code: "UNSUPPORTED", message: "GET or POST" }] });
      return;
    }
    const service = params.get("service");
    if (service !== null && service !== this.options.service) {
      json(res, 400, {
        errors: [{ code: "DENIED", message: `unknown service ${JSON.stringify(service)}` }],
      });
      return;
    }
    let subject = "";
    if (credentials) {
      if (!this.valid(credentials)) {
        this.challenge(res, "invalid credentials");
        return;
      }
      subject = credentials.username;
    } else if (!this.anonymousPull) {
      this.challenge(res, "authentication required");
      return;
    }
    const scopes = params
      .getAll("scope")
      .flatMap((s) => s.split(" "))
      .filter((s) => s !== "");
    const access = scopes.flatMap((scope) => {
      const granted = this.grant(subject, scope);
      return granted ? [granted] : [];
    });
    const token = this.issue(subject, access);
    this.grants.push({ method: req.method, subject, scopes, access });
    const expiresIn = this.options.ttlSeconds ?? 300;
    const issuedAt = new Date().toISOString();
    json(
      res,
      200,
      req.method === "GET"
        ? { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt }
        : {
            access_token: token,
            token,
            expires_in: expiresIn,
            issued_at: issuedAt,
            scope: scopes.join(" "),
          },
    );
  }

  /** What `subject` ("" = anonymous) gets of one `type:name:actions` scope, if anything. */
  private grant(subject: string, scope: string): ResourceActions | undefined {
    const first = scope.indexOf(":");
    const last = scope.lastIndexOf(":");
    if (first <= 0 || last <= first) return undefined;
    const type = scope.slice(0, first);
    const name = scope.slice(first + 1, last);
    const wanted = scope
      .slice(last + 1)
      .split(",")
      .filter((a) => a !== "");
    const allowed =
      subject === ""
        ? type === "repository"
          ? ["pull"]
          : []
        : type === "repository"
          ? ["pull", "push", "delete", "*"]
          : type === "registry" && name === "catalog"
            ? ["*"]
            : [];
    const actions = wanted.filter((a) => allowed.includes(a));
    return actions.length > 0 ? { type, name, actions } : undefined;
  }

  private valid(c: TokenUser): boolean {
    const same = (a: string, b: string) => {
      const x = createHash("sha256").update(a).digest();
      const y = createHash("sha256").update(b).digest();
      return timingSafeEqual(x, y);
    };
    return (
      same(c.username, this.options.user.username) && same(c.password, this.options.user.password)
    );
  }

  private challenge(res: ServerResponse, message: string): void {
    res.setHeader("WWW-Authenticate", 'Basic realm="palyra test registry token server"');
    json(res, 401, { errors: [{ code: "UNAUTHORIZED", message }] });
  }
}

function basicCredentials(header: string | undefined): TokenUser | undefined {
  if (!header) return undefined;
  const [scheme, value = ""] = header.split(" ", 2);
  if (scheme?.toLowerCase() !== "basic") return undefined;
  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return { username: decoded, password: "" };
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

async function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) throw new Error("request body too large");
  }
  return body;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
  });
  res.end(text);
}
