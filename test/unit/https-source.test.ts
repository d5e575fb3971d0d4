/** The HTTPS source under its limits, against real HTTPS servers on 127.0.0.1; and SourceError. */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import { type AddressInfo, createServer as createTcpServer, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { isSourceError, SourceError } from "../../src/sources/errors.ts";
import { type FetchHttpsOptions, fetchHttps, redactUrl } from "../../src/sources/https-source.ts";
import { createCertificateAuthority, issueServingCertificate } from "../../src/tls/pki.ts";

const ca = createCertificateAuthority({ commonName: "source test CA" });
const leaf = issueServingCertificate(ca, {
  commonName: "127.0.0.1",
  dnsNames: ["localhost"],
  ipAddresses: ["127.0.0.1"],
});

const BODY = Buffer.from("artifact bytes \u0000\u00ff over https", "latin1");
type Route = (req: IncomingMessage, res: ServerResponse) => void;

let port = 0;
let endlessClosed = false;

/** Routes by path; /r<n> redirects n more times before landing on /a. */
const routes: Record<string, Route> = {
  "/a": (_req, res) => void res.writeHead(200, { "Content-Length": BODY.length }).end(BODY),
  "/exact": (_req, res) =>
    void res.writeHead(200, { "Content-Length": 1000 }).end(Buffer.alloc(1000, 7)),
  "/chunked-ok": (_req, res) => {
    res.writeHead(200);
    res.write(BODY.subarray(0, 5));
    setTimeout(() => res.end(BODY.subarray(5)), 5);
  },
  "/to-http": (_req, res) =>
    void res.writeHead(301, { Location: `http://127.0.0.1:${port}/a` }).end(),
  "/no-location": (_req, res) => void res.writeHead(302).end(),
  "/declared-large": (_req, res) =>
    void res.writeHead(200, { "Content-Length": 5000 }).end(Buffer.alloc(5000)),
  "/endless": (_req, res) => {
    // No Content-Length: chunked, and it never stops on its own.
    res.writeHead(200);
    const timer = setInterval(() => res.write(Buffer.alloc(400, 1)), 2);
    res.on("close", () => {
      clearInterval(timer);
      endlessClosed = true;
    });
  },
  "/short": (_req, res) => {
    res.writeHead(200, { "Content-Length": 500 });
    res.write(Buffer.alloc(100));
    setTimeout(() => res.socket?.destroy(), 20);
  },
  "/500": (_req, res) => void res.writeHead(500).end("oops"),
  "/503": (_req, res) => void res.writeHead(503).end(),
  "/429": (_req, res) => void res.writeHead(429).end(),
  "/404": (_req, res) => void res.writeHead(404).end("missing"),
  "/403": (_req, res) => void res.writeHead(403).end(),
  "/hang": () => {
    // never answers
  },
};

const hits: string[] = [];
const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
  const path = new URL(req.url ?? "/", "https://x").pathname;
  hits.push(path);
  const hop = /^\/r(\d+)$/.exec(path);
  if (hop) {
    const n = Number(hop[1]);
    const location = n > 1 ? `/r${n - 1}` : "/a";
    res.writeHead(302, { Location: location }).end();
    return;
  }
  const route = routes[path];
  if (route) route(req, res);
  else res.writeHead(404).end();
});

