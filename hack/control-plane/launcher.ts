/**
 * Starts a real Kubernetes control plane (etcd + kube-apiserver, the pair envtest runs) on
 * 127.0.0.1, on free ports, in a temporary directory: its own CA and serving certificate,
 * service-account keys, static-token identities (an admin in system:masters and an ordinary
 * user), RBAC authorization and the admission-webhook plugins. Used by the integration tests and
 * by `make cluster-up`.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));

export interface Identity {
  readonly name: string;
  readonly token: string;
  readonly groups: readonly string[];
}

export interface ControlPlane {
  readonly dir: string;
  readonly server: string;
  readonly kubeconfig: string;
  readonly caFile: string;
  readonly admin: Identity;
  readonly user: Identity;
  readonly pids: { etcd: number; apiserver: number };
  stop(): Promise<void>;
  /** Stops kube-apiserver (SIGTERM), waits `downMs`, starts it again on the same port and etcd. */
  restartApiServer(downMs?: number): Promise<void>;
  /** SIGSTOP / SIGCONT etcd: the API server's storage stops answering without a disconnect. */
  pauseEtcd(): void;
  resumeEtcd(): void;
  /** Compacts etcd's history up to now: watches from older resourceVersions get 410 Gone. */
  compactEtcd(): Promise<number>;
}

export interface StartOptions {
  /** Keep the processes running after this process exits (make cluster-up). */
  readonly detached?: boolean;
  /** How long to wait for /readyz. */
  readonly timeoutMs?: number;
}

/** Builds the binaries if their pins changed (see build.sh) and returns their directory. */
export function ensureBinaries(): string {
  return execFileSync("bash", [join(HERE, "build.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

/** Distinct free ports: each is held until all are chosen, so the kernel cannot hand one out twice. */
async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer().unref());
  const ports = await Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve, reject) => {
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            if (typeof address === "object" && address) resolve(address.port);
            else reject(new Error("no port"));
          });
        }),
    ),
  );
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function identity(name: string, groups: string[]): Identity {
  return { name, token: randomBytes(24).toString("hex"), groups };
}

function kubeconfigYaml(server: string, caFile: string, identities: Identity[]): string {
  const users = identities
    .map((id) => `- name: ${id.name}\n  user:\n    token: ${id.token}\n`)
    .join("");
  const contexts = identities
    .map(
      (id) =>
        `- name: ${id.name}\n  context:\n    cluster: palyra-local\n    user: ${id.name}\n    namespace: default\n`,
    )
    .join("");
  return `apiVersion: v1
kind: Config
clusters:
- name: palyra-local
  cluster:
    server: ${server}
    certificate-authority: ${caFile}
users:
${users}contexts:
${contexts}current-context: ${identities[0]?.name}
`;
}

