/**
 * The CRDs against a real kube-apiserver: structural schemas, CEL rules, the status
 * subresource, printer columns through kubectl, and RBAC for an ordinary user.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { before, describe, test } from "node:test";
import { parse } from "yaml";
import { crdDocuments, installCrds } from "../support/crds.ts";
import { kube, testCluster, waitFor } from "../support/kube.ts";

const GROUP = "/apis/skills.palyra.dev/v1alpha1";
const SKILLS = `${GROUP}/namespaces/default/skills`;
const POLICIES = `${GROUP}/skilltrustpolicies`;
const HEX = "a".repeat(64);

function example(name: string): Record<string, unknown> {
  return parse(readFileSync(new URL(`../../examples/k8s/${name}`, import.meta.url), "utf8"));
}

function skill(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: "skills.palyra.dev/v1alpha1", kind: "Skill", metadata: { name }, spec };
}

const validSpec = () => ({
  skillId: "acme.demo",
  publisher: "acme",
  source: { url: "https://example.test/a.palyra-skill" },
});

function policy(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "SkillTrustPolicy",
    metadata: { name },
    spec,
  };
}

function kubectl(args: string[], token?: string): string {
  const cluster = testCluster();
  const auth = token ? ["--token", token] : [];
  return execFileSync(cluster.kubectl, ["--kubeconfig", cluster.kubeconfig, ...auth, ...args], {
    encoding: "utf8",
  });
}

before(async () => {
  await installCrds();
});

test("both CRDs are Established with structural schemas that describe every field", () => {
  const undocumented: string[] = [];
  type Schema = { description?: string; properties?: Record<string, Schema>; items?: Schema };
  type Crd = {
    spec: { names: { kind: string }; versions: { schema: { openAPIV3Schema: Schema } }[] };
  };
  const walk = (schema: Schema, path: string) => {
    for (const [name, child] of Object.entries(schema.properties ?? {})) {
      if (name !== "metadata" && !child.description) undocumented.push(`${path}.${name}`);
      walk(child, `${path}.${name}`);
    }
    if (schema.items) walk(schema.items, `${path}[]`);
  };
  for (const crd of crdDocuments() as unknown as Crd[]) {
    for (const version of crd.spec.versions)
      walk(version.schema.openAPIV3Schema, crd.spec.names.kind);
  }
  assert.deepEqual(undocumented, []);
});

test("the example resources are accepted", async () => {
  const created = await kube("POST", POLICIES, example("skilltrustpolicy-default.yaml"));
  assert.equal(created.status, 201, created.body.message);
  for (const file of ["skill-echo-http.yaml", "skill-fetch-anything.yaml"]) {
    const resource = example(file);
    const response = await kube("POST", SKILLS, resource);
    assert.equal(response.status, 201, `${file}: ${response.body.message}`);
    assert.equal(
      (response.body.spec as Record<string, unknown>).desiredState,
      "Enabled",
      "defaults are applied",
    );
  }
});

describe("invalid resources are rejected by the API server, naming the field", () => {
  const cases: [string, string, Record<string, unknown>, RegExp][] = [
    [
      "skillId with upper case",
      SKILLS,
      skill("bad-1", { ...validSpec(), skillId: "Acme.Demo" }),
      /spec\.skillId/,
    ],
    [
      "skillId with an empty segment",
      SKILLS,
      skill("bad-2", { ...validSpec(), skillId: "acme..demo" }),
      /spec\.skillId/,
    ],
    [
      "publisher with a space",
      SKILLS,
      skill("bad-3", { ...validSpec(), publisher: "ac me" }),
      /spec\.publisher/,
    ],
    [
      "missing publisher",
      SKILLS,
      skill("bad-4", { skillId: "acme.demo", source: { url: "https://x.test/a" } }),
      /spec\.publisher: Required/,
    ],
    [
      "version that is not MAJOR.MINOR.PATCH",
      SKILLS,
      skill("bad-5", { ...validSpec(), version: "1.0" }),
      /spec\.version/,
    ],
    [
      "plain http URL",
      SKILLS,
      skill("bad-6", { ...validSpec(), source: { url: "http://example.test/a" } }),
      /spec\.source\.url/,
    ],
    [
      "two sources at once",
      SKILLS,
      skill("bad-7", {
        ...validSpec(),
        source: { url: "https://x.test/a", configMapRef: { name: "cm" } },
      }),
      /spec\.source: Invalid value.*exactly one of url, configMapRef, secretRef or oci/,
    ],
    [
      "no source at all",
      SKILLS,
      skill("bad-8", { ...validSpec(), source: {} }),
      /spec\.source.*exactly one/,
    ],
    [
      "caBundle without url",
      SKILLS,
      skill("bad-9", { ...validSpec(), source: { secretRef: { name: "s" }, caBundle: "Zm9v" } }),
      /spec\.source.*caBundle applies only to the url source/,
    ],
    [
      "artifact digest that is not 64 hex",
      SKILLS,
      skill("bad-10", { ...validSpec(), sha256: "ABC" }),
      /spec\.sha256/,
    ],
    [
      "desiredState outside the enum",
      SKILLS,
      skill("bad-11", { ...validSpec(), desiredState: "Running" }),
      /spec\.desiredState: Unsupported value: "Running"/,
    ],
    [
      "approval bound to a malformed payload hash",
      SKILLS,
      skill("bad-12", { ...validSpec(), approval: { payloadSha256: "123", approvedBy: "me" } }),
      /spec\.approval\.payloadSha256/,
    ],
    [
      "policy mode outside the enum",
      POLICIES,
      policy("bad-13", { mode: "Block" }),
      /spec\.mode: Unsupported value: "Block"/,
    ],
    [
      "policy key that is not lower-case hex",
      POLICIES,
      policy("bad-14", { publishers: [{ name: "acme", keys: ["Z".repeat(64)] }] }),
      /spec\.publishers\[0\]\.keys\[0\]/,
    ],
    [
      "policy publisher without keys",
      POLICIES,
      policy("bad-15", { publishers: [{ name: "acme", keys: [] }] }),
      /spec\.publishers\[0\]\.keys/,
    ],
    [
      "key both allowlisted and revoked",
      POLICIES,
      policy("bad-16", { publishers: [{ name: "acme", keys: [HEX] }], revokedKeys: [HEX] }),
      /spec: Invalid value.*a key cannot be both allowlisted and revoked/,
    ],
    [
      "TOFU without a trust store",
      POLICIES,
      policy("bad-17", { allowTofu: true }),
      /spec: Invalid value.*allowTofu needs a trustStore/,
    ],
    [
      "audit limit of zero",
      POLICIES,
      policy("bad-18", { audit: { maxModuleBytes: 0 } }),
      /spec\.audit\.maxModuleBytes/,
    ],
    [
      "duplicate allowlisted publisher",
      POLICIES,
      policy("bad-19", {
        publishers: [
          { name: "acme", keys: [HEX] },
          { name: "acme", keys: [HEX] },
        ],
      }),
      /spec\.publishers\[1\]: Duplicate value/,
    ],
  ];
  for (const [title, path, body, message] of cases) {
    test(title, async () => {
      const response = await kube("POST", path, body);
      assert.equal(
        response.status,
        422,
        `${title}: expected 422, got ${response.status} ${response.body.message}`,
      );
      assert.match(String(response.body.message), message);
    });
  }

  test("unknown fields are refused under strict field validation", async () => {
    const body = skill("bad-unknown", { ...validSpec(), colour: "blue" });
    const response = await kube("POST", `${SKILLS}?fieldValidation=Strict`, body);
    assert.equal(response.status, 400, response.body.message);
    assert.match(String(response.body.message), /unknown field "spec\.colour"/);
  });

  test("skillId and publisher cannot change after creation", async () => {
    const created = await kube("POST", SKILLS, skill("immutable", validSpec()));
    assert.equal(created.status, 201, created.body.message);
    for (const [field, value] of [
      ["skillId", "acme.other"],
      ["publisher", "other"],
    ] as const) {
      const patched = await kube(
        "PATCH",
        `${SKILLS}/immutable`,
        { spec: { [field]: value } },
        { contentType: "application/merge-patch+json" },
      );
      assert.equal(patched.status, 422, patched.body.message);
      assert.match(
        String(patched.body.message),
        new RegExp(`spec\\.${field}: Invalid value.*${field} is immutable`),
      );
    }
  });
});

test("status is written only through the status subresource", async () => {
  const created = await kube("POST", SKILLS, {
    ...skill("status-demo", validSpec()),
    status: { state: "Enabled" },
  });
  assert.equal(created.status, 201, created.body.message);
  assert.equal(created.body.status, undefined, "status in a create is dropped");

  const mainPatch = await kube(
    "PATCH",
    `${SKILLS}/status-demo`,
    { status: { state: "Enabled" } },
    { contentType: "application/merge-patch+json" },
  );
  assert.equal(mainPatch.status, 200);
  assert.equal(mainPatch.body.status, undefined, "status through the main resource is ignored");

  const statusPatch = await kube(
    "PATCH",
    `${SKILLS}/status-demo/status`,
    { status: { state: "Quarantined", observedGeneration: 1, quarantineReasons: ["manual"] } },
    { contentType: "application/merge-patch+json" },
  );
  assert.equal(statusPatch.status, 200, statusPatch.body.message);
  assert.equal((statusPatch.body.status as Record<string, unknown>).state, "Quarantined");

  const invalidStatus = await kube(
    "PATCH",
    `${SKILLS}/status-demo/status`,
    { status: { state: "Sleeping" } },
    { contentType: "application/merge-patch+json" },
  );
  assert.equal(invalidStatus.status, 422);
  assert.match(String(invalidStatus.body.message), /status\.state: Unsupported value/);

  const specViaStatus = await kube(
    "PATCH",
    `${SKILLS}/status-demo/status`,
    { spec: { publisher: "x" } },
    { contentType: "application/merge-patch+json" },
  );
  assert.equal(specViaStatus.status, 200);
  assert.equal(
    (specViaStatus.body.spec as Record<string, unknown>).publisher,
    "acme",
    "spec through /status is ignored",
  );
});

test("kubectl shows the printer columns, the category and the field documentation", () => {
  const table = kubectl(["get", "skills", "-n", "default"]);
  const header = table.split("\n")[0] ?? "";
  assert.match(header, /^NAME\s+PUBLISHER\s+VERSION\s+STATE\s+TRUST\s+AGE$/);
  // Unset columns print empty: status-demo has a state but no version or trust decision yet.
  assert.match(table, /^status-demo\s+acme\s+Quarantined\s+\d+s$/m);
  const wide = kubectl(["get", "skills", "-n", "default", "-o", "wide"]).split("\n")[0] ?? "";
  assert.match(wide, /SKILL ID\s+READY\s+REASON\s+PAYLOAD\s+STALE PODS$/);
  const short = kubectl(["get", "psk", "-n", "default", "-o", "name"]);
  assert.match(short, /skill\.skills\.palyra\.dev\/echo-http/);
  const category = kubectl(["get", "palyra", "-A", "-o", "name"]);
  assert.match(category, /skill\.skills\.palyra\.dev\/echo-http/);
  assert.match(category, /skilltrustpolicy\.skills\.palyra\.dev\/default/);
  const policies = kubectl(["get", "skilltrustpolicies"]).split("\n")[0] ?? "";
  assert.match(policies, /^NAME\s+MODE\s+DEFAULT\s+TOFU\s+SKILLS\s+AGE$/);
  const explain = kubectl(["explain", "skill.spec.source"]);
  assert.match(explain, /Exactly one of url, configMapRef, secretRef\s+or oci must be set/);
});

const RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces/default";

/** Binds the skill-reader Role in default to one subject; asserts the API server created it. */
async function bindSkillReader(name: string, subject: Record<string, string>): Promise<void> {
  const binding = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name, namespace: "default" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "skill-reader" },
    subjects: [subject],
  };
  const created = await kube("POST", `${RBAC}/rolebindings`, binding);
  assert.equal(created.status, 201, created.body.message);
}

