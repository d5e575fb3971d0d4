/**
 * Skills from OCI registries (issue 19) against the real CNCF distribution registry (built from
 * its pinned module) on 127.0.0.2 with TLS, anonymous, htpasswd and bearer-token auth, with the
 * operator running as the chart installs it: `palyra-skill push` and `oras pull` agree byte for
 * byte and the other way round, tags resolve to digests recorded in status, a moved tag is a new
 * artifact with an event, credentials come from the Skill's own namespace only, and manifests
 * that are not a skill's are refused with a typed reason.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ARTIFACT_HOST } from "../../hack/dev/artifact-server.ts";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import { runProcess } from "../../hack/dev/run-process.ts";
import { type RunningRegistry, startRegistry } from "../../hack/registry/launcher.ts";
import type { SkillSpec } from "../../src/api/v1alpha1/types.generated.ts";
import { type ChartIdentity, chartIdentity } from "../support/chart.ts";
import { installCrds } from "../support/crds.ts";
import { kube } from "../support/kube.ts";
import { forbiddenRequests, type RunningOperator, startOperator } from "../support/operator.ts";
import {
  createSkill,
  deleteWebhookConfigurations,
  patchSkill,
  waitForEvent,
  waitForSkill,
  waitForState,
} from "../support/resources.ts";
import { createTenant, type Tenant } from "../support/tenants.ts";

const BIN = fileURLToPath(new URL("../../bin/palyra-skill.mjs", import.meta.url));
const ECHO = skillArtifact({ keySeed: 7 });
const ECHO_V2 = skillArtifact({ keySeed: 7, version: "2.0.0" });
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const work = mkdtempSync(join(tmpdir(), "palyra-oci-"));
const registries: Partial<Record<"none" | "basic" | "token", RunningRegistry>> = {};
let operator: RunningOperator;
let identity: ChartIdentity;
let tenant: Tenant;

/** The CLI as a process (stdin: a password, for --password-stdin). */
function run(args: string[], input?: string) {
  return runProcess(process.execPath, [BIN, ...args], input === undefined ? {} : { input });
}

/** palyra-skill push of `bytes` to `reference` (basic/token registries: the user's password on stdin). */
async function push(registry: RunningRegistry, reference: string, bytes: Buffer) {
  const file = join(work, `${sha(bytes).slice(0, 12)}.palyra-skill`);
  writeFileSync(file, bytes);
  const caFile = join(work, `${registry.auth}-ca.crt`);
  writeFileSync(caFile, registry.caPem);
  const auth =
    registry.auth === "none" ? [] : ["--username", registry.users.username, "--password-stdin"];
  const r = await run(
    ["push", file, `${registry.host}/${reference}`, "--ca-file", caFile, "--json", ...auth],
    registry.auth === "none" ? undefined : registry.users.password,
  );
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return JSON.parse(r.stdout) as { manifestDigest: string; artifactSha256: string; pinned: string };
}

function ociSpec(
  registry: RunningRegistry,
  reference: string,
  extra: Partial<NonNullable<SkillSpec["source"]["oci"]>> = {},
): SkillSpec {
  return {
    skillId: "acme.echo_http",
    publisher: "acme",
    source: {
      oci: {
        reference: `${registry.host}/${reference}`,
        caBundle: Buffer.from(registry.caPem).toString("base64"),
        ...extra,
      },
    },
    policyRef: { name: tenant.policy },
  };
}

async function pullSecret(namespace: string, name: string, registry: RunningRegistry) {
  const auth = Buffer.from(`${registry.users.username}:${registry.users.password}`).toString(
    "base64",
  );
  const r = await kube("POST", `/api/v1/namespaces/${namespace}/secrets`, {
    metadata: { name },
    type: "kubernetes.io/dockerconfigjson",
    data: {
      ".dockerconfigjson": Buffer.from(
        JSON.stringify({ auths: { [registry.host]: { auth } } }),
      ).toString("base64"),
    },
  });
  assert.equal(r.status, 201, r.body.message);
}

before(async () => {
  await installCrds();
  const [none, basic, token] = await Promise.all(
    (["none", "basic", "token"] as const).map((auth) =>
      startRegistry({ auth, listenHost: ARTIFACT_HOST }),
    ),
  );
  Object.assign(registries, { none, basic, token });
  identity = await chartIdentity();
  // Tags are resolved again at most every second here, and Skills reconciled every 2 s: a moved
  // tag shows within seconds instead of the default ten minutes.
  operator = await startOperator(
    [
      ...identity.args,
      "--url-refresh-period",
      "1",
      "--resync-period",
      "2",
      "--webhook-bind-address",
      "127.0.0.1:0",
    ],
    identity.kubeconfig,
  );
  tenant = await createTenant();
});

