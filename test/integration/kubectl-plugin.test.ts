/**
 * `kubectl palyra-skill`: the CLI found by kubectl's plugin mechanism on PATH, run by kubectl as
 * a reviewer would: status says why a Skill is not Enabled, approve writes an approval bound to
 * the payload with the caller's identity (checked by the real webhook), quarantine/enable, pins
 * with who pinned them, and verify --cluster judges a local artifact by the cluster's policy.
 * The operator runs as the chart installs it.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ArtifactServer } from "../../hack/dev/artifact-server.ts";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import { chartIdentity } from "../support/chart.ts";
import { installCrds } from "../support/crds.ts";
import { kube, testCluster } from "../support/kube.ts";
import { forbiddenRequests, type RunningOperator, startOperator } from "../support/operator.ts";
import {
  createSkill,
  deleteWebhookConfigurations,
  getSkill,
  unique,
  waitForState,
} from "../support/resources.ts";
import { ACME, createTenant, type Tenant, urlSkillSpec } from "../support/tenants.ts";

const server = new ArtifactServer();
const WILD = skillArtifact({ keySeed: 7, skillId: "acme.fetch_anything", wildcardEgress: true });
const NEWCO = skillArtifact({ publisher: "newco", skillId: "newco.echo", keySeed: 51 });
const STRANGER = skillArtifact({ publisher: "stranger", skillId: "stranger.echo", keySeed: 52 });
const pluginDir = mkdtempSync(join(tmpdir(), "palyra-plugin-"));
let operator: RunningOperator;
let tenant: Tenant;
let vwc = "";

symlinkSync(
  fileURLToPath(new URL("../../bin/palyra-skill.mjs", import.meta.url)),
  join(pluginDir, "kubectl-palyra_skill"),
);

/** kubectl palyra-skill ARGS as the cluster admin (use --as to act as someone else). */
function plugin(...args: string[]) {
  const cluster = testCluster();
  const run = spawnSync(cluster.kubectl, ["palyra-skill", ...args], {
    encoding: "utf8",
    env: {
      ...process.env,
      PATH: `${pluginDir}:${process.env.PATH}`,
      KUBECONFIG: cluster.kubeconfig,
    },
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

async function ok(method: string, path: string, body: unknown) {
  const res = await kube(method, path, body);
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.body.message}`);
}

before(async () => {
  await installCrds();
  await server.start();
  const identity = await chartIdentity();
  vwc = identity.fullname;
  tenant = await createTenant({ allowTofu: true });
  await kube(
    "PATCH",
    `/api/v1/namespaces/${tenant.ns}`,
    {
      metadata: { labels: { "skills.palyra.dev/enforce": "true" } },
    },
    { contentType: "application/merge-patch+json" },
  );
  // rita reviews (the chart's reviewer role); mallory may edit Skills but not approve them.
  await ok("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
    metadata: { name: unique("rita") },
    roleRef: {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: `${identity.fullname}-reviewer`,
    },
    subjects: [{ kind: "User", name: "rita", apiGroup: "rbac.authorization.k8s.io" }],
  });
  await ok("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${tenant.ns}/roles`, {
    metadata: { name: "skill-editor" },
    rules: [
      {
        apiGroups: ["skills.palyra.dev"],
        resources: ["skills"],
        verbs: ["get", "list", "update", "patch"],
      },
    ],
  });
  await ok("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${tenant.ns}/rolebindings`, {
    metadata: { name: "mallory" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "skill-editor" },
    subjects: [{ kind: "User", name: "mallory", apiGroup: "rbac.authorization.k8s.io" }],
  });
  operator = await startOperator(
    [...identity.args, "--webhook-bind-address", "127.0.0.1:0"],
    identity.kubeconfig,
  );
  const spec = (name: string, bytes: Buffer, skillId: string, publisher = "acme") => ({
    ...urlSkillSpec(server, `${tenant.ns}/${name}.palyra-skill`, bytes, tenant.policy),
    skillId,
    publisher,
  });
  await createSkill(tenant.ns, "echo", spec("echo", ACME.bytes, "acme.echo_http"));
  await createSkill(tenant.ns, "wild", spec("wild", WILD.bytes, "acme.fetch_anything"));
  await createSkill(tenant.ns, "newco", spec("newco", NEWCO.bytes, "newco.echo", "newco"));
  await waitForState(tenant.ns, "echo", "Enabled");
  await waitForState(tenant.ns, "wild", "Quarantined");
  await waitForState(tenant.ns, "newco", "Enabled");
});

