/**
 * Skills from a hostile OCI registry (issue 19, "bad input"): one operator, as the chart
 * installs it, against hack/registry/hostile-registry.ts on 127.0.0.2, each repository
 * misbehaving in one way. Every bad answer ends as a typed Failed reason with a message that
 * says what was wrong, nothing is Enabled from bad bytes, the operator sends no credentials
 * where it must not, reads no body past its descriptor, follows no redirect to plain http,
 * leaves a rate-limiting registry alone as long as it asks, and keeps reconciling other Skills
 * (healthy, nothing forbidden, exit code 0 at stop).
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import { type HostedRepository, HostileRegistry } from "../../hack/registry/hostile-registry.ts";
import type { Skill, SkillSpec } from "../../src/api/v1alpha1/types.generated.ts";
import { DEFAULT_ARCHIVE_LIMITS } from "../../src/artifact/limits.ts";
import { INDEX_MEDIA_TYPE } from "../../src/sources/oci/media-types.ts";
import { chartIdentity } from "../support/chart.ts";
import { installCrds } from "../support/crds.ts";
import { kube } from "../support/kube.ts";
import { forbiddenRequests, type RunningOperator, startOperator } from "../support/operator.ts";
import { API, createSkill, waitForSkill, waitForState } from "../support/resources.ts";
import { createTenant, type Tenant } from "../support/tenants.ts";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
// Every artifact whose blob a test needs fetched is one the operator has not verified yet: a
// layer digest verified already is never downloaded again (content addressing).
const artifact = (version: string) => skillArtifact({ keySeed: 7, version }).bytes;
const LIMIT = DEFAULT_ARCHIVE_LIMITS.maxArtifactBytes;

const registry = new HostileRegistry();
let operator: RunningOperator;
let tenant: Tenant;
let startedAt = 0;
let good: HostedRepository;
/** Skills that must never be Enabled, and the repository each names. */
const hostile = new Map<string, HostedRepository>();

function spec(reference: string, extra: Partial<NonNullable<SkillSpec["source"]["oci"]>> = {}) {
  return {
    skillId: "acme.echo_http",
    publisher: "acme",
    source: { oci: { reference, caBundle: registry.caBundle, ...extra } },
    policyRef: { name: tenant.policy },
  } satisfies SkillSpec;
}

const readyMessage = (s: Skill) => s.status?.conditions?.find((c) => c.type === "Ready")?.message;

/** Creates a Skill naming `repo` and waits for it to fail with `reason`, its message matching. */
async function failsWith(
  name: string,
  repo: HostedRepository,
  reference: string,
  reason: string,
  message: RegExp[],
  extra: Partial<NonNullable<SkillSpec["source"]["oci"]>> = {},
): Promise<Skill> {
  hostile.set(name, repo);
  await createSkill(tenant.ns, name, spec(reference, extra));
  const skill = await waitForState(tenant.ns, name, "Failed", reason);
  for (const m of message) assert.match(readyMessage(skill) ?? "", m, name);
  assert.equal(skill.status?.artifactSha256, undefined, `${name}: no artifact recorded`);
  return skill;
}

async function pullSecret(name: string) {
  const r = await kube("POST", `/api/v1/namespaces/${tenant.ns}/secrets`, {
    metadata: { name },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": Buffer.from(registry.dockerConfigJson()).toString("base64") },
  });
  assert.equal(r.status, 201, r.body.message);
}

before(async () => {
  await installCrds();
  await registry.start();
  const identity = await chartIdentity();
  // Tags are resolved again at most every second, Skills reconciled every 2 s: an operator that
  // hammers a misbehaving registry shows within seconds.
  operator = await startOperator(
    [...identity.args, "--url-refresh-period", "1", "--resync-period", "2"],
    identity.kubeconfig,
  );
  tenant = await createTenant();
  startedAt = Date.now();
});

after(async () => {
  const forbidden = await forbiddenRequests(operator);
  const code = await operator.stop();
  await registry.stop();
  assert.equal(forbidden, 0, "the operator needed nothing beyond the chart's RBAC");
  assert.equal(code, 0, operator.stderr.join(""));
});

