/**
 * The operator as a real process against the test control plane: started from
 * bin/palyra-skills-operator.mjs, the container image's entry point (it re-executes itself with
 * the operator's Node flags), with the cluster's kubeconfig, its JSON logs collected, ready once
 * /readyz answers 200, stopped with SIGTERM (and its exit code checked by the caller).
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { get } from "node:http";
import { ARTIFACT_HOST } from "../../hack/dev/artifact-server.ts";
import { chartIdentity } from "./chart.ts";
import { testCluster } from "./kube.ts";

// The image's entry point (Dockerfile CMD): tests run exactly what the container runs.
const ENTRY = new URL("../../bin/palyra-skills-operator.mjs", import.meta.url).pathname;
// Each test file (a process of its own) elects on its own Lease, so an operator that a file
// left holding a lease never stalls the next file's operators.
const LEASE = `palyra-test-${process.pid}-${randomBytes(3).toString("hex")}`;

export interface RunningOperator {
  process: ChildProcess;
  port: number;
  /** The admission webhook's port, when started with --webhook-bind-address. */
  webhookPort: number;
  logs: Record<string, unknown>[];
  stderr: string[];
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  metrics(): Promise<string>;
  /** GET on the metrics/health port. */
  get(path: string): Promise<{ status: number; body: string }>;
  /** SIGKILL: no shutdown, no lease release. */
  kill(): Promise<void>;
  /** The value of one metric sample (summed over labels matching `labels`). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

export async function startOperator(
  args: string[] = [],
  kubeconfig = testCluster().kubeconfig,
): Promise<RunningOperator> {
  const child = spawn(
    process.execPath,
    [
      ENTRY,
      "--kubeconfig",
      kubeconfig,
      "--metrics-bind-address",
      "127.0.0.1:0",
      "--log-level",
      "debug",
      "--namespace",
      "palyra-system",
      // Only the tests' artifact servers: the API server (127.0.0.1) stays out of reach.
      `--source-allowed-cidrs=${ARTIFACT_HOST}/32`,
      ...(args.some((a) => a.startsWith("--leader-elect"))
        ? []
        : ["--leader-elect-lease-name", LEASE]),
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  let pending = "";
  let portFound: (port: number) => void = () => {};
  const portPromise = new Promise<number>((resolve) => {
    portFound = resolve;
  });
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        const record = JSON.parse(line) as Record<string, unknown>;
        logs.push(record);
        if (record.msg === "metrics and health endpoints listening") {
          portFound(Number(String(record.address).split(":").pop()));
        }
      } catch {
        stderr.push(`non-JSON stdout: ${line}`);
      }
    }
  });
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (c: string) => stderr.push(c));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));

  const port = await Promise.race([
    portPromise,
    exited.then((code) => {
      throw new Error(`operator exited (${code}) before listening: ${stderr.join("")}`);
    }),
  ]);
  const deadline = Date.now() + 30_000;
  while ((await httpGet(port, "/readyz").catch(() => ({ status: 0 }))).status !== 200) {
    if (Date.now() > deadline) throw new Error(`operator not ready: ${stderr.join("")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const metrics = async () => (await httpGet(port, "/metrics")).body;
  const webhookLog = logs.find((l) => l.msg === "webhook listening");
  const webhookPort = webhookLog ? Number(String(webhookLog.address).split(":").pop()) : 0;
  return {
    process: child,
    port,
    webhookPort,
    logs,
    stderr,
    metrics,
    async metric(name, labels = {}) {
      let total = 0;
      for (const line of (await metrics()).split("\n")) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const l = m[2] ?? "";
        if (Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
          total += Number(m[3]);
      }
      return total;
    },
    get: (path) => httpGet(port, path),
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/**
 * The operator as the chart installs it: the rendered Deployment's flags and a token of the
 * chart's ServiceAccount, so every request it makes is authorized by the chart's RBAC alone.
 */
export async function startChartOperator(args: string[] = []): Promise<RunningOperator> {
  const identity = await chartIdentity();
  return startOperator([...identity.args, ...args], identity.kubeconfig);
}

/** Requests the API server refused as forbidden: the chart's RBAC missed something if > 0. */
export function forbiddenRequests(op: RunningOperator): Promise<number> {
  return op.metric("palyra_kube_api_requests_total", { code: "403" });
}
