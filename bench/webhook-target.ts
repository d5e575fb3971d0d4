/**
 * A webhook server for bench:webhook, in its own process (so it has one core to itself):
 *   node bench/webhook-target.ts real|noop  -> prints {"port":N} once listening
 * `real` is the operator's WebhookServer over a snapshot of 200 Skills; `noop` is a do-nothing
 * express handler on the same TLS setup (the bound).
 */

import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import express from "express";
import type { Skill } from "../src/api/v1alpha1/types.generated.ts";
import { KubeClient } from "../src/kube/client.ts";
import { KubeConfig } from "../src/kube/kubeconfig.ts";
import { createLogger } from "../src/operator/log.ts";
import { WebhookServer } from "../src/webhook/server.ts";

const mode = process.argv[2];
const cert = JSON.parse(process.env.BENCH_CERT ?? "{}") as { certPem: string; keyPem: string };

if (mode === "noop") {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(express.raw({ type: () => true, limit: 8 * 1024 * 1024 }));
  app.post("/validate/workloads", (_req, res) => {
    res.json({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "x", allowed: true },
    });
  });
  const server = createServer({ cert: cert.certPem, key: cert.keyPem, minVersion: "TLSv1.2" }, app);
  server.keepAliveTimeout = 120_000;
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
} else {
  const skills = new Map<string, Skill[]>();
  for (let i = 0; i < 200; i++) {
    const skillId = `acme.skill_${i}`;
    skills.set(skillId, [
      {
        apiVersion: "skills.palyra.dev/v1alpha1",
        kind: "Skill",
        metadata: { name: `skill-${i}`, namespace: "team", generation: 1 },
        spec: { skillId, publisher: "acme", source: { url: "https://x" } },
        status: {
          observedGeneration: 1,
          state: "Enabled",
          manifest: { version: "1.0.0" },
          payloadSha256: "ab".repeat(32),
        },
      },
    ]);
  }
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:1" }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  const server = new WebhookServer({
    host: "127.0.0.1",
    port: 0,
    cert,
    snapshot: {
      skillsWithId: (ns, id) => (ns === "team" ? (skills.get(id) ?? []) : []),
      policies: () => [],
      namespaceLabels: () => ({}),
      trustStore: () => undefined,
      signingKeyOf: () => undefined,
    },
    identity: () => ({ operatorUser: "op", adminGroups: [] }),
    client: await KubeClient.fromKubeConfig(kc),
    ready: () => true,
    log: createLogger("error"),
  });
  await server.start();
  process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
}
