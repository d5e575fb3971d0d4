/**
 * Delivery when something on the way is broken or hostile: the artifact endpoint when the API
 * server cannot check tokens, and `palyra-skill install --from` against a real HTTPS server on
 * 127.0.0.1 that plays a broken or hostile operator (truncated, corrupted, oversized answers,
 * hostile archives under their own digest, errors that are not JSON). Every case: exit 1, one
 * line naming the skill and the cause, nothing written.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request as httpRequest } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { generateCorpus } from "../../hack/corpus/generate.ts";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import type { Skill } from "../../src/api/v1alpha1/types.generated.ts";
import { serveArtifact, TokenReviewer } from "../../src/delivery/artifact-endpoint.ts";
import { VerifiedStore } from "../../src/delivery/verified-store.ts";
import { KubeApiError } from "../../src/kube/client.ts";
import { createCertificateAuthority, issueServingCertificate } from "../../src/tls/pki.ts";

const BIN = fileURLToPath(new URL("../../bin/palyra-skill.mjs", import.meta.url));
const ECHO = skillArtifact({ keySeed: 7 });
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const DIGEST = sha(ECHO.bytes);

test("TokenReview unavailable: 503 TOKEN_REVIEW_UNAVAILABLE as JSON, never bytes, and the failure is not cached", async () => {
  let reviews = 0;
  // The API server answering 503 (or not at all): the reviewer's request rejects.
  const reviewer = new TokenReviewer({
    request: () => {
      reviews++;
      return Promise.reject(
        new KubeApiError(503, "ServiceUnavailable", "etcd unavailable", "POST", "/tokenreviews"),
      );
    },
  });
  const store = new VerifiedStore(16 * 1024 * 1024);
  store.put(DIGEST, ECHO.bytes);
  const skill = { metadata: { name: "echo", namespace: "ns" } } as Skill;
  const server = createHttpServer((req, res) => {
    void serveArtifact(
      {
        reviewer,
        enabledSkillWithDigest: () => skill,
        enabledAnywhere: () => true,
        store,
        fetchVerified: () => Promise.reject(new Error("not reached")),
        ready: () => true,
      },
      req,
      res,
      DIGEST,
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const get = () =>
    new Promise<{ status: number; type: string; body: Buffer }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          path: `/v1/artifacts/sha256/${DIGEST}`,
          headers: { Authorization: "Bearer some-token" },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              type: String(res.headers["content-type"]),
              body: Buffer.concat(chunks),
            }),
          );
        },
      );
      req.on("error", reject);
      req.end();
    });
  try {
    for (let i = 1; i <= 2; i++) {
      const r = await get();
      assert.equal(r.status, 503);
      assert.match(r.type, /application\/json/);
      assert.equal(JSON.parse(r.body.toString()).error.code, "TOKEN_REVIEW_UNAVAILABLE");
      assert.ok(!r.body.includes(ECHO.bytes.subarray(0, 32)), "no artifact bytes");
      assert.equal(reviews, i, "asked again: an outage is not remembered as a verdict");
    }
  } finally {
    server.close();
  }
});

// A broken or hostile "operator": what it answers for each digest.
type Answer = (res: import("node:http").ServerResponse) => void;
const answers = new Map<string, Answer>();
let hostile: Server;
let ca = "";
let port = 0;

before(async () => {
  const authority = createCertificateAuthority({ commonName: "hostile-operator-ca" });
  const cert = issueServingCertificate(authority, {
    commonName: "127.0.0.1",
    ipAddresses: ["127.0.0.1"],
  });
  ca = authority.certPem;
  hostile = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const digest = /([0-9a-f]{64})$/.exec(req.url ?? "")?.[1] ?? "";
    const answer = answers.get(digest);
    if (answer) answer(res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => hostile.listen(0, "127.0.0.1", r));
  port = (hostile.address() as AddressInfo).port;
});

const dirs: string[] = [];

after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  hostile.closeAllConnections();
  hostile.close();
});

function install(digest: string, payload = ECHO.payloadSha256, key = ECHO.publicKeyHex) {
  const dir = mkdtempSync(join(tmpdir(), "palyra-hostile-"));
  dirs.push(dir);
  writeFileSync(join(dir, "token"), "a-token");
  writeFileSync(join(dir, "ca.crt"), ca);
  mkdirSync(join(dir, "skills"));
  const args = [
    BIN,
    "install",
    "--from",
    `https://127.0.0.1:${port}`,
    "--token-file",
    join(dir, "token"),
    "--ca-file",
    join(dir, "ca.crt"),
    "--dir",
    join(dir, "skills"),
    "--expect",
    `acme.echo_http,${digest},${payload},${key}`,
  ];
  return new Promise<{ status: number | null; stderr: string; written: string[] }>(
    (resolve, reject) => {
      const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (c: string) => {
        stderr += c;
      });
      child.on("error", reject);
      child.on("close", (status) =>
        resolve({
          status,
          stderr,
          written: readdirSync(join(dir, "skills"), { recursive: true }) as string[],
        }),
      );
    },
  );
}

test("palyra-skill install refuses every broken or hostile answer, naming the skill and the cause, and writes nothing", async () => {
  const octets = (res: import("node:http").ServerResponse, body: Buffer, length = body.length) => {
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": length });
    return body;
  };
  const corrupted = Buffer.from(ECHO.bytes);
  corrupted.writeUInt8(corrupted.readUInt8(100) ^ 1, 100);
  const corpus = generateCorpus().slice(0, 6);
  const cases: { what: string; digest: string; answer: Answer; cause: RegExp }[] = [
    {
      what: "truncated (the connection drops halfway)",
      digest: DIGEST,
      answer: (res) => {
        res.write(octets(res, ECHO.bytes.subarray(0, 1000), ECHO.bytes.length));
        setTimeout(() => res.socket?.destroy(), 20);
      },
      cause:
        /INSTALL_FETCH_FAILED\]: skill acme\.echo_http: .*(broke off|ended after|aborted|ECONNRESET)/,
    },
    {
      what: "corrupted (one bit flipped)",
      digest: DIGEST,
      answer: (res) => res.end(octets(res, corrupted)),
      cause: /INSTALL_DIGEST_MISMATCH\]: skill acme\.echo_http: /,
    },
    {
      what: "oversized (an endless stream)",
      digest: "e".repeat(64),
      answer: (res) => {
        res.writeHead(200, { "Content-Type": "application/octet-stream" });
        const chunk = Buffer.alloc(1024 * 1024, 0x41);
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once("drain", pump);
        };
        res.on("close", () => res.removeAllListeners("drain"));
        pump();
      },
      cause: /INSTALL_FETCH_FAILED\]: skill acme\.echo_http: the answer exceeds \d+ bytes/,
    },
    {
      what: "an error page that is not JSON",
      digest: "d".repeat(64),
      answer: (res) => res.writeHead(500, { "Content-Type": "text/html" }).end("<h1>oops</h1>"),
      cause:
        /INSTALL_FETCH_FAILED\]: skill acme\.echo_http: the operator answered HTTP 500 \(<h1>oops<\/h1>\)/,
    },
    ...corpus.map((c) => ({
      what: `a hostile archive under its own digest: ${c.name} (${c.what})`,
      digest: sha(c.bytes),
      answer: ((res) => res.end(octets(res, c.bytes))) as Answer,
      cause:
        /INSTALL_(VERIFICATION_FAILED|PAYLOAD_MISMATCH|KEY_MISMATCH|SKILL_MISMATCH)\]: skill acme\.echo_http: /,
    })),
  ];
  for (const c of cases) {
    answers.set(c.digest, c.answer);
    const run = await install(c.digest);
    answers.delete(c.digest);
    assert.equal(run.status, 1, `${c.what}: ${run.stderr}`);
    assert.match(run.stderr, /^error\[INSTALL_[A-Z_]+\]: skill acme\.echo_http: [^\n]+\n$/, c.what);
    assert.match(run.stderr, c.cause, c.what);
    assert.deepEqual(run.written, [], `${c.what}: nothing written`);
  }
});