async function waitReady(
  server: string,
  token: string,
  caFile: string,
  deadline: number,
  processes: ChildProcess[],
): Promise<void> {
  const { request } = await import("node:https");
  let last = "not reachable";
  while (Date.now() < deadline) {
    for (const child of processes) {
      if (child.exitCode !== null)
        throw new Error(
          `${child.spawnfile} exited with code ${child.exitCode} before the control plane was ready`,
        );
    }
    const ok = await new Promise<boolean>((resolve) => {
      const req = request(
        `${server}/readyz`,
        {
          ca: readFileSyncOrEmpty(caFile),
          headers: { Authorization: `Bearer ${token}` },
          timeout: 2000,
        },
        (res) => {
          let body = "";
          res.on("data", (chunk) => {
            body += chunk;
          });
          res.on("end", () => {
            last = `${res.statusCode} ${body.slice(0, 200)}`;
            resolve(res.statusCode === 200 && body.trim() === "ok");
          });
        },
      );
      req.on("error", (error) => {
        last = error.message;
        resolve(false);
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.end();
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`control plane not ready in time: ${last}`);
}

function readFileSyncOrEmpty(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function terminate(child: ChildProcess | number): Promise<void> {
  const pid = typeof child === "number" ? child : child.pid;
  if (pid === undefined) return Promise.resolve();
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const started = Date.now();
    const poll = setInterval(() => {
      let alive = true;
      try {
        process.kill(pid, 0);
      } catch {
        alive = false;
      }
      if (!alive || Date.now() - started > 10_000) {
        if (alive) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
        clearInterval(poll);
        resolve();
      }
    }, 50);
  });
}

/** Starts etcd and kube-apiserver and waits until /readyz answers ok. */
export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  const bin = ensureBinaries();
  const dir = mkdtempSync(join(tmpdir(), "palyra-control-plane-"));
  const certDir = join(dir, "pki");
  mkdirSync(certDir);
  const [etcdClient, etcdPeer, apiPort] = await freePorts(3);

  // Our own CA and a serving certificate for 127.0.0.1/localhost (the pki helper, Go stdlib).
  try {
    execFileSync(join(bin, "pki"), ["-dir", certDir, "-hosts", "127.0.0.1,localhost"], {
      stdio: "inherit",
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(join(certDir, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }), {
    mode: 0o600,
  });
  writeFileSync(join(certDir, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));

  const admin = identity("admin", ["system:masters"]);
  const user = identity("alice", ["palyra:developers"]);
  // Static tokens: token,user,uid,"groups" (the apiserver's --token-auth-file format).
  writeFileSync(
    join(certDir, "tokens.csv"),
    [admin, user]
      .map((id, i) => `${id.token},${id.name},uid-${i},"${id.groups.join(",")}"`)
      .join("\n"),
    { mode: 0o600 },
  );

  const detached = options.detached ?? false;
  const log = (name: string) => openSync(join(dir, `${name}.log`), "a");
  const etcd = spawn(
    join(bin, "etcd"),
    [
      "--name=palyra",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=palyra=http://127.0.0.1:${etcdPeer}`,
      "--unsafe-no-fsync=true",
      "--listen-metrics-urls=",
    ],
    { stdio: ["ignore", log("etcd"), log("etcd")], detached },
  );
  const server = `https://127.0.0.1:${apiPort}`;
  const apiserverArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdClient}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${apiPort}`,
    `--tls-cert-file=${join(certDir, "apiserver.crt")}`,
    `--tls-private-key-file=${join(certDir, "apiserver.key")}`,
    `--client-ca-file=${join(certDir, "ca.crt")}`,
    `--token-auth-file=${join(certDir, "tokens.csv")}`,
    "--authorization-mode=RBAC",
    `--service-account-issuer=${server}`,
    `--service-account-key-file=${join(certDir, "sa.pub")}`,
    `--service-account-signing-key-file=${join(certDir, "sa.key")}`,
    "--service-cluster-ip-range=10.0.0.0/24",
    "--allow-privileged=true",
    "--enable-admission-plugins=NamespaceLifecycle,ValidatingAdmissionWebhook,MutatingAdmissionWebhook,ValidatingAdmissionPolicy",
    // No controller-manager runs, so nothing would create the default ServiceAccount pods need.
    "--disable-admission-plugins=ServiceAccount",
    "--profiling=false",
    // The endpoint reconciler refuses loopback addresses; nothing here needs the kubernetes Service endpoints.
    "--endpoint-reconciler-type=none",
  ];
  const spawnApiserver = () =>
    spawn(join(bin, "kube-apiserver"), apiserverArgs, {
      stdio: ["ignore", log("kube-apiserver"), log("kube-apiserver")],
      detached,
    });
  let apiserver = spawnApiserver();
  const children = [etcd, apiserver];
  if (detached) {
    for (const child of children) child.unref();
  } else {
    // Never leave a control plane behind, whatever ends this process.
    const killAll = () => {
      for (const child of [etcd, apiserver]) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
    };
    process.once("exit", killAll);
  }

  const caFile = join(certDir, "ca.crt");
  const stop = async () => {
    await terminate(apiserver.pid ?? 0);
    etcd.kill("SIGCONT"); // a paused etcd would not see SIGTERM
    await terminate(etcd.pid ?? 0);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(
      server,
      admin.token,
      caFile,
      Date.now() + (options.timeoutMs ?? 90_000),
      children,
    );
  } catch (error) {
    const tail = (name: string) =>
      readFileSyncOrEmpty(join(dir, `${name}.log`))
        ?.toString("utf8")
        .split("\n")
        .slice(-15)
        .join("\n");
    const logs = `--- kube-apiserver log ---\n${tail("kube-apiserver")}\n--- etcd log ---\n${tail("etcd")}`;
    await stop().catch(() => undefined);
    throw new Error(`${(error as Error).message}\n${logs}`);
  }
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(kubeconfig, kubeconfigYaml(server, caFile, [admin, user]), { mode: 0o600 });
  return {
    dir,
    server,
    kubeconfig,
    caFile,
    admin,
    user,
    get pids() {
      return { etcd: etcd.pid ?? 0, apiserver: apiserver.pid ?? 0 };
    },
    stop,
    async restartApiServer(downMs = 0) {
      await terminate(apiserver);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      apiserver = spawnApiserver();
      if (detached) apiserver.unref();
      await waitReady(server, admin.token, caFile, Date.now() + 90_000, [etcd, apiserver]);
    },
    pauseEtcd() {
      etcd.kill("SIGSTOP");
    },
    resumeEtcd() {
      etcd.kill("SIGCONT");
    },
    async compactEtcd() {
      // etcd's JSON gateway: read the current revision, then compact to it.
      const etcdUrl = `http://127.0.0.1:${etcdClient}/v3/kv`;
      const post = async (path: string, body: unknown) => {
        const res = await fetch(`${etcdUrl}/${path}`, {
          method: "POST",
          body: JSON.stringify(body),
        });
        if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
        return (await res.json()) as { header?: { revision?: string } };
      };
      const range = await post("range", { key: Buffer.from("/").toString("base64"), limit: 1 });
      const revision = Number(range.header?.revision ?? 0);
      await post("compaction", { revision: String(revision), physical: true });
      return revision;
    },
  };
}

export { terminate };
