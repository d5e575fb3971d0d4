/**
 * make dev: the operator on a local control plane, with examples.
 *
 * Starts kube-apiserver + etcd on 127.0.0.1, installs the CRDs, serves freshly signed example
 * artifacts from an HTTPS server on 127.0.0.1 (its own CA, passed to the Skills as caBundle),
 * pushes one to an OCI registry (the CNCF distribution registry, htpasswd auth, on 127.0.0.2),
 * runs the operator, applies a policy and eight Skills, and prints a line each time a Skill's
 * state, reason or message changes. Once they settled: a four-eyes approval, the admission
 * webhook at work, and pod delivery (a pod bound to the verified payload, its installer run
 * here, then the artifact server swapping its bytes); then the table once and a summary of
 * commands to try, and the screen stays still until a Skill changes. Ctrl-C stops it all.
 *
 *   node hack/dev/dev.ts          keep running until Ctrl-C
 *   node hack/dev/dev.ts --once   exit 0 once every Skill reached its expected state (CI smoke)
 */

import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { inspectArtifactAsync } from "../../src/artifact/verify.ts";
import { OPERATOR_NODE_FLAGS } from "../../src/operator/runtime.ts";
import { pushSkill } from "../../src/sources/oci/publish.ts";
import { parseOciReference } from "../../src/sources/oci/reference.ts";
import { ensureBinaries, startControlPlane } from "../control-plane/launcher.ts";
import { type RunningRegistry, startRegistry } from "../registry/launcher.ts";
import { ARTIFACT_HOST, ArtifactServer } from "./artifact-server.ts";
import { skillArtifact } from "./artifacts.ts";
import { showPodDelivery } from "./pod-delivery.ts";
import { SkillChangeLog, type WatchedSkill } from "./skill-changes.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const once = process.argv.includes("--once");
const LOG_DIR = join(ROOT, ".cache/dev");
/** The image the chart gives --pod-delivery-image: its repository and appVersion. */
const DELIVERY_IMAGE = chartImage();

/** What each example Skill should end up as, and why (before the reviewer approves). */
const EXPECTED: Record<string, { state: string; reason: string }> = {
  "echo-http": { state: "Enabled", reason: "Enabled" },
  "globex-echo": { state: "Enabled", reason: "Enabled" },
  "initech-echo": { state: "Quarantined", reason: "UntrustedPublisher" },
  "fetch-anything": { state: "Quarantined", reason: "AuditFailed" },
  "fetch-anything-approved": { state: "Quarantined", reason: "AuditFailed" },
  "echo-airgapped": { state: "Enabled", reason: "Enabled" },
  "apiserver-probe": { state: "Failed", reason: "SourceAddressBlocked" },
  "registry-echo": { state: "Enabled", reason: "Enabled" },
};
/** A security reviewer (the approve verb in skills-demo), who approves what the author cannot. */
const REVIEWER = { user: "rita@example.com", group: "security-reviewers" };