after(async () => {
  await deleteWebhookConfigurations(identity.fullname);
  const forbidden = await forbiddenRequests(operator);
  const code = await operator.stop();
  await Promise.all(Object.values(registries).map((r) => r?.stop()));
  rmSync(work, { recursive: true, force: true });
  assert.equal(forbidden, 0, "the operator needed nothing beyond the chart's RBAC");
  assert.equal(code, 0, operator.stderr.join(""));
});

describe("publishing and pulling", () => {
  test("what palyra-skill push writes, oras pulls byte for byte; what oras pushes with our media types, the operator verifies", async () => {
    const r = registries.none as RunningRegistry;
    const pushed = await push(r, "skills/echo:1.0.0", ECHO.bytes);
    assert.equal(pushed.artifactSha256, sha(ECHO.bytes));
    const out = mkdtempSync(join(work, "pull-"));
    const pulled = await r.oras(["pull", `${r.host}/skills/echo:1.0.0`, "-o", out]);
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.deepEqual(
      readFileSync(join(out, `${sha(ECHO.bytes).slice(0, 12)}.palyra-skill`)),
      ECHO.bytes,
    );
    // And palyra-skill pull, by digest.
    const file = join(work, "pulled.palyra-skill");
    const caFile = join(work, "none-ca.crt");
    const ours = await run([
      "pull",
      `${r.host}/skills/echo@${pushed.manifestDigest}`,
      "-o",
      file,
      "--ca-file",
      caFile,
    ]);
    assert.equal(ours.status, 0, ours.stderr);
    assert.deepEqual(readFileSync(file), ECHO.bytes);
    // oras push with our media types: the operator resolves and verifies it.
    const orasFile = "echo-v2.palyra-skill";
    writeFileSync(join(work, orasFile), ECHO_V2.bytes);
    const orasPush = await r.oras(
      [
        "push",
        `${r.host}/skills/echo-oras:2.0.0`,
        "--artifact-type",
        "application/vnd.palyra.skill.v1",
        `${orasFile}:application/vnd.palyra.skill.v1+zip`,
      ],
      { cwd: work },
    );
    assert.equal(orasPush.status, 0, orasPush.stderr);
    await createSkill(tenant.ns, "from-oras", ociSpec(r, "skills/echo-oras:2.0.0"));
    const skill = await waitForState(tenant.ns, "from-oras", "Enabled");
    assert.equal(skill.status?.artifactSha256, sha(ECHO_V2.bytes));
    assert.equal(skill.status?.manifest?.version, "2.0.0");
  });
});

