/**
 * The Helm chart against the real API server: helm lint, values.schema.json refusing bad
 * values at install time, every rendered object accepted by a server-side dry run (the CRDs'
 * schemas, the built-in types, PodSecurity "restricted" without a warning), and the RBAC as
 * narrow as the README says. That the RBAC suffices is shown by operator.test.ts and
 * webhook.test.ts, which run the operator as the chart's ServiceAccount.
 */

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { CHART, helm, type Manifest, render, renderText } from "../support/chart.ts";
import { installCrds } from "../support/crds.ts";
import { kube, testCluster } from "../support/kube.ts";
import { createNamespace, unique } from "../support/resources.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

before(async () => {
  await installCrds();
});

/** kubectl apply --dry-run=server as the admin; returns kubectl's stdout and stderr. */
function dryRun(yaml: string): { status: number | null; stdout: string; stderr: string } {
  const cluster = testCluster();
  const run = spawnSync(
    cluster.kubectl,
    [
      "--kubeconfig",
      cluster.kubeconfig,
      "--context",
      "admin",
      "apply",
      "--dry-run=server",
      "-f",
      "-",
    ],
    { input: yaml, encoding: "utf8" },
  );
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("lint and values", () => {
  test("helm lint --strict passes for the default values and each mode", () => {
    for (const set of [
      [],
      ["--set", "webhook.certificates=cert-manager"],
      ["--set", "webhook.enabled=false", "--set", "leaderElection.enabled=false"],
      ["--set", "rbac.secretSources=false", "--set", "replicaCount=1"],
      ["--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true"],
    ]) {
      const out = execFileSync(helm(), ["lint", "--strict", CHART, ...set], { encoding: "utf8" });
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/, set.join(" "));
    }
  });

  test("values.schema.json refuses bad values at install time, naming them", () => {
    for (const [set, expected] of [
      ["replicaCount=0", /replicaCount/],
      ["webhook.certificates=vault", /certificates/],
      ["logLevel=loud", /logLevel/],
      ["unknownKey=1", /unknownKey/],
      ["defaultPolicy.publishers[0].name=acme", /keys/],
      ["image.digest=latest", /digest/],
    ] as const) {
      assert.throws(
        () => renderText({ set: Object.fromEntries([set.split("=") as [string, string]]) }),
        (error: Error & { stderr?: string }) =>
          expected.test(String(error.stderr ?? error.message)),
        set,
      );
    }
  });

  test("the chart's CRDs are the repository's", () => {
    for (const file of readdirSync(join(ROOT, "crds"))) {
      assert.equal(
        readFileSync(join(CHART, "crds", file), "utf8"),
        readFileSync(join(ROOT, "crds", file), "utf8"),
        `charts/palyra-skills-operator/crds/${file} differs from crds/${file}`,
      );
    }
  });
});

describe("the real API server", () => {
  test("every rendered object passes a server-side dry run, and the pods meet PodSecurity restricted", async () => {
    const ns = unique("chart");
    await createNamespace(ns, {
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/warn": "restricted",
    });
    const yaml = renderText({ namespace: ns, set: { "networkPolicy.enabled": "true" } });
    const run = dryRun(yaml);
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /Warning/, "no PodSecurity or deprecation warning");
    for (const kind of [
      "deployment.apps",
      "service",
      "poddisruptionbudget.policy",
      "clusterrole.rbac.authorization.k8s.io",
      "networkpolicy.networking.k8s.io",
      "skilltrustpolicy.skills.palyra.dev",
      "configmap",
    ]) {
      assert.match(
        run.stdout,
        new RegExp(`^${kind.replace(/\./g, "\\.")}/\\S+ created \\(server dry run\\)$`, "m"),
        kind,
      );
    }
    // The same pods without the security context are refused a clean bill (the check can fail).
    const loosened = yaml.replace("runAsNonRoot: true", "runAsNonRoot: false");
    assert.match(dryRun(loosened).stderr, /would violate PodSecurity "restricted/);
  });

  test("the default policy and trust store from values are valid objects the operator reads", async () => {
    const ns = unique("chart");
    await createNamespace(ns);
    const key = "ab".repeat(32);
    const yaml = renderText({
      namespace: ns,
      set: {
        "defaultPolicy.publishers[0].name": "acme",
        "defaultPolicy.publishers[0].keys[0]": key,
        "defaultPolicy.allowTofu": "true",
      },
      showOnly: ["templates/default-policy.yaml", "templates/trust-store.yaml"],
    });
    const run = dryRun(yaml);
    assert.equal(run.status, 0, run.stderr);
    const [policy] = render({
      namespace: ns,
      set: {
        "defaultPolicy.publishers[0].name": "acme",
        "defaultPolicy.publishers[0].keys[0]": key,
      },
      showOnly: ["templates/default-policy.yaml"],
    });
    assert.ok(policy, "the default policy is rendered");
    assert.deepEqual((policy.spec as { trustStore: unknown }).trustStore, {
      namespace: ns,
      name: "palyra-trust-store",
    });
  });
});

