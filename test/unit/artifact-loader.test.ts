/** The content-addressed cache's bookkeeping, with in-memory sources (no network). */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import { ArtifactLoader, type ObjectSourceReader } from "../../src/sources/artifact-loader.ts";
import { SourceError } from "../../src/sources/errors.ts";

const A = skillArtifact({ version: "1.0.0" }).bytes;
const B = skillArtifact({ version: "1.0.1" }).bytes;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function harness(initial: Record<string, Buffer> = {}) {
  const files = new Map(Object.entries(initial));
  const fetched: string[] = [];
  let clock = 0;
  const objects: ObjectSourceReader & { versions: Map<string, string> } = {
    versions: new Map(),
    version(_kind, ns, name) {
      return this.versions.get(`${ns}/${name}`);
    },
    async read(_kind, ns, name) {
      fetched.push(`${ns}/${name}`);
      const bytes = files.get(`${ns}/${name}`);
      if (!bytes) throw new SourceError("SOURCE_NOT_FOUND", "missing");
      return { bytes, resourceVersion: this.versions.get(`${ns}/${name}`) ?? "1" };
    },
  };
  const loader = new ArtifactLoader({
    objects,
    urlRefreshMs: 1000,
    now: () => clock,
    fetchUrl: async (url) => {
      fetched.push(url);
      await new Promise((r) => setTimeout(r, 5));
      const bytes = files.get(url);
      if (!bytes) throw new SourceError("SOURCE_HTTP_ERROR", "404", false);
      return { bytes };
    },
  });
  return { loader, files, fetched, objects, tick: (ms: number) => (clock += ms) };
}

test("100 Skills loading one URL at once: one fetch, one verification, the same facts", async () => {
  const h = harness({ "https://a/x": A });
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      h.loader.load(`ns/s${i}`, { kind: "url", url: "https://a/x" }),
    ),
  );
  assert.equal(h.fetched.length, 1);
  assert.equal(h.loader.verifications, 1);
  assert.ok(results.every((r) => r.kind === "verified" && r.facts.digest === sha(A)));
});

test("two URLs serving the same bytes share one verification; a URL is fetched again only after the refresh period", async () => {
  const h = harness({ "https://a/x": A, "https://a/y": A });
  await h.loader.load("ns/1", { kind: "url", url: "https://a/x" });
  await h.loader.load("ns/2", { kind: "url", url: "https://a/y" });
  assert.equal(h.fetched.length, 2);
  assert.equal(h.loader.verifications, 1);
  await h.loader.load("ns/1", { kind: "url", url: "https://a/x" });
  assert.equal(h.fetched.length, 2, "fresh: no refetch");
  h.files.set("https://a/x", B);
  h.tick(1001);
  const changed = await h.loader.load("ns/1", { kind: "url", url: "https://a/x" });
  assert.equal(h.fetched.length, 3);
  assert.equal(
    changed.kind === "verified" && changed.facts.digest,
    sha(B),
    "what is verified is what was fetched",
  );
});

test("a digest pin is checked before anything is parsed", async () => {
  const h = harness({ "https://a/x": A });
  const r = await h.loader.load("ns/1", { kind: "url", url: "https://a/x" }, "0".repeat(64));
  assert.deepEqual(r, { kind: "digestMismatch", expected: "0".repeat(64), actual: sha(A) });
  assert.equal(h.loader.verifications, 0);
});

test("ConfigMap sources are read again only when the informer's resourceVersion moves", async () => {
  const h = harness({ "ns/cm": A });
  h.objects.versions.set("ns/cm", "5");
  const ref = {
    kind: "configMap" as const,
    namespace: "ns",
    name: "cm",
    key: "artifact.palyra-skill",
  };
  await h.loader.load("ns/s", ref);
  await h.loader.load("ns/s", ref);
  assert.equal(h.fetched.length, 1);
  h.files.set("ns/cm", B);
  h.objects.versions.set("ns/cm", "6");
  const r = await h.loader.load("ns/s", ref);
  assert.equal(h.fetched.length, 2);
  assert.equal(r.kind === "verified" && r.facts.digest, sha(B));
});

test("source errors become observations; unreadable bytes are rejected with the library's code; OCI is unsupported", async () => {
  const h = harness({ "https://a/junk": Buffer.from("not a zip") });
  const missing = await h.loader.load("ns/1", { kind: "url", url: "https://a/none" });
  assert.equal(missing.kind === "fetchFailed" && missing.code, "SOURCE_HTTP_ERROR");
  const junk = await h.loader.load("ns/2", { kind: "url", url: "https://a/junk" });
  assert.equal(junk.kind, "rejected");
  assert.equal(junk.kind === "rejected" && junk.code, "ARCHIVE_MALFORMED");
  const oci = await h.loader.load("ns/3", { kind: "oci", reference: "r/x:1" });
  assert.equal(oci.kind, "unsupported");
});

test("releasing the last Skill that references an artifact drops it from the cache", async () => {
  const h = harness({ "https://a/x": A });
  await h.loader.load("ns/1", { kind: "url", url: "https://a/x" });
  await h.loader.load("ns/2", { kind: "url", url: "https://a/x" });
  h.loader.release("ns/1");
  assert.equal(h.loader.cachedArtifacts, 1);
  h.loader.release("ns/2");
  assert.equal(h.loader.cachedArtifacts, 0);
  assert.equal(h.loader.cachedBytes, 0);
  await h.loader.load("ns/3", { kind: "url", url: "https://a/x" });
  assert.equal(h.fetched.length, 2, "fetched again after release");
});
