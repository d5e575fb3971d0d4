import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import fc from "fast-check";
import { buildArtifact } from "../../src/artifact/build.ts";
import { signingKeyFromSeed } from "../../src/artifact/ed25519.ts";
import { ERROR_CODES, SkillError } from "../../src/artifact/errors.ts";
import { normalizeEntryPath } from "../../src/artifact/paths.ts";
import { inspectArtifact, verifyArtifact } from "../../src/artifact/verify.ts";
import { type ArchiveEntry, readArchive } from "../../src/artifact/zip-reader.ts";
import { writeArchive } from "../../src/artifact/zip-writer.ts";
import { addTrustedKey, EMPTY_TRUST_STORE } from "../../src/trust/store.ts";
import { PROPERTY_TIMEOUT, runs } from "../support/fuzz.ts";

// Every property: whatever the input, the library either returns a sensible answer or throws a
// SkillError with a known code. Any other exception (RangeError from a buffer read, a zlib
// error, a TypeError...) fails the property, and a hang fails through the test timeout.

// Run counts and time caps scale under `make fuzz` (test/support/fuzz.ts).
const KNOWN_CODES = new Set(Object.keys(ERROR_CODES));

type Outcome<T> = { ok: true; value: T } | { ok: false; error: SkillError };

/** Runs fn; a SkillError with a known code is an outcome, anything else fails the test. */
function attempt<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    assert.ok(
      error instanceof SkillError,
      `expected a SkillError, got ${error instanceof Error ? error.stack : String(error)}`,
    );
    assert.ok(KNOWN_CODES.has(error.code), `unknown error code ${String(error.code)}`);
    assert.equal(typeof error.message, "string");
    return { ok: false, error };
  }
}

function expectSkillError(fn: () => unknown): SkillError {
  const outcome = attempt(fn);
  if (outcome.ok) assert.fail("expected a SkillError, but the call succeeded");
  return outcome.error;
}

const plain = (entries: readonly ArchiveEntry[]) =>
  entries.map(({ path, data }) => ({ path, data }));

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

// --- the signed echo-http artifact, built once ---------------------------------------------

const example = (name: string) =>
  readFileSync(new URL(`../../examples/echo-http/${name}`, import.meta.url));

const signingKey = signingKeyFromSeed(Buffer.alloc(32, 7));
const built = buildArtifact({
  manifestToml: example("skill.toml").toString("utf8"),
  modules: [{ path: "echo.wasm", data: example("modules/echo.wasm") }],
  assets: [{ path: "prompt.txt", data: example("assets/prompt.txt") }],
  sbom: example("sbom.cdx.json"),
  provenance: example("provenance.json"),
  signingKey,
  signedAtUnixMs: 1_764_000_000_000,
});
const ARTIFACT = built.artifact;
const trustStore = addTrustedKey(
  EMPTY_TRUST_STORE,
  built.manifest.publisher,
  signingKey.publicKey.toString("hex"),
);
const ORIGINAL = verifyArtifact(ARTIFACT, { trustStore });
const ORIGINAL_ENTRIES = readArchive(ARTIFACT);

/** Offsets of ZIP metadata (local headers and names, central directory, EOCD) in ARTIFACT. */
const METADATA_OFFSETS: number[] = (() => {
  const offsets: number[] = [];
  const eocd = ARTIFACT.length - 22;
  const cdOffset = ARTIFACT.readUInt32LE(eocd + 16);
  let at = 0;
  while (at < cdOffset) {
    assert.equal(ARTIFACT.readUInt32LE(at), 0x04034b50);
    const nameLength = ARTIFACT.readUInt16LE(at + 26);
    const compressed = ARTIFACT.readUInt32LE(at + 18);
    for (let i = 0; i < 30 + nameLength; i++) offsets.push(at + i);
    at += 30 + nameLength + compressed;
  }
  for (let i = cdOffset; i < ARTIFACT.length; i++) offsets.push(i);
  return offsets;
})();

/** Offsets of the DOS time/date fields, in the local headers and the central directory. */
const TIMESTAMP_OFFSETS: number[] = (() => {
  const offsets: number[] = [];
  for (let at = 0; at + 4 <= ARTIFACT.length; at++) {
    const signature = ARTIFACT.readUInt32LE(at);
    if (signature === 0x04034b50) offsets.push(at + 10, at + 11, at + 12, at + 13);
    if (signature === 0x02014b50) offsets.push(at + 12, at + 13, at + 14, at + 15);
  }
  return offsets;
})();

// --- mutations ------------------------------------------------------------------------------

type Mutation =
  | { kind: "flip"; flips: { at: number; xor: number }[] }
  | { kind: "truncate"; length: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "splice"; at: number; remove: number; bytes: Uint8Array }
  | { kind: "copy"; from: number; to: number; length: number };

