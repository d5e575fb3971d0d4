#!/usr/bin/env node
/**
 * palyra-skills-operator: reconciles Skill and SkillTrustPolicy resources.
 * Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad flags or configuration.
 */

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ED25519_BACKEND } from "../artifact/ed25519.ts";
import { INFLATE_BACKEND, INFLATE_FALLBACK_REASON } from "../artifact/inflate.ts";
import { KubeConfig } from "../kube/kubeconfig.ts";
import { AddressPolicy } from "../sources/address-policy.ts";
import { createLogger, isLogLevel, type LogLevel } from "./log.ts";
import { Operator, type OperatorConfig } from "./operator.ts";

const USAGE = `usage: palyra-skills-operator [flags]

  --kubeconfig PATH            kubeconfig to use (env KUBECONFIG); in a Pod, the service account
  --namespace NAME             namespace the operator runs in (env POD_NAMESPACE; default palyra-system)
  --metrics-bind-address H:P   metrics, /healthz and /readyz (default 127.0.0.1:8080; port 0 = any)
  --log-level LEVEL            debug, info, warn or error (default info)
  --concurrency N              Skills reconciled in parallel (default 16)
  --resync-period SECONDS      re-check every Skill this often (default 600)
  --url-refresh-period SECONDS fetch a URL source again after this long (default 600)
  --event-qps N                Event writes per second (default 20)
  --event-burst N              Event writes allowed in a burst (default 25)
  --webhook-bind-address H:P  serve the admission webhook here (off unless set; port 0 = any)
  --webhook-service NS/NAME[:PORT]  the Service the API server calls (default: this process at
                               https://127.0.0.1:<port>, for local control planes)
  --webhook-secret NAME        Secret holding the webhook's CA and certificate (default
                               palyra-skills-webhook-tls, in --namespace)
  --webhook-configuration NAME ValidatingWebhookConfiguration to manage (default palyra-skills-operator)
  --no-webhook-registration    serve the webhook but leave its configuration to someone else
  --webhook-certificate-validity SECONDS  serving-certificate lifetime (default 31536000; renewed
                               when a third remains)
  --webhook-certificates self|secret  self (default): issue and renew the CA and certificate in
                               --webhook-secret; secret: only read tls.crt, tls.key and ca.crt
                               from it (cert-manager writes them), picking up renewals
  --admin-group NAME           may edit trust stores and exempt namespaces (repeatable; default
                               system:masters)
  --leader-elect true|false    reconcile only while holding a Lease in --namespace (default true)
  --leader-elect-lease-name N  the Lease (default palyra-skills-operator)
  --leader-elect-lease-duration S / --leader-elect-renew-deadline S / --leader-elect-retry-period S
                               as in client-go (defaults 15 / 10 / 2)
  --artifact-read-timeout S    an artifact download idle this long fails (default 30)
  --artifact-fetch-timeout S   an artifact download taking longer fails, however it trickles (default 120)
  --source-allowed-cidrs LIST  addresses artifact URLs may reach although they are loopback,
                               link-local, private or otherwise non-public (comma-separated CIDRs
                               or IPs, repeatable; default none: such addresses are refused)
  --source-blocked-cidrs LIST  more addresses artifact URLs may never reach, e.g. the cluster's pod
                               and service ranges where they are public (comma-separated, repeatable)
  --artifact-inflight-mib N    downloaded artifact bytes held at once until verified (default 96)
  --artifact-cache-mib N       verified artifacts kept in memory (default 64)
  --verified-store-mib N       verified artifact bytes kept to serve pods (default 64)
  --pod-delivery-image IMAGE   bind new pods that name skills to exact payloads: an init container
                               of IMAGE (this operator's) installs them (off unless set)
  --pod-delivery-mount-path P  where the skills appear in the pod's containers
                               (default /var/run/palyra/skills)
  --pod-delivery-resources J   the install init container's resources, as JSON, e.g.
                               '{"requests":{"cpu":"50m","memory":"64Mi"},"limits":{"memory":"256Mi"}}'
  --evict-stale-pods           evict (Eviction API, disruption budgets respected) running pods
                               installed with a payload no Skill enables now, once the verdict is
                               final (needs --pod-delivery-image; default: report them only)
  --max-fetches N              artifact downloads at once (default 8)
  --max-fetches-per-namespace N  artifact downloads at once for one namespace (default 2)
  --kube-api-timeout SECONDS   a Kubernetes API request with no answer this long fails and is
                               retried (default 30; watches are not affected)
  --disable-secret-sources     do not watch Secrets (Skills with secretRef fail with a clear reason)
  --disable-reports            do not write OpenReports Reports (written by default when the
                               reports.openreports.io CRD is installed)
  --owner-clusterrole NAME     a ClusterRole (the chart's) that owns the webhook configuration,
                               the webhook Secret and the Reports, so uninstalling removes them
  --help
`;