async function main(): Promise<number> {
  const bin = ensureBinaries();
  console.log("dev: starting kube-apiserver and etcd on 127.0.0.1 ...");
  const plane = await startControlPlane();
  const server = new ArtifactServer();
  let registry: RunningRegistry | undefined;
  let operator: ChildProcess | undefined;
  let stopping = false;
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    if (operator && operator.exitCode === null) {
      operator.kill("SIGTERM");
      await new Promise((r) => operator?.once("exit", r));
    }
    await server.stop();
    await registry?.stop();
    await plane.stop();
  };
  process.on("SIGINT", () => {
    console.log("\ndev: stopping the operator, the artifact server and the control plane ...");
    stopAll().then(() => process.exit(0));
  });
  process.on("SIGTERM", () => stopAll().then(() => process.exit(0)));

  try {
    const kubectl = (args: string[], input?: string) =>
      execFileSync(join(bin, "kubectl"), ["--kubeconfig", plane.kubeconfig, ...args], {
        encoding: "utf8",
        stdio: ["pipe", "pipe", "pipe"],
        ...(input === undefined ? {} : { input }),
      });
    kubectl(["apply", "--server-side", "-f", join(ROOT, "crds")]);
    kubectl(["wait", "--for", "condition=Established", "--timeout=60s", "-f", join(ROOT, "crds")]);

    // Sign the examples with throwaway keys: acme's is allowlisted, globex is new (TOFU),
    // initech is unknown and governed by a strict policy without TOFU.
    const acme = skillArtifact({ keySeed: 7 });
    const wild = skillArtifact({
      keySeed: 7,
      skillId: "acme.fetch_anything",
      wildcardEgress: true,
    });
    const globex = skillArtifact({ publisher: "globex", skillId: "globex.echo", keySeed: 11 });
    const initech = skillArtifact({ publisher: "initech", skillId: "initech.echo", keySeed: 13 });
    // What the artifact server swaps echo-http's bytes for: signed with acme's key too.
    const swapped = skillArtifact({ keySeed: 7, version: "6.6.6" });
    await server.start();
    const url = (name: string, bytes: Buffer) => server.put(`${name}.palyra-skill`, bytes);
    console.log(`dev: artifact server at ${server.url("")} (own CA)`);
    // One more example from an OCI registry, by tag, with credentials from a pull Secret.
    const fromRegistry = skillArtifact({ keySeed: 7, skillId: "acme.registry_echo" });
    registry = await startRegistry({ auth: "basic", listenHost: ARTIFACT_HOST });
    const reference = `${registry.host}/skills/registry-echo:1.0.0`;
    const inspected = await inspectArtifactAsync(fromRegistry.bytes);
    const pushed = await pushSkill(
      parseOciReference(reference),
      fromRegistry.bytes,
      {
        skillId: inspected.manifest.skill_id,
        version: inspected.manifest.version,
        publisher: inspected.manifest.publisher,
        keyId: inspected.keyId,
        payloadSha256: inspected.payloadSha256,
      },
      {
        caBundlePem: registry.caPem,
        credentials: registry.users,
        title: "registry-echo.palyra-skill",
      },
    );
    console.log(
      `dev: OCI registry at ${registry.url} (htpasswd, own CA); palyra-skill push ${reference} -> ${pushed.manifestDigest}`,
    );

    const base = [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "palyra-system" } },
      {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: {
          name: "skills-demo",
          // Workloads here are checked by the admission webhook.
          labels: { "palyra.dev/skills": "enabled", "skills.palyra.dev/enforce": "true" },
        },
      },
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name: "palyra-trust-store",
          namespace: "palyra-system",
          labels: { "skills.palyra.dev/trust-store": "true" },
        },
        data: { "trust-store.json": '{"trusted_publishers":{},"tofu_publishers":{}}' },
      },
      {
        apiVersion: "skills.palyra.dev/v1alpha1",
        kind: "SkillTrustPolicy",
        metadata: { name: "default" },
        spec: {
          default: true,
          namespaceSelector: { matchLabels: { "palyra.dev/skills": "enabled" } },
          publishers: [{ name: "acme", keys: [acme.publicKeyHex] }],
          allowTofu: true,
          trustStore: { namespace: "palyra-system", name: "palyra-trust-store" },
        },
      },
      {
        apiVersion: "skills.palyra.dev/v1alpha1",
        kind: "SkillTrustPolicy",
        metadata: { name: "strict" },
        spec: {
          namespaceSelector: { matchLabels: { "palyra.dev/skills": "enabled" } },
          publishers: [{ name: "acme", keys: [acme.publicKeyHex] }],
          allowTofu: false,
          trustStore: { namespace: "palyra-system", name: "palyra-trust-store" },
        },
      },
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "registry-pull", namespace: "skills-demo" },
        type: "kubernetes.io/dockerconfigjson",
        data: {
          ".dockerconfigjson": Buffer.from(
            JSON.stringify({
              auths: {
                [registry.host]: {
                  auth: Buffer.from(
                    `${registry.users.username}:${registry.users.password}`,
                  ).toString("base64"),
                },
              },
            }),
          ).toString("base64"),
        },
      },
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "echo-http-artifact", namespace: "skills-demo" },
        binaryData: { "artifact.palyra-skill": acme.bytes.toString("base64") },
      },
      // The chart's reviewer role, bound to the demo's security reviewers in skills-demo.
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "palyra-skills-reviewer" },
        rules: [
          {
            apiGroups: ["skills.palyra.dev"],
            resources: ["skills", "skilltrustpolicies"],
            verbs: ["get", "list", "watch"],
          },
          { apiGroups: [""], resources: ["namespaces"], verbs: ["get"] },
          {
            apiGroups: ["skills.palyra.dev"],
            resources: ["skills"],
            verbs: ["update", "patch", "approve"],
          },
        ],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "security-reviewers", namespace: "skills-demo" },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: "palyra-skills-reviewer",
        },
        subjects: [{ kind: "Group", name: REVIEWER.group, apiGroup: "rbac.authorization.k8s.io" }],
      },
      // Applied before the operator (and its webhook) start: a Skill the webhook would refuse
      // at admission; applied first, it shows how the controller quarantines it.
      skill(
        "initech-echo",
        "initech.echo",
        "initech",
        { url: url("initech-echo", initech.bytes), caBundle: server.caBundle },
        { policyRef: { name: "strict" } },
      ),
    ];
    const skills = [
      skill("echo-http", "acme.echo_http", "acme", {
        url: url("echo-http", acme.bytes),
        caBundle: server.caBundle,
      }),
      skill("globex-echo", "globex.echo", "globex", {
        url: url("globex-echo", globex.bytes),
        caBundle: server.caBundle,
      }),
      skill("fetch-anything", "acme.fetch_anything", "acme", {
        url: url("fetch-anything", wild.bytes),
        caBundle: server.caBundle,
      }),
      // The same artifact: a reviewer approves it below (not its author: four-eyes).
      skill("fetch-anything-approved", "acme.fetch_anything", "acme", {
        url: url("fetch-anything", wild.bytes),
        caBundle: server.caBundle,
      }),
      // The same skill id as echo-http, from a ConfigMap: twins resolve together.
      skill("echo-airgapped", "acme.echo_http", "acme", {
        configMapRef: { name: "echo-http-artifact" },
      }),
      // From the OCI registry, by tag; the credentials are the namespace's own pull Secret.
      skill("registry-echo", "acme.registry_echo", "acme", {
        oci: {
          reference,
          caBundle: Buffer.from(registry.caPem).toString("base64"),
          pullSecretRef: { name: "registry-pull" },
        },
      }),
      // A URL at the cluster's own API server, with its CA: the operator refuses the address.
      skill("apiserver-probe", "acme.probe", "acme", {
        url: `${plane.server}/api/v1/namespaces/kube-system/secrets`,
        caBundle: readFileSync(plane.caFile).toString("base64"),
      }),
    ];

    kubectl(["apply", "--server-side", "-f", "-"], base.map((r) => JSON.stringify(r)).join("\n"));

    mkdirSync(LOG_DIR, { recursive: true });
    const logFile = join(LOG_DIR, "operator.log");
    const log = createWriteStream(logFile);
    operator = spawn(
      process.execPath,
      [
        ...OPERATOR_NODE_FLAGS,
        join(ROOT, "src/operator/main.ts"),
        "--kubeconfig",
        plane.kubeconfig,
        `--source-allowed-cidrs=${ARTIFACT_HOST}/32`,
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--namespace",
        "palyra-system",
        "--webhook-bind-address",
        "127.0.0.1:0",
        // Pods naming skills get an installer of this image (no --webhook-service: the pods
        // reach this process at https://127.0.0.1:<port>, which its certificate names).
        "--pod-delivery-image",
        DELIVERY_IMAGE,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    operator.stdout?.pipe(log);
    operator.stderr?.pipe(log);
    operator.once("exit", (code) => {
      if (!stopping) console.error(`dev: the operator exited (${code}); see ${logFile}`);
    });
    console.log(
      `dev: operator started with --pod-delivery-image ${DELIVERY_IMAGE} (JSON logs in ${logFile})`,
    );
    // Skills applied through the webhooks: each records who wrote it (for four-eyes approvals).
    await webhooksInEffect(kubectl, skills[0]);
    kubectl(["apply", "--server-side", "-f", "-"], skills.map((r) => JSON.stringify(r)).join("\n"));
    console.log(`dev: applied 2 policies and ${Object.keys(EXPECTED).length} Skills`);

    console.log("dev: Skills as they change (state, Ready reason and message):");
    const changes = new SkillChangeLog();
    const listSkills = () =>
      (JSON.parse(kubectl(["get", "skills", "-A", "-o", "json"])) as { items: WatchedSkill[] })
        .items;
    let workloadsShown = false;
    const deadline = Date.now() + 120_000;
    while (!stopping) {
      const all = listSkills();
      for (const line of changes.update(all)) console.log(`  ${line}`);
      const demo = all.filter((s) => s.metadata.namespace === "skills-demo");
      const settled =
        demo.length === Object.keys(EXPECTED).length &&
        demo.every((s) => {
          const want = EXPECTED[s.metadata.name ?? ""];
          const ready = s.status?.conditions?.find((c) => c.type === "Ready");
          return want && s.status?.state === want.state && ready?.reason === want.reason;
        });
      if (settled && !workloadsShown) {
        workloadsShown = true;
        console.log("dev: every Skill reached its expected state\n");
        const approved = await showApproval(kubectl, plane.kubeconfig);
        const shown = await showWorkloads(kubectl);
        const delivered = await showPodDelivery({
          kubectl,
          server,
          path: "echo-http.palyra-skill",
          verified: acme,
          swapped,
          dir: join(LOG_DIR, "pods"),
        });
        console.log(`--- kubectl get skills -A\n${kubectl(["get", "skills", "-A"])}`);
        // What the demonstrations changed is in the table: only later changes are printed.
        changes.update(listSkills());
        if (once) {
          await stopAll();
          return shown && approved && delivered ? 0 : 1;
        }
        console.log(tryThis(bin, plane.kubeconfig, logFile));
      }
      if (once && Date.now() > deadline) {
        console.error("dev: Skills did not reach their expected states within 120 s");
        await stopAll();
        return 1;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    return await new Promise<number>(() => {}); // the signal handler exits
  } catch (error) {
    if (stopping) return await new Promise<number>(() => {});
    console.error(`dev: ${error instanceof Error ? error.message : String(error)}`);
    await stopAll();
    return 1;
  }
}

/** Waits until the API server calls the operator's webhooks (a dry run records the requester). */
async function webhooksInEffect(
  kubectl: (args: string[], input?: string) => string,
  probe: unknown,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const out = JSON.parse(
        kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], JSON.stringify(probe)),
      ) as { metadata?: { annotations?: Record<string, string> } };
      if (out.metadata?.annotations?.["skills.palyra.dev/requested-by"]) return;
    } catch {
      // Not yet: the webhook configuration or the operator is still starting.
    }
    if (Date.now() > deadline) throw new Error("the operator's webhooks did not come into effect");
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Four-eyes approval: the Skill's author (the admin who applied it) may not approve it; a
 * security reviewer approves its exact payload with the plugin, and it becomes Enabled.
 */
