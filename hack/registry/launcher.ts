/**
 * A real OCI registry for tests and make dev: the CNCF distribution registry (built by
 * build.sh) on 127.0.0.1, HTTPS with a CA of its own (src/tls/pki.ts), filesystem storage in
 * a temporary directory removed on stop, and one of three kinds of auth:
 *
 *   none   anonymous pull and push
 *   basic  htpasswd (bcrypt) with one user and a random password
 *   token  bearer tokens from token-server.ts (HTTPS on 127.0.0.1, same CA), the user's Basic
 *          credentials exchanged for ES256 JWTs; anonymous pull tokens if `anonymousPull`
 *
 * The registry lives as long as the process that started it: stop() ends it, an `exit`
 * handler kills it, and a watchdog (its stdin is a pipe from this process) ends it when the
 * pipe closes, even if this process is killed outright.
 *
 *   node hack/registry/launcher.ts [--auth none|basic|token] [--anonymous-pull]
 *     runs one until Ctrl-C and prints its URL, CA file, credentials and an oras example.
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueServingCertificate,
} from "../../src/tls/pki.ts";
import { runProcess } from "../dev/run-process.ts";
import { type TokenKeyHeader, TokenServer } from "./token-server.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));

export type RegistryAuth = "none" | "basic" | "token";

export interface RegistryUser {
  readonly username: string;
  readonly password: string;
}

export interface RegistryOptions {
  /** Default "none". */
  readonly auth?: RegistryAuth;
  /** token mode: anonymous callers get pull-only tokens (else the token server answers 401). */
  readonly anonymousPull?: boolean;
  /** token mode: how tokens name their signing key (see token-server.ts). Default "kid". */
  readonly tokenKeyHeader?: TokenKeyHeader;
  /** token mode: the CA whose certificate is the registry's rootcertbundle (default: fresh). */
  readonly tokenSigningAuthority?: CertificateAuthority;
  /** The registry's `auth.token.service` (token mode). */
  readonly service?: string;
  /**
   * The loopback address to listen on (registry and token server). Default 127.0.0.1; the
   * operator's tests use 127.0.0.2, which sources may reach, unlike the API server's 127.0.0.1.
   */
  readonly listenHost?: string;
  /** Plain http, no TLS (auth "none" only): a development registry for `insecure` sources. */
  readonly plainHttp?: boolean;
  /** How long to wait for GET /v2/ to answer. Default 30 s. */
  readonly timeoutMs?: number;
  /** The registry's log level (its log is `<dir>/registry.log`; at least info, which carries
   *  the listening address). Default "info". */
  readonly logLevel?: "info" | "debug";
}

export interface OrasResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface OrasOptions {
  readonly env?: Record<string, string>;
  readonly cwd?: string;
}

export interface RunningRegistry {
  readonly auth: RegistryAuth;
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT, the registry part of a reference (127.0.0.1:PORT/repo:tag). */
  readonly host: string;
  /** The CA that issued the registry's (and the token server's) serving certificate. */
  readonly caPem: string;
  readonly caFile: string;
  /** The one user (basic and token modes; ignored by the registry in mode none). */
  readonly users: RegistryUser;
  /** The temporary directory: config.yml, registry.log, storage/, removed on stop. */
  readonly dir: string;
  /** token mode only. */
  readonly tokenServer: TokenServer | undefined;
  readonly pid: number;
  /** oras flags for this registry: --ca-file and a --registry-config holding the user's
   *  credentials (none with `anonymous`). Cobra takes them after the subcommand's arguments. */
  orasFlags(options?: { anonymous?: boolean }): string[];
  /** oras with orasFlags() appended (for subcommands that talk to a registry). */
  oras(args: string[], options?: OrasOptions & { anonymous?: boolean }): Promise<OrasResult>;
  /** The registry log so far (for assertion messages). */
  log(): string;
  stop(): Promise<void>;
}

let binDir: string | undefined;

