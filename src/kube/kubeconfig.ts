/**
 * Kubeconfig files and in-cluster service accounts, read the way kubectl reads them, with the
 * subset of client-node's KubeConfig surface this project uses. Our own because loading
 * @kubernetes/client-node costs the operator about 85 MB of resident memory and 25 MB of heap
 * (its generated API models), more than 10,000 Skills do; this file needs none of it.
 *
 * Supported: current-context, a cluster's server / certificate-authority(-data) /
 * insecure-skip-tls-verify / tls-server-name, a user's token / tokenFile /
 * client-certificate(-data) / client-key(-data) / username+password / exec plugin
 * (client.authentication.k8s.io ExecCredential), relative paths against the file's directory,
 * KUBECONFIG (first existing file of the list), ~/.kube/config, and in-cluster configuration.
 * Not supported (a clear error): legacy auth-provider plugins.
 */

import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import type { RequestOptions } from "node:https";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";

export interface Cluster {
  name: string;
  server: string;
  caData?: string;
  caFile?: string;
  skipTLSVerify?: boolean;
  tlsServerName?: string;
}

export interface ExecConfig {
  command: string;
  args?: string[];
  env?: { name: string; value: string }[];
  apiVersion?: string;
}

export interface User {
  name: string;
  token?: string;
  tokenFile?: string;
  certData?: string;
  certFile?: string;
  keyData?: string;
  keyFile?: string;
  username?: string;
  password?: string;
  exec?: ExecConfig;
  authProvider?: unknown;
  /** Impersonation (kubectl's --as / --as-group / --as-uid, kubeconfig `as`, `as-groups`, `as-uid`). */
  as?: string;
  asGroups?: string[];
  asUid?: string;
}

export interface Context {
  name: string;
  cluster: string;
  user: string;
  namespace?: string;
}

export interface KubeConfigOptions {
  clusters: Cluster[];
  users: User[];
  contexts: Context[];
  currentContext: string;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

type Raw = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

export class KubeConfig {
  clusters: Cluster[] = [];
  users: User[] = [];
  contexts: Context[] = [];
  currentContext = "";
  #execCache = new Map<string, { token?: string; cert?: string; key?: string; until: number }>();

  loadFromOptions(options: KubeConfigOptions): void {
    this.clusters = options.clusters;
    this.users = options.users;
    this.contexts = options.contexts;
    this.currentContext = options.currentContext;
  }

  loadFromFile(path: string): void {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      throw new Error(`cannot read kubeconfig ${path}: ${(error as Error).message}`);
    }
    this.loadFromString(text, dirname(path));
  }

  /** `base`: the directory relative file paths in the document are resolved against. */
  loadFromString(text: string, base = process.cwd()): void {
    const doc = (parse(text) ?? {}) as Raw;
    if (typeof doc !== "object" || Array.isArray(doc))
      throw new Error("kubeconfig is not a mapping");
    const file = (v: unknown) => {
      const p = str(v);
      return p === undefined ? undefined : isAbsolute(p) ? p : join(base, p);
    };
    const list = (key: string) => (Array.isArray(doc[key]) ? (doc[key] as Raw[]) : []);
    this.clusters = list("clusters").map((entry) => {
      const c = (entry.cluster ?? {}) as Raw;
      return strip<Cluster>({
        name: String(entry.name ?? ""),
        server: String(c.server ?? ""),
        caData: str(c["certificate-authority-data"]),
        caFile: file(c["certificate-authority"]),
        skipTLSVerify: c["insecure-skip-tls-verify"] === true,
        tlsServerName: str(c["tls-server-name"]),
      });
    });
    this.users = list("users").map((entry) => {
      const u = (entry.user ?? {}) as Raw;
      const exec = u.exec as Raw | undefined;
      return strip<User>({
        name: String(entry.name ?? ""),
        token: str(u.token),
        tokenFile: file(u.tokenFile),
        certData: str(u["client-certificate-data"]),
        certFile: file(u["client-certificate"]),
        keyData: str(u["client-key-data"]),
        keyFile: file(u["client-key"]),
        username: str(u.username),
        password: str(u.password),
        exec: exec
          ? strip<ExecConfig>({
              command: String(exec.command ?? ""),
              args: Array.isArray(exec.args) ? exec.args.map(String) : undefined,
              env: Array.isArray(exec.env)
                ? (exec.env as { name: string; value: string }[])
                : undefined,
              apiVersion: str(exec.apiVersion),
            })
          : undefined,
        authProvider: u["auth-provider"],
        as: str(u.as),
        asGroups: Array.isArray(u["as-groups"]) ? u["as-groups"].map(String) : undefined,
        asUid: str(u["as-uid"]),
      });
    });
    this.contexts = list("contexts").map((entry) => {
      const c = (entry.context ?? {}) as Raw;
      return strip<Context>({
        name: String(entry.name ?? ""),
        cluster: String(c.cluster ?? ""),
        user: String(c.user ?? ""),
        namespace: str(c.namespace),
      });
    });
    this.currentContext = String(doc["current-context"] ?? "");
  }

  /** In a Pod: the service account's token and CA, the API server from the environment. */
  loadFromCluster(): void {
    const host = process.env.KUBERNETES_SERVICE_HOST;
    const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
    if (!host) throw new Error("not in a cluster: KUBERNETES_SERVICE_HOST is not set");
    const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
    this.loadFromOptions({
      clusters: [{ name: "in-cluster", server, caFile: join(SA_DIR, "ca.crt") }],
      users: [{ name: "in-cluster", tokenFile: join(SA_DIR, "token") }],
      contexts: [{ name: "in-cluster", cluster: "in-cluster", user: "in-cluster" }],
      currentContext: "in-cluster",
    });
  }