after(async () => {
  await deleteWebhookConfigurations(vwc);
  const forbidden = operator ? await forbiddenRequests(operator) : 0;
  const code = await operator?.stop();
  await server.stop();
  rmSync(pluginDir, { recursive: true, force: true });
  assert.equal(forbidden, 0, "the operator needed nothing beyond the chart's RBAC");
  assert.equal(code, 0, operator?.stderr.join(""));
});

test("kubectl runs the CLI as the palyra-skill plugin", () => {
  const run = plugin("--version");
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^palyra-skill \d+\.\d+\.\d+ \(ed25519: /);
});

describe("status", () => {
  test("says in plain words why a Skill is Quarantined and what a reviewer can do", () => {
    const run = plugin("status", "wild", "-n", tenant.ns);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^Skill ${tenant.ns}/wild: Quarantined$`, "m"));
    assert.match(run.stdout, /quarantined: .*wildcard/i);
    assert.match(run.stdout, new RegExp(`kubectl palyra-skill approve wild -n ${tenant.ns}`));
    assert.match(run.stdout, /^CONDITION\s+STATUS\s+REASON\s+MESSAGE$/m);
    assert.match(run.stdout, /^Audited\s+False\s+\S+/m);
  });

  test("-o json and -o yaml carry the same facts, including the TOFU pin and who pinned it", async () => {
    const json = plugin("status", "newco", "-n", tenant.ns, "-o", "json");
    assert.equal(json.status, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.equal(report.state, "Enabled");
    assert.equal(report.trustDecision, "tofu_newly_pinned");
    assert.equal(report.pin.publisher, "newco");
    assert.equal(report.pin.key, NEWCO.publicKeyHex);
    assert.equal(report.pin.skill, `${tenant.ns}/newco`);
    assert.equal(report.pin.namespace, tenant.ns, "the pin that binds this Skill's namespace");
    const text = plugin("status", "newco", "-n", tenant.ns);
    assert.match(
      text.stdout,
      new RegExp(`tofu pin: +newco -> ed25519:[0-9a-f]{16} \\(namespace ${tenant.ns}\\)`),
    );
    const yaml = plugin("status", "newco", "-n", tenant.ns, "-o", "yaml");
    assert.match(yaml.stdout, /^state: Enabled$/m);
    const wild = JSON.parse(plugin("status", "wild", "-n", tenant.ns, "-o", "json").stdout);
    assert.ok(wild.audit.failedChecks.includes("forbidden_wildcard_capabilities"));
    // A reviewer with only the chart's reviewer role sees the same, policy included.
    const asReviewer = plugin("status", "wild", "-n", tenant.ns, "--as", "rita", "-o", "json");
    assert.equal(asReviewer.status, 0, asReviewer.stderr);
    assert.equal(JSON.parse(asReviewer.stdout).policy, tenant.policy);
  });

  test("a Skill that does not exist is NOT_FOUND, exit 1, one line", () => {
    const run = plugin("status", "nope", "-n", tenant.ns);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^error\[NOT_FOUND\]: .*nope/);
    assert.equal(run.stderr.trim().split("\n").length, 1);
  });
});

describe("approve", () => {
  test("without the approve verb the webhook denies it; a reviewer approves the payload shown, as herself", async () => {
    const skill = await getSkill(tenant.ns, "wild");
    const payload = skill?.status?.payloadSha256 ?? "";
    const denied = plugin("approve", "wild", "-n", tenant.ns, "--as", "mallory", "--yes");
    assert.equal(denied.status, 1);
    assert.match(denied.stderr, /error\[DENIED\]: .*approve/);
    const noTty = plugin("approve", "wild", "-n", tenant.ns, "--as", "rita");
    assert.equal(noTty.status, 2, "no confirmation, no approval");
    assert.match(noTty.stderr, /--yes/);
    const run = plugin(
      "approve",
      "wild",
      "-n",
      tenant.ns,
      "--as",
      "rita",
      "--yes",
      "--reason",
      "egress reviewed",
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`payload sha256: ${payload}`),
      "the payload is shown first",
    );
    assert.match(run.stderr, /finding: .*wildcard/i, "and the findings");
    assert.match(run.stdout, new RegExp(`approved ${tenant.ns}/wild: payload ${payload} by rita`));
    const enabled = await waitForState(tenant.ns, "wild", "Enabled");
    assert.deepEqual(enabled.spec.approval, {
      payloadSha256: payload,
      approvedBy: "rita",
      reason: "egress reviewed",
    });
  });
});

describe("quarantine and enable", () => {
  test("quarantine holds a Skill back; releasing it needs the approve verb", async () => {
    const run = plugin("quarantine", "echo", "-n", tenant.ns);
    assert.equal(run.status, 0, run.stderr);
    await waitForState(tenant.ns, "echo", "Quarantined");
    const status = plugin("status", "echo", "-n", tenant.ns);
    assert.match(status.stdout, new RegExp(`kubectl palyra-skill enable echo -n ${tenant.ns}`));
    const denied = plugin("enable", "echo", "-n", tenant.ns, "--as", "mallory");
    assert.equal(denied.status, 1);
    assert.match(denied.stderr, /error\[DENIED\]/);
    const released = plugin("enable", "echo", "-n", tenant.ns, "--as", "rita", "-o", "json");
    assert.equal(released.status, 0, released.stderr);
    assert.deepEqual(JSON.parse(released.stdout), {
      skill: `${tenant.ns}/echo`,
      desiredState: "Enabled",
    });
    await waitForState(tenant.ns, "echo", "Enabled");
  });
});

describe("pins", () => {
  test("lists each TOFU pin with the namespace it binds, the Skill that made it and when", () => {
    const run = plugin("pins", "--policy", tenant.policy);
    assert.equal(run.status, 0, run.stderr);
    assert.match(
      run.stdout,
      /^POLICY\s+BINDS\s+PUBLISHER\s+KEY ID\s+PINNED BY\s+PINNED AT\s+TRUST STORE$/m,
    );
    assert.match(
      run.stdout,
      new RegExp(
        `^${tenant.policy}\\s+namespace ${tenant.ns}\\s+newco\\s+ed25519:[0-9a-f]{16}\\s+${tenant.ns}/newco\\s+\\d{4}-\\d\\d-\\d\\dT`,
        "m",
      ),
    );
    const json = JSON.parse(plugin("pins", "--policy", tenant.policy, "-o", "json").stdout);
    assert.deepEqual(
      json.pins.map((p: { publisher: string; key: string; namespace?: string }) => [
        p.namespace,
        p.publisher,
        p.key,
      ]),
      [[tenant.ns, "newco", NEWCO.publicKeyHex]],
    );
  });
});

describe("verify --cluster", () => {
  test("judges a local artifact by the namespace's policy and trust store, writing nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "palyra-verify-"));
    try {
      const file = (name: string, bytes: Buffer) => {
        const path = join(dir, name);
        writeFileSync(path, bytes);
        return path;
      };
      /** verify --cluster of `bytes` under the tenant's policy, in its namespace. */
      const verifyOnCluster = (name: string, bytes: Buffer, ...extra: string[]) =>
        plugin(
          "verify",
          file(name, bytes),
          "--cluster",
          "--policy",
          tenant.policy,
          "-n",
          tenant.ns,
          ...extra,
        );
      const trusted = verifyOnCluster("echo.palyra-skill", ACME.bytes, "--json");
      assert.equal(trusted.status, 0, `${trusted.stderr}${trusted.stdout}`);
      const result = JSON.parse(trusted.stdout);
      assert.equal(result.outcome, "Enabled");
      assert.equal(result.trust.decision, "allowlisted");
      const wild = verifyOnCluster("wild.palyra-skill", WILD.bytes);
      assert.equal(wild.status, 3, "the audit would quarantine it");
      assert.match(wild.stdout, /outcome=Quarantined/);
      const rv = (await kube("GET", `/api/v1/namespaces/palyra-system/configmaps/${tenant.store}`))
        .body.metadata?.resourceVersion;
      const stranger = verifyOnCluster("s.palyra-skill", STRANGER.bytes);
      assert.equal(stranger.status, 0, "TOFU is allowed: it would be pinned on first use");
      assert.match(stranger.stdout, /would pin key ed25519:[0-9a-f]{16} \(nothing written now\)/);
      const after = (
        await kube("GET", `/api/v1/namespaces/palyra-system/configmaps/${tenant.store}`)
      ).body.metadata?.resourceVersion;
      assert.equal(after, rv, "verify --cluster wrote nothing");
      const mixed = plugin(
        "verify",
        file("x.palyra-skill", ACME.bytes),
        "--cluster",
        "--trust-store",
        "x.json",
      );
      assert.equal(mixed.status, 2);
      assert.match(mixed.stderr, /cannot be combined with --cluster/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
