/**
 * npm run bench:oci [-- --skills N --artifacts M --namespaces K --rounds R
 *                       --auth token|basic|none --no-anonymous --concurrency C]
 * Issue 19's acceptance: N Skills (default 1,000) over M artifacts (default 10) from an OCI
 * registry converge within 1.2x of the same Skills over the HTTPS source, in the same run, and
 * the artifacts fetched are the distinct digests (M). Each figure is printed beside its bound;
 * the exit code is 1 when one is broken.
 *
 * One real local kube-apiserver (CRDs, a default SkillTrustPolicy, a trust store, as
 * bench:controller), the CNCF distribution registry (hack/registry, TLS with its own CA) on
 * 127.0.0.2 with bearer-token auth by default (the realistic and the most expensive case: a
 * token service, a pull Secret per namespace), and the HTTPS artifact server (hack/dev) on
 * 127.0.0.2, both holding the same M signed artifacts; in the registry one repository per
 * artifact (skills/echo-<i>:1.0.<i>: a token scope each), pushed in-process with pushSkill (what
 * palyra-skill push runs).
 *
 * The N Skills are spread over K namespaces (default 10, 100 Skills each; bench:controller puts
 * all in one): Skill i is in namespace bench-<floor(i*K/N)> and names artifact i mod M, so every
 * namespace references every artifact. Phases, alternated in rounds (url, oci, oci-anonymous,
 * url, oci, ...; default 3 rounds, compared by their medians):
 *   url            spec.source.url + caBundle (the artifact server's CA)
 *   oci            spec.source.oci: the reference by tag, caBundle = the registry's CA, and a
 *                  pullSecretRef to a kubernetes.io/dockerconfigjson Secret in each namespace with
 *                  the registry user's credentials (token and basic auth)
 *   oci-anonymous  the same against a second registry without auth and no pull Secret (its time
 *                  reported, not bounded; its fetches checked too; --no-anonymous skips it)
 * Each phase applies its N Skills while no operator runs, starts a fresh operator process (a
 * Lease of its own; --source-allowed-cidrs=127.0.0.2/32, as sources on loopback are refused
 * otherwise) and times operator start -> all N Enabled; then reads the operator's /metrics, kills
 * it, and removes the Skills (finalizers stripped) before the next phase.
 *
 * The bounds: median(oci) <= 1.2 x median(url), both from this run; fetches = distinct digests:
 * the url phase's artifact fetches, the oci phases' blob downloads (GET /v2/.../blobs/ answered
 * 200 in the registry's log, and palyra_artifact_fetch_bytes_total{source="oci"} = the M
 * artifacts' bytes, i.e. each downloaded once) and every phase's verifications, all equal to M.
 * Convergence is mostly the API server's status writes, so other work on the machine moves it:
 * each phase prints the load average it started at, and each round's oci / url ratio is printed
 * beside the medians' for reference.
 *
 * What else an OCI source costs, and why it is printed: the loader resolves every OCI source key
 * once per refresh, and an OCI key is per namespace (reference + CA + the namespace's pull Secret,
 * or without one its default ServiceAccount's imagePullSecrets: a resolution made with one
 * namespace's credentials is never shared), so K namespaces make K x M manifest resolutions, each
 * with an API read of the pull Secret (or of the default ServiceAccount), for only M blob
 * downloads (a digest verified already is not downloaded again).
 * palyra_artifact_fetches_total{source="oci"} counts those resolutions (K x M), not downloads.
 * Manifest and blob requests (and their 401 challenges) are counted from the registry's log,
 * token requests at the token server; the OCI client and the https source open a TLS connection
 * per request (no keep-alive), so these counts are also the TLS handshakes.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { startControlPlane } from "../hack/control-plane/launcher.ts";
import { ARTIFACT_HOST, ArtifactServer } from "../hack/dev/artifact-server.ts";
import { type SkillArtifact, skillArtifact } from "../hack/dev/artifacts.ts";
import {
  type RegistryAuth,
  type RunningRegistry,
  startRegistry,
} from "../hack/registry/launcher.ts";
import type { Skill } from "../src/api/v1alpha1/types.generated.ts";
import { inspectArtifactAsync } from "../src/artifact/verify.ts";
import { KubeClient, MERGE_PATCH } from "../src/kube/client.ts";
import { Informer } from "../src/kube/informer.ts";
import { KubeConfig } from "../src/kube/kubeconfig.ts";
import { OPERATOR_NODE_FLAGS } from "../src/operator/runtime.ts";
import { AddressPolicy } from "../src/sources/address-policy.ts";
import { TokenCache } from "../src/sources/oci/client.ts";
import { pushSkill } from "../src/sources/oci/publish.ts";
import { parseOciReference } from "../src/sources/oci/reference.ts";
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
    namespaces: { type: "string" },
    rounds: { type: "string" },
    concurrency: { type: "string" },
    auth: { type: "string" },
    "no-anonymous": { type: "boolean" },
  },
});
const N = Number(values.skills ?? 1000);
const M = Number(values.artifacts ?? 10);
const K = Number(values.namespaces ?? 10);
const ROUNDS = Number(values.rounds ?? 3);
const CONCURRENCY = Number(values.concurrency ?? 16);
const AUTH = (values.auth ?? "token") as RegistryAuth;
const ANONYMOUS = !values["no-anonymous"] && AUTH !== "none";
const BOUND = 1.2;
const CONVERGE_TIMEOUT_MS = 90_000;
const PULL_SECRET = "registry-pull";
if (![N, M, K, ROUNDS, CONCURRENCY].every((n) => Number.isInteger(n) && n > 0) || K > N)
  throw new Error(
    "--skills, --artifacts, --namespaces, --rounds, --concurrency: positive integers",
  );
if (!["none", "basic", "token"].includes(AUTH)) throw new Error("--auth: none, basic or token");

type PhaseKind = "url" | "oci" | "oci-anonymous";

interface RegistryCounts {
  manifests200: number;
  manifests401: number;
  blobs200: number;
  blobs401: number;
  /** Distinct digests among the blobs answered 200. */
  distinctBlobs: number;
  other: number;
}

