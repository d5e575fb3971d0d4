/**
 * The two inflate libraries (zlib-rs in native/, node:zlib as the fallback) must read every
 * byte sequence the same way: the same bytes out of every stream both accept, a rejection by
 * both of every stream either rejects. A difference would be a parsing differential between
 * this verifier and the zlib-based tools that read the same archives.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, test } from "node:test";
import { constants, deflateRawSync } from "node:zlib";
import fc from "fast-check";
import { SkillError } from "../../src/artifact/errors.ts";
import {
  INFLATE_BACKEND,
  inflateBatch,
  inflateEntry,
  inflateEntryWith,
  inflateEntryWithDigest,
  Sha256StreamClass,
} from "../../src/artifact/inflate.ts";
import { PROPERTY_TIMEOUT, runs } from "../support/fuzz.ts";

const ADDON = new URL("../../native/palyra-native.node", import.meta.url);

const native = inflateEntryWith("zlib-rs");
const zlib = inflateEntryWith("node:zlib") as NonNullable<typeof native>;

type Outcome = { ok: true; data: Buffer } | { ok: false; code: string; message: string };

function run(inflate: NonNullable<typeof native>, stream: Buffer, size: number): Outcome {
  try {
    return { ok: true, data: inflate(stream, size, "e") };
  } catch (error) {
    assert.ok(error instanceof SkillError, `not a SkillError: ${String(error)}`);
    return { ok: false, code: error.code, message: error.message };
  }
}

/** Both libraries give the same outcome; returns it. */
function same(stream: Buffer, size: number): Outcome {
  assert.ok(native, "native/palyra-native.node is not loaded");
  const a = run(native, stream, size);
  const b = run(zlib, stream, size);
  assert.equal(a.ok, b.ok, `zlib-rs ${JSON.stringify(a)} vs node:zlib ${JSON.stringify(b)}`);
  if (a.ok && b.ok) assert.ok(a.data.equals(b.data), "both accept but inflate differently");
  if (!a.ok && !b.ok) assert.equal(a.code, b.code);
  return a;
}