/** Waits until listing skills is allowed for the caller (fails after 10 s). */
async function untilAllowed(options: { token?: string; impersonate?: string }): Promise<void> {
  await waitFor(
    "the new RoleBinding to take effect",
    async () => ((await kube("GET", SKILLS, undefined, options)).status === 200 ? true : undefined),
    10_000,
  );
}

describe("RBAC", () => {
  test("an ordinary user without grants is refused, and allowed once granted", async () => {
    const { user } = testCluster();
    const denied = await kube("GET", SKILLS, undefined, { token: user.token });
    assert.equal(denied.status, 403);
    assert.match(
      String(denied.body.message),
      /skills\.skills\.palyra\.dev is forbidden: User "alice" cannot list resource "skills"/,
    );
    assert.throws(() => kubectl(["get", "skills", "-n", "default"], user.token), /Forbidden/);

    const role = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "skill-reader", namespace: "default" },
      rules: [
        {
          apiGroups: ["skills.palyra.dev"],
          resources: ["skills"],
          verbs: ["get", "list", "watch"],
        },
      ],
    };
    const created = await kube("POST", `${RBAC}/roles`, role);
    assert.equal(created.status, 201, created.body.message);
    await bindSkillReader("alice-reads-skills", {
      kind: "User",
      apiGroup: "rbac.authorization.k8s.io",
      name: "alice",
    });
    // The RBAC authorizer reads bindings from a watch cache: a new grant applies within moments.
    await untilAllowed({ token: user.token });
    const write = await kube("POST", SKILLS, skill("by-alice", validSpec()), { token: user.token });
    assert.equal(write.status, 403, "read access does not grant create");
    const policies = await kube("GET", POLICIES, undefined, { token: user.token });
    assert.equal(policies.status, 403, "cluster-scoped policies need a ClusterRole");
  });

  test("service accounts can be impersonated, and RBAC applies to them", async () => {
    const sa = "system:serviceaccount:default:robot";
    const denied = await kube("GET", SKILLS, undefined, { impersonate: sa });
    assert.equal(denied.status, 403);
    assert.match(
      String(denied.body.message),
      /User "system:serviceaccount:default:robot" cannot list/,
    );
    await bindSkillReader("robot-reads-skills", {
      kind: "ServiceAccount",
      name: "robot",
      namespace: "default",
    });
    await untilAllowed({ impersonate: sa });
    const { user } = testCluster();
    const noImpersonation = await kube("GET", SKILLS, undefined, {
      token: user.token,
      impersonate: sa,
    });
    assert.equal(noImpersonation.status, 403, "an ordinary user cannot impersonate");
  });
});