/** Builds registry, oras and htpasswd if their pins changed (see build.sh); their directory. */
export function ensureRegistryBinaries(): string {
  binDir ??= execFileSync("bash", [join(HERE, "build.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  return binDir;
}

/** Runs the built oras (async: the caller's servers, e.g. a token server, keep serving). */
export function oras(args: string[], options: OrasOptions = {}): Promise<OrasResult> {
  return runProcess(join(ensureRegistryBinaries(), "oras"), args, options);
}

/**
 * Runs `"$@"` in the background and ends it when this script's stdin reaches EOF: the pipe
 * from the launching process closes when that process closes it (stop) or dies, however it
 * dies; the temporary directory ($1) is then removed too. When the registry exits by itself,
 * the script exits with its status and leaves the directory (its log) to the launcher.
 */
const WATCHDOG = `dir=$1
shift
exec 3<&0
"$@" 0</dev/null 3<&- &
child=$!
( while read -r -u 3 _; do :; done; : >"$dir/.stdin-closed"; kill -TERM "$child" 2>/dev/null ) &
watcher=$!
exec 3<&-
wait "$child"
status=$?
if [ -e "$dir/.stdin-closed" ]; then
  rm -rf -- "$dir"
else
  kill "$watcher" 2>/dev/null
fi
exit "$status"
`;

function htpasswdLine(bin: string, user: RegistryUser): string {
  // Cost 4: the registry bcrypt-compares on every request; this is a throwaway test password.
  return execFileSync(join(bin, "htpasswd"), ["-cost", "4", user.username], {
    input: `${user.password}\n`,
    encoding: "utf8",
  });
}

/** GET /v2/ until the registry answers 200 or 401 over verified TLS, or the deadline passes. */
async function waitReady(
  hostOf: () => string | undefined,
  caPem: string,
  deadline: number,
  child: ChildProcess,
  plainHttp = false,
): Promise<void> {
  let last = "no listening address logged yet";
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `the registry exited (${child.exitCode ?? child.signalCode}) before it was ready`,
      );
    const host = hostOf();
    if (host) {
      const status = await new Promise<number | undefined>((resolve) => {
        const get = plainHttp ? httpGet : request;
        const url = `${plainHttp ? "http" : "https"}://${host}/v2/`;
        const req = get(url, { ca: caPem, timeout: 2000 }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode));
        });
        req.on("error", (error) => {
          last = error.message;
          resolve(undefined);
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.end();
      });
      if (status === 200 || status === 401) return;
      if (status !== undefined) last = `GET /v2/ answered ${status}`;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`registry not ready in time: ${last}`);
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  const auth = options.auth ?? "none";
  const bin = ensureRegistryBinaries();
  const dir = mkdtempSync(join(tmpdir(), "palyra-registry-"));
  let tokenServer: TokenServer | undefined;
  let child: ChildProcess | undefined;
  const logFile = join(dir, "registry.log");
  const cleanup = async () => {
    await tokenServer?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const ip = options.listenHost ?? "127.0.0.1";
  try {
    const ca = createCertificateAuthority({ commonName: "palyra test registry CA" });
    const serving = issueServingCertificate(ca, {
      commonName: ip,
      ipAddresses: [ip],
    });
    const caFile = join(dir, "ca.crt");
    writeFileSync(caFile, ca.certPem);
    writeFileSync(join(dir, "registry.crt"), serving.certPem);
    writeFileSync(join(dir, "registry.key"), serving.keyPem, { mode: 0o600 });
    const users: RegistryUser = {
      username: "palyra",
      password: randomBytes(18).toString("base64url"),
    };

    const config: Record<string, unknown> = {
      version: 0.1,
      log: { level: options.logLevel ?? "info", formatter: "text", accesslog: { disabled: true } },
      storage: {
        filesystem: { rootdirectory: join(dir, "storage") },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: {
        // Port 0: the kernel picks, the registry logs it ("listening on 127.0.0.1:N, tls").
        addr: `${ip}:0`,
        secret: randomBytes(24).toString("hex"),
        ...(options.plainHttp
          ? {}
          : { tls: { certificate: join(dir, "registry.crt"), key: join(dir, "registry.key") } }),
        headers: { "X-Content-Type-Options": ["nosniff"] },
      },
    };
    if (auth === "basic") {
      const path = join(dir, "htpasswd");
      writeFileSync(path, htpasswdLine(bin, users), { mode: 0o600 });
      config.auth = { htpasswd: { realm: "palyra test registry", path } };
    } else if (auth === "token") {
      tokenServer = new TokenServer({
        service: options.service ?? "palyra-test-registry",
        issuer: "palyra-test-token-server",
        user: users,
        tls: serving,
        host: ip,
        anonymousPull: options.anonymousPull ?? false,
        keyHeader: options.tokenKeyHeader ?? "kid",
        ...(options.tokenSigningAuthority
          ? { signingAuthority: options.tokenSigningAuthority }
          : {}),
      });
      await tokenServer.start();
      const bundle = join(dir, "token-bundle.crt");
      writeFileSync(bundle, tokenServer.rootCertBundlePem);
      config.auth = {
        token: {
          realm: tokenServer.realm,
          service: options.service ?? "palyra-test-registry",
          issuer: "palyra-test-token-server",
          rootcertbundle: bundle,
        },
      };
    } else if (auth !== "none") {
      throw new Error(`unknown registry auth ${JSON.stringify(auth)}`);
    }
    const configFile = join(dir, "config.yml");
    writeFileSync(configFile, stringify(config));

    // oras configurations: the user's credentials, and none (anonymous).
    const orasConfig = join(dir, "oras-config.json");
    const orasAnonymous = join(dir, "oras-anonymous.json");
    writeFileSync(orasAnonymous, JSON.stringify({ auths: {} }));

    const logFd = openSync(logFile, "a");
    child = spawn(
      "bash",
      ["-c", WATCHDOG, "registry-watchdog", dir, join(bin, "registry"), "serve", configFile],
      {
        stdio: ["pipe", logFd, logFd],
        detached: true,
        // No OpenTelemetry exporter: by default it would send spans to an OTLP collector.
        env: { ...process.env, OTEL_TRACES_EXPORTER: "none", OTEL_SDK_DISABLED: "true" },
      },
    );
    closeSync(logFd);
    const started = child;
    const exited = new Promise<void>((resolve) => {
      if (started.exitCode !== null || started.signalCode !== null) resolve();
      else started.once("exit", () => resolve());
    });
    // Whatever ends this process, the registry's process group goes with it.
    const killGroup = () => {
      try {
        if (started.pid) process.kill(-started.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const onExit = () => {
      killGroup();
      rmSync(dir, { recursive: true, force: true });
    };
    process.once("exit", onExit);

    let host: string | undefined;
    const hostOf = () => {
      if (!host) {
        const port = new RegExp(
          `listening on ${ip.replaceAll(".", "\\.")}:(\\d+)${options.plainHttp ? "" : ", tls"}`,
        ).exec(tail(logFile, 200))?.[1];
        if (port) host = `${ip}:${port}`;
      }
      return host;
    };
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      // Closing the pipe makes the watchdog SIGTERM the registry and exit with it.
      started.stdin?.end();
      const timer = setTimeout(killGroup, 10_000);
      await exited;
      clearTimeout(timer);
      killGroup(); // the watchdog's own subshell, if it lingers
      process.off("exit", onExit);
      await cleanup();
    };
    try {
      await waitReady(
        hostOf,
        ca.certPem,
        Date.now() + (options.timeoutMs ?? 30_000),
        started,
        options.plainHttp === true,
      );
    } catch (error) {
      const log = tail(logFile);
      await stop();
      throw new Error(`${(error as Error).message}\n--- registry log ---\n${log}`);
    }
    const registryHost = hostOf();
    if (!registryHost) throw new Error("unreachable: ready without an address");
    if (auth !== "none") {
      const basic = Buffer.from(`${users.username}:${users.password}`).toString("base64");
      writeFileSync(orasConfig, JSON.stringify({ auths: { [registryHost]: { auth: basic } } }), {
        mode: 0o600,
      });
    } else {
      writeFileSync(orasConfig, JSON.stringify({ auths: {} }));
    }
    const orasFlags = (o: { anonymous?: boolean } = {}) => [
      ...(options.plainHttp ? ["--plain-http"] : ["--ca-file", caFile]),
      "--registry-config",
      o.anonymous ? orasAnonymous : orasConfig,
    ];
    return {
      auth,
      url: `${options.plainHttp ? "http" : "https"}://${registryHost}`,
      host: registryHost,
      caPem: ca.certPem,
      caFile,
      users,
      dir,
      tokenServer,
      pid: started.pid ?? 0,
      orasFlags,
      oras: (args, o = {}) => oras([...args, ...orasFlags(o)], o),
      log: () => {
        try {
          return readFileSync(logFile, "utf8");
        } catch {
          return "";
        }
      },
      stop,
    };
  } catch (error) {
    if (!child) await cleanup();
    throw error;
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const authIndex = argv.indexOf("--auth");
  const auth = (authIndex >= 0 ? argv[authIndex + 1] : "none") as RegistryAuth;
  const registry = await startRegistry({
    auth,
    anonymousPull: argv.includes("--anonymous-pull"),
  });
  console.log(`registry (auth ${auth}) at ${registry.url}`);
  console.log(`  CA file:  ${registry.caFile}`);
  if (auth !== "none")
    console.log(`  user:     ${registry.users.username} / ${registry.users.password}`);
  if (registry.tokenServer) console.log(`  token realm: ${registry.tokenServer.realm}`);
  console.log(`  log:      ${join(registry.dir, "registry.log")}`);
  console.log(
    `  push:     ${join(ensureRegistryBinaries(), "oras")} push ${registry.host}/demo:v1 FILE ${registry.orasFlags().join(" ")}`,
  );
  console.log("Ctrl-C stops it");
  const stop = () => {
    registry.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
