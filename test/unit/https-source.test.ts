/**
 * The HTTPS source under its limits, against real HTTPS servers on loopback (127.0.0.1, and
 * 127.0.0.2 for the address-policy redirect test); its address policy and lookup; and SourceError.
 */

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type { LookupAddress, LookupAllOptions } from "node:dns";
import { IncomingMessage, type ServerResponse } from "node:http";
import { createServer } from "node:https";
import { type AddressInfo, createServer as createTcpServer, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { createServer as createTlsServer } from "node:tls";
import { AddressPolicy } from "../../src/sources/address-policy.ts";
import { isSourceError, SourceError } from "../../src/sources/errors.ts";
import {
  type FetchHttpsOptions,
  fetchHttps,
  guardedLookup,
  type ResolveAll,
  redactUrl,
} from "../../src/sources/https-source.ts";
import { createCertificateAuthority, issueServingCertificate } from "../../src/tls/pki.ts";

const ca = createCertificateAuthority({ commonName: "source test CA" });
const leaf = issueServingCertificate(ca, {
  commonName: "127.0.0.1",
  dnsNames: ["localhost"],
  ipAddresses: ["127.0.0.1"],
});

const BODY = Buffer.from("artifact bytes \u0000\u00ff over https", "latin1");
/** Big enough to arrive in many chunks. */
const BIG = randomBytes(300 * 1024);
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
  "/big": (_req, res) => {
    res.writeHead(200, { "Content-Length": BIG.length });
    writeInPieces(res, BIG, true);
  },
  "/big-chunked": (_req, res) => {
    res.writeHead(200);
    writeInPieces(res, BIG, true);
  },
  "/twice": (_req, res) =>
    void res.writeHead(200, { "Content-Length": BODY.length, "X-Twice": "1" }).end(BODY),
};

/** Writes `bytes` in 4 KiB pieces, yielding between them so that they arrive as many chunks. */
function writeInPieces(res: ServerResponse, bytes: Buffer, end: boolean): void {
  let at = 0;
  const next = () => {
    if (res.destroyed) return;
    if (at >= bytes.length) {
      if (end) res.end();
      return;
    }
    res.write(bytes.subarray(at, at + 4096));
    at += 4096;
    setImmediate(next);
  };
  next();
}

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
      "SOURCE_BUSY",
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
      "SOURCE_ADDRESS_BLOCKED",
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

