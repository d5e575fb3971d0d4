/**
 * npm run bench:scale [-- --skills N --namespaces K --publishers P --artifacts M --soak-seconds S
 *                        --soak-rate R]
 *
 * N Skills (default 10,000) across K namespaces (100) and P publishers (50), sharing M artifacts
 * (100), on a real local kube-apiserver, converged by one operator process. Half the publishers
 * are allowlisted in the policy, half are trusted on first use (so the run pins P/2 keys).
 * Prints, from one run:
 *   - time to converge (operator start -> every Skill Enabled) and the apply time for reference;
 *   - Kubernetes API requests the operator made (from its own /metrics), per Skill and per
 *     reconcile, by verb;
 *   - the operator's RSS and V8 heap after convergence, beside the 200 MB target;
 *   - CPU seconds of the operator, kube-apiserver and etcd while converging (the bottleneck);
 *   - with --soak-seconds: R create/update/delete operations per second for S seconds, sampling
 *     heap, RSS, artifact-cache entries and queue depth, and whether any of them kept growing.
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
import { API, cpuSeconds, installCrds, installReportCrd, pool, scrape, sum } from "./support.ts";

const { values } = parseArgs({
  options: {
    skills: { type: "string" },
    namespaces: { type: "string" },
    publishers: { type: "string" },
    artifacts: { type: "string" },
    concurrency: { type: "string" },
    "soak-seconds": { type: "string" },
    "soak-rate": { type: "string" },
    "timeout-seconds": { type: "string" },
    "heap-snapshot": { type: "boolean" },
    // Install the OpenReports Report CRD, so the operator also writes a Report per namespace.
    reports: { type: "boolean" },
  },
});
const N = Number(values.skills ?? 10_000);
const K = Number(values.namespaces ?? 100);
const P = Number(values.publishers ?? 50);
const M = Number(values.artifacts ?? 100);
const CONCURRENCY = Number(values.concurrency ?? 16);
const SOAK_S = Number(values["soak-seconds"] ?? 0);
const SOAK_RATE = Number(values["soak-rate"] ?? 20);
const TIMEOUT_MS = Number(values["timeout-seconds"] ?? 900) * 1000;
const RSS_TARGET = 200 * 1024 * 1024;
const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;

const plane = await startControlPlane();
const server = new ArtifactServer();
let operator: ChildProcess | undefined;
try {
  const kc = new KubeConfig();
  kc.loadFromFile(plane.kubeconfig);
  const client = await KubeClient.fromKubeConfig(kc, { maxSockets: 64 });
  await installCrds(client);
  if (values.reports) await installReportCrd(client);
  const namespaces = Array.from({ length: K }, (_, i) => `team-${i}`);
  await pool(["palyra-system", ...namespaces], 8, (name) =>
    client.request("/api/v1/namespaces", {
      method: "POST",
      body: { metadata: { name, labels: { bench: name === "palyra-system" ? "no" : "scale" } } },
    }),
  );
  await client.request("/api/v1/namespaces/palyra-system/configmaps", {
    method: "POST",
    body: {
      metadata: { name: "trust-store", labels: { "skills.palyra.dev/trust-store": "true" } },
      data: { "trust-store.json": "{}" },
    },
  });
  // Artifact j is published by publisher j % P; publishers below P/2 are allowlisted.
  const artifacts = Array.from({ length: M }, (_, j) =>
    skillArtifact({
      publisher: `pub${j % P}`,
      skillId: `pub${j % P}.echo`,
      version: `1.0.${j}`,
      keySeed: 1000 + (j % P),
    }),
  );
  const allowlisted = Array.from({ length: Math.ceil(P / 2) }, (_, p) => ({
    name: `pub${p}`,
    keys: [
      (artifacts.find((_a, j) => j % P === p) ?? skillArtifact({ keySeed: 1000 + p })).publicKeyHex,
    ],
  }));
  await server.start();
  const urls = artifacts.map((a, j) => server.put(`a-${j}.palyra-skill`, a.bytes));
  await client.request(`${API}/skilltrustpolicies`, {
    method: "POST",
    body: {
      apiVersion: "skills.palyra.dev/v1alpha1",
      kind: "SkillTrustPolicy",
      metadata: { name: "scale" },
      spec: {
        default: true,
        namespaceSelector: { matchLabels: { bench: "scale" } },
        publishers: allowlisted,
        allowTofu: true,
        // One pin per TOFU publisher for the whole cluster, as the figures below count them.
        tofuScope: "Cluster",
        trustStore: { namespace: "palyra-system", name: "trust-store" },
      },
    },
  });
  // Skill i lives in namespace i % K and uses artifact (i % K + floor(i / K)) % M: every
  // namespace sees many artifacts, every artifact many namespaces, and all M are used when
  // N >= M.
  const skillOf = (i: number) => {
    const j = ((i % K) + Math.floor(i / K)) % M;
    return {
      ns: namespaces[i % K] as string,
      body: {
        apiVersion: "skills.palyra.dev/v1alpha1",
        kind: "Skill",
        metadata: { name: `skill-${i}` },
        spec: {
          skillId: `pub${j % P}.echo`,
          publisher: `pub${j % P}`,
          source: { url: urls[j], caBundle: server.caBundle },
        },
      },
    };
  };
  const indexes = Array.from({ length: N }, (_, i) => i);
  const applyStart = performance.now();
  await pool(indexes, CONCURRENCY, (i) => {
    const { ns, body } = skillOf(i);
    return client.request(`${API}/namespaces/${ns}/skills`, { method: "POST", body });
  });
  const applyMs = performance.now() - applyStart;

  // Observed by one cluster-wide watch, as a user's dashboard would.
  const watcher = new Informer<Skill>(client, { name: "bench", path: `${API}/skills` });
  const states = new Map<string, string>();
  let enabled = 0;
  let converged: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    converged = resolve;
  });
  watcher.on((type, skill) => {
    const key = `${skill.metadata.namespace}/${skill.metadata.name}`;
    const was = states.get(key) === "Enabled";
    const now = type !== "delete" && skill.status?.state === "Enabled";
    if (type === "delete") states.delete(key);
    else states.set(key, skill.status?.state ?? "");
    if (was !== now) enabled += now ? 1 : -1;
    if (enabled >= N) converged();
  });
  watcher.start();
  await watcher.waitForSync();

  const cpu0 = { apiserver: cpuSeconds(plane.pids.apiserver), etcd: cpuSeconds(plane.pids.etcd) };
  const start = performance.now();
  operator = spawn(
    process.execPath,
    [
      ...OPERATOR_NODE_FLAGS,
      ...(values["heap-snapshot"] ? ["--heapsnapshot-signal=SIGUSR2"] : []),
      new URL("../src/operator/main.ts", import.meta.url).pathname,
      "--kubeconfig",
      plane.kubeconfig,
      `--source-allowed-cidrs=${ARTIFACT_HOST}/32`,
      "--metrics-bind-address",
      "127.0.0.1:0",
      "--namespace",
      "palyra-system",
      "--log-level",
      "info",
      "--concurrency",
      String(CONCURRENCY),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let port = 0;
  operator.stdout?.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) {
      const m =
        /"msg":"metrics and health endpoints listening","address":"127\.0\.0\.1:(\d+)"/.exec(line);
      if (m) port = Number(m[1]);
      else if (line.includes('"level":"error"')) process.stderr.write(`${line.slice(0, 400)}\n`);
    }
  });
  // Metrics are scraped while converging too, so a stuck run still reports where it was.
  const timeout = setTimeout(() => converged(), TIMEOUT_MS);
  await done;
  clearTimeout(timeout);
  const convergeMs = performance.now() - start;
  const cpuOperatorPid = operator.pid ?? 0;
  const cpus = {
    operator: cpuSeconds(cpuOperatorPid),
    apiserver: cpuSeconds(plane.pids.apiserver) - cpu0.apiserver,
    etcd: cpuSeconds(plane.pids.etcd) - cpu0.etcd,
  };
  if (port === 0) throw new Error("could not read the operator's metrics port");
  // Let in-flight work (policy status, events) finish before counting requests.
  await new Promise((r) => setTimeout(r, 2000));
  const m1 = await scrape(port);
  const reconciles = sum(m1, "palyra_skill_reconciles_total");
  const verbs = ["GET", "POST", "PUT", "PATCH", "DELETE", "WATCH"];
  const byVerb = Object.fromEntries(
    verbs.map((v) => [v, sum(m1, "palyra_kube_api_requests_total", { verb: v })]),
  );
  const requests = verbs.filter((v) => v !== "WATCH").reduce((n, v) => n + (byVerb[v] ?? 0), 0);
  const rss = sum(m1, "palyra_operator_process_resident_memory_bytes");
  if (values["heap-snapshot"]) {
    // Written to the working directory as Heap.*.heapsnapshot (for where the heap goes).
    operator.kill("SIGUSR2");
    await new Promise((r) => setTimeout(r, 15_000));
  }
  const heap = sum(m1, "palyra_operator_nodejs_heap_size_used_bytes");
  const ok = (c: boolean) => (c ? "ok" : "MISSED");
  // Timing and memory figures are reported; only broken invariants fail the run.
  if (enabled < N) process.exitCode = 1;

  console.log(
    `scale: ${N} Skills in ${K} namespaces, ${P} publishers (${allowlisted.length} allowlisted, ${P - allowlisted.length} TOFU), ${M} artifacts; concurrency ${CONCURRENCY}`,
  );
  console.log(`  applying the Skills (for reference): ${(applyMs / 1000).toFixed(1)} s`);
  console.log(
    `  converged (operator start -> all Enabled): ${(convergeMs / 1000).toFixed(1)} s${enabled >= N ? "" : ` (only ${enabled}/${N} Enabled at the ${TIMEOUT_MS / 1000} s timeout)`} -> ${((N / convergeMs) * 1000).toFixed(0)} Skills/s`,
  );
  console.log(
    `  API requests (not watches): ${requests} = ${(requests / N).toFixed(2)} per Skill, ${(requests / reconciles).toFixed(2)} per reconcile (${reconciles} reconciles); by verb ${JSON.stringify(byVerb)}`,
  );
  if (values.reports) {
    console.log(
      `  OpenReports Report writes (one Report per namespace): ${sum(m1, "palyra_report_writes_total")} (created ${sum(m1, "palyra_report_writes_total", { result: "created" })}, updated ${sum(m1, "palyra_report_writes_total", { result: "updated" })}) for ${K} namespaces`,
    );
  }
  console.log(
    `  artifact fetches ${sum(m1, "palyra_artifact_fetches_total")}, verifications ${sum(m1, "palyra_skill_verifications_total")} (distinct artifacts ${M}); TOFU pins ${sum(m1, "palyra_trust_tofu_pins_total", { result: "pinned" })} (expected ${P - allowlisted.length})`,
  );
  console.log(
    `  after convergence: RSS ${MiB(rss)} (target <= 200 MiB: ${ok(rss <= RSS_TARGET)}), heap used ${MiB(heap)} of ${MiB(sum(m1, "palyra_operator_nodejs_heap_size_total_bytes"))}, external ${MiB(sum(m1, "palyra_operator_nodejs_external_memory_bytes"))}`,
  );
  console.log(
    `  CPU while converging (2 cores): operator ${cpus.operator.toFixed(1)} s, kube-apiserver ${cpus.apiserver.toFixed(1)} s, etcd ${cpus.etcd.toFixed(1)} s -> busiest: ${Object.entries(cpus).sort((a, b) => b[1] - a[1])[0]?.[0]}`,
  );

  // Settled: 30 s later, with no work left, V8's memory reducer has returned what it can.
  await new Promise((r) => setTimeout(r, 30_000));
  const m2 = await scrape(port);
  const rssSettled = sum(m2, "palyra_operator_process_resident_memory_bytes");
  console.log(
    `  settled (30 s later): RSS ${MiB(rssSettled)} (target <= 200 MiB: ${ok(rssSettled <= RSS_TARGET)}), heap used ${MiB(sum(m2, "palyra_operator_nodejs_heap_size_used_bytes"))} of ${MiB(sum(m2, "palyra_operator_nodejs_heap_size_total_bytes"))}`,
  );

  if (SOAK_S > 0) {
    // Steady churn: creates, spec updates and deletes of the Skills beyond N, at SOAK_RATE/s.
    let nextId = N;
    const live: number[] = [];
    const samples: { t: number; heap: number; rss: number; cache: number; depth: number }[] = [];
    const sample = async (t: number) => {
      const m = await scrape(port);
      samples.push({
        t,
        heap: sum(m, "palyra_operator_nodejs_heap_size_used_bytes"),
        rss: sum(m, "palyra_operator_process_resident_memory_bytes"),
        cache: sum(m, "palyra_artifact_cache_entries"),
        depth: sum(m, "palyra_workqueue_depth"),
      });
    };
    const soakStart = performance.now();
    await sample(0);
    let ops = 0;
    let failures = 0;
    const failureKinds = new Set<string>();
    const sampler = setInterval(
      () => void sample((performance.now() - soakStart) / 1000).catch(() => undefined),
      Math.max(1000, (SOAK_S * 1000) / 20),
    );
    while (performance.now() - soakStart < SOAK_S * 1000) {
      const tick = performance.now();
      // Updates and deletes pick from Skills created in earlier batches, never this one's.
      const created: number[] = [];
      const touched = new Set<number>();
      const batch = Array.from({ length: SOAK_RATE }, () => {
        const r = Math.random();
        if (live.length < 50 || r < 0.4) {
          const i = nextId++;
          created.push(i);
          const { ns, body } = skillOf(i);
          return client.request(`${API}/namespaces/${ns}/skills`, { method: "POST", body });
        }
        const at = Math.floor(Math.random() * live.length);
        const i = live[at] as number;
        // One operation per Skill per batch: a patch racing its own delete is not a finding.
        if (touched.has(i)) return Promise.resolve();
        touched.add(i);
        const { ns } = skillOf(i);
        if (r < 0.7) {
          return client.request(`${API}/namespaces/${ns}/skills/skill-${i}`, {
            method: "PATCH",
            contentType: MERGE_PATCH,
            body: { spec: { desiredState: Math.random() < 0.5 ? "Quarantined" : "Enabled" } },
          });
        }
        live.splice(at, 1);
        return client.request(`${API}/namespaces/${ns}/skills/skill-${i}`, { method: "DELETE" });
      });
      const results = await Promise.allSettled(batch);
      live.push(...created);
      ops += results.length;
      for (const r of results) {
        if (r.status !== "rejected") continue;
        failures++;
        const why = String((r.reason as Error).message).slice(0, 160);
        if (failureKinds.size < 5) failureKinds.add(why);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (performance.now() - tick))));
    }
    clearInterval(sampler);
    // Drained: every remaining Skill reconciled (Enabled unless manually quarantined).
    await new Promise((r) => setTimeout(r, 3000));
    await sample((performance.now() - soakStart) / 1000);
    const first = samples[0];
    const half = samples.slice(Math.floor(samples.length / 2));
    const last = samples[samples.length - 1];
    if (first && last) {
      if (last.depth !== 0 || Math.max(...samples.map((s) => s.cache)) > M) process.exitCode = 1;
      const maxFirstHalf = Math.max(
        ...samples.slice(0, Math.ceil(samples.length / 2)).map((s) => s.heap),
      );
      const maxSecondHalf = Math.max(...half.map((s) => s.heap));
      console.log(
        `  soak: ${ops} operations (${failures} refused by the API server${failureKinds.size ? `, e.g. ${[...failureKinds].join(" | ")}` : ""}) over ${SOAK_S} s at ${SOAK_RATE}/s; ${live.length} churned Skills alive at the end`,
      );
      console.log(
        `    heap used ${MiB(first.heap)} -> ${MiB(last.heap)} (peak first half ${MiB(maxFirstHalf)}, second half ${MiB(maxSecondHalf)}: ${ok(maxSecondHalf <= maxFirstHalf * 1.15 + 8 * 1024 * 1024)} no growth beyond 15% + 8 MiB)`,
      );
      console.log(
        `    RSS ${MiB(first.rss)} -> ${MiB(last.rss)} (target <= 200 MiB: ${ok(Math.max(...samples.map((s) => s.rss)) <= RSS_TARGET)})`,
      );
      console.log(
        `    artifact cache entries ${first.cache} -> ${last.cache} (bounded by ${M} distinct artifacts: ${ok(Math.max(...samples.map((s) => s.cache)) <= M)}); queue depth at the end ${last.depth} (${ok(last.depth === 0)} drained)`,
      );
    }
  }
  await watcher.stop();
  client.close();
} finally {
  if (operator && operator.exitCode === null) operator.kill("SIGKILL");
  await server.stop();
  await plane.stop();
}
