/**
 * The verifier's fast paths give exactly what the plain computations give: the gathered
 * payload hash and entry digests, the one-pass check of already-normal entry paths, the
 * thread-pool digests of the asynchronous API, and the one-call inflate of small entries.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { deflateRawSync } from "node:zlib";
import fc from "fast-check";
import { buildZip, METHOD_STORED } from "../../hack/corpus/zip-builder.ts";
import { buildArtifact } from "../../src/artifact/build.ts";
import { signingKeyFromSeed } from "../../src/artifact/ed25519.ts";
import { SkillError } from "../../src/artifact/errors.ts";
import { sha256HexOffThread } from "../../src/artifact/inflate.ts";
import { findDuplicateKey, namesKeyTwice } from "../../src/artifact/json-strict.ts";
import { PAYLOAD_CONTEXT, SIGNATURE_PATH } from "../../src/artifact/limits.ts";
import { checkEntryPath, compareUtf8, normalizeEntryPath } from "../../src/artifact/paths.ts";
import {
  computePayloadSha256,
  hashPayloadAndEntries,
  PayloadHasher,
} from "../../src/artifact/payload.ts";
import { inspectArtifact, inspectArtifactAsync } from "../../src/artifact/verify.ts";
import { readArchive } from "../../src/artifact/zip-reader.ts";
import { PROPERTY_TIMEOUT, runs } from "../support/fuzz.ts";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** The payload hash as the format defines it, one update per field. */
function plainPayloadHash(entries: readonly { path: string; data: Buffer }[]): string {
  const hash = createHash("sha256").update(PAYLOAD_CONTEXT);
  const u64 = (n: number) => {
    const out = Buffer.alloc(8);
    out.writeBigUInt64BE(BigInt(n));
    return out;
  };
  for (const entry of entries) {
    if (entry.path === SIGNATURE_PATH) continue;
    const path = Buffer.from(entry.path, "utf8");
    hash.update(u64(path.length)).update(path).update(u64(entry.data.length)).update(entry.data);
  }
  return hash.digest("hex");
}

test(
  "property: the gathered payload hash and entry digests equal the plain ones",
  PROPERTY_TIMEOUT,
  () => {
    const size = fc.oneof(
      fc.nat({ max: 64 }),
      fc.constantFrom(0, 4095, 4096, 4097, 16 * 1024, 65535, 65536, 65537, 200_000),
      fc.nat({ max: 70_000 }),
    );
    const entry = fc.record({
      path: fc.oneof(
        fc.constantFrom(SIGNATURE_PATH, "skill.toml", "modules/a.wasm"),
        fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" }),
        fc.string({ minLength: 1, maxLength: 3000, unit: "grapheme-ascii" }),
      ),
      size,
      digest: fc.boolean(),
      fill: fc.nat({ max: 255 }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.path, maxLength: 8 }), (list) => {
        const entries = list
          .map((e) => ({
            path: e.path,
            data: Buffer.alloc(e.size, e.fill).fill(e.path.length % 7, 0, Math.min(e.size, 9)),
            digest: e.digest,
          }))
          .sort((a, b) => compareUtf8(a.path, b.path));
        const { payloadSha256, digests } = hashPayloadAndEntries(entries, (e) =>
          entries.some((x) => x.path === e.path && x.digest),
        );
        assert.equal(payloadSha256, plainPayloadHash(entries));
        assert.equal(payloadSha256, computePayloadSha256(entries));
        const expected = entries
          .filter((e) => e.digest && e.path !== SIGNATURE_PATH)
          .map((e) => [e.path, sha256(e.data)]);
        assert.deepEqual([...digests], expected);
      }),
      { numRuns: runs(300) },
    );
  },
);

