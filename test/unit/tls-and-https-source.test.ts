/**
 * The X.509 issuer (checked by Node's own X509Certificate and real TLS handshakes) and the
 * HTTPS source under its limits, against real HTTPS servers on 127.0.0.1.
 */

import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, get } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { isSourceError, type SourceError } from "../../src/sources/errors.ts";
import { fetchHttps, redactUrl } from "../../src/sources/https-source.ts";
import { createCertificateAuthority, issueServingCertificate } from "../../src/tls/pki.ts";

const NOW = new Date("2026-11-25T12:00:00Z");
const ca = createCertificateAuthority({ commonName: "test CA" });
const leaf = issueServingCertificate(ca, {
  commonName: "127.0.0.1",
  dnsNames: ["localhost"],
  ipAddresses: ["127.0.0.1"],
});

test("the CA is a self-signed CA; the leaf is issued by it, for its SANs, within its validity", () => {
  const c = new X509Certificate(ca.certPem);
  const l = new X509Certificate(leaf.certPem);
  assert.equal(c.ca, true);
  assert.ok(c.verify(c.publicKey));
  assert.equal(l.ca, false);
  assert.ok(l.checkIssued(c));
  assert.ok(l.verify(c.publicKey));
  assert.match(l.subjectAltName ?? "", /DNS:localhost/);
  assert.match(l.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
  const dated = new X509Certificate(
    issueServingCertificate(ca, { commonName: "x", now: NOW, validityDays: 2 }).certPem,
  );
  assert.equal(new Date(dated.validFrom).getTime(), NOW.getTime() - 5 * 60 * 1000);
  assert.equal(new Date(dated.validTo).getTime(), NOW.getTime() + 2 * 86_400_000);
  assert.throws(() => createCertificateAuthority({ commonName: " " }), /commonName/);
  assert.throws(
    () => issueServingCertificate(ca, { commonName: "x", ipAddresses: ["999.1.1.1"] }),
    /not an IP/,
  );
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let port = 0;
let handler: Handler = (_req, res) => res.end();
const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) =>
  handler(req, res),
);
before(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const url = (path: string) => `https://127.0.0.1:${port}${path}`;
const opts = { caBundlePem: ca.certPem, maxBytes: 1000 };

async function failure(p: Promise<unknown>): Promise<SourceError> {
  try {
    await p;
  } catch (error) {
    assert.ok(isSourceError(error), String(error));
    return error;
  }
  assert.fail("expected a SourceError");
}

test("a real TLS handshake succeeds with the CA and fails with another", async () => {
  handler = (_req, res) => res.end("hello");
  const ok = await new Promise<string>((resolve, reject) =>
    get(url("/"), { ca: ca.certPem }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c;
      });
      res.on("end", () => resolve(body));
    }).on("error", reject),
  );
  assert.equal(ok, "hello");
  const other = createCertificateAuthority({ commonName: "other" });
  const e = await failure(fetchHttps(url("/"), { caBundlePem: other.certPem, maxBytes: 10 }));
  assert.equal(e.code, "SOURCE_TLS_ERROR");
});

test("bytes and their SHA-256 come back; redirects are followed over https only and within the limit", async () => {
  const body = Buffer.from("artifact bytes");
  handler = (req, res) => {
    const hop = /^\/r(\d+)$/.exec(req.url ?? "");
    if (hop)
      return void res
        .writeHead(302, { Location: Number(hop[1]) > 0 ? `/r${Number(hop[1]) - 1}` : "/a" })
        .end();
    if (req.url === "/to-http")
      return void res.writeHead(301, { Location: `http://127.0.0.1:${port}/a` }).end();
    res.writeHead(200, { "Content-Length": body.length }).end(body);
  };
  const got = await fetchHttps(url("/a"), opts);
  assert.deepEqual(got.bytes, body);
  assert.equal(got.sha256, createHash("sha256").update(body).digest("hex"));
  assert.equal((await fetchHttps(url("/r1"), opts)).url, url("/a"));
  assert.equal((await failure(fetchHttps(url("/r3"), opts))).code, "SOURCE_REDIRECT_REFUSED");
  assert.equal((await failure(fetchHttps(url("/to-http"), opts))).code, "SOURCE_REDIRECT_REFUSED");
  assert.equal(
    (await failure(fetchHttps(`http://127.0.0.1:${port}/a`, opts))).code,
    "SOURCE_URL_INVALID",
  );
});

test("the size cap holds for a declared length and while streaming; short bodies are truncated", async () => {
  handler = (req, res) => {
    if (req.url === "/declared")
      return void res.writeHead(200, { "Content-Length": 5000 }).end(Buffer.alloc(5000));
    if (req.url === "/short") {
      res.writeHead(200, { "Content-Length": 500 });
      res.write(Buffer.alloc(100));
      setTimeout(() => res.socket?.destroy(), 10);
      return;
    }
    res.writeHead(200);
    const timer = setInterval(() => {
      if (!res.write(Buffer.alloc(400))) return;
    }, 1);
    res.on("close", () => clearInterval(timer));
  };
  assert.equal((await failure(fetchHttps(url("/declared"), opts))).code, "SOURCE_TOO_LARGE");
  assert.equal((await failure(fetchHttps(url("/chunked"), opts))).code, "SOURCE_TOO_LARGE");
  assert.equal((await failure(fetchHttps(url("/short"), opts))).code, "SOURCE_TRUNCATED");
});

test("HTTP errors say whether a retry can help; silence and refused connections time out or fail as unreachable", async () => {
  handler = (req, res) => {
    if (req.url === "/500") return void res.writeHead(500).end();
    if (req.url === "/404") return void res.writeHead(404).end();
    // /hang: never answers
  };
  const e500 = await failure(fetchHttps(url("/500"), opts));
  assert.deepEqual([e500.code, e500.transient], ["SOURCE_HTTP_ERROR", true]);
  const e404 = await failure(fetchHttps(url("/404"), opts));
  assert.deepEqual([e404.code, e404.transient], ["SOURCE_HTTP_ERROR", false]);
  assert.equal(
    (await failure(fetchHttps(url("/hang"), { ...opts, readTimeoutMs: 150 }))).code,
    "SOURCE_READ_TIMEOUT",
  );
  const closed = createServer({ cert: leaf.certPem, key: leaf.keyPem });
  await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const refused = await failure(fetchHttps(`https://127.0.0.1:${closedPort}/a`, opts));
  assert.deepEqual([refused.code, refused.transient], ["SOURCE_UNREACHABLE", true]);
  const aborted = await failure(fetchHttps(url("/hang"), { ...opts, signal: AbortSignal.abort() }));
  assert.equal(aborted.code, "SOURCE_ABORTED");
});

test("credentials and query strings never appear in messages", async () => {
  handler = (_req, res) => void res.writeHead(404).end();
  const e = await failure(
    fetchHttps(`https://user:hunter2@127.0.0.1:${port}/x?token=s3cret`, opts),
  );
  assert.doesNotMatch(e.message, /hunter2|s3cret|user/);
  assert.equal(redactUrl("https://a:b@h/p?q=1"), "https://…@h/p?…");
});
