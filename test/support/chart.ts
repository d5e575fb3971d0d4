/**
 * The Helm chart as the tests use it: helm (built from its pinned Go module, cached) renders
 * charts/palyra-skills-operator; `chartIdentity()` installs the rendered ServiceAccount and RBAC
 * of a release of its own and returns a kubeconfig holding a real token for that ServiceAccount
 * (a TokenRequest), plus the operator flags the rendered Deployment passes. An operator started
 * with both runs with exactly the chart's permissions: the evidence that they suffice.
 */

import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { kube, testCluster } from "./kube.ts";
import { ensureNamespace, unique } from "./resources.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CHART = join(ROOT, "charts", "palyra-skills-operator");

let helmPath: string | undefined;

/** The helm binary (built once per machine into .cache/helm by hack/helm/build.sh). */
export function helm(): string {
  helmPath ??= execFileSync("bash", [join(ROOT, "hack", "helm", "build.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  return helmPath;
}

/** The Kubernetes release the local control plane is built from (for --kube-version). */
export function kubeVersion(): string {
  const gomod = execFileSync(
    "awk",
    [
      '$1 == "k8s.io/kubernetes" { print $2 }',
      join(ROOT, "hack/control-plane/kube-apiserver/go.mod"),
    ],
    { encoding: "utf8" },
  );
  return gomod.trim();
}

export interface RenderOptions {
  namespace?: string;
  release?: string;
  set?: Record<string, string>;
  showOnly?: string[];
}

/** `helm template` output as text (throws with helm's message on failure). */
export function renderText(options: RenderOptions = {}): string {
  const args = [
    "template",
    options.release ?? "palyra",
    CHART,
    "--namespace",
    options.namespace ?? "palyra-system",
    "--kube-version",
    kubeVersion(),
  ];
  for (const [k, v] of Object.entries(options.set ?? {})) args.push("--set", `${k}=${v}`);
  for (const t of options.showOnly ?? []) args.push("--show-only", t);
  return execFileSync(helm(), args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
};

export function render(options: RenderOptions = {}): Manifest[] {
  return parseAllDocuments(renderText(options))
    .map((d) => d.toJSON() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

/** REST path of a rendered object (the kinds the chart renders). */
function collectionPath(m: Manifest): string {
  const [group, version] = m.apiVersion.includes("/")
    ? (m.apiVersion.split("/") as [string, string])
    : ["", m.apiVersion];
  const plural = `${m.kind.toLowerCase()}${m.kind.endsWith("y") ? "" : "s"}`.replace(/ys$/, "ies");
  const base = group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
  const ns = m.metadata.namespace;
  return ns ? `${base}/namespaces/${ns}/${plural}` : `${base}/${plural}`;
}

/** Creates each object as the admin (or replaces it when it exists). */
export async function applyAsAdmin(manifests: Manifest[]): Promise<void> {
  for (const m of manifests) {
    const path = collectionPath(m);
    const created = await kube("POST", path, m);
    if (created.status === 409) {
      const current = await kube("GET", `${path}/${m.metadata.name}`);
      const rv = (current.body.metadata as { resourceVersion?: string } | undefined)
        ?.resourceVersion;
      const replaced = await kube("PUT", `${path}/${m.metadata.name}`, {
        ...m,
        metadata: { ...m.metadata, resourceVersion: rv },
      });
      if (replaced.status >= 300) throw new Error(`PUT ${path}: ${replaced.body.message}`);
    } else if (created.status >= 300) {
      throw new Error(`POST ${path}: ${created.status} ${created.body.message}`);
    }
  }
}

export interface ChartIdentity {
  /** The release's full name: the Lease, the webhook Secret and configuration are named from it. */
  fullname: string;
  namespace: string;
  serviceAccount: string;
  /** system:serviceaccount:NAMESPACE:NAME */
  user: string;
  kubeconfig: string;
  /** The operator flags of the rendered Deployment, minus what only makes sense in a Pod. */
  args: string[];
  webhookSecret: string;
}

let identity: Promise<ChartIdentity> | undefined;

/**
 * One release per test file (process): the chart's ServiceAccount, ClusterRole(s), Role and
 * bindings, applied as rendered, and a token for the ServiceAccount.
 */
export function chartIdentity(set: Record<string, string> = {}): Promise<ChartIdentity> {
  identity ??= (async () => {
    const namespace = "palyra-system";
    await ensureNamespace(namespace);
    const fullname = unique("palyra-op");
    const manifests = render({
      namespace,
      set: { fullnameOverride: fullname, ...set },
      showOnly: ["templates/rbac.yaml", "templates/deployment.yaml"],
    });
    const deployment = manifests.find((m) => m.kind === "Deployment");
    await applyAsAdmin(manifests.filter((m) => m.kind !== "Deployment"));
    const serviceAccount = manifests.find((m) => m.kind === "ServiceAccount")?.metadata.name;
    if (!serviceAccount || !deployment)
      throw new Error("the chart rendered no ServiceAccount/Deployment");
    const token = await kube(
      "POST",
      `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
      {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { expirationSeconds: 7200 },
      },
    );
    if (token.status >= 300) throw new Error(`TokenRequest: ${token.body.message}`);
    const cluster = testCluster();
    const kubeconfig = join(tmpdir(), `${fullname}.kubeconfig`);
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          {
            name: "c",
            cluster: { server: cluster.server, "certificate-authority": cluster.caFile },
          },
        ],
        users: [
          {
            name: serviceAccount,
            user: { token: (token.body as { status: { token: string } }).status.token },
          },
        ],
        contexts: [{ name: "sa", context: { cluster: "c", user: serviceAccount } }],
        "current-context": "sa",
      }),
      { mode: 0o600 },
    );
    const spec = deployment.spec as {
      template: { spec: { containers: { args: string[] }[] } };
    };
    const rendered = spec.template.spec.containers[0]?.args ?? [];
    // In a Pod these bind to 0.0.0.0 and the API server calls the Service; here the test
    // harness chooses loopback ports and the API server calls 127.0.0.1.
    const podOnly = [
      "--metrics-bind-address",
      "--webhook-bind-address",
      "--webhook-service",
      "--log-level",
    ];
    const args = rendered.filter((a) => !podOnly.some((p) => a.startsWith(`${p}=`)));
    const webhookSecret = `${fullname}-webhook-tls`;
    return {
      fullname,
      namespace,
      serviceAccount,
      user: `system:serviceaccount:${namespace}:${serviceAccount}`,
      kubeconfig,
      args,
      webhookSecret,
    };
  })();
  return identity;
}