test("without the addon (PALYRA_INFLATE_BACKEND=zlib), the payload hash and digests are the same", () => {
  const script = `
    import { hashPayloadAndEntries } from "./src/artifact/payload.ts";
    import { sha256Ranges } from "./src/artifact/inflate.ts";
    const sizes = [0, 10, 4096, 4097, 70000, 3, 65537, 5000, 1];
    const entries = sizes.map((size, i) => ({ path: "e" + i + (i % 2 ? "/\u00e9" : ""), data: Buffer.alloc(size, i + 1) }))
      .sort((a, b) => (a.path < b.path ? -1 : 1));
    const { payloadSha256, digests } = hashPayloadAndEntries(entries, (e) => !e.path.startsWith("e3"));
    // And whole verifications, with entries large enough for every thread-pool path.
    const { readFileSync } = await import("node:fs");
    const { buildArtifact } = await import("./src/artifact/build.ts");
    const { signingKeyFromSeed } = await import("./src/artifact/ed25519.ts");
    const { inspectArtifact, inspectArtifactAsync } = await import("./src/artifact/verify.ts");
    const read = (name) => readFileSync("examples/echo-http/" + name);
    const blob = (n, k) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i += 7) b[i] = (i * k) & 255; return b; };
    const { artifact } = buildArtifact({
      manifestToml: read("skill.toml").toString("utf8"),
      modules: [{ path: "echo.wasm", data: read("modules/echo.wasm") }],
      assets: [{ path: "big.bin", data: blob(4.5 * 2 ** 20, 3) }, { path: "mid.bin", data: blob(300000, 5) }],
      sbom: read("sbom.cdx.json"), provenance: read("provenance.json"),
      signingKey: signingKeyFromSeed(Buffer.alloc(32, 9)), signedAtUnixMs: 0,
    });
    const sync = inspectArtifact(artifact);
    const async = await inspectArtifactAsync(artifact);
    const verified = [sync, async].map((v) => [v.payloadSha256, [...v.entryDigests]]);
    console.log(JSON.stringify({ native: sha256Ranges !== undefined, payloadSha256, digests: [...digests], verified }));`;
  const run = (env: Record<string, string | undefined>) => {
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: new URL("../../", import.meta.url),
      env: { ...process.env, ...env },
      encoding: "utf8",
    });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as {
      native: boolean;
      payloadSha256: string;
      digests: unknown;
      verified: unknown[];
    };
  };
  const fallback = run({ PALYRA_INFLATE_BACKEND: "zlib" });
  const addon = run({ PALYRA_INFLATE_BACKEND: undefined });
  assert.equal(fallback.native, false);
  assert.equal(addon.native, true);
  assert.equal(fallback.payloadSha256, addon.payloadSha256);
  assert.deepEqual(fallback.digests, addon.digests);
  assert.deepEqual(fallback.verified, addon.verified);
  assert.deepEqual(addon.verified[0], addon.verified[1]);
});

const outcome = (fn: () => string) => {
  try {
    return { path: fn() };
  } catch (error) {
    assert.ok(error instanceof SkillError);
    return { code: error.code, message: error.message, field: error.field };
  }
};

test(
  "property: normalizeEntryPath gives what the plain rules give, on any path",
  PROPERTY_TIMEOUT,
  () => {
    const pathChar = fc.constantFrom(
      ..."ab./\\: \t\0-_\u00a0\u2028\ufeff\u0085é".split(""),
      "\u{1F600}",
    );
    const path = fc.oneof(
      fc.array(pathChar, { maxLength: 12 }).map((chars) => chars.join("")),
      fc.string({ maxLength: 20 }),
    );
    fc.assert(
      fc.property(path, (raw) => {
        assert.deepEqual(
          outcome(() => normalizeEntryPath(raw)),
          outcome(() => checkEntryPath(raw)),
        );
      }),
      { numRuns: runs(5000) },
    );
    for (const raw of [
      "a",
      "a/b",
      ".a",
      "a..",
      "a/.b/c",
      "..",
      ".",
      "a/./b",
      "a//b",
      "/a",
      "a/",
      "",
    ]) {
      assert.deepEqual(
        outcome(() => normalizeEntryPath(raw)),
        outcome(() => checkEntryPath(raw)),
        raw,
      );
    }
  },
);

test("the addon's thread-pool SHA-256 equals node:crypto's, at any size", async () => {
  assert.ok(sha256HexOffThread, "make builds native/palyra-native.node before the tests run");
  for (const size of [0, 1, 55, 56, 63, 64, 65, 1000, 65536, 1_000_003]) {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff;
    assert.equal(await sha256HexOffThread(data), sha256(data), `size ${size}`);
    // A view into a larger buffer hashes only its own bytes.
    const view = Buffer.concat([Buffer.from("xx"), data, Buffer.from("yy")]).subarray(2, size + 2);
    assert.equal(await sha256HexOffThread(view), sha256(data), `view of size ${size}`);
  }
});

test("the asynchronous API gives what the synchronous one gives, large entries included", async () => {
  const example = new URL("../../examples/echo-http/", import.meta.url);
  const read = (name: string) => readFileSync(new URL(name, example));
  const blob = (size: number, seed: number) => {
    const out = Buffer.alloc(size);
    for (let i = 0; i < size; i++) out[i] = (i * seed + (i >> 7)) & 0xff;
    return out;
  };
  const { artifact } = buildArtifact({
    manifestToml: read("skill.toml").toString("utf8"),
    modules: [{ path: "echo.wasm", data: read("modules/echo.wasm") }],
    assets: [
      { path: "big-a.bin", data: blob(300_000, 3) },
      { path: "small.bin", data: blob(5_000, 5) },
      { path: "big-b.bin", data: blob(1_200_000, 11) },
    ],
    sbom: read("sbom.cdx.json"),
    provenance: read("provenance.json"),
    signingKey: signingKeyFromSeed(Buffer.alloc(32, 9)),
    signedAtUnixMs: 0,
  });
  const sync = inspectArtifact(artifact);
  const async = await inspectArtifactAsync(artifact);
  assert.equal(async.payloadSha256, sync.payloadSha256);
  assert.deepEqual([...async.entryDigests], [...sync.entryDigests]);
  assert.deepEqual(
    async.entries.map((e) => e.path),
    sync.entries.map((e) => e.path),
  );
  for (const [path, digest] of sync.entryDigests) {
    const entry = sync.entries.find((e) => e.path === path);
    assert.equal(digest, sha256(entry?.data ?? Buffer.alloc(0)));
  }
});

