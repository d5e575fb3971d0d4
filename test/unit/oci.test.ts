/** OCI sources, the pure parts: references, manifests, challenges, credentials, Retry-After. */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { credentialsFor, parseChallenge, tokenRequest } from "../../src/sources/oci/auth.ts";
import { retryAfterMs } from "../../src/sources/oci/client.ts";
import { OciManifestError, readSkillManifest } from "../../src/sources/oci/manifest.ts";
import {
  EMPTY_CONFIG_DIGEST,
  EMPTY_CONFIG_MEDIA_TYPE,
  MANIFEST_MEDIA_TYPE,
  SKILL_ARTIFACT_TYPE,
  SKILL_LAYER_MEDIA_TYPE,
} from "../../src/sources/oci/media-types.ts";
import {
  formatOciReference,
  parseOciReference,
  registryHost,
} from "../../src/sources/oci/reference.ts";

const D = `sha256:${"a".repeat(64)}`;

test("references: registry always named, tag or digest required, the distribution grammar", () => {
  assert.deepEqual(parseOciReference("registry.example.com/acme/echo:1.0.0"), {
    registry: "registry.example.com",
    repository: "acme/echo",
    tag: "1.0.0",
  });
  assert.deepEqual(parseOciReference(`127.0.0.1:5000/skills/echo_http@${D}`), {
    registry: "127.0.0.1:5000",
    repository: "skills/echo_http",
    digest: D,
  });
  assert.deepEqual(parseOciReference(`localhost/echo:v1@${D}`), {
    registry: "localhost",
    repository: "echo",
    tag: "v1",
    digest: D,
  });
  assert.equal(registryHost(parseOciReference("[::1]:5000/echo:1")), "::1");
  assert.equal(registryHost(parseOciReference("reg.example:443/echo:1")), "reg.example");
  const round = `reg.example/a/b:1@${D}`;
  assert.equal(formatOciReference(parseOciReference(round)), round);
  for (const [bad, why] of [
    ["", /1 to 1024/],
    ["acme/echo:1", /not a registry host/],
    ["echo:1", /name the registry/],
    ["reg.example/acme/echo", /give a tag .* or a digest/],
    ["https://reg.example/echo:1", /without a scheme/],
    ["reg.example/Acme/echo:1", /lower-case/],
    ["reg.example/acme//echo:1", /component ""/],
    ["reg.example/echo:-bad", /tag "-bad"/],
    [`reg.example/echo@sha512:${"a".repeat(128)}`, /only sha256/],
    ["reg.example/echo@sha256:ABC", /64 lower-case hex/],
    ["reg.example:99999/echo:1", /port/],
    ["reg.example/echo :1", /white space/],
    ["re_g.example/echo:1", /not a valid host name/],
  ] as const) {
    assert.throws(() => parseOciReference(bad), why, bad);
  }
});

function manifest(over: Record<string, unknown> = {}, layers?: unknown[]) {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_MEDIA_TYPE,
      artifactType: SKILL_ARTIFACT_TYPE,
      config: { mediaType: EMPTY_CONFIG_MEDIA_TYPE, digest: EMPTY_CONFIG_DIGEST, size: 2 },
      layers: layers ?? [
        {
          mediaType: SKILL_LAYER_MEDIA_TYPE,
          digest: D,
          size: 1234,
          annotations: { "org.opencontainers.image.title": "echo.palyra-skill" },
        },
      ],
      annotations: { "dev.palyra.skill.id": "acme.echo_http" },
      ...over,
    }),
  );
}

