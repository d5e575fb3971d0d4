/**
 * npm run bench:controller [-- --skills N --artifacts M]: N Skills (default 1,000) sharing M
 * artifacts (default 10) on a real local kube-apiserver, reconciled by the operator running as
 * its own process. Prints, from one run:
 *   - convergence: operator start -> every Skill Enabled (caches sync, fetch, verify, finalizer,
 *     status), and the apply time of the N Skills for reference;
 *   - artifact fetches and verifications the operator performed (from its /metrics), which must
 *     equal M;
 *   - the bound: the same number of bare status-subresource writes (the very statuses the
 *     operator wrote) from one client, at the operator's concurrency, to the same API server.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { parseArgs } from "node:util";
import { startControlPlane } from "../hack/control-plane/launcher.ts";
import { ARTIFACT_HOST, ArtifactServer } from "../hack/dev/artifact-server.ts";
import { skillArtifact } from "../hack/dev/artifacts.ts";
import type { Skill } from "../src/api/v1alpha1/types.generated.ts";
import { KubeClient, MERGE_PATCH } from "../src/kube/client.ts";
import { Informer } from "../src/kube/informer.ts";
import { KubeConfig } from "../src/kube/kubeconfig.ts";
import { OPERATOR_NODE_FLAGS } from "../src/operator/runtime.ts";
import {
  API,
  cpuSeconds,
  createAcmePolicy,
  createEmptyTrustStore,
  installCrds,
  pool,
  scrape,
  sum,
} from "./support.ts";

const { values } = parseArgs({
  options: {
    skills: { type: "string" },
    artifacts: { type: "string" },
    concurrency: { type: "string" },
  },
});
const N = Number(values.skills ?? 1000);
const M = Number(values.artifacts ?? 10);
const CONCURRENCY = Number(values.concurrency ?? 16);

const plane = await startControlPlane();
const server = new ArtifactServer();
let operator: ChildProcess | undefined;
try {
  const kc = new KubeConfig();
  kc.loadFromFile(plane.kubeconfig);
  const client = await KubeClient.fromKubeConfig(kc);
  await installCrds(client);
  for (const name of ["palyra-system", "bench", "bound"]) {
    await client.request("/api/v1/namespaces", {
      method: "POST",
      body: { metadata: { name, labels: { bench: name } } },
    });
  }
  await createEmptyTrustStore(client);
  const artifacts = Array.from({ length: M }, (_, i) => skillArtifact({ version: `1.0.${i}` }));
  await server.start();
  const urls = artifacts.map((a, i) => server.put(`echo-${i}.palyra-skill`, a.bytes));
  await createAcmePolicy(client, artifacts[0]?.publicKeyHex ?? "");
  const skillBody = (i: number) => ({
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "Skill",
    metadata: { name: `skill-${i}` },
    spec: {
      skillId: "acme.echo_http",
      publisher: "acme",
      source: { url: urls[i % M], caBundle: server.caBundle },
    },
  });
  const indexes = Array.from({ length: N }, (_, i) => i);

  // N Skills applied while no operator runs; then the operator starts and converges them.
  const applyStart = performance.now();
  await pool(indexes, CONCURRENCY, (i) =>
    client.request(`${API}/namespaces/bench/skills`, { method: "POST", body: skillBody(i) }),
  );
  const applyMs = performance.now() - applyStart;

  const watcher = new Informer<Skill>(client, {
    name: "bench",
    path: `${API}/namespaces/bench/skills`,
  });
  let enabled = 0;
  let firstMs = 0;
  const seen = new Map<string, boolean>();
  let converged: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    converged = resolve;
  });
  watcher.on((_type, skill) => {
    const key = skill.metadata.name ?? "";
    const now = skill.status?.state === "Enabled";
    if (now !== (seen.get(key) ?? false)) enabled += now ? 1 : -1;
    if (now && firstMs === 0) firstMs = performance.now() - start;
    seen.set(key, now);
    if (enabled === N) converged();
  });
  watcher.start();
  await watcher.waitForSync();

  const apiserverCpu0 = cpuSeconds(plane.pids.apiserver);
  const etcdCpu0 = cpuSeconds(plane.pids.etcd);
  const start = performance.now();
  operator = spawn(
    process.execPath,
    [
      ...OPERATOR_NODE_FLAGS,
      new URL("../src/operator/main.ts", import.meta.url).pathname,
      "--kubeconfig",
      plane.kubeconfig,
      `--source-allowed-cidrs=${ARTIFACT_HOST}/32`,
      "--metrics-bind-address",
      "127.0.0.1:0",
      "--log-level",
      "info",
      "--concurrency",
      String(CONCURRENCY),
      ...(process.env.BENCH_OPERATOR_ARGS ?? "").split(" ").filter(Boolean),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let port = 0;
  let readyMs = 0;
  operator.stdout?.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) {
      if (line.includes('"msg":"operator started"')) readyMs = performance.now() - start;
      const m = /"address":"127\.0\.0\.1:(\d+)"/.exec(line);
      if (m) port = Number(m[1]);
      else if (line.includes('"level":"error"')) process.stderr.write(`${line}\n`);
    }
  });
  const timeout = setTimeout(() => converged(), 120_000);
  await done;
  clearTimeout(timeout);
  const convergeMs = performance.now() - start;
  const apiserverCpu = cpuSeconds(plane.pids.apiserver) - apiserverCpu0;
  const etcdCpu = cpuSeconds(plane.pids.etcd) - etcdCpu0;
  await watcher.stop();

  if (port === 0) {
    operator.kill("SIGTERM");
    throw new Error("could not read the operator's metrics port");
  }
  const metrics = await scrape(port);
  const fetches = sum(metrics, "palyra_artifact_fetches_total");
  const verifications = sum(metrics, "palyra_skill_verifications_total");
  const writes = sum(metrics, "palyra_status_writes_total");
  const operatorCpu = sum(metrics, "palyra_operator_process_cpu_seconds_total");

  // The bound: the same N status writes, of the very statuses the operator wrote, from one
  // client at the operator's concurrency, with no operator running.
  operator.kill("SIGTERM");
  await new Promise((r) => operator?.once("exit", r));
  const statuses = (
    await client.request<{ items: Skill[] }>(`${API}/namespaces/bench/skills`)
  ).items.map((s) => s.status);
  await pool(indexes, CONCURRENCY, (i) =>
    client.request(`${API}/namespaces/bound/skills`, { method: "POST", body: skillBody(i) }),
  );
  // Observed the same way as the operator's run: one watcher on the namespace.
  const boundWatcher = new Informer<Skill>(client, {
    name: "bound",
    path: `${API}/namespaces/bound/skills`,
  });
  boundWatcher.start();
  await boundWatcher.waitForSync();
  const boundStart = performance.now();
  await pool(indexes, CONCURRENCY, (i) =>
    client.request(`${API}/namespaces/bound/skills/skill-${i}/status`, {
      method: "PATCH",
      contentType: MERGE_PATCH,
      body: { status: statuses[i] },
    }),
  );
  const boundMs = performance.now() - boundStart;
  await boundWatcher.stop();

  const ok = (cond: boolean) => (cond ? "ok" : "MISSED");
  console.log(
    `controller: ${N} Skills sharing ${M} artifacts, operator concurrency ${CONCURRENCY}`,
  );
  console.log(`  applying the ${N} Skills (for reference): ${(applyMs / 1000).toFixed(2)} s`);
  console.log(
    `  converged (operator start -> all Enabled): ${(convergeMs / 1000).toFixed(2)} s${enabled === N ? "" : ` (only ${enabled}/${N} Enabled after 120 s)`}`,
  );
  console.log(
    `    of which: process start to caches synced ${(readyMs / 1000).toFixed(2)} s, first Skill Enabled at ${(firstMs / 1000).toFixed(2)} s`,
  );
  console.log(
    `  bound: ${N} bare status writes from one client: ${(boundMs / 1000).toFixed(2)} s -> ratio ${(convergeMs / boundMs).toFixed(2)}x (target <= 2x: ${ok(convergeMs <= 2 * boundMs)}; target < 10 s for 1,000: ${ok(convergeMs < 10_000)})`,
  );
  console.log(
    `  artifact fetches ${fetches}, verifications ${verifications} (distinct artifacts ${M}: ${ok(fetches === M && verifications === M)}); status writes ${writes}`,
  );
  console.log(
    `  CPU while converging: operator ${operatorCpu.toFixed(2)} s (incl. start), kube-apiserver ${apiserverCpu.toFixed(2)} s, etcd ${etcdCpu.toFixed(2)} s (2 cores)`,
  );
  client.close();
} finally {
  if (operator && operator.exitCode === null) operator.kill("SIGKILL");
  await server.stop();
  await plane.stop();
}