describe("helm install and uninstall", () => {
  test("installs on the real API server with NOTES that say what to do next; uninstall keeps only the trust store", async () => {
    const ns = unique("release");
    const name = unique("palyra");
    const cluster = testCluster();
    const helmArgs = ["--kubeconfig", cluster.kubeconfig, "--kube-context", "admin", "-n", ns];
    const install = spawnSync(
      helm(),
      [
        "install",
        name,
        CHART,
        ...helmArgs,
        "--create-namespace",
        "--set",
        `fullnameOverride=${name}`,
        "--set",
        `defaultPolicy.name=${name}`,
        "--set",
        `trustStore.name=${name}-trust`,
      ],
      { encoding: "utf8" },
    );
    assert.equal(install.status, 0, install.stderr);
    assert.match(install.stdout, /STATUS: deployed/);
    assert.match(install.stdout, new RegExp(`rollout status deployment/${name}`));
    assert.match(install.stdout, /kubectl palyra-skill approve SKILL -n NAMESPACE/);
    for (const path of [
      `/apis/apps/v1/namespaces/${ns}/deployments/${name}`,
      `/api/v1/namespaces/${ns}/configmaps/${name}-trust`,
      `/apis/skills.palyra.dev/v1alpha1/skilltrustpolicies/${name}`,
      `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}-reviewer`,
    ]) {
      assert.equal((await kube("GET", path)).status, 200, path);
    }
    const uninstall = spawnSync(helm(), ["uninstall", name, ...helmArgs, "--wait"], {
      encoding: "utf8",
    });
    assert.equal(uninstall.status, 0, uninstall.stderr);
    assert.equal(
      (await kube("GET", `/apis/apps/v1/namespaces/${ns}/deployments/${name}`)).status,
      404,
    );
    assert.equal(
      (await kube("GET", `/api/v1/namespaces/${ns}/configmaps/${name}-trust`)).status,
      200,
      "the trust store (pins are security state) is kept",
    );
  });
});