test("manifests: one layer of our media type and artifact type; anything else is refused, saying what it is", () => {
  const bytes = manifest();
  const m = readSkillManifest(bytes, MANIFEST_MEDIA_TYPE, 64 * 1024 * 1024);
  assert.equal(m.digest, `sha256:${createHash("sha256").update(bytes).digest("hex")}`);
  assert.deepEqual(m.layer, { digest: D, size: 1234 });
  assert.equal(m.annotations["dev.palyra.skill.id"], "acme.echo_http");
  // Without artifactType, the config's media type names the artifact (OCI 1.1 guidance).
  const older = manifest({
    artifactType: undefined,
    config: { mediaType: SKILL_ARTIFACT_TYPE, digest: EMPTY_CONFIG_DIGEST, size: 2 },
  });
  assert.equal(readSkillManifest(older, undefined, 1e9).layer.digest, D);
  const layer = { mediaType: SKILL_LAYER_MEDIA_TYPE, digest: D, size: 1 };
  for (const [what, body, type, why] of [
    [
      "an index",
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.index.v1+json",
          manifests: [],
        }),
      ),
      "application/vnd.oci.image.index.v1+json",
      /image index/,
    ],
    [
      "a container image",
      manifest({
        artifactType: undefined,
        config: { mediaType: "application/vnd.oci.image.config.v1+json" },
      }),
      MANIFEST_MEDIA_TYPE,
      /artifact type is "application\/vnd\.oci\.image\.config\.v1\+json"/,
    ],
    [
      "another artifact type",
      manifest({ artifactType: "application/vnd.cncf.helm.config.v1+json" }),
      MANIFEST_MEDIA_TYPE,
      /not application\/vnd\.palyra\.skill\.v1/,
    ],
    ["two layers", manifest({}, [layer, layer]), MANIFEST_MEDIA_TYPE, /exactly one layer .* has 2/],
    ["no layer", manifest({}, []), MANIFEST_MEDIA_TYPE, /has 0/],
    [
      "the wrong layer media type",
      manifest({}, [{ ...layer, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" }]),
      MANIFEST_MEDIA_TYPE,
      /layer's media type/,
    ],
    [
      "a layer over the limit",
      manifest({}, [{ ...layer, size: 65 * 1024 * 1024 }]),
      MANIFEST_MEDIA_TYPE,
      /more than the artifact limit/,
    ],
    [
      "a bad layer digest",
      manifest({}, [{ ...layer, digest: "sha256:xyz" }]),
      MANIFEST_MEDIA_TYPE,
      /layer's digest/,
    ],
    [
      "a negative size",
      manifest({}, [{ ...layer, size: -1 }]),
      MANIFEST_MEDIA_TYPE,
      /non-negative integer/,
    ],
    [
      "a Docker manifest",
      manifest({ mediaType: "application/vnd.docker.distribution.manifest.v2+json" }),
      "application/vnd.docker.distribution.manifest.v2+json",
      /Docker image manifest/,
    ],
    ["not JSON", Buffer.from("{"), MANIFEST_MEDIA_TYPE, /not JSON/],
    [
      "a duplicate key",
      Buffer.from(`{"schemaVersion":2,"schemaVersion":2}`),
      MANIFEST_MEDIA_TYPE,
      /duplicate key "schemaVersion"/,
    ],
    [
      "schemaVersion 1",
      manifest({ schemaVersion: 1 }),
      MANIFEST_MEDIA_TYPE,
      /schemaVersion is not 2/,
    ],
  ] as const) {
    assert.throws(
      () => readSkillManifest(body, type, 64 * 1024 * 1024),
      (e: unknown) => e instanceof OciManifestError && why.test(e.message),
      what,
    );
  }
});

test("challenges: Basic and Bearer with quoted, comma-holding parameters; none is undefined", () => {
  assert.deepEqual(
    parseChallenge(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
    ),
    {
      scheme: "bearer",
      realm: "https://auth.example/token",
      service: "registry.example",
      scope: "repository:a/b:pull,push",
    },
  );
  assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), {
    scheme: "basic",
    realm: "Registry Realm",
  });
  assert.deepEqual(parseChallenge(["Negotiate", 'basic realm="x"']), {
    scheme: "basic",
    realm: "x",
  });
  assert.equal(parseChallenge(undefined), undefined);
  assert.equal(parseChallenge("Negotiate abc"), undefined);
  assert.equal(parseChallenge("Bearer service=x"), undefined, "a Bearer challenge needs a realm");
});

test("credentials from a Docker config: auth or username/password, keys as host, host:port or URL", () => {
  const auth = Buffer.from("robot:s3cr:et").toString("base64");
  const doc = JSON.stringify({
    auths: {
      "https://reg.example/v1/": { auth },
      "127.0.0.1:5000": { username: "u", password: "p" },
    },
  });
  assert.deepEqual(credentialsFor(doc, "reg.example"), { username: "robot", password: "s3cr:et" });
  assert.deepEqual(credentialsFor(doc, "127.0.0.1:5000"), { username: "u", password: "p" });
  assert.equal(credentialsFor(doc, "other.example"), undefined);
  assert.throws(() => credentialsFor("{", "x"), /not JSON/);
  assert.throws(() => credentialsFor("{}", "x"), /no "auths"/);
  assert.throws(
    () => credentialsFor(JSON.stringify({ auths: { x: { auth: "bm9jb2xvbg==" } } }), "x"),
    /not user:password/,
  );
});

test("token requests: https realms only; credentials only to the registry's own host", () => {
  const same = tokenRequest(
    { scheme: "bearer", realm: "https://reg.example/token", service: "reg" },
    "reg.example",
    "repository:a:pull",
  );
  assert.equal(same.sendCredentials, true);
  assert.equal(same.url.searchParams.get("scope"), "repository:a:pull");
  assert.equal(same.url.searchParams.get("service"), "reg");
  const foreign = tokenRequest(
    { scheme: "bearer", realm: "https://auth.elsewhere.example/token" },
    "reg.example",
    "repository:a:pull",
  );
  assert.equal(foreign.sendCredentials, false);
  assert.throws(
    () => tokenRequest({ scheme: "bearer", realm: "http://reg.example/token" }, "reg.example", "s"),
    /not https/,
  );
  assert.throws(
    () => tokenRequest({ scheme: "bearer", realm: "::" }, "reg.example", "s"),
    /not a URL/,
  );
});