function mutate(original: Buffer, mutation: Mutation): Buffer {
  const bytes = Buffer.from(original);
  switch (mutation.kind) {
    case "flip":
      for (const { at, xor } of mutation.flips) {
        const i = at % bytes.length;
        bytes.writeUInt8((bytes.readUInt8(i) ^ xor) & 0xff, i);
      }
      return bytes;
    case "truncate":
      return bytes.subarray(0, mutation.length % bytes.length);
    case "insert": {
      const at = mutation.at % (bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), mutation.bytes, bytes.subarray(at)]);
    }
    case "splice": {
      const at = mutation.at % (bytes.length + 1);
      return Buffer.concat([
        bytes.subarray(0, at),
        mutation.bytes,
        bytes.subarray(Math.min(bytes.length, at + mutation.remove)),
      ]);
    }
    case "copy": {
      // Overwrite a range with bytes from elsewhere in the same archive (e.g. one header over another).
      const from = mutation.from % bytes.length;
      const to = mutation.to % bytes.length;
      original.copy(bytes, to, from, Math.min(original.length, from + mutation.length));
      return bytes;
    }
  }
}

const anyOffset = fc.nat({ max: ARTIFACT.length - 1 });
const metadataOffset = fc.constantFrom(...METADATA_OFFSETS);
const offset = fc.oneof(anyOffset, metadataOffset);
const xor = fc.integer({ min: 1, max: 255 });

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("flip" as const),
      flips: fc.array(fc.record({ at: offset, xor }), { minLength: 1, maxLength: 1 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("flip" as const),
      flips: fc.array(fc.record({ at: offset, xor }), { minLength: 2, maxLength: 16 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("truncate" as const), length: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("insert" as const),
      at: offset,
      bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("splice" as const),
      at: offset,
      remove: fc.nat({ max: 128 }),
      bytes: fc.uint8Array({ maxLength: 64 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("copy" as const),
      from: offset,
      to: offset,
      length: fc.integer({ min: 1, max: 96 }),
    }),
  },
);

// --- an independent model of the path rules ----------------------------------------------------

// Unicode White_Space, which Rust's str::trim strips (and nothing else: not U+FEFF, not U+200B).
const WHITE_SPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
  0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

function modelTrim(value: string): string {
  const chars = [...value];
  let start = 0;
  let end = chars.length;
  while (start < end && WHITE_SPACE.has(chars[start]?.codePointAt(0) ?? -1)) start++;
  while (end > start && WHITE_SPACE.has(chars[end - 1]?.codePointAt(0) ?? -1)) end--;
  return chars.slice(start, end).join("");
}

/** The spec's rule, written independently of src: the normalised path, or undefined if rejected. */
function modelNormalize(raw: string): string | undefined {
  const path = modelTrim(raw).split("\\").join("/");
  if (path === "" || path[0] === "/" || path.includes("\0") || path.includes(":")) return undefined;
  const segments = path.split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) return undefined;
  return path;
}

type Expected =
  | { ok: true; entries: { path: string; data: Buffer }[] }
  | { ok: false; code: "INVALID_ENTRY_PATH" | "DUPLICATE_ENTRY" };

/** What readArchive must return for an archive writeArchive made from these entries. */
function expectedRead(entries: readonly { path: string; data: Uint8Array }[]): Expected {
  const seen = new Set<string>();
  const out: { path: string; data: Buffer }[] = [];
  for (const entry of entries) {
    // The name as it is stored (UTF-8; a lone surrogate becomes U+FFFD) and read back.
    const stored = Buffer.from(entry.path, "utf8").toString("utf8");
    if (stored.endsWith("/") || stored.endsWith("\\")) continue; // a directory entry
    const path = modelNormalize(stored);
    if (path === undefined) return { ok: false, code: "INVALID_ENTRY_PATH" };
    // Names equal after NFC and case folding are one file on common file systems.
    const folded = path.normalize("NFC").toLowerCase();
    if (seen.has(folded)) return { ok: false, code: "DUPLICATE_ENTRY" };
    seen.add(folded);
    out.push({ path, data: Buffer.from(entry.data) });
  }
  return { ok: true, entries: out.sort((a, b) => byUtf8(a.path, b.path)) };
}

const segment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("a", "b", "modules", "x.wasm", "é", "😀", "日本", "A") },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "",
      ".",
      "..",
      "...",
      ".a",
      " ",
      "\t",
      "\u00a0",
      "\u0085",
      "\u3000",
      "\ufeff",
      "\u200b",
      ":",
      "c:",
      "\0",
      "a b",
      "\ud800",
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 4 }) },
);
const separator = fc.constantFrom("/", "\\");
const entryName = fc.oneof(
  fc
    .tuple(fc.array(fc.tuple(segment, separator), { maxLength: 4 }), segment)
    .map(([parts, last]) => parts.map(([s, sep]) => s + sep).join("") + last),
  fc
    .tuple(
      fc.constantFrom("", " ", "\t", "/", "\\", "\u2003"),
      segment,
      fc.constantFrom("", " ", "\n", "/", "\u00a0"),
    )
    .map((p) => p.join("")),
  fc.string({ maxLength: 12 }),
);
const entryList = fc.array(
  fc.record({ path: entryName, data: fc.uint8Array({ maxLength: 64 }).map((d) => Buffer.from(d)) }),
  {
    maxLength: 10,
  },
);

