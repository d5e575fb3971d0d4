/**
 * Artifact downloads on the webhook's server: slots of their own (a flood of downloads or of
 * tokens to review never takes an admission review's slot), and a reader that stops reading is
 * cut off instead of holding its slot.
 */

import assert from "node:assert/strict";
import { createServer, get, type IncomingMessage } from "node:http";
import { request } from "node:https";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import type { Skill } from "../../src/api/v1alpha1/types.generated.ts";
import { sendBytes } from "../../src/delivery/artifact-endpoint.ts";
import { VerifiedStore } from "../../src/delivery/verified-store.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { KubeConfig } from "../../src/kube/kubeconfig.ts";
import { createLogger } from "../../src/operator/log.ts";
import { createCertificateAuthority, issueServingCertificate } from "../../src/tls/pki.ts";
import { WebhookServer } from "../../src/webhook/server.ts";

test("downloads have slots of their own: beyond them 429 JSON at once, while admission reviews are still answered", async () => {
  const ca = createCertificateAuthority({ commonName: "t" });
  const cert = issueServingCertificate(ca, { commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"] });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:1" }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  const client = await KubeClient.fromKubeConfig(kc);
  // TokenReviews that never come back: every download holds its slot.
  const pending: (() => void)[] = [];
  const shed: string[] = [];
  const server = new WebhookServer({
    host: "127.0.0.1",
    port: 0,
    cert,
    snapshot: {
      skillsWithId: () => [],
      policies: () => [],
      namespaceLabels: () => ({}),
      trustStore: () => undefined,
      signingKeyOf: () => undefined,
    },
    identity: () => ({ operatorUser: "op", adminGroups: [] }),
    client,
    ready: () => true,
    log: createLogger("error", () => {}),
    maxConcurrentReviews: 1,
    maxConcurrentDownloads: 2,
    onShed: (reason) => shed.push(reason),
    artifacts: {
      reviewer: {
        review: () =>
          new Promise((resolve) =>
            pending.push(() => resolve({ ok: false, reason: "test: released" })),
          ),
      },
      enabledSkillWithDigest: () => ({ metadata: {} }) as Skill,
      enabledAnywhere: () => true,
      store: new VerifiedStore(1024),
      fetchVerified: () => Promise.reject(new Error("not reached")),
      ready: () => true,
    },
  });
  await server.start();
  const call = (method: "GET" | "POST", path: string, body?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = request(
        {
          host: "127.0.0.1",
          port: server.port,
          path,
          method,
          ca: ca.certPem,
          agent: false,
          headers: {
            Authorization: "Bearer x",
            ...(body ? { "Content-Type": "application/json" } : {}),
          },
        },
        (res: IncomingMessage) => {
          let text = "";
          res.on("data", (c: Buffer) => {
            text += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      r.on("error", reject);
      r.end(body);
    });
  const path = `/v1/artifacts/sha256/${"a".repeat(64)}`;
  try {
    const held = [call("GET", path), call("GET", path)];
    while (pending.length < 2) await new Promise((r) => setTimeout(r, 10));
    const third = await call("GET", path);
    assert.equal(third.status, 429);
    assert.equal(JSON.parse(third.body).error.code, "TOO_MANY_REQUESTS");
    assert.deepEqual(shed, ["downloads"]);
    // The one review slot is free: downloads did not take it.
    const review = await call("POST", "/validate/configmaps", "{}");
    assert.equal(review.status, 400, "answered (a malformed review), not shed");
    for (const release of pending) release();
    assert.deepEqual(
      (await Promise.all(held)).map((r) => r.status),
      [401, 401],
    );
    // Slots come back when downloads end.
    while (pending.length < 3) {
      void call("GET", path);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(shed, ["downloads"]);
    for (const release of pending) release();
  } finally {
    await server.stop();
    client.close();
  }
});

test("a reader that stops reading is cut off after the idle limit; one that reads gets every byte", async () => {
  const bytes = Buffer.alloc(32 * 1024 * 1024, 0x5a);
  const closed: { finished: boolean; at: number }[] = [];
  const server = createServer((_req, res) => {
    res.writeHead(200, { "Content-Length": bytes.length });
    res.once("close", () => closed.push({ finished: res.writableFinished, at: Date.now() }));
    sendBytes(res, bytes, { idleMs: 300, totalMs: 60_000 });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  try {
    // Reads everything.
    const received = await new Promise<number>((resolve, reject) => {
      get({ host: "127.0.0.1", port, agent: false }, (res) => {
        let n = 0;
        res.on("data", (c: Buffer) => {
          n += c.length;
        });
        res.on("end", () => resolve(n));
      }).on("error", reject);
    });
    assert.equal(received, bytes.length);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closed[0]?.finished, true);
    // Stops reading after the headers: the server lets go of it.
    const started = Date.now();
    const stalled = get({ host: "127.0.0.1", port, agent: false }, (res) => res.pause());
    stalled.on("error", () => {});
    while (closed.length < 2 && Date.now() - started < 10_000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    stalled.destroy();
    assert.equal(closed[1]?.finished, false, "cut off, not finished");
    assert.ok((closed[1]?.at ?? Infinity) - started < 5_000, "within seconds of stalling");
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