test("Retry-After: seconds or an HTTP date, bounded to 10 minutes", () => {
  const now = Date.parse("2026-12-06T12:00:00Z");
  assert.equal(retryAfterMs("30", now), 30_000);
  assert.equal(retryAfterMs("Sun, 06 Dec 2026 12:01:00 GMT", now), 60_000);
  assert.equal(retryAfterMs("99999", now), 600_000);
  assert.equal(retryAfterMs("Sun, 06 Dec 2026 11:00:00 GMT", now), 0);
  assert.equal(retryAfterMs("soon", now), undefined);
  assert.equal(retryAfterMs(undefined, now), undefined);
});

test("what push writes, resolve reads: the manifest of a pushed artifact is a skill's, its layer the artifact's digest", async () => {
  const { skillManifest } = await import("../../src/sources/oci/publish.ts");
  const artifact = Buffer.from("PK fake artifact bytes");
  const bytes = skillManifest(
    artifact,
    {
      skillId: "acme.echo_http",
      version: "1.0.0",
      publisher: "acme",
      keyId: "ed25519:0123456789abcdef",
      payloadSha256: "b".repeat(64),
    },
    "echo.palyra-skill",
    "2026-12-06T00:00:00Z",
  );
  const m = readSkillManifest(bytes, MANIFEST_MEDIA_TYPE, 64 * 1024 * 1024);
  assert.deepEqual(m.layer, {
    digest: `sha256:${createHash("sha256").update(artifact).digest("hex")}`,
    size: artifact.length,
  });
  assert.equal(m.annotations["dev.palyra.skill.payload-sha256"], "b".repeat(64));
  assert.equal(m.annotations["org.opencontainers.image.created"], "2026-12-06T00:00:00Z");
  const doc = JSON.parse(bytes.toString());
  assert.equal(doc.config.digest, EMPTY_CONFIG_DIGEST);
  assert.equal(
    `sha256:${createHash("sha256").update(Buffer.from(doc.config.data, "base64")).digest("hex")}`,
    EMPTY_CONFIG_DIGEST,
    "the empty config's digest is the digest of {}",
  );
  assert.equal(doc.layers[0].annotations["org.opencontainers.image.title"], "echo.palyra-skill");
});