before(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const url = (path: string) => `https://127.0.0.1:${port}${path}`;
const base: FetchHttpsOptions = { caBundlePem: ca.certPem, maxBytes: 1000 };

async function failure(p: Promise<unknown>): Promise<SourceError> {
  try {
    await p;
  } catch (error) {
    assert.ok(isSourceError(error), `expected a SourceError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a SourceError, but the fetch succeeded");
}

async function closedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

describe("fetchHttps", () => {
  test("returns the bytes, their SHA-256 and the final URL", async () => {
    const got = await fetchHttps(url("/a"), base);
    assert.deepEqual(got.bytes, BODY);
    assert.equal(got.sha256, createHash("sha256").update(BODY).digest("hex"));
    assert.equal(got.url, url("/a"));
  });

  test("a chunked body within the limit is returned whole; exactly maxBytes is allowed", async () => {
    const chunked = await fetchHttps(url("/chunked-ok"), base);
    assert.deepEqual(chunked.bytes, BODY);
    const exact = await fetchHttps(url("/exact"), base);
    assert.equal(exact.bytes.length, 1000);
    assert.equal(exact.sha256, createHash("sha256").update(Buffer.alloc(1000, 7)).digest("hex"));
    assert.equal(
      (await failure(fetchHttps(url("/exact"), { ...base, maxBytes: 999 }))).code,
      "SOURCE_TOO_LARGE",
    );
  });

  test("an unrelated CA is a TLS error", async () => {
    const other = createCertificateAuthority({ commonName: "unrelated CA" });
    const e = await failure(fetchHttps(url("/a"), { caBundlePem: other.certPem, maxBytes: 1000 }));
    assert.equal(e.code, "SOURCE_TLS_ERROR");
    assert.equal(e.transient, false);
  });

  test("only https URLs are accepted", async () => {
    const plain = await failure(fetchHttps(`http://127.0.0.1:${port}/a`, base));
    assert.equal(plain.code, "SOURCE_URL_INVALID");
    assert.equal(plain.transient, false);
    assert.equal((await failure(fetchHttps("not a url", base))).code, "SOURCE_URL_INVALID");
    assert.equal((await failure(fetchHttps("ftp://127.0.0.1/a", base))).code, "SOURCE_URL_INVALID");
  });

  test("a redirect to http:// is refused", async () => {
    const before = hits.length;
    const e = await failure(fetchHttps(url("/to-http"), base));
    assert.equal(e.code, "SOURCE_REDIRECT_REFUSED");
    assert.deepEqual(hits.slice(before), ["/to-http"]);
  });

  test("redirects are followed up to maxRedirects and refused beyond", async () => {
    const opts = { ...base, maxRedirects: 3 };
    const two = await fetchHttps(url("/r2"), opts);
    assert.deepEqual(two.bytes, BODY);
    assert.equal(two.url, url("/a"));
    assert.equal((await fetchHttps(url("/r3"), opts)).url, url("/a"));
    const four = await failure(fetchHttps(url("/r4"), opts));
    assert.equal(four.code, "SOURCE_REDIRECT_REFUSED");
    assert.equal(
      (await failure(fetchHttps(url("/r1"), { ...base, maxRedirects: 0 }))).code,
      "SOURCE_REDIRECT_REFUSED",
    );
    // The default is 3.
    assert.equal((await fetchHttps(url("/r3"), base)).url, url("/a"));
    assert.equal((await failure(fetchHttps(url("/r4"), base))).code, "SOURCE_REDIRECT_REFUSED");
  });

  test("a redirect without Location is a permanent HTTP error", async () => {
    const e = await failure(fetchHttps(url("/no-location"), base));
    assert.deepEqual([e.code, e.transient], ["SOURCE_HTTP_ERROR", false]);
  });

  test("a Content-Length above maxBytes is refused", async () => {
    const e = await failure(fetchHttps(url("/declared-large"), base));
    assert.equal(e.code, "SOURCE_TOO_LARGE");
    assert.equal(e.transient, false);
    assert.match(e.message, /5000/);
  });

  test("a chunked body that exceeds maxBytes is cut while streaming", async () => {
    endlessClosed = false;
    const e = await failure(fetchHttps(url("/endless"), base));
    assert.equal(e.code, "SOURCE_TOO_LARGE");
    const deadline = Date.now() + 2000;
    while (!endlessClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(endlessClosed, true, "the connection should have been closed");
  });

  test("a body shorter than its Content-Length is truncated", async () => {
    const e = await failure(fetchHttps(url("/short"), base));
    assert.equal(e.code, "SOURCE_TRUNCATED");
    assert.equal(e.transient, true);
  });

  test("5xx and 429 are transient HTTP errors, 4xx are not", async () => {
    for (const [path, transient] of [
      ["/500", true],
      ["/503", true],
      ["/429", true],
      ["/404", false],
      ["/403", false],
    ] as const) {
      const e = await failure(fetchHttps(url(path), base));
      assert.equal(e.code, "SOURCE_HTTP_ERROR", path);
      assert.equal(e.transient, transient, path);
      assert.match(e.message, new RegExp(path.slice(1)));
    }
  });

  test("a server that never answers hits the read timeout", async () => {
    const started = Date.now();
    const e = await failure(fetchHttps(url("/hang"), { ...base, readTimeoutMs: 200 }));
    assert.equal(e.code, "SOURCE_READ_TIMEOUT");
    assert.equal(e.transient, true);
    assert.ok(Date.now() - started < 2000);
  });

  test("a closed port is unreachable, and that is transient", async () => {
    const e = await failure(fetchHttps(`https://127.0.0.1:${await closedPort()}/a`, base));
    assert.deepEqual([e.code, e.transient], ["SOURCE_UNREACHABLE", true]);
  });

  test("a peer that never completes the TLS handshake hits the connect timeout", async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    try {
      const p = (silent.address() as AddressInfo).port;
      const e = await failure(
        fetchHttps(`https://127.0.0.1:${p}/a`, { ...base, connectTimeoutMs: 150 }),
      );
      assert.deepEqual([e.code, e.transient], ["SOURCE_CONNECT_TIMEOUT", true]);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  test("an aborted signal aborts, before or during the request", async () => {
    const pre = await failure(fetchHttps(url("/a"), { ...base, signal: AbortSignal.abort() }));
    assert.equal(pre.code, "SOURCE_ABORTED");
    assert.equal(pre.transient, false);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const during = await failure(fetchHttps(url("/hang"), { ...base, signal: ac.signal }));
    assert.equal(during.code, "SOURCE_ABORTED");
  });

  test("the overall deadline is SOURCE_TIMEOUT", async () => {
    const e = await failure(fetchHttps(url("/hang"), { ...base, totalTimeoutMs: 150 }));
    assert.deepEqual([e.code, e.transient], ["SOURCE_TIMEOUT", true]);
  });

  test("credentials and query strings never appear in error messages", async () => {
    const secretUrl = (path: string, p = port) =>
      `https://user:password@127.0.0.1:${p}${path}?token=secret`;
    const other = createCertificateAuthority({ commonName: "unrelated CA" });
    const errors = [
      await failure(fetchHttps(secretUrl("/404"), base)),
      await failure(fetchHttps(secretUrl("/r5"), base)),
      await failure(fetchHttps(secretUrl("/to-http"), base)),
      await failure(fetchHttps(secretUrl("/declared-large"), base)),
      await failure(fetchHttps(secretUrl("/a"), { caBundlePem: other.certPem, maxBytes: 10 })),
      await failure(fetchHttps(secretUrl("/a", await closedPort()), base)),
      await failure(fetchHttps(secretUrl("/hang"), { ...base, readTimeoutMs: 100 })),
      await failure(fetchHttps(secretUrl("/a"), { ...base, signal: AbortSignal.abort() })),
      await failure(fetchHttps(secretUrl("/a").replace("https:", "http:"), base)),
    ];
    for (const e of errors) {
      assert.doesNotMatch(e.message, /password|secret|token/, `${e.code}: ${e.message}`);
      assert.doesNotMatch(e.stack ?? "", /password|secret/);
    }
    assert.equal(errors[0]?.code, "SOURCE_HTTP_ERROR");
    assert.match(errors[0]?.message ?? "", /127\.0\.0\.1:\d+\/404\?…/);
  });
});

describe("redactUrl", () => {
  test("drops user info and the query, keeps scheme, host, port and path", () => {
    assert.equal(redactUrl("https://a:b@h/p?q=1"), "https://…@h/p?…");
    const r = redactUrl("https://user:password@example.com:8443/dir/file.zip?token=secret#frag");
    assert.equal(r, "https://…@example.com:8443/dir/file.zip?…");
    assert.doesNotMatch(r, /user|password|secret|token|frag/);
    assert.equal(redactUrl("https://user@h/p"), "https://…@h/p");
    assert.equal(redactUrl("https://:pw@h/p"), "https://…@h/p");
    assert.equal(redactUrl("https://h/p"), "https://h/p");
    assert.equal(redactUrl(new URL("https://u:p@h/x?y")), "https://…@h/x?…");
    assert.equal(redactUrl("::not a url::"), "<invalid URL>");
  });
});

describe("SourceError", () => {
  test("transient follows the code unless given explicitly", () => {
    for (const code of [
      "SOURCE_UNREACHABLE",
      "SOURCE_CONNECT_TIMEOUT",
      "SOURCE_READ_TIMEOUT",
      "SOURCE_TIMEOUT",
      "SOURCE_TRUNCATED",
      "SOURCE_NOT_FOUND",
    ] as const) {
      assert.equal(new SourceError(code, "m").transient, true, code);
    }
    for (const code of [
      "SOURCE_URL_INVALID",
      "SOURCE_TLS_ERROR",
      "SOURCE_HTTP_ERROR",
      "SOURCE_TOO_LARGE",
      "SOURCE_REDIRECT_REFUSED",
      "SOURCE_ABORTED",
      "SOURCE_UNSUPPORTED",
      "SOURCE_INVALID",
    ] as const) {
      assert.equal(new SourceError(code, "m").transient, false, code);
    }
    assert.equal(new SourceError("SOURCE_HTTP_ERROR", "m", true).transient, true);
    assert.equal(new SourceError("SOURCE_UNREACHABLE", "m", false).transient, false);
  });

  test("is an Error with a name, code and message, recognised by isSourceError", () => {
    const e = new SourceError("SOURCE_TOO_LARGE", "too big");
    assert.ok(e instanceof Error);
    assert.equal(e.name, "SourceError");
    assert.equal(e.code, "SOURCE_TOO_LARGE");
    assert.equal(e.message, "too big");
    assert.equal(isSourceError(e), true);
    assert.equal(isSourceError(new Error("x")), false);
    assert.equal(isSourceError({ code: "SOURCE_TOO_LARGE", message: "x" }), false);
    assert.equal(isSourceError(undefined), false);
  });
});