// --- properties --------------------------------------------------------------------------------

describe("archive properties", () => {
  test(
    "the signed fixture verifies, and a timestamp flip keeps the same payload",
    PROPERTY_TIMEOUT,
    () => {
      assert.equal(ORIGINAL.trustDecision, "allowlisted");
      assert.equal(ORIGINAL.payloadSha256, built.payloadSha256);
      assert.ok(METADATA_OFFSETS.length > 100);
      assert.equal(TIMESTAMP_OFFSETS.length, 6 * 4 * 2);
      for (const at of TIMESTAMP_OFFSETS) {
        const verified = verifyArtifact(
          mutate(ARTIFACT, { kind: "flip", flips: [{ at, xor: 0x5a }] }),
          {
            trustStore,
          },
        );
        assert.equal(verified.payloadSha256, ORIGINAL.payloadSha256);
      }
    },
  );

  test("random bytes: readArchive returns entries or throws a SkillError", PROPERTY_TIMEOUT, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        const outcome = attempt(() => readArchive(bytes));
        if (outcome.ok) for (const e of outcome.value) assert.ok(Buffer.isBuffer(e.data));
      }),
      { numRuns: runs(1500) },
    );
  });

  test(
    "random bytes ending in a random EOCD: readArchive never fails untyped",
    PROPERTY_TIMEOUT,
    () => {
      const eocd = fc
        .record({
          disk: fc.oneof(fc.constant(0), fc.nat({ max: 0xffff })),
          cdDisk: fc.oneof(fc.constant(0), fc.nat({ max: 0xffff })),
          count: fc.nat({ max: 300 }),
          cdSize: fc.oneof(fc.nat({ max: 4096 }), fc.nat({ max: 0xffffffff })),
          cdOffset: fc.oneof(fc.nat({ max: 4096 }), fc.nat({ max: 0xffffffff })),
          comment: fc.uint8Array({ maxLength: 16 }),
        })
        .map((r) => {
          const b = Buffer.alloc(22);
          b.writeUInt32LE(0x06054b50, 0);
          b.writeUInt16LE(r.disk, 4);
          b.writeUInt16LE(r.cdDisk, 6);
          b.writeUInt16LE(r.count, 8);
          b.writeUInt16LE(r.count, 10);
          b.writeUInt32LE(r.cdSize, 12);
          b.writeUInt32LE(r.cdOffset, 16);
          b.writeUInt16LE(r.comment.length, 20);
          return Buffer.concat([b, r.comment]);
        });
      // Random body made of fragments that look like ZIP records.
      const fragment = fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.constantFrom(
          Buffer.from([0x50, 0x4b, 0x03, 0x04]),
          Buffer.from([0x50, 0x4b, 0x01, 0x02]),
          Buffer.from([0x50, 0x4b, 0x05, 0x06]),
        ),
      );
      fc.assert(
        fc.property(fc.array(fragment, { maxLength: 40 }), eocd, (parts, end) => {
          const bytes = Buffer.concat([...parts, end]);
          attempt(() => readArchive(bytes));
          expectSkillError(() => inspectArtifact(bytes));
        }),
        { numRuns: runs(1500) },
      );
    },
  );

  test("random bytes: inspectArtifact always throws a SkillError", PROPERTY_TIMEOUT, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        expectSkillError(() => inspectArtifact(bytes));
      }),
      { numRuns: runs(1000) },
    );
  });

  test(
    "mutated signed artifact: rejected with a SkillError, or the very same payload",
    PROPERTY_TIMEOUT,
    () => {
      let accepted = 0;
      let rejected = 0;
      fc.assert(
        fc.property(mutationArb, (mutation) => {
          const bytes = mutate(ARTIFACT, mutation);
          const outcome = attempt(() => verifyArtifact(bytes, { trustStore }));
          if (!outcome.ok) {
            rejected++;
            return;
          }
          accepted++;
          const verified = outcome.value;
          assert.equal(verified.payloadSha256, ORIGINAL.payloadSha256);
          assert.deepEqual(verified.manifest, ORIGINAL.manifest);
          assert.equal(verified.trustDecision, ORIGINAL.trustDecision);
          assert.deepEqual(plain(verified.entries), plain(ORIGINAL_ENTRIES));
        }),
        { numRuns: runs(2500) },
      );
      // Sanity: the generator reaches both sides (harmless metadata flips exist).
      assert.ok(rejected > 0);
      assert.ok(accepted > 0, "no mutation was accepted; the generator never hit harmless bytes");
    },
  );

  test(
    "random entry lists: writeArchive -> readArchive round-trips or rejects with the right code",
    PROPERTY_TIMEOUT,
    () => {
      fc.assert(
        fc.property(entryList, (entries) => {
          const expected = expectedRead(entries);
          const outcome = attempt(() => readArchive(writeArchive(entries)));
          if (expected.ok) {
            assert.ok(
              outcome.ok,
              `expected success, got ${outcome.ok ? "" : outcome.error.message}`,
            );
            assert.deepEqual(plain(outcome.value), expected.entries);
            // Sorted by UTF-8 bytes, not by UTF-16 code units.
            const read = outcome.value.map((e) => e.path);
            assert.deepEqual(read, [...read].sort(byUtf8));
          } else {
            assert.ok(!outcome.ok, `expected ${expected.code}, but the archive was read`);
            assert.equal(outcome.error.code, expected.code, outcome.error.message);
          }
        }),
        { numRuns: runs(1500) },
      );
    },
  );

  test("normalizeEntryPath agrees with an independent model of the spec", PROPERTY_TIMEOUT, () => {
    fc.assert(
      fc.property(entryName, (name) => {
        const expected = modelNormalize(name);
        const outcome = attempt(() => normalizeEntryPath(name));
        if (expected === undefined) {
          assert.ok(!outcome.ok, `${JSON.stringify(name)} was accepted`);
          assert.equal(outcome.error.code, "INVALID_ENTRY_PATH");
        } else {
          assert.ok(outcome.ok, `${JSON.stringify(name)} was rejected`);
          assert.equal(outcome.value, expected);
        }
      }),
      { numRuns: runs(3000) },
    );
  });

  test(
    "valid-shaped entries with random bytes in one of them: inspectArtifact rejects",
    PROPERTY_TIMEOUT,
    () => {
      const extraAsset = fc.record({
        path: fc.stringMatching(/^assets\/[a-z0-9_]{1,8}\.(txt|bin)$/),
        data: fc.uint8Array({ maxLength: 64 }),
      });
      fc.assert(
        fc.property(
          fc.nat({ max: ORIGINAL_ENTRIES.length - 1 }),
          fc.uint8Array({ maxLength: 512 }),
          fc.array(extraAsset, { maxLength: 2 }),
          (index, junk, extras) => {
            const target = ORIGINAL_ENTRIES[index];
            fc.pre(target !== undefined && !target.data.equals(junk));
            const entries = plain(ORIGINAL_ENTRIES)
              .map((e, i) => (i === index ? { path: e.path, data: Buffer.from(junk) } : e))
              .concat(
                extras
                  .filter((x) => !ORIGINAL_ENTRIES.some((e) => e.path === x.path))
                  .map((x) => ({ path: x.path, data: Buffer.from(x.data) })),
              );
            const unique = [...new Map(entries.map((e) => [e.path, e])).values()];
            expectSkillError(() => inspectArtifact(writeArchive(unique)));
          },
        ),
        { numRuns: runs(1000) },
      );
    },
  );

  test(
    "entries with the required names but random contents: inspectArtifact rejects",
    PROPERTY_TIMEOUT,
    () => {
      const required = [
        "skill.toml",
        "signature.json",
        "sbom.cdx.json",
        "provenance.json",
        "modules/m.wasm",
      ];
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ maxLength: 256 }), {
            minLength: required.length,
            maxLength: required.length,
          }),
          fc.subarray(required, { minLength: 0 }),
          (contents, keepReal) => {
            const real = new Map(ORIGINAL_ENTRIES.map((e) => [e.path, e.data]));
            real.set("modules/m.wasm", real.get("modules/echo.wasm") ?? Buffer.alloc(0));
            const entries = required.map((path, i) => ({
              path,
              data: keepReal.includes(path)
                ? (real.get(path) ?? Buffer.alloc(0))
                : Buffer.from(contents[i] ?? []),
            }));
            expectSkillError(() => inspectArtifact(writeArchive(entries)));
          },
        ),
        { numRuns: runs(1000) },
      );
    },
  );
});