test("image volumes that mount a skill need the digest an Enabled Skill resolved; other images are not ours to judge", async () => {
  const { imageVolumeProblems } = await import("../../src/webhook/image-volumes.ts");
  const M1 = `sha256:${"1".repeat(64)}`;
  const M2 = `sha256:${"2".repeat(64)}`;
  const skill = (name: string, state: string, reference: string, resolved?: string) =>
    ({
      metadata: { name, namespace: "ns", generation: 1 },
      spec: { skillId: "acme.echo_http", publisher: "acme", source: { oci: { reference } } },
      status: {
        observedGeneration: 1,
        state,
        ...(resolved ? { source: { reference: resolved, tag: "1" } } : {}),
      },
    }) as never;
  const skills = [
    skill("echo", "Enabled", "reg.example/skills/echo:1", `reg.example/skills/echo@${M1}`),
    skill("bad", "Quarantined", "reg.example/skills/bad:1", `reg.example/skills/bad@${M2}`),
  ];
  const pod = (...refs: string[]) => ({
    spec: { volumes: refs.map((reference, i) => ({ name: `v${i}`, image: { reference } })) },
  });
  assert.deepEqual(imageVolumeProblems("Pod", pod(`reg.example/skills/echo@${M1}`), skills), []);
  assert.deepEqual(imageVolumeProblems("Pod", pod("docker.io/library/busybox:1"), skills), []);
  assert.deepEqual(imageVolumeProblems("Pod", pod("busybox"), skills), [], "unparsable: not ours");
  assert.match(
    imageVolumeProblems("Pod", pod("reg.example/skills/echo:1"), skills)[0] ?? "",
    /a repository Skill echo is sourced from, without a digest/,
  );
  assert.match(
    imageVolumeProblems("Pod", pod(`reg.example/skills/bad@${M2}`), skills)[0] ?? "",
    /not the digest of an Enabled Skill \(Skill bad is Quarantined/,
  );
  // The same bytes copied to another repository are still known by their digest.
  assert.equal(imageVolumeProblems("Pod", pod(`mirror.example/x@${M2}`), skills).length, 1);
  // Templates too.
  const deployment = { spec: { template: pod(`reg.example/skills/echo@${M2}`) } };
  assert.equal(imageVolumeProblems("Deployment", deployment, skills).length, 1);
  const cron = { spec: { jobTemplate: { spec: { template: pod("reg.example/skills/echo:1") } } } };
  assert.equal(imageVolumeProblems("CronJob", cron, skills).length, 1);
});

test("insecure: plain http only for a loopback registry, redirects kept on its origin, and no credentials over it", async () => {
  const { createServer } = await import("node:http");
  const { createOciFetcher, isLoopback } = await import("../../src/sources/oci/fetcher.ts");
  const { skillManifest } = await import("../../src/sources/oci/publish.ts");
  for (const [host, loopback] of [
    ["127.0.0.1", true],
    ["127.9.8.7", true],
    ["localhost", true],
    ["::1", true],
    ["10.0.0.1", false],
    ["reg.example", false],
    ["127.0.0.300", false],
  ] as const) {
    assert.equal(isLoopback(host), loopback, host);
  }
  const artifact = Buffer.from("PK plain http artifact");
  const digest = createHash("sha256").update(artifact).digest("hex");
  const manifest = skillManifest(
    artifact,
    { skillId: "acme.echo_http", version: "1", publisher: "acme", keyId: "k", payloadSha256: "p" },
    "a.palyra-skill",
    "2026-12-06T00:00:00Z",
  );
  const seen: { path: string; authorization?: string }[] = [];
  const server = createServer((req, res) => {
    seen.push({
      path: req.url ?? "",
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    if (req.url?.startsWith("/v2/private/")) {
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="r"' }).end();
    } else if (req.url?.includes("/manifests/")) {
      res.writeHead(200, { "Content-Type": MANIFEST_MEDIA_TYPE }).end(manifest);
    } else if (req.url?.includes("/blobs/")) {
      res.writeHead(200).end(artifact);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const fetcher = createOciFetcher({
    readSecret: async () =>
      Buffer.from(
        JSON.stringify({ auths: { [`127.0.0.1:${port}`]: { username: "u", password: "p" } } }),
      ),
  });
  const opts = { maxBytes: 1024 * 1024, have: () => false };
  try {
    const got = await fetcher(
      {
        kind: "oci",
        namespace: "ns",
        reference: `127.0.0.1:${port}/skills/echo:1`,
        insecure: true,
      },
      opts,
    );
    assert.equal(got.digest, digest);
    assert.deepEqual(got.bytes, artifact);
    // Without insecure, the same registry is https only: it fails (TLS to a plain server).
    await assert.rejects(
      fetcher({ kind: "oci", namespace: "ns", reference: `127.0.0.1:${port}/skills/echo:1` }, opts),
    );
    // A registry asking for credentials over plain http gets none, even with a pull Secret.
    await assert.rejects(
      fetcher(
        {
          kind: "oci",
          namespace: "ns",
          reference: `127.0.0.1:${port}/private/echo:1`,
          insecure: true,
          pullSecret: "creds",
        },
        opts,
      ),
      /never sent over plain http/,
    );
    assert.ok(
      seen.every((r) => r.authorization === undefined),
      JSON.stringify(seen),
    );
    // Not loopback: refused before any request.
    const before = seen.length;
    await assert.rejects(
      fetcher(
        { kind: "oci", namespace: "ns", reference: "reg.example/skills/echo:1", insecure: true },
        opts,
      ),
      /insecure \(plain http\) is allowed only for a registry on a loopback address/,
    );
    assert.equal(seen.length, before);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test("plain http, where allowed, never follows a redirect to another origin, and is refused where not allowed", async () => {
  const { createServer } = await import("node:http");
  const { httpsRequest } = await import("../../src/sources/https-source.ts");
  let elsewhere = 0;
  const other = createServer((_req, res) => {
    elsewhere++;
    res.end("x");
  });
  await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
  const otherPort = (other.address() as { port: number }).port;
  const server = createServer((_req, res) =>
    res.writeHead(302, { Location: `http://127.0.0.1:${otherPort}/x` }).end(),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  try {
    await assert.rejects(
      httpsRequest(`http://127.0.0.1:${port}/`, { maxBytes: 1024, allowPlainHttp: true }),
      (e: unknown) => (e as { code?: string }).code === "SOURCE_REDIRECT_REFUSED",
    );
    await assert.rejects(
      httpsRequest(`http://127.0.0.1:${port}/`, { maxBytes: 1024 }),
      (e: unknown) => (e as { code?: string }).code === "SOURCE_URL_INVALID",
    );
    assert.equal(elsewhere, 0);
  } finally {
    server.close();
    other.close();
  }
});
