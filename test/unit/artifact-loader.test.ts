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
    // Every caller waits for its fetch here; the scheduler's own limits are tested below.
    waitMs: 60_000,
    maxWaitingPerNamespace: 1000,
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

test("source errors become observations; unreadable bytes are rejected with the library's code; OCI is unsupported without an OCI fetcher", async () => {
  const h = harness({ "https://a/junk": Buffer.from("not a zip") });
  const missing = await h.loader.load("ns/1", { kind: "url", url: "https://a/none" });
  assert.equal(missing.kind === "fetchFailed" && missing.code, "SOURCE_HTTP_ERROR");
  const junk = await h.loader.load("ns/2", { kind: "url", url: "https://a/junk" });
  assert.equal(junk.kind, "rejected");
  assert.equal(junk.kind === "rejected" && junk.code, "ARCHIVE_MALFORMED");
  const oci = await h.loader.load("ns/3", {
    kind: "oci",
    namespace: "ns",
    reference: "r.example/x:1",
  });
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

/** A loader whose URL fetches finish only when the test says so. */
function gated(opts: Partial<ConstructorParameters<typeof ArtifactLoader>[0]> = {}) {
  const gates = new Map<string, () => void>();
  const started: string[] = [];
  const ready: string[] = [];
  const loader = new ArtifactLoader({
    objects: { version: () => undefined, read: async () => ({ bytes: A, resourceVersion: "1" }) },
    urlRefreshMs: 60_000,
    waitMs: 20,
    maxFetches: 4,
    maxFetchesPerNamespace: 2,
    onReady: (owner) => ready.push(owner),
    fetchUrl: async (url, o) => {
      started.push(url);
      o.onStart?.(A.length);
      if (!(o.onBodyBytes?.(A.length) ?? true)) throw new SourceError("SOURCE_BUSY", "busy", true);
      await new Promise<void>((r) => gates.set(url, r));
      return { bytes: A };
    },
    ...opts,
  });
  const open = (url: string) => gates.get(url)?.();
  return { loader, started, ready, open };
}

const settle = () => new Promise((r) => setTimeout(r, 30));

test("one namespace's slow sources take at most its share of fetch slots: another namespace's Skill is fetched and verified meanwhile", async () => {
  const g = gated();
  const slow = Array.from({ length: 5 }, (_, i) =>
    g.loader.load(`slow/s${i}`, { kind: "url", url: `https://slow/${i}` }),
  );
  const parked = await Promise.all(slow);
  assert.ok(
    parked.every((r) => r.kind === "waiting"),
    "no worker is held past the short wait",
  );
  assert.deepEqual(g.started, ["https://slow/0", "https://slow/1"], "two slots for namespace slow");
  assert.equal(g.loader.runningFetches, 2);
  const fast = g.loader.load("fast/s", { kind: "url", url: "https://fast/x" });
  await settle();
  assert.ok(g.started.includes("https://fast/x"), "fast got a slot while slow's fetches hang");
  assert.equal((await fast).kind, "waiting");
  g.open("https://fast/x");
  await settle();
  assert.deepEqual(g.ready, ["fast/s"], "woken when its fetch ended");
  const done = await g.loader.load("fast/s", { kind: "url", url: "https://fast/x" });
  assert.equal(done.kind, "verified");
  // When a slow fetch ends, its Skill is woken, and the next of slow's fetches starts.
  g.open("https://slow/0");
  await settle();
  assert.deepEqual(g.ready, ["fast/s", "slow/s0"]);
  assert.ok(g.started.includes("https://slow/2"));
  assert.equal(
    (await g.loader.load("slow/s0", { kind: "url", url: "https://slow/0" })).kind,
    "verified",
  );
});

test("bytes in flight are bounded: a fetch that does not fit waits in line, and starts once bytes are released", async () => {
  const g = gated({ maxInflightBytes: A.length + 10, maxFetchesPerNamespace: 4 });
  assert.equal((await g.loader.load("ns/a", { kind: "url", url: "https://x/a" })).kind, "waiting");
  assert.equal((await g.loader.load("ns/b", { kind: "url", url: "https://x/b" })).kind, "waiting");
  await settle();
  assert.equal(g.loader.inflightBytes, A.length, "the second download did not fit");
  g.open("https://x/a");
  await settle();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(
    g.started.filter((u) => u === "https://x/b").length >= 2,
    true,
    "retried once a fit",
  );
  g.open("https://x/b");
  await settle();
  assert.deepEqual(g.ready.sort(), ["ns/a", "ns/b"]);
  assert.equal(g.loader.inflightBytes, 0, "every reservation was released");
});

test("a failed URL is remembered briefly: the Skills it woke see the failure without another fetch", async () => {
  let calls = 0;
  const loader = new ArtifactLoader({
    objects: { version: () => undefined, read: async () => ({ bytes: A, resourceVersion: "1" }) },
    urlRefreshMs: 60_000,
    fetchUrl: async () => {
      calls++;
      throw new SourceError("SOURCE_HTTP_ERROR", "answered HTTP 404", false);
    },
  });
  const first = await loader.load("ns/a", { kind: "url", url: "https://x/gone" });
  const second = await loader.load("ns/b", { kind: "url", url: "https://x/gone" });
  assert.equal(first.kind, "fetchFailed");
  assert.equal(second.kind, "fetchFailed");
  assert.equal(calls, 1);
});