async function showApproval(
  kubectl: (args: string[], input?: string) => string,
  kubeconfig: string,
): Promise<boolean> {
  console.log("dev: approving fetch-anything-approved (audit finding: wildcard egress):");
  const cli = (args: string[]) =>
    spawnSync(
      process.execPath,
      [join(ROOT, "src/cli/main.ts"), ...args, "-n", "skills-demo", "--kubeconfig", kubeconfig],
      { encoding: "utf8" },
    );
  const reason = ["--reason", "egress is restricted by a NetworkPolicy in this namespace", "--yes"];
  const byAuthor = cli(["approve", "fetch-anything-approved", ...reason]);
  console.log(
    `  by its author (admin):             ${byAuthor.status === 0 ? "APPROVED" : `refused: ${byAuthor.stderr.trim().split("\n").pop()}`}`,
  );
  const byReviewer = cli([
    "approve",
    "fetch-anything-approved",
    ...reason,
    "--as",
    REVIEWER.user,
    "--as-group",
    REVIEWER.group,
  ]);
  console.log(
    `  by ${REVIEWER.user} (reviewer):  ${byReviewer.status === 0 ? byReviewer.stdout.trim() : `FAILED: ${byReviewer.stderr.trim()}`}`,
  );
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const s = JSON.parse(
      kubectl(["get", "skill", "-n", "skills-demo", "fetch-anything-approved", "-o", "json"]),
    ) as { status?: { state?: string; conditions?: { type: string; reason: string }[] } };
    const ready = s.status?.conditions?.find((c) => c.type === "Ready");
    if (s.status?.state === "Enabled" && ready?.reason === "Approved") {
      console.log(
        "  fetch-anything-approved is Enabled (Approved); fetch-anything stays Quarantined\n",
      );
      return byAuthor.status !== 0 && byReviewer.status === 0;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  console.error("dev: fetch-anything-approved did not become Enabled (Approved)");
  return false;
}

/**
 * The admission webhook at work: a Deployment that runs an Enabled skill is admitted, one that
 * runs a Quarantined skill is denied with the reason, one naming a skill id whose twin is
 * quarantined is denied too. True when each went as expected.
 */
async function showWorkloads(
  kubectl: (args: string[], input?: string) => string,
): Promise<boolean> {
  const deployment = (name: string, skills: string) =>
    JSON.stringify({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: "skills-demo" },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name }, annotations: { "skills.palyra.dev/skills": skills } },
          spec: { containers: [{ name: "agent", image: "registry.example/agent:1" }] },
        },
      },
    });
  const attempt = (name: string, skills: string): { ok: boolean; text: string } => {
    try {
      return { ok: true, text: kubectl(["apply", "-f", "-"], deployment(name, skills)).trim() };
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      return { ok: false, text: (e.stderr ?? e.message).trim() };
    }
  };
  console.log("dev: the admission webhook, with the annotation skills.palyra.dev/skills:");
  // The API server loads the webhook configuration through a watch; give it a few seconds.
  let denied = attempt("agent-initech", "initech.echo");
  for (let i = 0; i < 20 && denied.ok; i++) {
    await new Promise((r) => setTimeout(r, 500));
    kubectl(["delete", "deployment", "-n", "skills-demo", "agent-initech", "--ignore-not-found"]);
    denied = attempt("agent-initech", "initech.echo");
  }
  const admitted = attempt("agent-echo", "acme.echo_http@1.0.0");
  const twin = attempt("agent-fetch", "acme.fetch_anything");
  console.log(
    `  agent-echo    (acme.echo_http@1.0.0): ${admitted.ok ? "admitted" : "DENIED"}: ${admitted.text}`,
  );
  console.log(
    `  agent-initech (initech.echo):         ${denied.ok ? "ADMITTED" : "denied"}: ${denied.text}`,
  );
  console.log(
    `  agent-fetch   (acme.fetch_anything):  ${twin.ok ? "ADMITTED" : "denied"}: ${twin.text}`,
  );
  // A Skill its policy can never admit is refused at admission too.
  let skillDenied = "";
  try {
    kubectl(
      ["apply", "-f", "-"],
      JSON.stringify(
        skill(
          "initech-echo-2",
          "initech.echo",
          "initech",
          { url: "https://127.0.0.1:1/x.palyra-skill" },
          { policyRef: { name: "strict" } },
        ),
      ),
    );
  } catch (error) {
    skillDenied = ((error as { stderr?: string }).stderr ?? "").trim();
  }
  console.log(
    `  Skill initech-echo-2 (strict policy):  ${skillDenied ? `denied: ${skillDenied}` : "ADMITTED"}\n`,
  );
  return admitted.ok && !denied.ok && !twin.ok && skillDenied !== "";
}