  /** kubectl's order: KUBECONFIG, then ~/.kube/config, then in-cluster. */
  loadFromDefault(): void {
    const fromEnv = (process.env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
    const candidates = fromEnv.length ? fromEnv : [join(homedir(), ".kube", "config")];
    const found = candidates.find((p) => existsSync(p));
    if (found) this.loadFromFile(found);
    else if (process.env.KUBERNETES_SERVICE_HOST) this.loadFromCluster();
    else
      throw new Error(
        `no kubeconfig found (${candidates.join(", ")}) and not running in a cluster; pass --kubeconfig`,
      );
  }

  getCurrentContext(): Context | undefined {
    return this.contexts.find((c) => c.name === this.currentContext);
  }

  getCurrentCluster(): Cluster | undefined {
    const ctx = this.getCurrentContext();
    return ctx ? this.clusters.find((c) => c.name === ctx.cluster) : undefined;
  }

  getCurrentUser(): User | undefined {
    const ctx = this.getCurrentContext();
    return ctx ? this.users.find((u) => u.name === ctx.user) : undefined;
  }

  /** TLS material and credentials for a request, read fresh (tokens and files rotate). */
  async applyToHTTPSOptions(
    opts: RequestOptions & { headers?: Record<string, unknown> },
  ): Promise<void> {
    const cluster = this.getCurrentCluster();
    if (!cluster)
      throw new Error(
        `kubeconfig: context ${JSON.stringify(this.currentContext)} names no cluster`,
      );
    const user = this.getCurrentUser();
    if (cluster.caData) opts.ca = Buffer.from(cluster.caData, "base64");
    else if (cluster.caFile) opts.ca = readFileSync(cluster.caFile);
    if (cluster.skipTLSVerify) opts.rejectUnauthorized = false;
    if (cluster.tlsServerName) opts.servername = cluster.tlsServerName;
    opts.headers ??= {};
    if (!user) return;
    if (user.authProvider) {
      throw new Error(
        `kubeconfig user ${user.name}: auth-provider plugins are not supported; use an exec plugin or a token`,
      );
    }
    if (user.certData) opts.cert = Buffer.from(user.certData, "base64");
    else if (user.certFile) opts.cert = readFileSync(user.certFile);
    if (user.keyData) opts.key = Buffer.from(user.keyData, "base64");
    else if (user.keyFile) opts.key = readFileSync(user.keyFile);
    let token = user.token;
    if (!token && user.tokenFile) token = readFileSync(user.tokenFile, "utf8").trim();
    if (!token && user.exec) {
      const cred = await this.#exec(user.name, user.exec);
      token = cred.token;
      if (cred.cert) opts.cert = cred.cert;
      if (cred.key) opts.key = cred.key;
    }
    if (token) opts.headers.Authorization = `Bearer ${token}`;
    else if (user.username !== undefined && user.password !== undefined) {
      opts.auth = `${user.username}:${user.password}`;
    }
    // Acting as another identity: the API server authorizes every request as that identity
    // (the credentials above must be allowed to `impersonate` it).
    if (user.as !== undefined) {
      opts.headers["Impersonate-User"] = user.as;
      if (user.asGroups?.length) opts.headers["Impersonate-Group"] = user.asGroups;
      if (user.asUid !== undefined) opts.headers["Impersonate-Uid"] = user.asUid;
    } else if (user.asGroups?.length || user.asUid !== undefined) {
      throw new Error(`kubeconfig user ${user.name}: as-groups and as-uid need as (a user name)`);
    }
  }

  async #exec(
    name: string,
    exec: ExecConfig,
  ): Promise<{ token?: string; cert?: string; key?: string }> {
    const cached = this.#execCache.get(name);
    if (cached && cached.until > Date.now()) return cached;
    const env = { ...process.env };
    for (const e of exec.env ?? []) env[e.name] = e.value;
    const apiVersion = exec.apiVersion ?? "client.authentication.k8s.io/v1";
    env.KUBERNETES_EXEC_INFO = JSON.stringify({
      apiVersion,
      kind: "ExecCredential",
      spec: { interactive: false },
    });
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        exec.command,
        exec.args ?? [],
        { env, timeout: 30_000, maxBuffer: 1 << 20 },
        (error, out) =>
          error
            ? reject(new Error(`kubeconfig exec plugin ${exec.command} failed: ${error.message}`))
            : resolve(out),
      );
    });
    let status: Raw;
    try {
      status = ((JSON.parse(stdout) as Raw).status ?? {}) as Raw;
    } catch {
      throw new Error(`kubeconfig exec plugin ${exec.command} did not print an ExecCredential`);
    }
    const expires = Date.parse(String(status.expirationTimestamp ?? ""));
    const entry = strip<{ token?: string; cert?: string; key?: string; until: number }>({
      token: str(status.token),
      cert: str(status.clientCertificateData),
      key: str(status.clientKeyData),
      // Refreshed a minute early; without an expiry, re-run at the client's next refresh.
      until: Number.isFinite(expires) ? expires - 60_000 : 0,
    });
    this.#execCache.set(name, entry);
    return entry;
  }
}

type Loose<T> = { [K in keyof T]: T[K] | undefined };

/** Drops undefined fields, so optional ones are absent rather than undefined. */
function strip<T extends object>(o: Loose<T>): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o as T;
}