describe("least privilege", () => {
  const rules = (manifests: Manifest[], kind: string, name?: string) =>
    manifests
      .filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name))
      .flatMap(
        (m) =>
          (m.rules as { resources: string[]; verbs: string[]; resourceNames?: string[] }[]) ?? [],
      );

  test("no wildcard anywhere; every rule is commented; write verbs only where the operator writes", () => {
    const text = renderText({ showOnly: ["templates/rbac.yaml"] });
    assert.doesNotMatch(text, /["']?\*["']?\s*[\],]/, "no * in verbs, resources or groups");
    // Each rule has a comment above it, or continues the rule before it (same resources, the
    // by-name half of a create + get/update pair).
    const lines = readFileSync(join(CHART, "templates", "rbac.yaml"), "utf8").split("\n");
    let previous = -1;
    lines.forEach((line, i) => {
      if (!/^\s+- apiGroups:/.test(line)) return;
      const between = lines.slice(previous + 1, i);
      const continues =
        previous >= 0 &&
        lines[previous + 1]?.trim() === lines[i + 1]?.trim() &&
        between.length <= 4;
      assert.ok(
        continues || between.some((l) => l.trim().startsWith("#")),
        `a comment says what the rule at line ${i + 1} is for`,
      );
      previous = i;
    });
    const manifests = render({ showOnly: ["templates/rbac.yaml"] });
    const operatorRules = rules(manifests, "ClusterRole", "palyra-skills-operator");
    const writes = operatorRules.filter((r) =>
      r.verbs.some((v) => ["create", "update", "patch", "delete", "deletecollection"].includes(v)),
    );
    const written = new Set(writes.flatMap((r) => r.resources));
    assert.deepEqual([...written].sort(), [
      "configmaps",
      "events",
      "mutatingwebhookconfigurations",
      "reports",
      "skills",
      "skills/status",
      "skilltrustpolicies/status",
      "subjectaccessreviews",
      "tokenreviews",
      "validatingwebhookconfigurations",
    ]);
    assert.ok(
      !operatorRules.some(
        (r) =>
          r.resources.includes("secrets") &&
          r.verbs.some((v) => v !== "get" && v !== "list" && v !== "watch"),
      ),
      "Secrets cluster-wide: read only",
    );
    assert.deepEqual(
      operatorRules.filter((r) => r.verbs.includes("delete")).flatMap((r) => r.resources),
      ["reports"],
      "the operator deletes nothing but its own Reports",
    );
  });

  test("pod delivery adds only what it needs: list/watch of pods (on by default), create on pods/eviction only when eviction is turned on", () => {
    const podRules = (set: Record<string, string>) =>
      rules(
        render({ set, showOnly: ["templates/rbac.yaml"] }),
        "ClusterRole",
        "palyra-skills-operator",
      )
        .filter((r) => r.resources.some((x) => x === "pods" || x.startsWith("pods/")))
        .map((r) => `${r.resources.join(",")}:${r.verbs.join(",")}`);
    assert.deepEqual(podRules({}), ["pods:list,watch"]);
    assert.deepEqual(podRules({ "delivery.pods.evictStalePods": "true" }), [
      "pods:list,watch",
      "pods/eviction:create",
    ]);
    assert.deepEqual(podRules({ "delivery.pods.enabled": "false" }), []);
    const args = (set: Record<string, string>) => {
      const [deployment] = render({ set, showOnly: ["templates/deployment.yaml"] });
      const spec = deployment?.spec as
        | { template: { spec: { containers: { args: string[] }[] } } }
        | undefined;
      return spec?.template.spec.containers[0]?.args ?? [];
    };
    assert.ok(args({}).some((a) => a.startsWith("--pod-delivery-image=")));
    assert.ok(!args({}).includes("--evict-stale-pods"));
    assert.ok(args({ "delivery.pods.evictStalePods": "true" }).includes("--evict-stale-pods"));
    assert.ok(
      !args({ "delivery.pods.enabled": "false" }).some((a) => a.startsWith("--pod-delivery")),
    );
  });

  test("roles for people: authors (aggregated to edit) get Skills without status or approve and use of the default policy only; reviewers approve; policy admins own policies", () => {
    const manifests = render({ showOnly: ["templates/rbac.yaml"] });
    const role = (suffix: string) =>
      manifests.find(
        (m) => m.kind === "ClusterRole" && m.metadata.name === `palyra-skills-operator-${suffix}`,
      ) as Manifest & {
        metadata: { labels?: Record<string, string> };
        rules: { resources: string[]; verbs: string[]; resourceNames?: string[] }[];
      };
    const author = role("author");
    assert.equal(author.metadata.labels?.["rbac.authorization.k8s.io/aggregate-to-edit"], "true");
    const authorResources = author.rules.flatMap((r) => r.resources);
    assert.ok(!authorResources.includes("skills/status"), "authors never write status");
    assert.ok(!author.rules.some((r) => r.verbs.includes("approve")), "authors never approve");
    const use = author.rules.filter((r) => r.verbs.includes("use"));
    assert.deepEqual(
      use.map((r) => [r.resources, r.resourceNames]),
      [[["skilltrustpolicies"], ["default"]]],
    );
    assert.ok(role("reviewer").rules.some((r) => r.verbs.includes("approve")));
    const admin = role("policy-admin");
    assert.ok(
      admin.rules.some(
        (r) => r.resources.includes("skilltrustpolicies") && r.verbs.includes("use"),
      ),
    );
    assert.ok(!admin.rules.some((r) => r.resources.includes("skills/status")));
    const off = render({
      showOnly: ["templates/rbac.yaml"],
      set: { "rbac.authorRole": "false", "rbac.policyAdminRole": "false" },
    });
    assert.ok(!off.some((m) => /-(author|policy-admin)$/.test(m.metadata.name)));
  });

  test("rbac.secretSources=false drops cluster-wide Secret access and tells the operator", () => {
    const manifests = render({ set: { "rbac.secretSources": "false" } });
    const cluster = rules(manifests, "ClusterRole", "palyra-skills-operator");
    assert.ok(!cluster.some((r) => r.resources.includes("secrets")));
    const deployment = manifests.find((m) => m.kind === "Deployment") as Manifest;
    const args = (deployment.spec as { template: { spec: { containers: { args: string[] }[] } } })
      .template.spec.containers[0]?.args;
    assert.ok(args?.includes("--disable-secret-sources"));
  });

  test("with cert-manager the operator only reads its certificate Secret", () => {
    const manifests = render({ set: { "webhook.certificates": "cert-manager" } });
    const ns = rules(manifests, "Role");
    const secretRules = ns.filter((r) => r.resources.includes("secrets"));
    assert.deepEqual(secretRules, [
      {
        apiGroups: [""],
        resources: ["secrets"],
        resourceNames: ["palyra-skills-operator-webhook-tls"],
        verbs: ["get"],
      },
    ]);
    const kinds = manifests.map((m) => `${m.kind}/${m.metadata.name}`);
    assert.ok(kinds.includes("Certificate/palyra-skills-operator-webhook"));
    const deployment = manifests.find((m) => m.kind === "Deployment") as Manifest;
    assert.match(JSON.stringify(deployment), /--webhook-certificates=secret/);
  });

  test("the reviewer role carries the approve verb, separate from the operator's", () => {
    const manifests = render();
    const reviewer = rules(manifests, "ClusterRole", "palyra-skills-operator-reviewer");
    assert.ok(reviewer.some((r) => r.resources.includes("skills") && r.verbs.includes("approve")));
    const operatorRules = rules(manifests, "ClusterRole", "palyra-skills-operator");
    assert.ok(
      !operatorRules.some((r) => r.verbs.includes("approve")),
      "the operator cannot approve",
    );
  });
});