interface PhaseResult {
  kind: PhaseKind;
  round: number;
  /** The 1-minute load average when the operator started (other work on the machine). */
  load: number;
  applyMs: number;
  convergeMs: number;
  readyMs: number;
  firstMs: number;
  enabled: number;
  fetches: number;
  fetchErrors: number;
  fetchBytes: number;
  verifications: number;
  writes: number;
  operatorCpu: number;
  apiserverCpu: number;
  /** The registry process's CPU (and the token server's, in this process) while converging. */
  sourceCpu: number;
  /** The artifact server's requests (url) or the registry's, from its log (oci). */
  serverRequests: number;
  registry?: RegistryCounts;
  tokens?: number;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const namespaceOf = (i: number) => `bench-${Math.floor((i * K) / N)}`;
const namespaces = Array.from({ length: K }, (_, k) => `bench-${k}`);
const indexes = Array.from({ length: N }, (_, i) => i);

const children = new Set<ChildProcess>();
let plane: Awaited<ReturnType<typeof startControlPlane>> | undefined;
const server = new ArtifactServer();
const registries: RunningRegistry[] = [];
let stopping: Promise<void> | undefined;
/** Stops everything this run started (idempotent): on success, failure and Ctrl-C. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await server.stop().catch(() => undefined);
    await Promise.all(registries.map((r) => r.stop().catch(() => undefined)));
    await plane?.stop().catch(() => undefined);
  })();
  return stopping;
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the operator, the registry and the control plane`);
    stopAll().finally(() => process.exit(130));
  });
}

/** CPU seconds of a process and its children (the registry runs under a watchdog shell). */
function treeCpu(pid: number): number {
  let total = 0;
  try {
    total += cpuSeconds(pid);
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    for (const kid of kids ? kids.split(" ") : []) total += treeCpu(Number(kid));
  } catch {
    // gone
  }
  return total;
}

/** Registry requests in a slice of its log, by kind and answer (401: a challenge). */
function registryCounts(log: string): RegistryCounts {
  const c = {
    manifests200: 0,
    manifests401: 0,
    blobs200: 0,
    blobs401: 0,
    distinctBlobs: 0,
    other: 0,
  };
  const blobs = new Set<string>();
  for (const line of log.split("\n")) {
    const uri = /http\.request\.uri="?([^ "]+)/.exec(line)?.[1];
    if (!uri) continue;
    const kind = uri.includes("/manifests/") ? "manifests" : uri.includes("/blobs/") ? "blobs" : "";
    if (line.includes('msg="error authorizing context')) {
      if (kind) c[`${kind}401`]++;
      else c.other++;
    } else if (line.includes('msg="response completed')) {
      const status = /http\.response\.status=(\d+)/.exec(line)?.[1];
      if (kind && status === "200") c[`${kind}200`]++;
      else c.other++;
      if (kind === "blobs" && status === "200") blobs.add(uri);
    }
  }
  c.distinctBlobs = blobs.size;
  return c;
}