/** Bits in DEFLATE order: values LSB first, Huffman codes MSB first. */
class Bits {
  #bytes: number[] = [];
  #at = 0;
  put(value: number, count: number): this {
    for (let i = 0; i < count; i++) {
      if (this.#at % 8 === 0) this.#bytes.push(0);
      const last = this.#bytes.length - 1;
      if ((value >> i) & 1) this.#bytes[last] = (this.#bytes[last] ?? 0) | (1 << (this.#at % 8));
      this.#at++;
    }
    return this;
  }
  code(code: number, length: number): this {
    for (let i = length - 1; i >= 0; i--) this.put((code >> i) & 1, 1);
    return this;
  }
  /** A fixed-Huffman literal/length symbol. */
  fixed(symbol: number): this {
    if (symbol < 144) return this.code(0x30 + symbol, 8);
    if (symbol < 256) return this.code(0x190 + symbol - 144, 9);
    if (symbol < 280) return this.code(symbol - 256, 7);
    return this.code(0xc0 + symbol - 280, 8);
  }
  bytes(): Buffer {
    return Buffer.from(this.#bytes);
  }
}

const fixedBlock = () => new Bits().put(1, 1).put(1, 2);

describe("inflate", () => {
  test("the library that ships is zlib-rs whenever native/ is built (make builds it)", () => {
    if (existsSync(ADDON)) assert.equal(INFLATE_BACKEND, "zlib-rs");
    else assert.equal(INFLATE_BACKEND, "node:zlib");
    assert.ok(native, "make builds native/palyra-native.node before the tests run");
  });

  test("streams both libraries must refuse, each for zlib's reason", () => {
    const cases: [string, Buffer, number][] = [
      // Literal/length symbols 286 and 287 exist in the fixed code but mean nothing.
      ["length symbol 286", fixedBlock().fixed(65).fixed(286).fixed(256).bytes(), 4],
      ["length symbol 287", fixedBlock().fixed(65).fixed(287).fixed(256).bytes(), 4],
      // Distance symbols 30 and 31 likewise.
      ["distance symbol 30", fixedBlock().fixed(65).fixed(257).code(30, 5).fixed(256).bytes(), 4],
      ["distance symbol 31", fixedBlock().fixed(65).fixed(257).code(31, 5).fixed(256).bytes(), 4],
      // A match reaching before the start of the output.
      ["distance too far back", fixedBlock().fixed(65).fixed(257).code(1, 5).fixed(256).bytes(), 4],
      // Reserved block type 3.
      ["block type 3", new Bits().put(1, 1).put(3, 2).put(0, 13).bytes(), 1],
      // A stored block whose length and its complement disagree.
      ["stored LEN/NLEN", Buffer.from([0x01, 0x05, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5]), 5],
      // Dynamic header: 287 literal/length codes, 31 distance codes (zlib allows 286 and 30).
      ["HLIT 30", new Bits().put(1, 1).put(2, 2).put(30, 5).put(0, 5).put(15, 4).bytes(), 1],
      ["HDIST 30", new Bits().put(1, 1).put(2, 2).put(0, 5).put(30, 5).put(15, 4).bytes(), 1],
      // Code-length code with a single codeword: incomplete, which zlib refuses.
      [
        "incomplete code-length code",
        new Bits()
          .put(1, 1)
          .put(2, 2)
          .put(0, 5)
          .put(0, 5)
          .put(0, 4)
          .put(0, 3)
          .put(0, 3)
          .put(1, 3)
          .put(0, 3)
          .put(0, 32)
          .bytes(),
        1,
      ],
      ["empty input", Buffer.alloc(0), 0],
      ["truncated fixed block", fixedBlock().fixed(65).bytes(), 1],
    ];
    for (const [what, stream, size] of cases) {
      const outcome = same(stream, size);
      assert.equal(outcome.ok, false, `${what}: accepted`);
      if (!outcome.ok) assert.equal(outcome.code, "ENTRY_CORRUPT", what);
    }
    // The control: the same construction with meaningful symbols decodes ("AAAA").
    const good = same(fixedBlock().fixed(65).fixed(257).code(0, 5).fixed(256).bytes(), 4);
    assert.ok(good.ok && good.data.toString() === "AAAA");
  });

  test("sizes: exactly the declared size, no more, no less, nothing after the stream", () => {
    const data = Buffer.from("the quick brown fox ".repeat(50));
    const stream = deflateRawSync(data);
    assert.ok((same(stream, data.length) as { data: Buffer }).data.equals(data));
    for (const [size, words] of [
      [data.length - 2, "past its declared size of 998 bytes"],
      [data.length - 1, "inflates to 1000 bytes, not its declared 999"],
      [data.length + 1, "inflates to 1000 bytes, not its declared 1001"],
      [0, "past its declared size of 0 bytes"],
    ] as const) {
      const outcome = same(stream, size);
      assert.ok(!outcome.ok && outcome.message.includes(words), JSON.stringify(outcome));
    }
    const trailing = same(Buffer.concat([stream, Buffer.from([0])]), data.length);
    assert.ok(!trailing.ok && trailing.message.includes("1 bytes after the end"));
  });

  test("inputs the addon refuses to touch: shared memory between input and output", () => {
    const stream = deflateRawSync(Buffer.alloc(100, 7));
    assert.ok(native);
    // inflateEntry always allocates a fresh output; the addon still checks.
    const addon = createRequire(import.meta.url)(ADDON.pathname) as {
      inflateRaw: (input: Uint8Array, output: Uint8Array) => unknown;
    };
    assert.throws(() => addon.inflateRaw(stream, stream), /overlap/);
    assert.equal(inflateEntry(stream, 100, "e").length, 100);
    const batch = (
      addon as unknown as {
        inflateRawBatch: (input: Uint8Array, plan: Uint32Array, output: Uint8Array) => number;
      }
    ).inflateRawBatch;
    const plan = Uint32Array.of(0, stream.length, 0, 100);
    assert.throws(() => batch(stream, plan, stream), /overlap/);
    // A plan naming bytes outside either buffer is refused before anything is written.
    assert.throws(() => batch(stream, plan, Buffer.alloc(100)), /outside the buffers/);
    assert.throws(
      () => batch(stream, Uint32Array.of(0, stream.length + 1, 0, 100), Buffer.alloc(101)),
      /outside the buffers/,
    );
    assert.throws(() => batch(stream, Uint32Array.of(0, 1, 0), Buffer.alloc(101)), /multiple/);
    assert.equal(batch(stream, plan, Buffer.alloc(101)), 1);
  });

  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 4096 }),
    // Repetitive text: long matches, dynamic blocks.
    fc
      .tuple(fc.string({ maxLength: 40 }), fc.integer({ min: 1, max: 200 }))
      .map(([s, n]) => new Uint8Array(Buffer.from(s.repeat(n)))),
  );
  const options = fc.record({
    level: fc.integer({ min: 0, max: 9 }),
    windowBits: fc.integer({ min: 9, max: 15 }),
    memLevel: fc.integer({ min: 1, max: 9 }),
    strategy: fc.constantFrom(
      constants.Z_DEFAULT_STRATEGY,
      constants.Z_FILTERED,
      constants.Z_HUFFMAN_ONLY,
      constants.Z_RLE,
      constants.Z_FIXED,
    ),
  });

  test(
    "property: every stream zlib writes, at every setting, inflates to the same bytes",
    PROPERTY_TIMEOUT,
    () => {
      fc.assert(
        fc.property(payload, options, (data, settings) => {
          const stream = deflateRawSync(data, settings);
          const outcome = same(stream, data.length);
          assert.ok(outcome.ok && outcome.data.equals(data));
        }),
        { numRuns: runs(1500) },
      );
    },
  );