/**
 * The closing summary: what to run in another terminal. kubectl and the plugin are linked into
 * one directory, so `kubectl palyra-skill` works as it would for a user who installed both.
 */
function tryThis(bin: string, kubeconfig: string, logFile: string): string {
  const dir = join(LOG_DIR, "bin");
  mkdirSync(dir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    bin: Record<string, string>;
  };
  for (const [name, target] of [
    ["kubectl", join(bin, "kubectl")],
    ["kubectl-palyra_skill", join(ROOT, pkg.bin["kubectl-palyra_skill"] ?? "bin/palyra-skill.mjs")],
  ] as const) {
    rmSync(join(dir, name), { force: true });
    symlinkSync(target, join(dir, name));
  }
  const reviewer = `--as ${REVIEWER.user} --as-group ${REVIEWER.group}`;
  return [
    "dev: ready. In another terminal:",
    `  export KUBECONFIG=${kubeconfig} PATH=${dir}:$PATH`,
    "  kubectl get skills -A                                       # every Skill, its state and reason",
    "  kubectl palyra-skill status fetch-anything -n skills-demo   # why, in plain words, and what to do",
    `  kubectl palyra-skill approve fetch-anything -n skills-demo --reason "egress reviewed" ${reviewer}`,
    `  kubectl patch skill echo-http -n skills-demo --type merge -p '{"spec":{"desiredState":"Quarantined"}}'   # the change shows here`,
    "  kubectl palyra-skill pins                                   # TOFU pins: who pinned which key",
    `The operator's JSON logs: ${logFile}`,
    "Changes to Skills appear below as they happen; nothing is printed while nothing changes.",
    "Ctrl-C stops the operator, the servers and the control plane.",
  ].join("\n");
}

function chartImage(): string {
  const chart = join(ROOT, "charts/palyra-skills-operator");
  try {
    const repository = /^ {2}repository: *(\S+)/m.exec(
      readFileSync(join(chart, "values.yaml"), "utf8"),
    )?.[1];
    const version = /^appVersion: *"?([^"\s]+)"?/m.exec(
      readFileSync(join(chart, "Chart.yaml"), "utf8"),
    )?.[1];
    if (repository && version) return `${repository}:${version}`;
  } catch {
    // the placeholder below
  }
  return "palyra/palyra-skills-operator:dev";
}

function skill(
  name: string,
  skillId: string,
  publisher: string,
  source: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  return {
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "Skill",
    metadata: { name, namespace: "skills-demo" },
    spec: { skillId, publisher, source, ...extra },
  };
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