describe("Skills from a registry", () => {
  test("a tag resolves to a digest recorded in status; a digest reference never moves; a moved tag is a new artifact with an event", async () => {
    const r = registries.none as RunningRegistry;
    const first = await push(r, "skills/moving:stable", ECHO.bytes);
    await createSkill(tenant.ns, "by-tag", ociSpec(r, "skills/moving:stable"));
    await createSkill(tenant.ns, "by-digest", ociSpec(r, `skills/moving@${first.manifestDigest}`));
    const byTag = await waitForState(tenant.ns, "by-tag", "Enabled");
    assert.deepEqual(byTag.status?.source, {
      reference: `${r.host}/skills/moving@${first.manifestDigest}`,
      tag: "stable",
    });
    assert.equal(byTag.status?.artifactSha256, sha(ECHO.bytes));
    await waitForState(tenant.ns, "by-digest", "Enabled");
    // The tag moves to another artifact.
    const second = await push(r, "skills/moving:stable", ECHO_V2.bytes);
    const moved = await waitForSkill(
      tenant.ns,
      "by-tag",
      (s) => s.status?.artifactSha256 === sha(ECHO_V2.bytes) && s.status.state === "Enabled",
      "the moved tag's artifact, Enabled",
    );
    assert.equal(
      moved.status?.source?.reference,
      `${r.host}/skills/moving@${second.manifestDigest}`,
    );
    const event = await waitForEvent(
      tenant.ns,
      (e) => e.reason === "TagMoved" && e.involvedObject.name === "by-tag",
      "TagMoved",
    );
    assert.match(
      event.message,
      new RegExp(`tag stable moved from .*@${first.manifestDigest} to .*@${second.manifestDigest}`),
    );
    // The digest reference still names the first artifact.
    const pinned = await waitForState(tenant.ns, "by-digest", "Enabled");
    assert.equal(pinned.status?.artifactSha256, sha(ECHO.bytes));
  });

  for (const mode of ["basic", "token"] as const) {
    test(`${mode} auth: no credentials is RegistryAuthFailed; the namespace's dockerconfigjson Secret gets it Enabled; another namespace gets nothing from it`, async () => {
      const r = registries[mode] as RunningRegistry;
      await push(r, "private/echo:1.0.0", ECHO.bytes);
      await createSkill(tenant.ns, `${mode}-private`, ociSpec(r, "private/echo:1.0.0"));
      const refused = await waitForState(
        tenant.ns,
        `${mode}-private`,
        "Failed",
        "RegistryAuthFailed",
      );
      assert.match(
        refused.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "",
        mode === "basic"
          ? /asks for a user name and password, and none is configured/
          : /token service .* refused an anonymous request/,
      );
      await pullSecret(tenant.ns, `${mode}-pull`, r);
      await patchSkill(tenant.ns, `${mode}-private`, {
        source: {
          oci: {
            ...ociSpec(r, "private/echo:1.0.0").source.oci,
            pullSecretRef: { name: `${mode}-pull` },
          },
        } as SkillSpec["source"],
      });
      const enabled = await waitForState(tenant.ns, `${mode}-private`, "Enabled");
      assert.equal(enabled.status?.artifactSha256, sha(ECHO.bytes));
      // Another tenant naming the same private reference without credentials: still refused,
      // although the artifact is verified and cached for the first.
      const other = await createTenant();
      await createSkill(other.ns, "borrowed", {
        ...ociSpec(r, "private/echo:1.0.0"),
        policyRef: { name: other.policy },
      });
      await waitForState(other.ns, "borrowed", "Failed", "RegistryAuthFailed");
    });
  }

  test("without a pull Secret, the default ServiceAccount's imagePullSecrets are used, as kubelet does", async () => {
    const r = registries.basic as RunningRegistry;
    await push(r, "private/sa:1.0.0", ECHO.bytes);
    const t = await createTenant();
    await pullSecret(t.ns, "registry-credentials", r);
    // No controller-manager here: the default ServiceAccount is created by the test.
    const sa = await kube("POST", `/api/v1/namespaces/${t.ns}/serviceaccounts`, {
      metadata: { name: "default" },
      imagePullSecrets: [{ name: "not-there" }, { name: "registry-credentials" }],
    });
    assert.equal(sa.status, 201, sa.body.message);
    await createSkill(t.ns, "via-sa", {
      ...ociSpec(r, "private/sa:1.0.0"),
      policyRef: { name: t.policy },
    });
    const enabled = await waitForState(t.ns, "via-sa", "Enabled");
    assert.equal(enabled.status?.artifactSha256, sha(ECHO.bytes));
  });

  test("insecure: a plain-http registry on a loopback address, as a development registry", async () => {
    const plain = await startRegistry({ auth: "none", listenHost: ARTIFACT_HOST, plainHttp: true });
    try {
      writeFileSync(join(work, "plain.palyra-skill"), ECHO.bytes);
      const pushed = await plain.oras(
        [
          "push",
          `${plain.host}/skills/plain:1.0.0`,
          "--artifact-type",
          "application/vnd.palyra.skill.v1",
          "plain.palyra-skill:application/vnd.palyra.skill.v1+zip",
        ],
        { cwd: work },
      );
      assert.equal(pushed.status, 0, pushed.stderr);
      const source = (insecure: boolean) => ({
        skillId: "acme.echo_http",
        publisher: "acme",
        source: {
          oci: { reference: `${plain.host}/skills/plain:1.0.0`, ...(insecure ? { insecure } : {}) },
        },
        policyRef: { name: tenant.policy },
      });
      await createSkill(tenant.ns, "plain-http", source(true));
      const enabled = await waitForState(tenant.ns, "plain-http", "Enabled");
      assert.equal(enabled.status?.artifactSha256, sha(ECHO.bytes));
      // Without insecure the same registry is spoken to over TLS only: it fails.
      await createSkill(tenant.ns, "plain-https", source(false));
      await waitForState(tenant.ns, "plain-https", "Failed", "FetchFailed");
    } finally {
      await plain.stop();
    }
  });

  test("manifests that are not a skill's: another artifact type, two layers, an index; a reference that does not parse", async () => {
    const r = registries.none as RunningRegistry;
    writeFileSync(join(work, "a.palyra-skill"), ECHO.bytes);
    writeFileSync(join(work, "b.txt"), "second layer");
    const cases: [string, string[], RegExp][] = [
      [
        "other-type",
        [
          "--artifact-type",
          "application/vnd.example.other.v1",
          "a.palyra-skill:application/vnd.palyra.skill.v1+zip",
        ],
        /artifact type is "application\/vnd\.example\.other\.v1"/,
      ],
      [
        "two-layers",
        [
          "--artifact-type",
          "application/vnd.palyra.skill.v1",
          "a.palyra-skill:application/vnd.palyra.skill.v1+zip",
          "b.txt:text/plain",
        ],
        /exactly one layer .* has 2/,
      ],
      [
        "wrong-layer",
        ["--artifact-type", "application/vnd.palyra.skill.v1", "a.palyra-skill:application/zip"],
        /layer's media type is "application\/zip"/,
      ],
    ];
    for (const [name, args, why] of cases) {
      const pushed = await r.oras(["push", `${r.host}/bad/${name}:1`, ...args], { cwd: work });
      assert.equal(pushed.status, 0, pushed.stderr);
      await createSkill(tenant.ns, `bad-${name}`, ociSpec(r, `bad/${name}:1`));
      const failed = await waitForState(tenant.ns, `bad-${name}`, "Failed", "NotASkillArtifact");
      assert.match(
        failed.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "",
        why,
        name,
      );
    }
    // An index over a skill's manifest.
    await push(r, "bad/index:skill", ECHO.bytes);
    const index = await r.oras(["manifest", "index", "create", `${r.host}/bad/index:1`, "skill"]);
    assert.equal(index.status, 0, index.stderr);
    await createSkill(tenant.ns, "bad-index", ociSpec(r, "bad/index:1"));
    const failed = await waitForState(tenant.ns, "bad-index", "Failed", "NotASkillArtifact");
    assert.match(
      failed.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "",
      /image index/,
    );
    // No registry named.
    await createSkill(tenant.ns, "bad-reference", {
      ...ociSpec(r, "x:1"),
      source: { oci: { reference: "skills/echo:1.0.0" } },
    });
    const unparsed = await waitForState(tenant.ns, "bad-reference", "Failed");
    assert.match(
      unparsed.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "",
      /OCI reference "skills\/echo:1\.0\.0" is not valid: the first component "skills" is not a registry host/,
    );
  });
});