test(
  "property: counting keys finds a repeated key exactly when findDuplicateKey does",
  PROPERTY_TIMEOUT,
  () => {
    // JSON text built directly, so that objects can name a key twice (also spelt with escapes),
    // with colons, quotes and backslashes inside strings.
    const key = fc.constantFrom('"a"', '"b"', '"\\u0061"', '"a:b"', '"\\""', '"__proto__"', '"1"');
    const scalar = fc.constantFrom(
      "1",
      "true",
      "null",
      '"x:y"',
      '"\\\\"',
      '":"',
      '"\\":\\""',
      "-2.5e3",
    );
    const { json } = fc.letrec<{ json: string; array: string; object: string }>((tie) => ({
      json: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        scalar,
        tie("array"),
        tie("object"),
      ),
      array: fc.array(tie("json"), { maxLength: 4 }).map((items) => `[${items.join(",")}]`),
      object: fc
        .array(fc.tuple(key, tie("json")), { maxLength: 5 })
        .map((members) => `{ ${members.map(([k, v]) => `${k} : ${v}`).join(" ,\n")} }`),
    }));
    fc.assert(
      fc.property(json, (text) => {
        const value: unknown = JSON.parse(text);
        assert.equal(namesKeyTwice(text, value), findDuplicateKey(text) !== undefined, text);
      }),
      { numRuns: runs(5000) },
    );
  },
);

test(
  "property: entries hashed while read (large ones streamed while inflated) give the hashes of entries read first, and the same errors",
  PROPERTY_TIMEOUT,
  () => {
    const KiB = 1024;
    const entry = fc.record({
      name: fc.constantFrom(
        "a",
        "b/c",
        "m.bin",
        "z",
        "skill.toml",
        "signature.json",
        "é",
        "\u{1F600}",
      ),
      size: fc.oneof(
        { weight: 3, arbitrary: fc.nat({ max: 5000 }) },
        fc.constantFrom(256 * KiB - 1, 256 * KiB, 300 * KiB, 700 * KiB),
      ),
      stored: fc.boolean(),
      seed: fc.nat({ max: 255 }),
      damage: fc.constantFrom("none", "none", "none", "bits", "size"),
    });
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.name, maxLength: 5 }), (list) => {
        const raw = list.map((e) => {
          const data = Buffer.alloc(e.size);
          for (let i = 0; i < e.size; i += 97) data[i] = (i * e.seed) & 0xff;
          let body = e.stored ? data : deflateRawSync(data);
          if (e.damage === "bits" && body.length > 8) {
            body = Buffer.from(body);
            body[body.length >> 1] = (body[body.length >> 1] ?? 0) ^ 0x5a;
          }
          return {
            name: e.name,
            data,
            body,
            method: e.stored ? METHOD_STORED : 8,
            ...(e.damage === "size" ? { size: Math.max(0, e.size - 1) } : {}),
          };
        });
        const zip = buildZip(raw);
        const digestOf = (e: { path: string }) => e.path !== "skill.toml";
        const plain = outcomeOf(() => {
          const entries = readArchive(zip, undefined, { verifyCrc: false });
          const hashed = hashPayloadAndEntries(entries, digestOf);
          return { entries, payloadSha256: hashed.payloadSha256, digests: [...hashed.digests] };
        });
        const streamed = outcomeOf(() => {
          const payload = new PayloadHasher(digestOf);
          const entries = readArchive(zip, undefined, { verifyCrc: false, digests: true, payload });
          return { entries, payloadSha256: payload.finish(), digests: [...payload.digests] };
        });
        if ("error" in plain || "error" in streamed) {
          assert.deepEqual(streamed, plain);
          return;
        }
        assert.equal(streamed.payloadSha256, plain.payloadSha256);
        assert.deepEqual(streamed.digests, plain.digests);
        assert.deepEqual(
          streamed.entries.map((e) => [e.path, e.data]),
          plain.entries.map((e) => [e.path, e.data]),
        );
        for (const e of streamed.entries) {
          if (e.sha256 !== undefined) assert.equal(e.sha256, sha256(e.data));
        }
      }),
      { numRuns: runs(150) },
    );
  },
);

function outcomeOf<T>(fn: () => T): T | { error: { code: string; message: string } } {
  try {
    return fn();
  } catch (error) {
    assert.ok(error instanceof SkillError, String(error));
    return { error: { code: error.code, message: error.message } };
  }
}
