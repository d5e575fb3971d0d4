/**
 * What every cluster command shares: kubectl's connection flags (--kubeconfig, --context,
 * -n/--namespace; KUBECONFIG and in-cluster as kubectl finds them), -o table|json|yaml, a
 * client, and API errors turned into one-line, typed CLI errors.
 */

import { stringify } from "yaml";
import { KubeApiError, KubeClient } from "../../kube/client.ts";
import { KubeConfig } from "../../kube/kubeconfig.ts";
import { ClusterError, UsageError } from "../cli-error.ts";

export const CLUSTER_FLAGS = {
  kubeconfig: { type: "string" },
  context: { type: "string" },
  namespace: { type: "string", short: "n" },
  as: { type: "string" },
  "as-group": { type: "string", multiple: true },
  output: { type: "string", short: "o", default: "table" },
} as const;

export interface ClusterFlagValues {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
  as?: string | undefined;
  "as-group"?: string[] | undefined;
  output?: string | undefined;
}

export type OutputFormat = "table" | "json" | "yaml";

export interface Cluster {
  client: KubeClient;
  namespace: string;
  output: OutputFormat;
}

export async function connect(values: ClusterFlagValues): Promise<Cluster> {
  const output = values.output ?? "table";
  if (output !== "table" && output !== "json" && output !== "yaml") {
    throw new UsageError(`-o must be table, json or yaml (got ${JSON.stringify(output)})`);
  }
  const config = new KubeConfig();
  try {
    if (values.kubeconfig) config.loadFromFile(values.kubeconfig);
    else config.loadFromDefault();
  } catch (error) {
    throw new UsageError(`kubeconfig: ${(error as Error).message}`, "IO_ERROR");
  }
  if (values.context !== undefined) {
    if (!config.contexts.some((c) => c.name === values.context)) {
      throw new UsageError(`kubeconfig has no context ${JSON.stringify(values.context)}`);
    }
    config.currentContext = values.context;
  }
  if (!config.getCurrentCluster()) {
    throw new UsageError("no cluster to talk to: set KUBECONFIG, --kubeconfig or --context");
  }
  // kubectl's --as / --as-group: act as another identity (the credentials must allow it).
  const user = config.getCurrentUser();
  if (values["as-group"]?.length && values.as === undefined) {
    throw new UsageError("--as-group needs --as");
  }
  if (values.as !== undefined && user) {
    user.as = values.as;
    user.asGroups = values["as-group"] ?? [];
  }
  const client = await KubeClient.fromKubeConfig(config);
  const namespace = values.namespace ?? config.getCurrentContext()?.namespace ?? "default";
  return { client, namespace, output };
}

/** Runs `fn` with a connected client; API and network failures become ClusterErrors. */
export async function withCluster<T>(
  values: ClusterFlagValues,
  fn: (cluster: Cluster) => Promise<T>,
): Promise<T> {
  const cluster = await connect(values);
  try {
    return await fn(cluster);
  } catch (error) {
    throw asClusterError(error);
  } finally {
    cluster.client.close();
  }
}

export function asClusterError(error: unknown): unknown {
  if (error instanceof KubeApiError) {
    // The API server's own words; the method, path and status are noise on a command line.
    const message = error.message.replace(/^[A-Z]+ \S+: \d+ [^:]*: /, "");
    if (error.status === 404) return new ClusterError(message, "NOT_FOUND");
    if (error.status === 409) return new ClusterError(message, "CONFLICT");
    if (error.status === 403) {
      // An admission webhook's denial arrives as 403 too; say which it was.
      return new ClusterError(message, /admission webhook/.test(message) ? "DENIED" : "FORBIDDEN");
    }
    return new ClusterError(message, "KUBE_API_ERROR");
  }
  const code = (error as { code?: string })?.code;
  if (
    typeof code === "string" &&
    /^(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET)$/.test(code)
  ) {
    return new ClusterError(
      `cannot reach the API server: ${(error as Error).message}`,
      "UNREACHABLE",
    );
  }
  return error;
}

/** Prints `document` as JSON or YAML; returns false when the format is table (caller prints). */
export function printDocument(output: OutputFormat, document: unknown): boolean {
  if (output === "json") process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  else if (output === "yaml") process.stdout.write(stringify(document));
  else return false;
  return true;
}

/** Left-aligned columns, kubectl style (two spaces between columns, upper-case headers). */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}
