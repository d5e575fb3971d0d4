/**
 * npm run bench:webhook [-- --seconds S --concurrency C --creates N]
 *
 * 1. AdmissionReviews of a typical Deployment over TLS on loopback, at a fixed concurrency, to
 *    the operator's webhook server running alone in its own process (one core): p50, p99 and
 *    reviews/s, beside the same figures for a do-nothing express handler on the same TLS setup
 *    (the bound), measured in the same run.
 * 2. Through the real API server: Deployment creates in a namespace the webhook checks and in
 *    one it does not (same cluster, same run, interleaved), and the latency the webhook adds.
 *
 * The load generator is ours (keep-alive HTTPS, one timer per request with performance.now())
 * because the reference tools report latency in whole milliseconds, too coarse for a 2 ms target.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { parseArgs } from "node:util";
import { parse } from "yaml";
import { startControlPlane } from "../hack/control-plane/launcher.ts";
import { ARTIFACT_HOST, ArtifactServer } from "../hack/dev/artifact-server.ts";
import { skillArtifact } from "../hack/dev/artifacts.ts";
import type { Skill } from "../src/api/v1alpha1/types.generated.ts";
import { KubeApiError, KubeClient } from "../src/kube/client.ts";
import { KubeConfig } from "../src/kube/kubeconfig.ts";
import { createCertificateAuthority, issueServingCertificate } from "../src/tls/pki.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string" },
    concurrency: { type: "string" },
    creates: { type: "string" },
  },
});
const SECONDS = Number(values.seconds ?? 5);
const CONCURRENCY = Number(values.concurrency ?? 8);
const CREATES = Number(values.creates ?? 1000);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function deploymentObject(name: string, namespace: string, skills: string) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace, labels: { app: "agent", team: "payments", tier: "backend" } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: "agent" } },
      template: {
        metadata: {
          labels: { app: "agent", team: "payments", tier: "backend" },
          annotations: { "skills.palyra.dev/skills": skills, "prometheus.io/scrape": "true" },
        },
        spec: {
          containers: [
            {
              name: "agent",
              image: "registry.example/agents/payments-agent:2.14.1",
              args: ["--config", "/etc/agent/config.yaml", "--log-level", "info"],
              ports: [{ containerPort: 8080, name: "http" }],
              env: Array.from({ length: 12 }, (_, i) => ({
                name: `AGENT_SETTING_${i}`,
                value: `value-${i}`,
              })),
              resources: {
                requests: { cpu: "250m", memory: "256Mi" },
                limits: { cpu: "1", memory: "512Mi" },
              },
              readinessProbe: { httpGet: { path: "/healthz", port: 8080 }, periodSeconds: 5 },
              volumeMounts: [{ name: "config", mountPath: "/etc/agent" }],
            },
          ],
          volumes: [{ name: "config", configMap: { name: "agent-config" } }],
        },
      },
    },
  };
}

function reviewBody(): Buffer {
  const object = deploymentObject("payments-agent", "team", "acme.skill_1@1.0.0, acme.skill_2");
  return Buffer.from(
    JSON.stringify({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: {
        uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
        kind: { group: "apps", version: "v1", kind: "Deployment" },
        resource: { group: "apps", version: "v1", resource: "deployments" },
        requestKind: { group: "apps", version: "v1", kind: "Deployment" },
        requestResource: { group: "apps", version: "v1", resource: "deployments" },
        name: "payments-agent",
        namespace: "team",
        operation: "CREATE",
        userInfo: {
          username: "system:serviceaccount:ci:deployer",
          groups: ["system:serviceaccounts", "system:authenticated"],
        },
        object,
        oldObject: null,
        dryRun: false,
        options: { apiVersion: "meta.k8s.io/v1", kind: "CreateOptions" },
      },
    }),
  );
}

async function startTarget(mode: "real" | "noop", cert: { certPem: string; keyPem: string }) {
  const child = spawn(
    process.execPath,
    [new URL("./webhook-target.ts", import.meta.url).pathname, mode],
    {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, BENCH_CERT: JSON.stringify(cert) },
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once("data", (c: Buffer) =>
      resolve((JSON.parse(c.toString()) as { port: number }).port),
    );
    child.once("exit", (code) => reject(new Error(`webhook target exited ${code}`)));
  });
  return { child, port };
}

async function load(port: number, ca: string, body: Buffer, seconds: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca });
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const r = request(
        {
          host: "127.0.0.1",
          port,
          path: "/validate/workloads",
          method: "POST",
          agent,
          headers: { "Content-Type": "application/json", "Content-Length": body.length },
        },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => {
            text += c;
          });
          res.on("end", () =>
            res.statusCode === 200 && text.includes('"allowed":true')
              ? resolve()
              : reject(new Error(`${res.statusCode} ${text.slice(0, 200)}`)),
          );
        },
      );
      r.on("error", reject);
      r.end(body);
    });
  const run = async (ms: number, record: boolean) => {
    const latencies: number[] = [];
    const until = performance.now() + ms;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < until) {
          const t = performance.now();
          await once();
          if (record) latencies.push(performance.now() - t);
        }
      }),
    );
    return latencies;
  };
  await run(1000, false); // warm-up: TLS sessions, JIT
  const started = performance.now();
  const latencies = await run(seconds * 1000, true);
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    rps: latencies.length / elapsed,
  };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

const ok = (cond: boolean) => (cond ? "met" : "NOT MET");
const ms = (v: number) => `${v.toFixed(3)} ms`;

// 1. The server alone.
const ca = createCertificateAuthority({ commonName: "bench CA" });
const cert = issueServingCertificate(ca, { commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"] });
const body = reviewBody();
const noopTarget = await startTarget("noop", cert);
const noop = await load(noopTarget.port, ca.certPem, body, SECONDS);
await stop(noopTarget.child);
const realTarget = await startTarget("real", cert);
const real = await load(realTarget.port, ca.certPem, body, SECONDS);
await stop(realTarget.child);

console.log(
  `webhook: AdmissionReview of a ${body.length}-byte Deployment over TLS on loopback, ${CONCURRENCY} concurrent, ${SECONDS} s (server: one process, one core)`,
);
console.log(
  `  do-nothing express handler (bound): p50 ${ms(noop.p50)}, p99 ${ms(noop.p99)}, ${noop.rps.toFixed(0)} reviews/s`,
);
console.log(
  `  palyra webhook:                     p50 ${ms(real.p50)}, p99 ${ms(real.p99)}, ${real.rps.toFixed(0)} reviews/s`,
);
console.log(
  `  targets: p99 <= 2 ms: ${ok(real.p99 <= 2)}; >= 2,000 reviews/s: ${ok(real.rps >= 2000)}; within 1.3x of the bound: throughput ${(noop.rps / real.rps).toFixed(2)}x, p99 ${(real.p99 / noop.p99).toFixed(2)}x: ${ok(noop.rps / real.rps <= 1.3 && real.p99 / noop.p99 <= 1.3)}`,
);

// 2. Through the real API server.
const plane = await startControlPlane();
const artifacts = new ArtifactServer();
let operator: ChildProcess | undefined;
try {
  const kc = new KubeConfig();
  kc.loadFromFile(plane.kubeconfig);
  const client = await KubeClient.fromKubeConfig(kc);
  for (const file of readdirSync(new URL("../crds/", import.meta.url)).filter((f) =>
    f.endsWith(".yaml"),
  )) {
    await client.request("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
      method: "POST",
      body: parse(readFileSync(new URL(`../crds/${file}`, import.meta.url), "utf8")),
    });
  }
  const until = async (what: string, probe: () => Promise<boolean>) => {
    const deadline = Date.now() + 60_000;
    while (!(await probe().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await until("CRDs served", async () => {
    await client.request("/apis/skills.palyra.dev/v1alpha1/skills");
    return true;
  });
  for (const [name, labels] of [
    ["palyra-system", {}],
    ["checked", { "skills.palyra.dev/enforce": "true", bench: "yes" }],
    ["unchecked", { bench: "yes" }],
  ] as const) {
    await client.request("/api/v1/namespaces", {
      method: "POST",
      body: { metadata: { name, labels } },
    });
  }
  const acme = skillArtifact({ keySeed: 7 });
  await artifacts.start();
  const url = artifacts.put("echo.palyra-skill", acme.bytes);
  await client.request("/apis/skills.palyra.dev/v1alpha1/skilltrustpolicies", {
    method: "POST",
    body: {
      apiVersion: "skills.palyra.dev/v1alpha1",
      kind: "SkillTrustPolicy",
      metadata: { name: "bench" },
      spec: {
        default: true,
        namespaceSelector: { matchLabels: { bench: "yes" } },
        publishers: [{ name: "acme", keys: [acme.publicKeyHex] }],
      },
    },
  });
  for (const ns of ["checked", "unchecked"]) {
    await client.request(`/apis/skills.palyra.dev/v1alpha1/namespaces/${ns}/skills`, {
      method: "POST",
      body: {
        apiVersion: "skills.palyra.dev/v1alpha1",
        kind: "Skill",
        metadata: { name: "echo" },
        spec: {
          skillId: "acme.echo_http",
          publisher: "acme",
          source: { url, caBundle: artifacts.caBundle },
        },
      },
    });
  }
  operator = spawn(
    process.execPath,
    [
      new URL("../src/operator/main.ts", import.meta.url).pathname,
      "--kubeconfig",
      plane.kubeconfig,
      `--source-allowed-cidrs=${ARTIFACT_HOST}/32`,
      "--metrics-bind-address",
      "127.0.0.1:0",
      "--webhook-bind-address",
      "127.0.0.1:0",
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  await until("the Skill is Enabled", async () => {
    const s = await client.request<Skill>(
      "/apis/skills.palyra.dev/v1alpha1/namespaces/checked/skills/echo",
    );
    return s.status?.state === "Enabled";
  });
  const create = async (ns: string, name: string, skills: string) => {
    const t = performance.now();
    try {
      await client.request(`/apis/apps/v1/namespaces/${ns}/deployments`, {
        method: "POST",
        body: deploymentObject(name, ns, skills),
      });
    } catch (error) {
      if (error instanceof KubeApiError) return { ms: performance.now() - t, status: error.status };
      throw error;
    }
    return { ms: performance.now() - t, status: 201 };
  };
  await until(
    "the webhook is in effect",
    async () => (await create("checked", `probe-${Date.now()}`, "acme.unknown")).status === 403,
  );
  for (let i = 0; i < 50; i++) {
    await create("checked", `warm-c-${i}`, "acme.echo_http");
    await create("unchecked", `warm-u-${i}`, "acme.echo_http");
  }
  const checked: number[] = [];
  const unchecked: number[] = [];
  for (let i = 0; i < CREATES; i++) {
    const a = await create("checked", `d-${i}`, "acme.echo_http@1.0.0");
    const b = await create("unchecked", `d-${i}`, "acme.echo_http@1.0.0");
    if (a.status !== 201 || b.status !== 201)
      throw new Error(`create failed: ${a.status} ${b.status}`);
    checked.push(a.ms);
    unchecked.push(b.ms);
  }
  checked.sort((x, y) => x - y);
  unchecked.sort((x, y) => x - y);
  const added50 = percentile(checked, 50) - percentile(unchecked, 50);
  const added99 = percentile(checked, 99) - percentile(unchecked, 99);
  console.log(
    `through the real API server: ${CREATES} Deployment creates each, one at a time, interleaved`,
  );
  console.log(
    `  without the webhook (namespace not opted in): p50 ${ms(percentile(unchecked, 50))}, p99 ${ms(percentile(unchecked, 99))}`,
  );
  console.log(
    `  with the webhook (namespace opted in):        p50 ${ms(percentile(checked, 50))}, p99 ${ms(percentile(checked, 99))}`,
  );
  console.log(
    `  added by the webhook: p50 ${ms(added50)}, p99 ${ms(added99)} (target: added p99 < 5 ms: ${ok(added99 < 5)})`,
  );
  client.close();
} finally {
  if (operator) await stop(operator);
  await artifacts.stop();
  await plane.stop();
}