describe("a hostile registry", () => {
  test("control: its well-behaved repository serves a skill the operator enables", async () => {
    const bytes = artifact("1.0.0");
    good = await registry.repository("good/echo", bytes);
    await createSkill(tenant.ns, "good", spec(good.reference()));
    const skill = await waitForState(tenant.ns, "good", "Enabled");
    assert.equal(skill.status?.artifactSha256, sha(bytes));
    assert.deepEqual(skill.status?.source, { reference: good.pinned(), tag: "1" });
  });

  test("401 without a WWW-Authenticate challenge: RegistryAuthFailed", async () => {
    const repo = await registry.repository("unauthorized/echo", artifact("1.0.0"), {
      kind: "unauthorized",
    });
    await failsWith("no-challenge", repo, repo.reference(), "RegistryAuthFailed", [
      /without a Basic or Bearer challenge/,
    ]);
  });

  test("a Bearer realm on another host gets no credentials from the pull Secret; the registry's own host does", async () => {
    await pullSecret("hostile-pull");
    const foreign = await registry.repository("foreign-realm/echo", artifact("1.0.0"), {
      kind: "bearer",
      realm: "foreign",
    });
    const own = await registry.repository("own-realm/echo", artifact("1.1.0"), {
      kind: "bearer",
      realm: "same",
    });
    await failsWith(
      "foreign-realm",
      foreign,
      foreign.reference(),
      "RegistryAuthFailed",
      [/refused an anonymous request/, /credentials are sent only to 127\.0\.0\.2 itself/],
      { pullSecretRef: { name: "hostile-pull" } },
    );
    const toForeign = registry.tokenRequests.filter((t) => t.scope?.includes("foreign-realm"));
    assert.ok(toForeign.length >= 1, "the foreign realm was asked");
    assert.ok(
      toForeign.every((t) => t.host.startsWith("[::ffff:") && !t.authorization),
      "no Authorization header ever reached the realm on another host",
    );
    // The same Secret, a realm on the registry's own host: the credentials go there, and work.
    await createSkill(
      tenant.ns,
      "own-realm",
      spec(own.reference(), { pullSecretRef: { name: "hostile-pull" } }),
    );
    const enabled = await waitForState(tenant.ns, "own-realm", "Enabled");
    assert.equal(enabled.status?.artifactSha256, own.layerDigest.slice("sha256:".length));
    assert.ok(
      registry.tokenRequests.some((t) => t.host === registry.registry && t.authenticated),
      "the registry's own token service got the Secret's credentials",
    );
    assert.ok(registry.hits(own.blobPath) >= 1, "the layer was fetched with the token");
    // The registry named by its IPv6 literal, whose realm is that very host: its own, so the
    // credentials go there (compared unnormalized, "[::ffff:7f00:2]" never matched it).
    const v6 = await registry.repository("v6-realm/echo", artifact("1.5.0"), {
      kind: "bearer",
      realm: "foreign",
    });
    await createSkill(
      tenant.ns,
      "v6-realm",
      spec(`${registry.foreignRegistry}/${v6.name}:1`, { pullSecretRef: { name: "hostile-pull" } }),
    );
    const v6Enabled = await waitForState(tenant.ns, "v6-realm", "Enabled");
    assert.equal(v6Enabled.status?.artifactSha256, v6.layerDigest.slice("sha256:".length));
    assert.equal(
      v6Enabled.status?.source?.reference,
      `${registry.foreignRegistry}/${v6.name}@${v6.manifestDigest}`,
    );
    assert.ok(
      registry.tokenRequests.some(
        (t) => t.host.startsWith("[::ffff:") && t.scope?.includes("v6-realm") && t.authenticated,
      ),
    );
    assert.ok(
      registry.tokenRequests
        .filter((t) => t.scope?.includes("foreign-realm"))
        .every((t) => !t.authorization),
      "still none for the registry named 127.0.0.2",
    );
  });

  test("a manifest whose Content-Type says index: NotASkillArtifact", async () => {
    const repo = await registry.repository("index-type/echo", artifact("1.0.0"), {
      kind: "manifestContentType",
      contentType: INDEX_MEDIA_TYPE,
    });
    await failsWith("index-type", repo, repo.reference(), "NotASkillArtifact", [/image index/]);
    assert.equal(registry.hits(repo.blobPath), 0, "no layer is fetched for an index");
  });

  test("a layer whose bytes are not its digest: FetchFailed SOURCE_DIGEST_MISMATCH", async () => {
    const repo = await registry.repository("corrupt/echo", artifact("1.2.0"), {
      kind: "corruptBlob",
    });
    await failsWith("corrupt-layer", repo, repo.reference(), "FetchFailed", [
      /SOURCE_DIGEST_MISMATCH/,
      /the blob's bytes have sha256 [0-9a-f]{64}, not its digest/,
    ]);
    assert.ok(registry.hits(repo.blobPath) >= 1);
  });

  test("a blob longer than its descriptor is cut while it streams (SOURCE_TOO_LARGE); a descriptor over 64 MiB is refused before any blob request", async () => {
    const bytes = artifact("1.3.0");
    const long = await registry.repository("long-blob/echo", bytes, {
      kind: "longBlob",
      extraBytes: 32 * 1024 * 1024,
    });
    await failsWith("long-blob", long, long.reference(), "FetchFailed", [
      /SOURCE_TOO_LARGE/,
      new RegExp(`body exceeds the limit of ${bytes.length} bytes`),
    ]);
    assert.ok(registry.hits(long.blobPath) >= 1);
    assert.ok(
      registry.cuts(long.blobPath) >= 1,
      "the operator closed the connection before the 32 MiB surplus was sent",
    );

    const huge = await registry.repository("huge-descriptor/echo", artifact("1.0.0"), {
      kind: "declaredSize",
      size: LIMIT + 1,
    });
    await failsWith("huge-descriptor", huge, huge.reference(), "NotASkillArtifact", [
      new RegExp(`declares ${LIMIT + 1} bytes, more than the artifact limit of ${LIMIT}`),
    ]);
    assert.equal(registry.hits(huge.blobPath), 0, "the blob was never requested");
  });

  test("a blob redirected to plain http: FetchFailed SOURCE_REDIRECT_REFUSED, nothing asked there", async () => {
    const repo = await registry.repository("redirect/echo", artifact("1.4.0"), {
      kind: "redirectBlob",
      location: `http://${registry.registry}/plain/blob`,
    });
    await failsWith("plain-redirect", repo, repo.reference(), "FetchFailed", [
      /SOURCE_REDIRECT_REFUSED/,
      /which is not https/,
    ]);
    assert.ok(registry.hits(repo.blobPath) >= 1);
    assert.equal(registry.hits("/plain/blob"), 0);
  });

  test("a 429 storm with Retry-After: 30 is honoured by every Skill of the source", async () => {
    const repo = await registry.repository("limited/echo", artifact("1.0.0"), {
      kind: "manifestStatus",
      status: 429,
      headers: { "Retry-After": "30" },
    });
    const names = [1, 2, 3, 4, 5].map((i) => `limited-${i}`);
    const start = Date.now();
    await Promise.all(
      names.map((name) => {
        hostile.set(name, repo);
        return createSkill(tenant.ns, name, spec(repo.reference()));
      }),
    );
    for (const name of names) {
      const skill = await waitForState(tenant.ns, name, "Failed", "RegistryRateLimited");
      assert.match(readyMessage(skill) ?? "", /retrying after 30 s as it asks/);
      assert.equal(skill.status?.artifactSha256, undefined);
    }
    // Nothing happens for 11 s: five Skills, resynced every 2 s, and still the single request
    // that was told to wait (forgetting the Retry-After, the loader's 5 s failure memory would
    // let them ask again at about 6 s).
    await new Promise((r) => setTimeout(r, Math.max(0, start + 11_000 - Date.now())));
    assert.equal(
      registry.hits(repo.manifestPath()),
      1,
      "the manifest was asked once in 11 s, not once per Skill per resync",
    );
    for (const name of names) await waitForState(tenant.ns, name, "Failed", "RegistryRateLimited");
  });

  test("a digest reference answered with another manifest: FetchFailed SOURCE_DIGEST_MISMATCH", async () => {
    const repo = await registry.repository("any-digest/echo", artifact("1.0.0"), {
      kind: "anyDigest",
    });
    // The digest of a real skill's manifest (the well-behaved repository's), which this
    // repository does not hold: it serves its own manifest and claims the digest asked for.
    const named = good.manifestDigest;
    await failsWith("manifest-digest", repo, repo.pinned(named), "FetchFailed", [
      /SOURCE_DIGEST_MISMATCH/,
      new RegExp(`served a manifest with digest ${repo.manifestDigest}, not the one named`),
    ]);
    assert.ok(registry.hits(`/v2/any-digest/echo/manifests/${named}`) >= 1);
    assert.equal(registry.hits(repo.blobPath), 0, "no layer is fetched for a manifest not named");
  });

  test("afterwards the operator is healthy: it enables a new Skill, nothing hostile is Enabled, no repository was hammered", async (t) => {
    const bytes = artifact("2.0.0");
    const repo = await registry.repository("good/echo-next", bytes);
    await createSkill(tenant.ns, "good-after", spec(repo.reference()));
    const skill = await waitForState(tenant.ns, "good-after", "Enabled");
    assert.equal(skill.status?.artifactSha256, sha(bytes));
    assert.equal((await operator.get("/readyz")).status, 200);
    assert.equal((await operator.get("/healthz")).status, 200);

    const list = await kube("GET", `${API}/namespaces/${tenant.ns}/skills`);
    const items = (list.body as unknown as { items: Skill[] }).items;
    for (const [name] of hostile) {
      const s = items.find((i) => i.metadata.name === name);
      assert.equal(s?.status?.state, "Failed", `${name} is still Failed`);
      assert.equal(s?.status?.artifactSha256, undefined, `${name} has no artifact`);
    }
    // A failed source is asked again no sooner than every 5 s, whatever the resync period.
    const seconds = (Date.now() - startedAt) / 1000;
    const counts = new Map(
      [...hostile.values()].map((r) => [r.name, registry.repositoryHits(r.name)]),
    );
    t.diagnostic(
      `requests in ${seconds.toFixed(0)} s: ${JSON.stringify(Object.fromEntries(counts))}`,
    );
    for (const [name, r] of hostile) {
      const asked = registry.repositoryHits(r.name);
      assert.ok(
        asked <= 2 * (Math.ceil(seconds / 5) + 1),
        `${name}: ${asked} requests in ${seconds.toFixed(0)} s`,
      );
    }
    await waitForSkill(tenant.ns, "good", (s) => s.status?.state === "Enabled", "still Enabled");
  });
});