  test(
    "property: damaged streams (flipped bits, cut, spliced, padded) get the same answer from both",
    PROPERTY_TIMEOUT,
    () => {
      fc.assert(
        fc.property(
          payload,
          options,
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { maxLength: 4 }),
          fc.nat(),
          fc.uint8Array({ maxLength: 8 }),
          fc.integer({ min: -2, max: 2 }),
          (data, settings, flips, cut, spliced, sizeDelta) => {
            const stream = Buffer.from(deflateRawSync(data, settings));
            for (const [at, bit] of flips) {
              const index = at % Math.max(1, stream.length);
              if (stream.length > 0) stream[index] = (stream[index] ?? 0) ^ (1 << bit);
            }
            const end = stream.length === 0 ? 0 : cut % (stream.length + 1);
            const damaged = Buffer.concat([stream.subarray(0, end), spliced]);
            same(damaged, Math.max(0, data.length + sizeDelta));
          },
        ),
        { numRuns: runs(3000) },
      );
    },
  );

  test(
    "property: a batch of entries inflates each as inflateEntry does, up to the first that fails",
    PROPERTY_TIMEOUT,
    () => {
      const job = fc.tuple(
        payload,
        options,
        fc.constantFrom(0, 0, 0, 1, 2, 3),
        fc.nat(),
        fc.integer({ min: -1, max: 1 }),
      );
      fc.assert(
        fc.property(
          fc.array(job, { maxLength: 6 }),
          fc.uint8Array({ maxLength: 8 }),
          (jobs, gap) => {
            // The streams, with a few junk bytes between them, in one buffer as in an archive.
            const parts: Buffer[] = [];
            const spans: { start: number; end: number; size: number }[] = [];
            let at = 0;
            for (const [data, settings, damage, where, sizeDelta] of jobs) {
              const stream = Buffer.from(deflateRawSync(data, settings));
              const hit = where % Math.max(1, stream.length);
              if (damage === 1 && stream.length > 0) stream[hit] = (stream[hit] ?? 0) ^ 0x10;
              const body = damage === 2 ? stream.subarray(0, where % (stream.length + 1)) : stream;
              const size = Math.max(0, data.length + (damage === 3 ? sizeDelta : 0));
              parts.push(body, Buffer.from(gap));
              spans.push({ start: at, end: at + body.length, size });
              at += body.length + gap.length;
            }
            const input = Buffer.concat(parts);
            const results = inflateBatch(input, spans);
            assert.equal(results.length, spans.length);
            let failed = false;
            for (const [i, span] of spans.entries()) {
              const compressed = input.subarray(span.start, span.end);
              const alone = run(inflateEntry, compressed, span.size);
              const batched = results[i];
              if (failed || batched === undefined) {
                // From the first entry the batch does not give, each is left to inflateEntry;
                // the first of them is one inflateEntry rejects.
                if (!failed) assert.equal(alone.ok, false, `entry ${i}: the batch stopped early`);
                failed = true;
                continue;
              }
              assert.ok(alone.ok, `entry ${i}: the batch accepted what inflateEntry rejects`);
              assert.ok(batched.equals(alone.data), `entry ${i}: different bytes`);
            }
          },
        ),
        { numRuns: runs(1500) },
      );
    },
  );

  test(
    "property: inflating with a hashing thread, in chunks of any size, gives inflateEntry's answer and the digest",
    PROPERTY_TIMEOUT,
    () => {
      assert.ok(Sha256StreamClass, "make builds native/palyra-native.node before the tests run");
      const Stream = Sha256StreamClass;
      fc.assert(
        fc.property(
          payload,
          options,
          fc.constantFrom(0, 0, 1, 2, 3),
          fc.nat(),
          fc.integer({ min: -1, max: 1 }),
          fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 70_000 })),
          fc.boolean(),
          (data, settings, damage, where, sizeDelta, chunk, withPayload) => {
            const stream = Buffer.from(deflateRawSync(data, settings));
            const hit = where % Math.max(1, stream.length);
            if (damage === 1 && stream.length > 0) stream[hit] = (stream[hit] ?? 0) ^ 0x10;
            const body = damage === 2 ? stream.subarray(0, where % (stream.length + 1)) : stream;
            const size = Math.max(0, data.length + (damage === 3 ? sizeDelta : 0));
            const alone = run(inflateEntry, body, size);
            const payloadState = withPayload ? new Stream() : undefined;
            payloadState?.update(Buffer.from("before "));
            const threaded = run(
              (input, n, name) => {
                const { data: out, sha256 } = inflateEntryWithDigest(input, n, name, {
                  payload: payloadState,
                  chunk,
                });
                assert.equal(sha256, createHash("sha256").update(out).digest("hex"));
                return out;
              },
              body,
              size,
            );
            assert.deepEqual(threaded, alone);
            if (payloadState !== undefined) {
              // The bytes went into the payload hash when, and only when, inflating succeeded.
              const fed = alone.ok
                ? Buffer.concat([Buffer.from("before "), alone.data])
                : "before ";
              payloadState.update(Buffer.from(" after"));
              assert.equal(
                payloadState.digestHex(),
                createHash("sha256").update(fed).update(" after").digest("hex"),
              );
            }
          },
        ),
        { numRuns: runs(1500) },
      );
    },
  );

  test("property: arbitrary bytes get the same answer from both", PROPERTY_TIMEOUT, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.nat({ max: 70_000 }), (bytes, size) => {
        same(Buffer.from(bytes), size);
      }),
      { numRuns: runs(3000) },
    );
  });
});