describe("fetchHttps: streaming hash, buffers and hooks", () => {
  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

  test("a body in many chunks hashes to the SHA-256 of its bytes, with or without a length", async () => {
    for (const path of ["/big", "/big-chunked"]) {
      const seen: number[] = [];
      const got = await fetchHttps(url(path), {
        ...base,
        maxBytes: 1 << 20,
        onBodyBytes: (n) => {
          seen.push(n);
          return true;
        },
      });
      assert.ok(got.bytes.equals(BIG), path);
      assert.equal(got.sha256, sha(BIG), path);
      assert.ok(seen.length > 1, `${path}: expected several chunks, got ${seen.length}`);
      assert.equal(
        seen.reduce((a, b) => a + b, 0),
        BIG.length,
        path,
      );
    }
  });

  test("with a Content-Length the bytes are one buffer of exactly that size", async () => {
    const got = await fetchHttps(url("/big"), { ...base, maxBytes: 1 << 20 });
    assert.equal(got.bytes.length, BIG.length);
    assert.equal(got.bytes.buffer.byteLength, BIG.length, "not a view into a larger allocation");
  });

  test("a body longer than its Content-Length is refused as it arrives", async () => {
    // node:http itself never delivers more than Content-Length bytes (see the next test), so
    // simulate a parser that would: every chunk of this response is delivered twice.
    const proto = IncomingMessage.prototype;
    const own = Object.hasOwn(proto, "emit");
    const original = proto.emit;
    proto.emit = function (this: IncomingMessage, event: string | symbol, ...args: unknown[]) {
      if (event === "data" && this.headers["x-twice"]) original.call(this, event, ...args);
      return original.call(this, event, ...args);
    } as typeof original;
    let calls = 0;
    try {
      const e = await failure(
        fetchHttps(url("/twice"), {
          ...base,
          onBodyBytes: () => {
            calls++;
            return true;
          },
        }),
      );
      assert.deepEqual([e.code, e.transient], ["SOURCE_TOO_LARGE", false]);
      assert.equal(
        e.message,
        `${url("/twice")}: body is longer than its Content-Length of ${BODY.length} bytes`,
      );
      assert.equal(calls, 1, "the surplus chunk is refused before it is counted");
    } finally {
      if (own) proto.emit = original;
      else delete (proto as { emit?: unknown }).emit;
    }
  });

  test("bytes a server sends beyond its Content-Length never become part of the artifact", async () => {
    const raw = createTlsServer({ cert: leaf.certPem, key: leaf.keyPem }, (socket) => {
      socket.once("data", () =>
        socket.end(
          `HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n${"x".repeat(10)}${"y".repeat(30)}`,
        ),
      );
    });
    await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
    try {
      const p = (raw.address() as AddressInfo).port;
      const got = await fetchHttps(`https://127.0.0.1:${p}/`, base);
      assert.equal(got.bytes.toString(), "x".repeat(10));
      assert.equal(got.sha256, sha(Buffer.from("x".repeat(10))));
    } finally {
      await new Promise<void>((r) => raw.close(() => r()));
    }
  });

  test("a body shorter than its Content-Length is refused", async () => {
    const e = await failure(fetchHttps(url("/short"), base));
    assert.deepEqual([e.code, e.transient], ["SOURCE_TRUNCATED", true]);
    assert.match(e.message, /after 100 bytes|after 100 of 500 bytes/);
  });

  test("onBodyBytes returning false fails the fetch as SOURCE_BUSY (transient) and cuts the connection", async () => {
    endlessClosed = false;
    let calls = 0;
    const e = await failure(
      fetchHttps(url("/endless"), {
        ...base,
        maxBytes: 1 << 20,
        onBodyBytes: () => ++calls < 3,
      }),
    );
    assert.deepEqual([e.code, e.transient], ["SOURCE_BUSY", true]);
    assert.equal(
      e.message,
      `${url("/endless")}: the operator's budget for artifact bytes in flight is exhausted; retrying later`,
    );
    assert.equal(calls, 3, "not called again after refusing");
    const deadline = Date.now() + 2000;
    while (!endlessClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(endlessClosed, true, "the connection should have been closed");
  });

  test("onBodyBytes sees only chunks within maxBytes", async () => {
    let counted = 0;
    const e = await failure(
      fetchHttps(url("/endless"), {
        ...base,
        onBodyBytes: (n) => {
          counted += n;
          return true;
        },
      }),
    );
    assert.equal(e.code, "SOURCE_TOO_LARGE");
    assert.ok(counted <= base.maxBytes, `counted ${counted}`);
  });

  test("an exception in a hook fails the fetch with it", async () => {
    const boom = new Error("boom");
    const thrower = () => {
      throw boom;
    };
    await assert.rejects(fetchHttps(url("/a"), { ...base, onBodyBytes: thrower }), boom);
    await assert.rejects(fetchHttps(url("/a"), { ...base, onStart: thrower }), boom);
  });

  test("onStart is called once, for the final 2xx answer, with its declared length", async () => {
    const starts: (number | undefined)[] = [];
    const onStart = (n: number | undefined) => void starts.push(n);
    await fetchHttps(url("/a"), { ...base, onStart });
    assert.deepEqual(starts, [BODY.length]);
    starts.length = 0;
    await fetchHttps(url("/chunked-ok"), { ...base, onStart });
    assert.deepEqual(starts, [undefined]);
    starts.length = 0;
    await fetchHttps(url("/r2"), { ...base, onStart });
    assert.deepEqual(starts, [BODY.length], "redirect hops do not start a body");
    starts.length = 0;
    await failure(fetchHttps(url("/404"), { ...base, onStart }));
    await failure(fetchHttps(url("/declared-large"), { ...base, onStart }));
    assert.deepEqual(starts, [], "not for an error status or a refused Content-Length");
  });
});

describe("fetchHttps: TLS errors", () => {
  test("a host name mismatch reports only the error code, no certificate contents", async () => {
    const other = issueServingCertificate(ca, {
      commonName: "secret-cn.internal.example",
      dnsNames: ["secret-name.internal.example"],
      ipAddresses: ["10.1.2.3"],
    });
    const mismatched = createServer({ cert: other.certPem, key: other.keyPem }, (_req, res) =>
      res.end("x"),
    );
    await new Promise<void>((r) => mismatched.listen(0, "127.0.0.1", r));
    try {
      const p = (mismatched.address() as AddressInfo).port;
      const e = await failure(fetchHttps(`https://127.0.0.1:${p}/a`, base));
      assert.deepEqual([e.code, e.transient], ["SOURCE_TLS_ERROR", false]);
      assert.equal(
        e.message,
        `https://127.0.0.1:${p}/a: TLS verification failed (ERR_TLS_CERT_ALTNAME_INVALID)`,
      );
      assert.doesNotMatch(
        e.message,
        /secret|internal\.example|10\.1\.2\.3|altnames|DNS:|IP Address|Host:/,
      );
    } finally {
      mismatched.closeAllConnections();
      await new Promise<void>((r) => mismatched.close(() => r()));
    }
  });

  test("an untrusted certificate reports only the error code", async () => {
    const other = createCertificateAuthority({ commonName: "unrelated CA" });
    const e = await failure(fetchHttps(url("/a"), { caBundlePem: other.certPem, maxBytes: 1000 }));
    assert.equal(e.code, "SOURCE_TLS_ERROR");
    assert.match(e.message, /^https:\/\/127\.0\.0\.1:\d+\/a: TLS verification failed \([A-Z_]+\)$/);
    assert.doesNotMatch(e.message, /source test CA|localhost/);
  });
});

/** A server on a loopback address that counts TCP connections and requested paths. */
interface CountingServer {
  host: string;
  port: number;
  connections: number;
  hits: string[];
  url(path: string): string;
  close(): Promise<void>;
}

async function countingServer(
  host: string,
  handler: (path: string, res: ServerResponse) => void,
): Promise<CountingServer> {
  const cert = issueServingCertificate(ca, {
    commonName: host,
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1", "127.0.0.2"],
  });
  const s = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const path = new URL(req.url ?? "/", "https://x").pathname;
    counting.hits.push(path);
    handler(path, res);
  });
  s.on("connection", () => counting.connections++);
  await new Promise<void>((r) => s.listen(0, host, r));
  const counting: CountingServer = {
    host,
    port: (s.address() as AddressInfo).port,
    connections: 0,
    hits: [],
    url: (path) => `https://${host}:${counting.port}${path}`,
    close: async () => {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
  return counting;
}

/** Long enough for a connection that was (wrongly) opened to be noticed by the server. */
const settle = () => new Promise((r) => setTimeout(r, 50));

describe("fetchHttps with an address policy", () => {
  let one: CountingServer; // 127.0.0.1
  let two: CountingServer; // 127.0.0.2, redirects to one
  before(async () => {
    one = await countingServer("127.0.0.1", (path, res) => {
      if (path === "/a") res.writeHead(200, { "Content-Length": BODY.length }).end(BODY);
      else if (path === "/500") res.writeHead(500).end("internal detail");
      else if (path === "/404") res.writeHead(404).end("internal detail");
      else if (path === "/no-location") res.writeHead(302).end();
      else if (path === "/declared-large") res.writeHead(200, { "Content-Length": 5000 }).end();
      else if (path === "/short") {
        res.writeHead(200, { "Content-Length": 500 });
        res.write(Buffer.alloc(100));
        setTimeout(() => res.socket?.destroy(), 20);
      } else res.writeHead(404).end();
    });
    two = await countingServer("127.0.0.2", (path, res) => {
      if (path === "/a") res.writeHead(200, { "Content-Length": BODY.length }).end(BODY);
      else if (path === "/to-one") res.writeHead(302, { Location: one.url("/a") }).end();
      else if (path === "/to-localhost")
        res.writeHead(302, { Location: `https://localhost:${one.port}/a` }).end();
      else res.writeHead(404).end();
    });
  });
  after(async () => {
    await one.close();
    await two.close();
  });

  const blocked = (where: string, address: string, range: string) =>
    `${where}: address ${address} is in ${range}, which artifact sources may not reach (allow it with --source-allowed-cidrs)`;

  test("by default a loopback address is refused, and the server sees no connection", async () => {
    const before = one.connections;
    const e = await failure(
      fetchHttps(one.url("/a"), { ...base, addressPolicy: new AddressPolicy() }),
    );
    assert.deepEqual([e.code, e.transient], ["SOURCE_ADDRESS_BLOCKED", false]);
    assert.equal(e.message, blocked(one.url("/a"), "127.0.0.1", "127.0.0.0/8"));
    await settle();
    assert.equal(one.connections, before);
  });

  test("every spelling of an IP-literal host is checked before connecting", async () => {
    const before = one.connections;
    const policy = new AddressPolicy();
    for (const [host, address, range] of [
      ["[::ffff:127.0.0.1]", "::ffff:7f00:1", "127.0.0.0/8"],
      ["[::1]", "::1", "::1/128"],
      ["2130706433", "127.0.0.1", "127.0.0.0/8"],
      ["0x7f.1", "127.0.0.1", "127.0.0.0/8"],
      ["0.0.0.0", "0.0.0.0", "0.0.0.0/8"],
      ["[64:ff9b::7f00:1]", "64:ff9b::7f00:1", "127.0.0.0/8"],
    ] as const) {
      const e = await failure(
        fetchHttps(`https://${host}:${one.port}/a`, { ...base, addressPolicy: policy }),
      );
      assert.equal(e.code, "SOURCE_ADDRESS_BLOCKED", host);
      assert.match(
        e.message,
        new RegExp(`: address ${address.replace(/\./g, "\\.")} is in ${range}`),
      );
    }
    await settle();
    assert.equal(one.connections, before);
  });

  test("credentials and the query never appear in the refusal", async () => {
    const e = await failure(
      fetchHttps(`https://user:password@127.0.0.1:${one.port}/a?token=secret`, {
        ...base,
        addressPolicy: new AddressPolicy(),
      }),
    );
    assert.equal(e.code, "SOURCE_ADDRESS_BLOCKED");
    assert.doesNotMatch(e.message, /user|password|secret|token/);
  });

  test("an allowed exception is reached", async () => {
    const before = one.connections;
    const got = await fetchHttps(one.url("/a"), {
      ...base,
      addressPolicy: new AddressPolicy({ allow: ["127.0.0.1/32"] }),
    });
    assert.deepEqual(got.bytes, BODY);
    assert.equal(one.connections, before + 1);
  });

  test("alwaysDeny beats allow", async () => {
    const before = one.connections;
    const e = await failure(
      fetchHttps(one.url("/a"), {
        ...base,
        addressPolicy: new AddressPolicy({ allow: ["127.0.0.0/8"], alwaysDeny: ["127.0.0.1"] }),
      }),
    );
    assert.deepEqual([e.code, e.transient], ["SOURCE_ADDRESS_BLOCKED", false]);
    assert.equal(
      e.message,
      `${one.url("/a")}: address 127.0.0.1 is in 127.0.0.1/32, which artifact sources may never reach`,
    );
    await settle();
    assert.equal(one.connections, before);
  });

  test("a host name is checked by the lookup: localhost is refused before connecting", async () => {
    const before = one.connections;
    const where = `https://localhost:${one.port}/a`;
    const e = await failure(fetchHttps(where, { ...base, addressPolicy: new AddressPolicy() }));
    assert.deepEqual([e.code, e.transient], ["SOURCE_ADDRESS_BLOCKED", false]);
    // A name's addresses are not named: status must not map internal names to addresses.
    assert.match(
      e.message,
      /^https:\/\/localhost:\d+\/a: the host resolves to an address in a range /,
    );
    assert.doesNotMatch(e.message, /127\.0\.0\.1|::1/);
    await settle();
    assert.equal(one.connections, before);
    // Once allowed, the same name connects through the lookup's checked addresses.
    const got = await fetchHttps(where, {
      ...base,
      addressPolicy: new AddressPolicy({ allow: ["127.0.0.1/32", "::1/128"] }),
    });
    assert.deepEqual(got.bytes, BODY);
    assert.equal(one.connections, before + 1);
  });

  test("every redirect hop is checked: a hop to a refused address never connects", async () => {
    const policy = new AddressPolicy({ allow: ["127.0.0.2/32"] });
    assert.deepEqual(
      (await fetchHttps(two.url("/a"), { ...base, addressPolicy: policy })).bytes,
      BODY,
    );
    const before = one.connections;
    const hitsBefore = two.hits.length;
    const e = await failure(fetchHttps(two.url("/to-one"), { ...base, addressPolicy: policy }));
    assert.deepEqual([e.code, e.transient], ["SOURCE_ADDRESS_BLOCKED", false]);
    assert.equal(e.message, blocked(one.url("/a"), "127.0.0.1", "127.0.0.0/8"));
    const byName = await failure(
      fetchHttps(two.url("/to-localhost"), { ...base, addressPolicy: policy }),
    );
    assert.equal(byName.code, "SOURCE_ADDRESS_BLOCKED");
    assert.match(byName.message, /^https:\/\/localhost:\d+\/a: the host resolves to an address /);
    assert.deepEqual(two.hits.slice(hitsBefore), ["/to-one", "/to-localhost"]);
    await settle();
    assert.equal(one.connections, before, "the redirect target saw no connection");
    // Allowing both ends follows the redirect.
    const both = new AddressPolicy({ allow: ["127.0.0.1/32", "127.0.0.2/32"] });
    const got = await fetchHttps(two.url("/to-one"), { ...base, addressPolicy: both });
    assert.equal(got.url, one.url("/a"));
    assert.equal(one.connections, before + 1);
  });

  test("what an internal (allowed) target answered is not echoed", async () => {
    const opts = { ...base, addressPolicy: new AddressPolicy({ allow: ["127.0.0.1/32"] }) };
    const rest = (e: SourceError, path: string) => e.message.replace(one.url(path), "<url>");
    for (const [path, transient] of [
      ["/500", true],
      ["/404", false],
    ] as const) {
      const e = await failure(fetchHttps(one.url(path), opts));
      assert.deepEqual([e.code, e.transient], ["SOURCE_HTTP_ERROR", transient], path);
      assert.equal(
        rest(e, path),
        "<url> answered an HTTP error status (not shown: internal address)",
      );
    }
    const noLocation = await failure(fetchHttps(one.url("/no-location"), opts));
    assert.equal(rest(noLocation, "/no-location"), "<url> answered a redirect without a Location");
    const large = await failure(fetchHttps(one.url("/declared-large"), opts));
    assert.equal(large.code, "SOURCE_TOO_LARGE");
    assert.equal(
      rest(large, "/declared-large"),
      "<url>: the declared Content-Length exceeds the limit of 1000 bytes",
    );
    const short = await failure(fetchHttps(one.url("/short"), opts));
    assert.equal(short.code, "SOURCE_TRUNCATED");
    assert.doesNotMatch(rest(short, "/short"), /\d/);
    // Without a policy nothing is judged internal, and the status is shown.
    assert.match((await failure(fetchHttps(one.url("/500"), base))).message, /answered HTTP 500$/);
  });
});

describe("guardedLookup", () => {
  const policy = new AddressPolicy({ allow: ["127.0.0.1/32"] });
  const where = new URL("https://mirror.example/a?token=secret");

  function resolver(
    answer: LookupAddress[] | NodeJS.ErrnoException,
    seen: LookupAllOptions[] = [],
  ) {
    const resolve: ResolveAll = (_host, options, callback) => {
      seen.push(options);
      setImmediate(() => (answer instanceof Error ? callback(answer, []) : callback(null, answer)));
    };
    return resolve;
  }

  function call(
    lookup: ReturnType<typeof guardedLookup>,
    options: Parameters<ReturnType<typeof guardedLookup>>[1],
  ): Promise<{ error: NodeJS.ErrnoException | null; address: unknown; family: unknown }> {
    return new Promise((resolve) =>
      lookup("mirror.example", options, (error, address, family) =>
        resolve({ error, address, family }),
      ),
    );
  }

  test("options.all: hands over every checked address, as an array", async () => {
    const seen: LookupAllOptions[] = [];
    const answer = [
      { address: "127.0.0.1", family: 4 },
      { address: "2606:4700::1111", family: 6 },
    ];
    const got = await call(guardedLookup(policy, where, resolver(answer, seen)), {
      all: true,
      family: 0,
      hints: 32,
    });
    assert.equal(got.error, null);
    assert.deepEqual(got.address, answer);
    assert.deepEqual(seen, [{ all: true, family: 0, hints: 32 }]);
  });

  test("without options.all: the first checked address and its family", async () => {
    const seen: LookupAllOptions[] = [];
    const answer = [
      { address: "2606:4700::1111", family: 6 },
      { address: "8.8.8.8", family: 4 },
    ];
    const got = await call(guardedLookup(policy, where, resolver(answer, seen)), { family: 6 });
    assert.deepEqual(got, { error: null, address: "2606:4700::1111", family: 6 });
    assert.deepEqual(seen, [{ all: true, family: 6 }], "resolves all addresses to check them");
  });

  test("refuses when any resolved address is refused, in either shape", async () => {
    const answer = [
      { address: "8.8.8.8", family: 4 },
      { address: "::ffff:169.254.169.254", family: 6 },
    ];
    for (const options of [{ all: true }, {}]) {
      const got = await call(guardedLookup(policy, where, resolver(answer)), options);
      assert.ok(isSourceError(got.error));
      assert.deepEqual([got.error.code, got.error.transient], ["SOURCE_ADDRESS_BLOCKED", false]);
      assert.equal(
        got.error.message,
        "https://mirror.example/a?…: the host resolves to an address in a range which artifact sources may not reach (allow it with --source-allowed-cidrs)",
      );
      assert.ok(got.address === "" || (Array.isArray(got.address) && got.address.length === 0));
    }
  });

  test("resolver errors pass through; no answer is ENOTFOUND; a non-IP answer is refused", async () => {
    const dnsError: NodeJS.ErrnoException = Object.assign(new Error("queryA EAI_AGAIN"), {
      code: "EAI_AGAIN",
    });
    assert.equal(
      (await call(guardedLookup(policy, where, resolver(dnsError)), {})).error,
      dnsError,
    );
    const none = await call(guardedLookup(policy, where, resolver([])), { all: true });
    assert.equal(none.error?.code, "ENOTFOUND");
    const odd = await call(
      guardedLookup(policy, where, resolver([{ address: "mirror.example", family: 4 }])),
      {},
    );
    assert.equal(odd.error?.code, "SOURCE_ADDRESS_BLOCKED");
  });
});