try {
  const started = performance.now();
  plane = await startControlPlane();
  const kc = new KubeConfig();
  kc.loadFromFile(plane.kubeconfig);
  const client = await KubeClient.fromKubeConfig(kc);
  await installCrds(client);
  for (const name of ["palyra-system", ...namespaces]) {
    await client.request("/api/v1/namespaces", {
      method: "POST",
      body: { metadata: { name, labels: { bench: name === "palyra-system" ? name : "bench" } } },
    });
  }
  await createEmptyTrustStore(client);

  // The same M artifacts on the artifact server and in the registry(s).
  const artifacts: SkillArtifact[] = Array.from({ length: M }, (_, i) =>
    skillArtifact({ version: `1.0.${i}` }),
  );
  const artifactBytes = artifacts.reduce((n, a) => n + a.bytes.length, 0);
  await server.start();
  const urls = artifacts.map((a, i) => server.put(`echo-${i}.palyra-skill`, a.bytes));
  const [registry, anonymous] = await Promise.all([
    startRegistry({ auth: AUTH, listenHost: ARTIFACT_HOST }),
    ANONYMOUS ? startRegistry({ auth: "none", listenHost: ARTIFACT_HOST }) : undefined,
  ]);
  registries.push(registry, ...(anonymous ? [anonymous] : []));
  const repository = (i: number) => `skills/echo-${i}:1.0.${i}`;
  for (const r of registries) {
    const tokens = new TokenCache();
    for (const [i, a] of artifacts.entries()) {
      const inspected = await inspectArtifactAsync(a.bytes);
      const m = inspected.manifest;
      await pushSkill(
        parseOciReference(`${r.host}/${repository(i)}`),
        a.bytes,
        {
          skillId: m.skill_id,
          version: m.version,
          publisher: m.publisher,
          keyId: inspected.keyId,
          payloadSha256: inspected.payloadSha256,
        },
        {
          title: `echo-${i}.palyra-skill`,
          caBundlePem: r.caPem,
          addressPolicy: new AddressPolicy({ allow: [`${ARTIFACT_HOST}/32`] }),
          ...(r.auth === "none" ? {} : { credentials: r.users }),
          tokens,
        },
      );
    }
  }
  if (AUTH !== "none") {
    const auth = Buffer.from(`${registry.users.username}:${registry.users.password}`).toString(
      "base64",
    );
    const dockerConfig = JSON.stringify({ auths: { [registry.host]: { auth } } });
    for (const ns of namespaces) {
      await client.request(`/api/v1/namespaces/${ns}/secrets`, {
        method: "POST",
        body: {
          metadata: { name: PULL_SECRET },
          type: "kubernetes.io/dockerconfigjson",
          data: { ".dockerconfigjson": Buffer.from(dockerConfig).toString("base64") },
        },
      });
    }
  }
  await createAcmePolicy(client, artifacts[0]?.publicKeyHex ?? "");

  console.error(
    `  setup (control plane, registries, ${M} artifacts pushed): ${s(performance.now() - started)}`,
  );

  const sourceOf = (kind: PhaseKind, i: number) => {
    const a = i % M;
    if (kind === "url") return { url: urls[a], caBundle: server.caBundle };
    const r = kind === "oci" ? registry : (anonymous as RunningRegistry);
    return {
      oci: {
        reference: `${r.host}/${repository(a)}`,
        caBundle: Buffer.from(r.caPem).toString("base64"),
        ...(r.auth === "none" ? {} : { pullSecretRef: { name: PULL_SECRET } }),
      },
    };
  };

  let phaseNumber = 0;
  async function phase(kind: PhaseKind, round: number, last: boolean): Promise<PhaseResult> {
    phaseNumber++;
    const r = kind === "oci" ? registry : kind === "oci-anonymous" ? anonymous : undefined;
    const applyStart = performance.now();
    await pool(indexes, CONCURRENCY, (i) =>
      client.request(`${API}/namespaces/${namespaceOf(i)}/skills`, {
        method: "POST",
        body: {
          apiVersion: "skills.palyra.dev/v1alpha1",
          kind: "Skill",
          metadata: { name: `skill-${i}` },
          spec: { skillId: "acme.echo_http", publisher: "acme", source: sourceOf(kind, i) },
        },
      }),
    );
    const applyMs = performance.now() - applyStart;

    const watcher = new Informer<Skill>(client, { name: "bench", path: `${API}/skills` });
    let enabled = 0;
    let firstMs = 0;
    let start = 0;
    const timeline: string[] = [];
    const seen = new Map<string, boolean>();
    let converged: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      converged = resolve;
    });
    watcher.on((type, skill) => {
      const key = `${skill.metadata.namespace}/${skill.metadata.name}`;
      const now = type !== "delete" && skill.status?.state === "Enabled";
      if (now !== (seen.get(key) ?? false)) enabled += now ? 1 : -1;
      if (now && firstMs === 0 && start > 0) firstMs = performance.now() - start;
      seen.set(key, now);
      if (start > 0 && now && enabled % Math.ceil(N / 10) === 0)
        timeline.push(((performance.now() - start) / 1000).toFixed(1));
      if (enabled === N) converged();
    });
    watcher.start();
    await watcher.waitForSync();

    const logBefore = r?.log().length ?? 0;
    const tokensBefore = r?.tokenServer?.grants.length ?? 0;
    const serverBefore = server.requests;
    const sourcePid = r ? r.pid : process.pid;
    const sourceCpu0 = r ? treeCpu(sourcePid) : 0;
    const apiserverCpu0 = cpuSeconds(plane?.pids.apiserver ?? 0);
    const load = loadavg()[0] ?? 0;
    start = performance.now();
    const operator = spawn(
      process.execPath,
      [
        ...OPERATOR_NODE_FLAGS,
        new URL("../src/operator/main.ts", import.meta.url).pathname,
        "--kubeconfig",
        plane?.kubeconfig ?? "",
        `--source-allowed-cidrs=${ARTIFACT_HOST}/32`,
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--log-level",
        "info",
        "--concurrency",
        String(CONCURRENCY),
        // A Lease of its own: the previous phase's operator never delays this one's start.
        "--leader-elect-lease-name",
        `palyra-bench-oci-${phaseNumber}`,
        ...(process.env.BENCH_OPERATOR_ARGS ?? "").split(" ").filter(Boolean),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.add(operator);
    const exited = new Promise<void>((resolve) => operator.once("exit", () => resolve()));
    let port = 0;
    let readyMs = 0;
    let pending = "";
    operator.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (line.includes('"msg":"operator started"')) readyMs = performance.now() - start;
        const m = /"address":"127\.0\.0\.1:(\d+)"/.exec(line);
        if (m) port = Number(m[1]);
        else if (line.includes('"level":"error"') || line.includes("artifact fetch failed"))
          process.stderr.write(`${line}\n`);
      }
    });
    const timeout = setTimeout(converged, CONVERGE_TIMEOUT_MS);
    await Promise.race([done, exited]);
    clearTimeout(timeout);
    const convergeMs = performance.now() - start;
    const apiserverCpu = cpuSeconds(plane?.pids.apiserver ?? 0) - apiserverCpu0;
    const sourceCpu = r ? treeCpu(sourcePid) - sourceCpu0 : 0;
    await watcher.stop();
    if (operator.exitCode !== null) throw new Error(`the operator exited (${operator.exitCode})`);
    if (port === 0) throw new Error("could not read the operator's metrics port");
    const metrics = await scrape(port);
    // SIGKILL: a graceful stop drains the Event backlog (20 writes/s) for many seconds, and
    // nothing of this operator is needed after its metrics (its Lease is its own).
    operator.kill("SIGKILL");
    await exited;
    children.delete(operator);

    const source = kind === "url" ? "url" : "oci";
    const result: PhaseResult = {
      kind,
      round,
      load,
      applyMs,
      convergeMs,
      readyMs,
      firstMs,
      enabled,
      fetches: sum(metrics, "palyra_artifact_fetches_total", { source, result: "success" }),
      fetchErrors: sum(metrics, "palyra_artifact_fetches_total", { source, result: "error" }),
      fetchBytes: sum(metrics, "palyra_artifact_fetch_bytes_total", { source }),
      verifications: sum(metrics, "palyra_skill_verifications_total"),
      writes: sum(metrics, "palyra_status_writes_total"),
      operatorCpu: sum(metrics, "palyra_operator_process_cpu_seconds_total"),
      apiserverCpu,
      sourceCpu,
      serverRequests: server.requests - serverBefore,
    };
    if (r) {
      result.registry = registryCounts(r.log().slice(logBefore));
      result.serverRequests =
        result.registry.manifests200 +
        result.registry.manifests401 +
        result.registry.blobs200 +
        result.registry.blobs401 +
        result.registry.other;
      if (r.tokenServer) result.tokens = r.tokenServer.grants.length - tokensBefore;
    }

    // The next phase starts from no Skills: finalizers stripped (no operator runs), then deleted.
    const cleanupStart = performance.now();
    if (!last) {
      await pool(indexes, CONCURRENCY, (i) =>
        client.request(`${API}/namespaces/${namespaceOf(i)}/skills/skill-${i}`, {
          method: "PATCH",
          contentType: MERGE_PATCH,
          body: { metadata: { finalizers: null } },
        }),
      );
      for (const ns of namespaces)
        await client.request(`${API}/namespaces/${ns}/skills`, { method: "DELETE" });
      while ((await client.request<{ items: unknown[] }>(`${API}/skills`)).items.length > 0)
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    console.error(
      `  [round ${round}] ${kind}: converged in ${s(convergeMs)} (${enabled}/${N} Enabled); Enabled by tenths at ${timeline.join(" ")} s; apply ${s(applyMs)}, cleanup ${s(performance.now() - cleanupStart)}`,
    );
    return result;
  }

  const kinds: PhaseKind[] = ["url", "oci", ...(ANONYMOUS ? (["oci-anonymous"] as const) : [])];
  const results: PhaseResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const kind of kinds) {
      results.push(await phase(kind, round, round === ROUNDS && kind === kinds.at(-1)));
    }
  }
  client.close();

  // The report.
  const ok = (cond: boolean) => (cond ? "ok" : "MISSED");
  const median = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(v.length / 2);
    return v.length % 2 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
  };
  const of = (kind: PhaseKind) => results.filter((r) => r.kind === kind);
  const med = (kind: PhaseKind) => median(of(kind).map((r) => r.convergeMs));
  let failed = false;
  const check = (cond: boolean) => {
    if (!cond) failed = true;
    return ok(cond);
  };

  console.log(
    `oci: ${N} Skills over ${M} artifacts in ${K} namespaces (${N / K} Skills each), operator concurrency ${CONCURRENCY}, ${ROUNDS} round(s); registry auth ${AUTH} (CNCF distribution on ${ARTIFACT_HOST}, one repository per artifact)`,
  );
  for (const r of results) {
    console.log(
      `  round ${r.round} ${r.kind.padEnd(13)} converged (operator start -> all Enabled) ${s(r.convergeMs)} (all ${N} Enabled: ${check(r.enabled === N)}${r.enabled === N ? "" : `, only ${r.enabled}`}); caches synced ${s(r.readyMs)}, first Enabled ${s(r.firstMs)}; apply ${s(r.applyMs)}; load average ${r.load.toFixed(1)}`,
    );
    console.log(
      `      CPU: operator ${r.operatorCpu.toFixed(2)} s (incl. start), kube-apiserver ${r.apiserverCpu.toFixed(2)} s${r.registry ? `, registry${r.tokens !== undefined ? " + token server" : ""} ${r.sourceCpu.toFixed(2)} s` : ""}; status writes ${r.writes}`,
    );
    if (r.kind === "url") {
      console.log(
        `      artifact fetches ${r.fetches} (errors ${r.fetchErrors}), artifact-server requests ${r.serverRequests}, verifications ${r.verifications}`,
      );
    } else {
      const g = r.registry as RegistryCounts;
      console.log(
        `      resolutions (palyra_artifact_fetches_total{source="oci"}) ${r.fetches} (errors ${r.fetchErrors}); registry requests ${r.serverRequests}: manifests ${g.manifests200} (+${g.manifests401} 401 challenges), blobs ${g.blobs200} of ${g.distinctBlobs} digests (+${g.blobs401} 401), other ${g.other}${r.tokens !== undefined ? `; token requests ${r.tokens}` : ""}`,
      );
    }
  }
  console.log(`  fetches = distinct digests (${M}):`);
  for (const r of results) {
    const downloads = r.kind === "url" ? r.fetches : (r.registry?.blobs200 ?? -1);
    const bytesOk = r.kind === "url" || r.fetchBytes === artifactBytes;
    const dup = r.registry && r.registry.blobs200 > r.registry.distinctBlobs;
    console.log(
      `    round ${r.round} ${r.kind.padEnd(13)} downloads ${downloads}, verifications ${r.verifications}${r.kind === "url" ? "" : `, blob bytes ${r.fetchBytes} (the ${M} artifacts: ${artifactBytes})`}: ${check(downloads === M && r.verifications === M && bytesOk)}${dup ? ` (${(r.registry?.blobs200 ?? 0) - (r.registry?.distinctBlobs ?? 0)} blob(s) downloaded again: same digest, concurrent resolutions in other namespaces)` : ""}`,
    );
  }
  const url = med("url");
  const oci = med("oci");
  const medCpu = (kind: PhaseKind) => median(of(kind).map((r) => r.operatorCpu)).toFixed(2);
  console.log(
    `  median convergence: url ${s(url)}, oci ${s(oci)} -> ratio ${(oci / url).toFixed(2)}x (bound <= ${BOUND}x: ${check(oci <= BOUND * url)}); operator CPU url ${medCpu("url")} s, oci ${medCpu("oci")} s`,
  );
  // Each round's oci against the url run just before it (the load of the machine drifts).
  const paired = of("oci").map((r, i) => r.convergeMs / (of("url")[i]?.convergeMs ?? Number.NaN));
  console.log(
    `  per round, oci / url: ${paired.map((x) => `${x.toFixed(2)}x`).join(" ")} (median ${median(paired).toFixed(2)}x, for reference)`,
  );
  if (ANONYMOUS) {
    const anon = med("oci-anonymous");
    console.log(
      `  (reported, not bounded) oci-anonymous ${s(anon)} -> ratio ${(anon / url).toFixed(2)}x; operator CPU ${medCpu("oci-anonymous")} s`,
    );
  }
  const first = of("oci")[0];
  console.log(
    `  per refresh: ${first?.fetches} OCI resolutions (${K} namespaces x ${M} references: OCI keys are per namespace) and ${first?.tokens ?? 0} token requests for ${M} distinct blobs; ${M} URL fetches`,
  );
  console.log(`  wall time ${s(performance.now() - started)}`);
  if (failed) process.exitCode = 1;
} finally {
  await stopAll();
}