describe("image volumes", () => {
  test("a pod may mount a skill from the registry only by the digest an Enabled Skill resolved", async () => {
    const r = registries.none as RunningRegistry;
    const t = await createTenant();
    const pushed = await push(r, "skills/mounted:1.0.0", ECHO.bytes);
    await createSkill(t.ns, "mounted", {
      ...ociSpec(r, "skills/mounted:1.0.0"),
      policyRef: { name: t.policy },
    });
    const enabled = await waitForState(t.ns, "mounted", "Enabled");
    assert.equal(
      enabled.status?.source?.reference,
      `${r.host}/skills/mounted@${pushed.manifestDigest}`,
    );
    const enforce = await kube(
      "PATCH",
      `/api/v1/namespaces/${t.ns}`,
      { metadata: { labels: { "skills.palyra.dev/enforce": "true" } } },
      { contentType: "application/merge-patch+json" },
    );
    assert.equal(enforce.status, 200, enforce.body.message);
    const pod = (name: string, reference: string) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name },
      spec: {
        serviceAccountName: "default",
        containers: [
          {
            name: "agent",
            image: "registry.example/agent:1",
            volumeMounts: [{ name: "skill", mountPath: "/skill" }],
          },
        ],
        volumes: [{ name: "skill", image: { reference } }],
      },
    });
    // The API server may not have loaded the new registration yet: retry the denial a while.
    let byTag: Awaited<ReturnType<typeof kube>> | undefined;
    for (let i = 0; i < 50; i++) {
      byTag = await kube(
        "POST",
        `/api/v1/namespaces/${t.ns}/pods?dryRun=All`,
        pod("by-tag", `${r.host}/skills/mounted:1.0.0`),
      );
      if (byTag.status === 403) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(byTag?.status, 403, JSON.stringify(byTag?.body));
    assert.match(byTag?.body.message ?? "", /image volume skill mounts .* without a digest/);
    const byDigest = await kube(
      "POST",
      `/api/v1/namespaces/${t.ns}/pods?dryRun=All`,
      pod("by-digest", `${r.host}/skills/mounted@${pushed.manifestDigest}`),
    );
    assert.equal(byDigest.status, 201, byDigest.body.message);
    // Quarantined: the same digest is refused.
    await patchSkill(t.ns, "mounted", { desiredState: "Quarantined" });
    await waitForState(t.ns, "mounted", "Quarantined");
    const held = await kube(
      "POST",
      `/api/v1/namespaces/${t.ns}/pods?dryRun=All`,
      pod("held", `${r.host}/skills/mounted@${pushed.manifestDigest}`),
    );
    assert.equal(held.status, 403);
    assert.match(
      held.body.message ?? "",
      /not the digest of an Enabled Skill \(Skill mounted is Quarantined/,
    );
    // Other images are not ours to judge.
    const other = await kube(
      "POST",
      `/api/v1/namespaces/${t.ns}/pods?dryRun=All`,
      pod("other", "registry.example/models/weights:1"),
    );
    assert.equal(other.status, 201, other.body.message);
  });
});