/** `{"requests": {...}, "limits": {...}}` with quantity strings, or a clear error. */
function parseResources(text: string): Record<string, Record<string, string>> {
  const fail = (why: string) =>
    new Error(`--pod-delivery-resources must be JSON {"requests": {...}, "limits": {...}}: ${why}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw fail((error as Error).message);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw fail("not an object");
  const out: Record<string, Record<string, string>> = {};
  for (const [kind, list] of Object.entries(value)) {
    if (kind !== "requests" && kind !== "limits") throw fail(`unknown key ${JSON.stringify(kind)}`);
    if (typeof list !== "object" || list === null || Array.isArray(list))
      throw fail(`${kind} is not an object`);
    const quantities: Record<string, string> = {};
    for (const [name, q] of Object.entries(list)) {
      if (typeof q !== "string" || !/^[0-9]+(\.[0-9]+)?([mkMGTPE]|[KMGTPE]i)?$/.test(q))
        throw fail(`${kind}.${name} is not a quantity string`);
      quantities[name] = q;
    }
    out[kind] = quantities;
  }
  return out;
}

function parseDuration(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`${flag} must be a positive number of seconds`);
  return n * 1000;
}

function positive(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number`);
  return n;
}

function parseService(value: string): { namespace: string; name: string; port: number } {
  const m = /^([a-z0-9-]+)\/([a-z0-9-]+)(?::(\d+))?$/.exec(value);
  if (!m)
    throw new Error(`--webhook-service ${JSON.stringify(value)} is not NAMESPACE/NAME[:PORT]`);
  return { namespace: m[1] as string, name: m[2] as string, port: Number(m[3] ?? 443) };
}

