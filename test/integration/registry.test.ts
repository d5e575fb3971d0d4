/**
 * A real OCI registry (issue 19): the CNCF distribution registry built from its pinned module
 * (hack/registry/build.sh) on 127.0.0.1 with TLS, once per auth mode — anonymous, htpasswd
 * (basic) and bearer tokens from hack/registry/token-server.ts — and the oras CLI pushing a
 * Skill as an OCI artifact and pulling it back byte for byte. The raw HTTPS checks pin what the
 * operator's OCI client meets: the challenges, the token dance, and how the registry answers.
 */

import assert from "node:assert/strict";
import { createPublicKey, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ensureRegistryBinaries,
  type RegistryOptions,
  type RunningRegistry,
  startRegistry,
} from "../../hack/registry/launcher.ts";
import { jwkThumbprint } from "../../hack/registry/token-server.ts";
import { createCertificateAuthority } from "../../src/tls/pki.ts";

const ARTIFACT_TYPE = "application/vnd.palyra.skill.v1";
const LAYER_TYPE = "application/vnd.palyra.skill.v1+zip";
const FILE = "file.palyra-skill";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const REPO = "skills/echo";

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function https(
  url: string,
  caPem: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, headers, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

const json = (reply: Reply) => JSON.parse(reply.body.toString("utf8")) as Record<string, unknown>;
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

const work = mkdtempSync(join(tmpdir(), "palyra-registry-test-"));
/** A small stand-in for a .palyra-skill (random, so a stale registry could not match it). */
const SKILL = Buffer.concat([Buffer.from("PK\x03\x04"), randomBytes(4096)]);
writeFileSync(join(work, FILE), SKILL);

/** oras push of the skill file as `REPO:tag`; returns the manifest digest. */
async function push(
  registry: RunningRegistry,
  tag: string,
  options: { anonymous?: boolean } = {},
): Promise<string> {
  const r = await registry.oras(
    [
      "push",
      `${registry.host}/${REPO}:${tag}`,
      "--artifact-type",
      ARTIFACT_TYPE,
      `${FILE}:${LAYER_TYPE}`,
      "--format",
      "json",
    ],
    { cwd: work, ...options },
  );
  assert.equal(r.status, 0, `oras push failed: ${r.stderr}\n${registry.log().slice(-2000)}`);
  const out = JSON.parse(r.stdout) as { digest: string; artifactType: string };
  assert.equal(out.artifactType, ARTIFACT_TYPE);
  return out.digest;
}

/** oras pull of `REPO:tag` into a fresh directory; returns the pulled file's bytes. */
async function pull(
  registry: RunningRegistry,
  ref: string,
  options: { anonymous?: boolean } = {},
): Promise<{ status: number | null; stderr: string; bytes?: Buffer }> {
  const out = mkdtempSync(join(work, "pull-"));
  const r = await registry.oras(["pull", `${registry.host}/${REPO}${ref}`, "-o", out], options);
  if (r.status !== 0) return { status: r.status, stderr: r.stderr };
  return { status: r.status, stderr: r.stderr, bytes: readFileSync(join(out, FILE)) };
}

async function roundTrip(registry: RunningRegistry): Promise<string> {
  const digest = await push(registry, "v1");
  assert.match(digest, /^sha256:[0-9a-f]{64}$/);
  for (const ref of [":v1", `@${digest}`]) {
    const pulled = await pull(registry, ref);
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.ok(pulled.bytes?.equals(SKILL), `pulled ${ref} is not the pushed file`);
  }
  return digest;
}

/** Starts the registry before the suite's tests and stops it after them. */
function useRegistry(options: RegistryOptions): () => RunningRegistry {
  let registry: RunningRegistry | undefined;
  before(async () => {
    registry = await startRegistry(options);
  });
  after(async () => {
    await registry?.stop();
  });
  return () => {
    if (!registry) throw new Error("registry not started");
    return registry;
  };
}

before(() => {
  ensureRegistryBinaries(); // built once, cached (a cold build takes minutes)
});
after(() => rmSync(work, { recursive: true, force: true }));

describe("registry, anonymous (auth none)", () => {
  const registry = useRegistry({ auth: "none" });
  let digest = "";

  test("oras pushes a skill as an OCI artifact and pulls it back byte for byte", async () => {
    digest = await roundTrip(registry());
  });

  test("the manifest is OCI 1.1 with the artifactType, and needs an OCI Accept", async () => {
    const r = registry();
    const url = `${r.url}/v2/${REPO}/manifests/v1`;
    const got = await https(url, r.caPem, { Accept: OCI_MANIFEST });
    assert.equal(got.status, 200);
    assert.equal(got.headers["content-type"], OCI_MANIFEST);
    assert.equal(got.headers["docker-content-digest"], digest);
    const manifest = json(got) as {
      mediaType: string;
      artifactType: string;
      config: { mediaType: string };
      layers: { mediaType: string; digest: string; size: number; annotations: object }[];
    };
    assert.equal(manifest.mediaType, OCI_MANIFEST);
    assert.equal(manifest.artifactType, ARTIFACT_TYPE);
    assert.equal(manifest.config.mediaType, "application/vnd.oci.empty.v1+json");
    assert.equal(manifest.layers.length, 1);
    assert.equal(manifest.layers[0]?.mediaType, LAYER_TYPE);
    assert.equal(manifest.layers[0]?.size, SKILL.length);
    assert.deepEqual(manifest.layers[0]?.annotations, {
      "org.opencontainers.image.title": FILE,
    });

    // No Accept (or */*) is not enough for an OCI manifest, by tag or by digest: 404.
    for (const [target, headers] of [
      ["v1", {}],
      ["v1", { Accept: "*/*" }],
      [digest, {}],
    ] as const) {
      const refused = await https(`${r.url}/v2/${REPO}/manifests/${target}`, r.caPem, headers);
      assert.equal(refused.status, 404);
      assert.deepEqual(json(refused).errors, [
        {
          code: "MANIFEST_UNKNOWN",
          message: "OCI manifest found, but accept header does not support OCI manifests",
        },
      ]);
    }

    // The blob, served directly (no redirect), with its digest.
    const layer = manifest.layers[0]?.digest ?? "";
    const blob = await https(`${r.url}/v2/${REPO}/blobs/${layer}`, r.caPem);
    assert.equal(blob.status, 200);
    assert.equal(blob.headers["docker-content-digest"], layer);
    assert.ok(blob.body.equals(SKILL));
  });

  test("error answers: unknown blob, tag, digest, repository; no referrers API", async () => {
    const r = registry();
    const zero = `sha256:${"0".repeat(64)}`;
    const errors = async (path: string, status: number) => {
      const got = await https(`${r.url}/v2/${path}`, r.caPem, { Accept: OCI_MANIFEST });
      assert.equal(got.status, status, path);
      return (json(got).errors as { code: string; detail: unknown }[]).map((e) => e.code);
    };
    assert.deepEqual(await errors(`${REPO}/blobs/${zero}`, 404), ["BLOB_UNKNOWN"]);
    assert.deepEqual(await errors(`${REPO}/manifests/nope`, 404), ["MANIFEST_UNKNOWN"]);
    assert.deepEqual(await errors(`${REPO}/manifests/${zero}`, 404), ["MANIFEST_UNKNOWN"]);
    assert.deepEqual(await errors("skills/none/manifests/v1", 404), ["MANIFEST_UNKNOWN"]);
    assert.deepEqual(await errors("skills/none/tags/list", 404), ["NAME_UNKNOWN"]);
    assert.deepEqual(await errors(`${REPO}/blobs/sha256:xyz`, 400), ["DIGEST_INVALID"]);
    // A HEAD for a missing blob: 404, no body.
    const head = await https(`${r.url}/v2/${REPO}/blobs/${zero}`, r.caPem, {}, "HEAD");
    assert.equal(head.status, 404);
    assert.equal(head.body.length, 0);
    // No OCI 1.1 referrers API: the router's plain-text 404 (oras falls back to tag schema).
    const referrers = await https(`${r.url}/v2/${REPO}/referrers/${zero}`, r.caPem);
    assert.equal(referrers.status, 404);
    assert.match(String(referrers.headers["content-type"]), /^text\/plain/);
  });
});

describe("registry, htpasswd (auth basic)", () => {
  const registry = useRegistry({ auth: "basic" });

  test("oras pushes and pulls with the user's credentials", async () => {
    await roundTrip(registry());
  });

  test("without or with wrong credentials: 401 with a Basic challenge, oras refused", async () => {
    const r = registry();
    const url = `${r.url}/v2/${REPO}/manifests/v1`;
    for (const headers of [
      { Accept: OCI_MANIFEST },
      { Accept: OCI_MANIFEST, Authorization: basic(r.users.username, "wrong") },
      { Accept: OCI_MANIFEST, Authorization: "Bearer not-a-token" },
    ]) {
      const got = await https(url, r.caPem, headers);
      assert.equal(got.status, 401);
      assert.equal(got.headers["www-authenticate"], 'Basic realm="palyra test registry"');
      assert.deepEqual(json(got).errors, [
        {
          code: "UNAUTHORIZED",
          message: "authentication required",
          detail: [{ Type: "repository", Class: "", Name: REPO, Action: "pull" }],
        },
      ]);
    }
    const ok = await https(url, r.caPem, {
      Accept: OCI_MANIFEST,
      Authorization: basic(r.users.username, r.users.password),
    });
    assert.equal(ok.status, 200);
    // oras gives up before asking once it sees a Basic challenge and holds no credentials.
    const anonymous = await pull(r, ":v1", { anonymous: true });
    assert.notEqual(anonymous.status, 0);
    assert.match(anonymous.stderr, /basic credential not found/);
  });
});

describe("registry, bearer tokens (auth token)", () => {
  const registry = useRegistry({ auth: "token" });

  test("oras pushes and pulls with tokens the token server issues (kid = JWK thumbprint)", async () => {
    const r = registry();
    const server = r.tokenServer;
    assert.ok(server);
    server.grants.length = 0;
    await roundTrip(r);
    // oras exchanged the user's Basic credentials at the realm, and asked for push.
    assert.ok(server.grants.length > 0);
    assert.ok(server.grants.every((g) => g.subject === r.users.username));
    assert.ok(
      server.grants.some((g) =>
        g.access.some((a) => a.name === REPO && a.actions.includes("push")),
      ),
    );
  });

  test("401 Bearer challenge; a token from the realm gets the manifest", async () => {
    const r = registry();
    const realm = r.tokenServer?.realm ?? "";
    assert.match(realm, /^https:\/\/127\.0\.0\.1:\d+\/token$/);
    const url = `${r.url}/v2/${REPO}/manifests/v1`;
    const challenged = await https(url, r.caPem, { Accept: OCI_MANIFEST });
    assert.equal(challenged.status, 401);
    const challenge = String(challenged.headers["www-authenticate"]);
    assert.equal(
      challenge,
      `Bearer realm="${realm}",service="palyra-test-registry",scope="repository:${REPO}:pull"`,
    );
    // /v2/ itself: a challenge without a scope.
    const base = await https(`${r.url}/v2/`, r.caPem);
    assert.equal(base.status, 401);
    assert.equal(
      base.headers["www-authenticate"],
      `Bearer realm="${realm}",service="palyra-test-registry"`,
    );

    // The client's part: parse the challenge, ask the realm with Basic credentials.
    const params = Object.fromEntries(
      [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    const tokenUrl = new URL(params.realm ?? "");
    tokenUrl.searchParams.set("service", params.service ?? "");
    tokenUrl.searchParams.set("scope", params.scope ?? "");
    const issued = await https(tokenUrl.href, r.caPem, {
      Authorization: basic(r.users.username, r.users.password),
    });
    assert.equal(issued.status, 200, issued.body.toString());
    const body = json(issued) as {
      token: string;
      access_token: string;
      expires_in: number;
      issued_at: string;
    };
    assert.equal(body.token, body.access_token);
    assert.ok(body.expires_in > 0);
    assert.ok(!Number.isNaN(Date.parse(body.issued_at)));
    const [header] = body.token.split(".");
    assert.deepEqual(JSON.parse(Buffer.from(header ?? "", "base64url").toString()), {
      alg: "ES256",
      typ: "JWT",
      kid: r.tokenServer?.kid,
    });

    const got = await https(url, r.caPem, {
      Accept: OCI_MANIFEST,
      Authorization: `Bearer ${body.token}`,
    });
    assert.equal(got.status, 200);
    assert.equal((json(got) as { artifactType: string }).artifactType, ARTIFACT_TYPE);

    // The same token for another repository: insufficient_scope. A bad signature is *not*
    // flagged invalid_token (go-jose's error is not one distribution maps): the plain challenge.
    const other = await https(`${r.url}/v2/skills/other/manifests/v1`, r.caPem, {
      Accept: OCI_MANIFEST,
      Authorization: `Bearer ${body.token}`,
    });
    assert.equal(other.status, 401);
    assert.match(String(other.headers["www-authenticate"]), /,error="insufficient_scope"$/);
    const forged = `${body.token.slice(0, body.token.lastIndexOf(".") + 1)}${"A".repeat(86)}`;
    const bad = await https(url, r.caPem, {
      Accept: OCI_MANIFEST,
      Authorization: `Bearer ${forged}`,
    });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers["www-authenticate"], challenge);
    // Expired beyond the registry's 60 s leeway: invalid_token.
    const expired = r.tokenServer?.issue(
      r.users.username,
      [{ type: "repository", name: REPO, actions: ["pull"] }],
      { ttlSeconds: -120 },
    );
    const late = await https(url, r.caPem, {
      Accept: OCI_MANIFEST,
      Authorization: `Bearer ${expired}`,
    });
    assert.equal(late.status, 401);
    assert.match(String(late.headers["www-authenticate"]), /,error="invalid_token"$/);

    // Wrong credentials at the realm: 401 with a Basic challenge.
    const refused = await https(tokenUrl.href, r.caPem, {
      Authorization: basic(r.users.username, "wrong"),
    });
    assert.equal(refused.status, 401);
    assert.match(String(refused.headers["www-authenticate"]), /^Basic realm=/);
  });

  test("tokens naming their key by x5c (a leaf of the bundle's CA) work as well", async () => {
    const r = registry();
    const server = r.tokenServer;
    assert.ok(server);
    server.keyHeader = "x5c";
    try {
      const digest = await push(r, "x5c");
      const pulled = await pull(r, `@${digest}`);
      assert.equal(pulled.status, 0, pulled.stderr);
      assert.ok(pulled.bytes?.equals(SKILL));
    } finally {
      server.keyHeader = "kid";
    }
  });

  test("anonymous pull only when the token server allows it; never anonymous push", async () => {
    const r = registry();
    const server = r.tokenServer;
    assert.ok(server);
    const refused = await pull(r, ":v1", { anonymous: true });
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /401|unauthorized/i);
    server.anonymousPull = true;
    try {
      const pulled = await pull(r, ":v1", { anonymous: true });
      assert.equal(pulled.status, 0, pulled.stderr);
      assert.ok(pulled.bytes?.equals(SKILL));
      const pushed = await r.oras(
        [
          "push",
          `${r.host}/${REPO}:anonymous`,
          "--artifact-type",
          ARTIFACT_TYPE,
          `${FILE}:${LAYER_TYPE}`,
        ],
        { cwd: work, anonymous: true },
      );
      assert.notEqual(pushed.status, 0);
      assert.match(pushed.stderr, /401|unauthorized|denied/i);
    } finally {
      server.anonymousPull = false;
    }
  });

  test("kid is distribution's thumbprint, not RFC 7638's, for a key with a leading zero byte", async () => {
    // distribution hashes big.Int bytes: a P-256 coordinate starting with 0x00 loses that byte.
    const leadingZero = (() => {
      for (let i = 0; i < 5000; i++) {
        const ca = createCertificateAuthority({ commonName: "palyra test registry token CA" });
        const jwk = createPublicKey(ca.keyPem).export({ format: "jwk" });
        const x = Buffer.from(jwk.x ?? "", "base64url");
        const y = Buffer.from(jwk.y ?? "", "base64url");
        if (x[0] === 0 || y[0] === 0) return ca;
      }
      throw new Error("no key with a leading zero coordinate in 5000 tries");
    })();
    const key = createPublicKey(leadingZero.keyPem);
    const jwk = key.export({ format: "jwk" });
    const { createHash } = await import("node:crypto");
    const rfc7638 = createHash("sha256")
      .update(`{"crv":"${jwk.crv}","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`)
      .digest("base64url");
    assert.notEqual(jwkThumbprint(key), rfc7638);

    const r = await startRegistry({ auth: "token", tokenSigningAuthority: leadingZero });
    try {
      await roundTrip(r);
      const url = `${r.url}/v2/${REPO}/manifests/v1`;
      const access = [{ type: "repository", name: REPO, actions: ["pull"] }];
      const withRfcKid = r.tokenServer?.issue(r.users.username, access, { kid: rfc7638 });
      const refused = await https(url, r.caPem, {
        Accept: OCI_MANIFEST,
        Authorization: `Bearer ${withRfcKid}`,
      });
      assert.equal(refused.status, 401);
      assert.match(String(refused.headers["www-authenticate"]), /,error="invalid_token"$/);
    } finally {
      await r.stop();
    }
  });
});
