/**
 * The informer's error handling, against a scripted list/watch server on 127.0.0.1: relist on
 * 410 Gone (as a watch ERROR event and as an HTTP status), restart with backoff on other
 * failures, pagination, and periodic resync. The real API server path is covered by the
 * integration tests; these make the failure paths happen on demand.
 */

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { KubeClient } from "../../src/kube/client.ts";
import { Informer, type InformerEventType } from "../../src/kube/informer.ts";
import { KubeConfig } from "../../src/kube/kubeconfig.ts";

type Obj = { metadata: { name: string; namespace: string; resourceVersion: string } };
const obj = (name: string, rv: string): Obj => ({
  metadata: { name, namespace: "ns", resourceVersion: rv },
});

interface Script {
  list: (url: URL) => { items: Obj[]; rv: string; cont?: string } | number;
  watch: (url: URL, res: ServerResponse) => void;
}

async function serve(script: Script) {
  const calls: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.searchParams.get("watch")) {
      calls.push(`watch@${url.searchParams.get("resourceVersion")}`);
      script.watch(url, res);
      return;
    }
    calls.push(
      `list${url.searchParams.get("continue") ? `+${url.searchParams.get("continue")}` : ""}`,
    );
    const page = script.list(url);
    if (typeof page === "number") {
      res.writeHead(page, { "Content-Type": "application/json" }).end(
        JSON.stringify({
          kind: "Status",
          code: page,
          reason: "Test",
          message: "scripted failure",
        }),
      );
      return;
    }
    res.writeHead(200, { "Content-Type": "application/json" }).end(
      JSON.stringify({
        metadata: { resourceVersion: page.rv, continue: page.cont },
        items: page.items,
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: "c",
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        skipTLSVerify: true,
      },
    ],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  const client = await KubeClient.fromKubeConfig(kc);
  return {
    calls,
    client,
    async close() {
      client.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const line = (res: ServerResponse, type: string, object: unknown) =>
  res.write(`${JSON.stringify({ type, object })}\n`);

test("a 410 Gone watch event makes the informer relist and reconcile its store (deletes included)", async () => {
  let lists = 0;
  let watches = 0;
  const s = await serve({
    list: () =>
      ++lists === 1
        ? { items: [obj("a", "1"), obj("b", "2")], rv: "10" }
        : { items: [obj("a", "1"), obj("c", "12")], rv: "12" },
    watch: (_url, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      if (++watches === 1) {
        line(res, "ERROR", { kind: "Status", code: 410, message: "too old resource version" });
        res.end();
      } // later watches stay open
    },
  });
  const informer = new Informer<Obj>(s.client, { name: "t", path: "/api/v1/things" });
  const seen: string[] = [];
  informer.on((type: InformerEventType, o: Obj) => seen.push(`${type}:${o.metadata.name}`));
  informer.start();
  await informer.waitForSync();
  await until("relist", () => lists === 2 && watches >= 2);
  await informer.stop();
  await s.close();
  assert.deepEqual(seen, ["add:a", "add:b", "delete:b", "add:c"]);
  assert.equal(informer.restarts, 0, "a 410 is not a failure");
  assert.deepEqual(s.calls.slice(0, 4), ["list", "watch@10", "list", "watch@12"]);
  assert.deepEqual(
    informer
      .list()
      .map((o) => o.metadata.name)
      .sort(),
    ["a", "c"],
  );
});

test("any other failure restarts list+watch with backoff instead of stopping", async () => {
  let lists = 0;
  const restarts: unknown[] = [];
  const s = await serve({
    list: () => (++lists === 1 ? 500 : { items: [obj("a", "1")], rv: "5" }),
    watch: (_url, res) => {
      if (lists === 2) {
        res.writeHead(503).end();
        return;
      }
      res.writeHead(200, { "Content-Type": "application/json" });
      line(res, "MODIFIED", obj("a", "6"));
    },
  });
  const informer = new Informer<Obj>(s.client, {
    name: "t",
    path: "/api/v1/things",
    onRestart: (_n, _r, e) => restarts.push(e),
  });
  const updates: string[] = [];
  informer.on((type, o) => updates.push(`${type}:${o.metadata.resourceVersion}`));
  informer.start();
  await until("recovered and saw the update", () => updates.includes("update:6"));
  await informer.stop();
  await s.close();
  assert.ok(
    restarts.length >= 2,
    `restarted after the 500 list and the 503 watch (${restarts.length})`,
  );
  assert.equal(informer.get("ns/a")?.metadata.resourceVersion, "6");
});

test("lists are paginated with continue tokens; resync hands every object to the handlers again", async () => {
  const s = await serve({
    list: (url) =>
      url.searchParams.get("continue") === "p2"
        ? { items: [obj("c", "3")], rv: "9" }
        : { items: [obj("a", "1"), obj("b", "2")], rv: "9", cont: "p2" },
    watch: (_url, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
    },
  });
  const informer = new Informer<Obj>(s.client, {
    name: "t",
    path: "/api/v1/things",
    pageSize: 2,
    resyncMs: 30,
  });
  const resynced = new Set<string>();
  informer.on((type, o) => {
    if (type === "resync") resynced.add(o.metadata.name);
  });
  informer.start();
  await informer.waitForSync();
  assert.equal(informer.size, 3);
  await until("resync", () => resynced.size === 3);
  await informer.stop();
  await s.close();
  assert.deepEqual(s.calls.slice(0, 2), ["list", "list+p2"]);
});