function parseAddress(
  value: string,
  flag = "--metrics-bind-address",
): { host: string; port: number } {
  const i = value.lastIndexOf(":");
  const host = i > 0 ? value.slice(0, i).replace(/^\[|\]$/g, "") : "0.0.0.0";
  const port = Number(value.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${flag} ${JSON.stringify(value)} is not host:port`);
  }
  return { host, port };
}

async function main(): Promise<number> {
  let values: ReturnType<typeof parse>["values"];
  function parse() {
    return parseArgs({
      options: {
        kubeconfig: { type: "string" },
        namespace: { type: "string" },
        "metrics-bind-address": { type: "string" },
        "log-level": { type: "string" },
        concurrency: { type: "string" },
        "resync-period": { type: "string" },
        "url-refresh-period": { type: "string" },
        "disable-secret-sources": { type: "boolean" },
        "disable-reports": { type: "boolean" },
        "owner-clusterrole": { type: "string" },
        "event-qps": { type: "string" },
        "event-burst": { type: "string" },
        "webhook-bind-address": { type: "string" },
        "webhook-service": { type: "string" },
        "webhook-secret": { type: "string" },
        "webhook-configuration": { type: "string" },
        "no-webhook-registration": { type: "boolean" },
        "admin-group": { type: "string", multiple: true },
        "webhook-certificate-validity": { type: "string" },
        "webhook-certificates": { type: "string" },
        "leader-elect": { type: "string" },
        "kube-api-timeout": { type: "string" },
        "artifact-read-timeout": { type: "string" },
        "artifact-fetch-timeout": { type: "string" },
        "source-allowed-cidrs": { type: "string", multiple: true },
        "source-blocked-cidrs": { type: "string", multiple: true },
        "artifact-inflight-mib": { type: "string" },
        "artifact-cache-mib": { type: "string" },
        "max-fetches": { type: "string" },
        "verified-store-mib": { type: "string" },
        "pod-delivery-image": { type: "string" },
        "pod-delivery-mount-path": { type: "string" },
        "evict-stale-pods": { type: "boolean" },
        "pod-delivery-resources": { type: "string" },
        "max-fetches-per-namespace": { type: "string" },
        "leader-elect-lease-name": { type: "string" },
        "leader-elect-lease-duration": { type: "string" },
        "leader-elect-renew-deadline": { type: "string" },
        "leader-elect-retry-period": { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    });
  }
  let level: LogLevel;
  let config: Omit<OperatorConfig, "kubeConfig" | "log">;
  try {
    values = parse().values;
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const levelText = values["log-level"] ?? process.env.LOG_LEVEL ?? "info";
    if (!isLogLevel(levelText)) throw new Error(`--log-level must be debug, info, warn or error`);
    level = levelText;
    const concurrency = Number(values.concurrency ?? 16);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
      throw new Error("--concurrency must be an integer between 1 and 256");
    }
    config = {
      namespace:
        values.namespace ??
        process.env.POD_NAMESPACE ??
        readServiceAccountNamespace() ??
        "palyra-system",
      metricsAddress: parseAddress(values["metrics-bind-address"] ?? "127.0.0.1:8080"),
      concurrency,
      resyncMs: parseDuration("--resync-period", values["resync-period"] ?? "600"),
      urlRefreshMs: parseDuration("--url-refresh-period", values["url-refresh-period"] ?? "600"),
      secretSources: !values["disable-secret-sources"],
      reports: !values["disable-reports"],
      ...(values["owner-clusterrole"] ? { ownerClusterRole: values["owner-clusterrole"] } : {}),
      eventQps: positive("--event-qps", values["event-qps"] ?? "20"),
      eventBurst: positive("--event-burst", values["event-burst"] ?? "25"),
      apiTimeoutMs: parseDuration("--kube-api-timeout", values["kube-api-timeout"] ?? "30"),
      artifactTimeouts: {
        readMs: parseDuration("--artifact-read-timeout", values["artifact-read-timeout"] ?? "30"),
        totalMs: parseDuration(
          "--artifact-fetch-timeout",
          values["artifact-fetch-timeout"] ?? "120",
        ),
      },
    };
    const list = (v: string[] | undefined) =>
      (v ?? [])
        .flatMap((x) => x.split(","))
        .map((x) => x.trim())
        .filter((x) => x !== "");
    const integer = (flag: string, value: string, max: number) => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1 || n > max)
        throw new Error(`${flag} must be an integer between 1 and ${max}`);
      return n;
    };
    const MiB = 1024 * 1024;
    const sources = {
      allowedCidrs: list(values["source-allowed-cidrs"]),
      blockedCidrs: list(values["source-blocked-cidrs"]),
      maxInflightBytes:
        integer("--artifact-inflight-mib", values["artifact-inflight-mib"] ?? "96", 4096) * MiB,
      maxCacheBytes:
        integer("--artifact-cache-mib", values["artifact-cache-mib"] ?? "64", 4096) * MiB,
      maxFetches: integer("--max-fetches", values["max-fetches"] ?? "8", 256),
      maxFetchesPerNamespace: integer(
        "--max-fetches-per-namespace",
        values["max-fetches-per-namespace"] ?? "2",
        256,
      ),
    };
    // Refuse bad address lists at start, with the entry named.
    new AddressPolicy({ allow: sources.allowedCidrs, deny: sources.blockedCidrs });
    if (sources.maxInflightBytes < 64 * MiB) {
      throw new Error(
        "--artifact-inflight-mib must be at least 64: one artifact of the largest allowed size (64 MiB) must fit",
      );
    }
    config.sources = sources;
    config.verifiedStoreBytes =
      integer("--verified-store-mib", values["verified-store-mib"] ?? "64", 4096) * MiB;
    if (values["evict-stale-pods"]) {
      if (!values["pod-delivery-image"])
        throw new Error(
          "--evict-stale-pods needs --pod-delivery-image: only delivered pods are known",
        );
      config.evictStalePods = true;
    }
    const elect = values["leader-elect"] ?? "true";
    if (elect !== "true" && elect !== "false")
      throw new Error("--leader-elect must be true or false");
    if (elect === "true") {
      const lease = parseDuration(
        "--leader-elect-lease-duration",
        values["leader-elect-lease-duration"] ?? "15",
      );
      const renew = parseDuration(
        "--leader-elect-renew-deadline",
        values["leader-elect-renew-deadline"] ?? "10",
      );
      const retry = parseDuration(
        "--leader-elect-retry-period",
        values["leader-elect-retry-period"] ?? "2",
      );
      if (!(retry < renew && renew < lease)) {
        throw new Error("leader election needs retry-period < renew-deadline < lease-duration");
      }
      config.leaderElection = {
        leaseName: values["leader-elect-lease-name"] ?? "palyra-skills-operator",
        leaseDurationMs: lease,
        renewDeadlineMs: renew,
        retryPeriodMs: retry,
      };
    }
    const webhookAddress = values["webhook-bind-address"];
    if (webhookAddress !== undefined) {
      const { host, port } = parseAddress(webhookAddress, "--webhook-bind-address");
      const certificates = values["webhook-certificates"] ?? "self";
      if (certificates !== "self" && certificates !== "secret") {
        throw new Error("--webhook-certificates must be self or secret");
      }
      config.webhook = {
        certificateSource: certificates,
        host,
        port,
        secretName: values["webhook-secret"] ?? "palyra-skills-webhook-tls",
        configurationName: values["webhook-configuration"] ?? "palyra-skills-operator",
        register: !values["no-webhook-registration"],
        adminGroups: values["admin-group"] ?? ["system:masters"],
        certificateValiditySeconds: positive(
          "--webhook-certificate-validity",
          values["webhook-certificate-validity"] ?? "31536000",
        ),
        // Short-lived certificates are checked often enough to renew them in time.
        refreshMs: Math.min(
          60_000,
          (positive(
            "--webhook-certificate-validity",
            values["webhook-certificate-validity"] ?? "31536000",
          ) *
            1000) /
            10,
        ),
        ...(values["webhook-service"] ? { service: parseService(values["webhook-service"]) } : {}),
        ...(values["pod-delivery-image"]
          ? {
              podDelivery: {
                image: values["pod-delivery-image"],
                ...(values["pod-delivery-mount-path"]
                  ? { mountPath: values["pod-delivery-mount-path"] }
                  : {}),
                ...(values["pod-delivery-resources"]
                  ? { resources: parseResources(values["pod-delivery-resources"]) }
                  : {}),
              },
            }
          : {}),
      };
    }
  } catch (error) {
    process.stderr.write(`palyra-skills-operator: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }

  const log = createLogger(level);
  const kubeConfig = new KubeConfig();
  try {
    if (values.kubeconfig) kubeConfig.loadFromFile(values.kubeconfig);
    else kubeConfig.loadFromDefault(); // KUBECONFIG, ~/.kube/config, then in-cluster
    if (!kubeConfig.getCurrentCluster()) throw new Error("no current cluster in the kubeconfig");
  } catch (error) {
    log.error("cannot load Kubernetes configuration", { error });
    return 2;
  }

  let operator: Operator;
  try {
    operator = await Operator.create({ ...config, kubeConfig, log });
  } catch (error) {
    log.error("cannot use the Kubernetes configuration", { error });
    return 2;
  }
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) => {
    if (stopping) return;
    log.info("shutting down: finishing in-flight reconciles", { signal });
    stopping = operator.stop();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("unhandledRejection", (error) => log.error("unhandled rejection", { error }));

  try {
    await operator.start();
    // Which native libraries loaded: a missing addon is slower, never wrong, so say it.
    log.info("operator started", {
      namespace: config.namespace,
      inflate: INFLATE_BACKEND,
      ...(INFLATE_FALLBACK_REASON === undefined
        ? {}
        : { inflateFallback: INFLATE_FALLBACK_REASON }),
      ed25519: ED25519_BACKEND,
    });
  } catch (error) {
    log.error("operator failed to start", { error });
    await operator.stop();
    return 1;
  }
  await new Promise<void>((resolve) => {
    const wait = setInterval(() => {
      if (stopping) {
        clearInterval(wait);
        stopping.then(resolve, resolve);
      }
    }, 100);
  });
  log.info("stopped");
  return 0;
}

function readServiceAccountNamespace(): string | undefined {
  try {
    return readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/namespace", "utf8").trim();
  } catch {
    return undefined;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `palyra-skills-operator: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exit(1);
  },
);
