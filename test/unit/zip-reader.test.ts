import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { crc32, deflateRawSync } from "node:zlib";
import {
  buildZip,
  FLAG_ENCRYPTED,
  FLAG_STRONG_ENCRYPTION,
  FLAG_UTF8,
  file,
  localRecord,
  METHOD_STORED,
  MiB,
  zeroBomb,
} from "../../hack/corpus/zip-builder.ts";
import { type ErrorCode, SkillError } from "../../src/artifact/errors.ts";
import { type ArchiveLimits, DEFAULT_ARCHIVE_LIMITS } from "../../src/artifact/limits.ts";
import { normalizeEntryPath } from "../../src/artifact/paths.ts";
import { readArchive } from "../../src/artifact/zip-reader.ts";
import { writeArchive } from "../../src/artifact/zip-writer.ts";
import { assertSkillError } from "../support/assert-error.ts";

function limits(overrides: Partial<ArchiveLimits>): ArchiveLimits {
  return { ...DEFAULT_ARCHIVE_LIMITS, ...overrides };
}

function paths(bytes: Uint8Array, l?: ArchiveLimits): string[] {
  return readArchive(bytes, l).map((e) => e.path);
}

function rejects(bytes: Uint8Array, code: ErrorCode, message?: RegExp | string, l?: ArchiveLimits) {
  return assertSkillError(() => readArchive(bytes, l), code, message);
}

// ---------------------------------------------------------------------------------------------

describe("the test ZIP builder", () => {
  test("builds archives that the reader and the writer agree on", () => {
    const entries = [
      { path: "a.txt", data: Buffer.from("hello") },
      { path: "dir/b.bin", data: Buffer.alloc(0) },
    ];
    const built = buildZip(entries.map((e) => ({ name: e.path, data: e.data })));
    assert.deepEqual(
      readArchive(built).map(({ path, data }) => ({ path, data })),
      entries,
    );
  });

  test("the zero bomb really inflates to what it claims (checked on a small one)", () => {
    const bytes = buildZip([{ name: "z", data: Buffer.alloc(3 * MiB), body: zeroBomb(3) }]);
    const [entry] = readArchive(bytes);
    assert.equal(entry?.data.length, 3 * MiB);
    assert.ok(entry?.data.every((b) => b === 0));
  });
});

describe("whole-artifact size limit", () => {
  const bytes = buildZip([file("a.txt", "hello")]);

  test("an artifact exactly at the limit is read", () => {
    assert.deepEqual(paths(bytes, limits({ maxArtifactBytes: bytes.length })), ["a.txt"]);
  });

  test("an artifact one byte over the limit is rejected before parsing", () => {
    rejects(bytes, "ARTIFACT_TOO_LARGE", undefined, limits({ maxArtifactBytes: bytes.length - 1 }));
    // Even garbage is reported as too large, not as malformed: the size is checked first.
    rejects(Buffer.alloc(100), "ARTIFACT_TOO_LARGE", undefined, limits({ maxArtifactBytes: 99 }));
  });

  test("default limit: 64 MiB + 1 bytes is ARTIFACT_TOO_LARGE, 64 MiB is not", () => {
    assert.equal(DEFAULT_ARCHIVE_LIMITS.maxArtifactBytes, 64 * MiB);
    rejects(Buffer.alloc(64 * MiB + 1), "ARTIFACT_TOO_LARGE");
    // Exactly at the limit the size passes; the zeros are then simply not a ZIP.
    rejects(Buffer.alloc(64 * MiB), "ARCHIVE_MALFORMED");
    // A real archive of exactly 64 MiB (four stored entries of about 16 MiB) is read.
    const names = ["a", "b", "c", "d"];
    const overhead = buildZip(names.map((n) => file(n, "", { method: METHOD_STORED }))).length;
    const total = 64 * MiB - overhead;
    const each = Math.floor(total / 4);
    const sizes = [each, each, each, total - 3 * each];
    const padded = buildZip(
      names.map((n, i) => ({ name: n, data: Buffer.alloc(sizes[i] ?? 0), method: METHOD_STORED })),
    );
    assert.equal(padded.length, 64 * MiB);
    assert.deepEqual(paths(padded), names);
  });
});

describe("per-entry uncompressed size limit", () => {
  const ten = "0123456789";

  test("an entry at the limit is read; one byte over is ENTRY_TOO_LARGE", () => {
    const l = limits({ maxEntryBytes: 10 });
    assert.deepEqual(paths(buildZip([file("a", ten)]), l), ["a"]);
    rejects(buildZip([file("a", `${ten}x`)]), "ENTRY_TOO_LARGE", undefined, l);
    rejects(
      buildZip([file("a", `${ten}x`, { method: METHOD_STORED })]),
      "ENTRY_TOO_LARGE",
      undefined,
      l,
    );
  });

  test("the declared size alone is enough to reject (nothing is inflated)", () => {
    // Under the default 16 MiB limit: a 1 GiB declared size on a 1-byte entry.
    rejects(buildZip([file("a", "x", { size: 1024 * MiB })]), "ENTRY_TOO_LARGE");
    rejects(buildZip([file("a", "x", { size: 16 * MiB + 1 })]), "ENTRY_TOO_LARGE");
  });

  test("a deflate entry whose header under-declares its size is rejected, bounded", () => {
    // Declares 100 bytes; the Deflate stream inflates to 1 GiB of zeros.
    const bomb = zeroBomb(1024);
    const bytes = buildZip([{ name: "bomb.bin", data: Buffer.alloc(100), body: bomb }]);
    const rssBefore = process.resourceUsage().maxRSS;
    const started = performance.now();
    const error = assertSkillError(() => readArchive(bytes), "ENTRY_CORRUPT");
    const elapsed = performance.now() - started;
    const rssGrowthKiB = process.resourceUsage().maxRSS - rssBefore;
    assert.equal(error.field, "bomb.bin");
    // Inflating the whole stream would take a GiB of memory and a second or more.
    assert.ok(rssGrowthKiB < 256 * 1024, `peak RSS grew by ${rssGrowthKiB} KiB`);
    assert.ok(elapsed < 5_000, `took ${elapsed} ms`);
  });

  test("a header declaring the full per-entry limit cannot smuggle more past it", () => {
    const l = limits({ maxEntryBytes: 4 * MiB, maxTotalBytes: 4 * MiB });
    const bytes = buildZip([{ name: "b", data: Buffer.alloc(4 * MiB), body: zeroBomb(64) }]);
    rejects(bytes, "ENTRY_CORRUPT", undefined, l);
    // ... while the honest version of the same entry is fine.
    const honest = buildZip([{ name: "b", data: Buffer.alloc(4 * MiB), body: zeroBomb(4) }]);
    assert.equal(readArchive(honest, l)[0]?.data.length, 4 * MiB);
  });

  test("a header that over-declares the size is rejected too", () => {
    rejects(buildZip([file("a", "hello", { size: 6 })]), "ENTRY_CORRUPT");
  });
});

describe("total uncompressed size limit", () => {
  const l = limits({ maxTotalBytes: 20 });

  test("entries totalling the limit are read", () => {
    assert.deepEqual(paths(buildZip([file("a", "x".repeat(10)), file("b", "y".repeat(10))]), l), [
      "a",
      "b",
    ]);
  });

  test("entries totalling one byte more are ARCHIVE_TOTAL_TOO_LARGE", () => {
    rejects(
      buildZip([file("a", "x".repeat(10)), file("b", "y".repeat(11))]),
      "ARCHIVE_TOTAL_TOO_LARGE",
      undefined,
      l,
    );
  });

  test("default: five 16 MiB declared entries exceed 64 MiB in total", () => {
    const entries = ["a", "b", "c", "d", "e"].map((n) => file(n, "x", { size: 16 * MiB }));
    rejects(buildZip(entries), "ARCHIVE_TOTAL_TOO_LARGE");
  });

  test("directory entries do not count toward the total", () => {
    const bytes = buildZip([file("dir/", "", { size: 1000 }), file("a", "x".repeat(20))]);
    assert.deepEqual(paths(bytes, l), ["a"]);
  });
});

describe("entry count limit", () => {
  const many = (n: number) => buildZip(Array.from({ length: n }, (_, i) => file(`f${i}`, `${i}`)));

  test("default: 256 entries are read, 257 are TOO_MANY_ENTRIES", () => {
    assert.equal(DEFAULT_ARCHIVE_LIMITS.maxEntries, 256);
    assert.equal(readArchive(many(256)).length, 256);
    rejects(many(257), "TOO_MANY_ENTRIES");
  });

  test("a custom limit applies", () => {
    const l = limits({ maxEntries: 3 });
    assert.equal(readArchive(many(3), l).length, 3);
    rejects(many(4), "TOO_MANY_ENTRIES", undefined, l);
  });
});

describe("entry path normalisation", () => {
  test("normalizeEntryPath trims white space and turns backslashes into slashes", () => {
    assert.equal(normalizeEntryPath("  a/b.txt\t\n"), "a/b.txt");
    assert.equal(normalizeEntryPath("a\\b\\c.txt"), "a/b/c.txt");
    // Rust's str::trim: Unicode White_Space (NEL, NBSP, ideographic space...) but not BOM.
    assert.equal(normalizeEntryPath("\u0085\u00a0a.txt\u3000"), "a.txt");
    assert.equal(normalizeEntryPath("\ufeffa.txt"), "\ufeffa.txt");
    assert.equal(normalizeEntryPath("modules/x.wasm"), "modules/x.wasm");
    assert.equal(normalizeEntryPath("a b/c d"), "a b/c d");
    assert.equal(normalizeEntryPath("..a/b..c/.d"), "..a/b..c/.d");
  });

  const invalid = [
    "",
    "   ",
    "/a",
    " /a",
    "\\a",
    "a\0b",
    "c:x",
    "C:\\x",
    "a//b",
    "a\\\\b",
    "./a",
    "a/./b",
    "a/.",
    "a/../b",
    "..",
    "../a",
    "a/..",
    "a\\..\\b",
  ];

  test("normalizeEntryPath rejects empty, absolute, NUL, ':' and empty/./.. segments", () => {
    for (const raw of invalid) {
      assertSkillError(() => normalizeEntryPath(raw), "INVALID_ENTRY_PATH");
    }
  });

  test("the reader normalises names it accepts", () => {
    const bytes = buildZip([file(" a.txt\t"), file("dir\\b.txt"), file("c.txt")]);
    assert.deepEqual(paths(bytes), ["a.txt", "c.txt", "dir/b.txt"]);
  });

  test("the reader rejects every invalid name with INVALID_ENTRY_PATH", () => {
    for (const raw of invalid) {
      const error = rejects(buildZip([file("ok.txt"), file(raw)]), "INVALID_ENTRY_PATH");
      assert.equal(error.field, raw);
    }
  });

  test("names that normalise to the same path are DUPLICATE_ENTRY", () => {
    rejects(buildZip([file("a\\b"), file("a/b")]), "DUPLICATE_ENTRY");
    rejects(buildZip([file("a.txt"), file(" a.txt")]), "DUPLICATE_ENTRY");
    rejects(buildZip([file("a.txt"), file("a.txt")]), "DUPLICATE_ENTRY");
    // Two central records for the same local header are the same name twice.
    const dup = buildZip([file("a.txt"), file("a.txt", "x", { noLocal: true, localOffset: 0 })]);
    rejects(dup, "DUPLICATE_ENTRY");
    // Names that differ only in case or Unicode normalisation are one file once extracted.
    rejects(
      buildZip([file("a/b"), file("a/B")]),
      "DUPLICATE_ENTRY",
      "case or Unicode normalisation",
    );
    rejects(buildZip([file("caf\u00e9"), file("cafe\u0301")]), "DUPLICATE_ENTRY");
    // Distinct letters that only look alike (Latin b, Cyrillic be) are distinct files.
    assert.deepEqual(paths(buildZip([file("a/b"), file("a/\u0431")])), ["a/b", "a/\u0431"]);
  });

  test("directory entries are ignored, even with odd names or contents", () => {
    const bytes = buildZip([
      file("dir/", ""),
      file("dir/a.txt"),
      file("other\\", ""),
      file("../", "junk"),
      file("x/", "", { method: 12 }),
    ]);
    assert.deepEqual(paths(bytes), ["dir/a.txt"]);
    // An archive with nothing but directories reads as empty.
    assert.deepEqual(paths(buildZip([file("d/", "")])), []);
  });
});

describe("entry names: encoding and local/central agreement", () => {
  test("local header and central directory names that disagree are ENTRY_NAME_MISMATCH", () => {
    assert.deepEqual(paths(buildZip([file("a.txt", "x", { localName: "a.txt" })])), ["a.txt"]);
    rejects(buildZip([file("a.txt", "x", { localName: "b.txt" })]), "ENTRY_NAME_MISMATCH");
    // Same after normalisation, but different bytes: still a mismatch.
    rejects(buildZip([file("a/b", "x", { localName: "a\\b" })]), "ENTRY_NAME_MISMATCH");
    rejects(buildZip([file("a.txt", "x", { localName: "a.txt " })]), "ENTRY_NAME_MISMATCH");
    rejects(buildZip([file("a.txt", "x", { localName: "" })]), "ENTRY_NAME_MISMATCH");
  });

  test("a UTF-8-flagged non-ASCII name is accepted", () => {
    const bytes = buildZip([file("café/naïve.txt", "x", { flags: FLAG_UTF8 })]);
    assert.deepEqual(paths(bytes), ["café/naïve.txt"]);
  });

  test("a non-ASCII name without the UTF-8 flag is INVALID_ENTRY_PATH", () => {
    // The same name as UTF-8 bytes, and as CP437 bytes (0x82 = é).
    rejects(buildZip([file("café.txt", "x", { flags: 0 })]), "INVALID_ENTRY_PATH");
    const cp437 = Buffer.from([0x63, 0x61, 0x66, 0x82, 0x2e, 0x74, 0x78, 0x74]);
    rejects(buildZip([file(cp437, "x", { flags: 0 })]), "INVALID_ENTRY_PATH");
  });

  test("a leading U+FEFF in a UTF-8 name is part of the name (not a BOM to drop)", () => {
    // U+FEFF is not White_Space, so the spec's trim keeps it (normalizeEntryPath does), and the
    // reference decodes names with String::from_utf8, which keeps it too. Dropping it would
    // make "\uFEFFskill.toml" read as "skill.toml" and hash a different payload.
    assert.equal(normalizeEntryPath("\ufeffa.txt"), "\ufeffa.txt");
    const bom = buildZip([file("\ufeffa.txt", "bom"), file("a.txt", "plain")]);
    assert.deepEqual(
      readArchive(bom).map((e) => [e.path, e.data.toString()]),
      [
        ["a.txt", "plain"],
        ["\ufeffa.txt", "bom"],
      ],
    );
    assert.deepEqual(paths(buildZip([file("\ufeffskill.toml")])), ["\ufeffskill.toml"]);
    // "\uFEFF/a" is relative (its first character is not '/').
    assert.deepEqual(paths(buildZip([file("\ufeff/a")])), ["\ufeff/a"]);
  });

  test("a UTF-8-flagged name that is not valid UTF-8 is INVALID_ENTRY_PATH", () => {
    const bad = Buffer.from([0x61, 0xff, 0x62]);
    rejects(buildZip([file(bad, "x", { flags: FLAG_UTF8 })]), "INVALID_ENTRY_PATH");
  });

  test("entries come back sorted by UTF-8 byte order, not by archive or UTF-16 order", () => {
    const names = ["😀", "～", "é", "a", "B", "a/b", "a-b", "ab"];
    const bytes = buildZip(names.map((n) => file(n, n)));
    const read = readArchive(bytes);
    // UTF-16 order would put U+1F600 (D83D DE00) before U+FF5E; UTF-8 (F0.. vs EF..) does not.
    assert.deepEqual(
      read.map((e) => e.path),
      ["B", "a", "a-b", "a/b", "ab", "é", "～", "😀"],
    );
    for (const entry of read) assert.equal(entry.data.toString("utf8"), entry.path);
  });
});

describe("compression methods, flags and integrity", () => {
  test("Stored entries are accepted", () => {
    const bytes = buildZip([
      file("s.txt", "stored!", { method: METHOD_STORED }),
      file("d.txt", "deflated"),
      file("e.txt", "", { method: METHOD_STORED }),
    ]);
    const read = readArchive(bytes);
    assert.deepEqual(
      read.map((e) => [e.path, e.data.toString()]),
      [
        ["d.txt", "deflated"],
        ["e.txt", ""],
        ["s.txt", "stored!"],
      ],
    );
  });

  test("a Stored entry whose sizes disagree is ENTRY_CORRUPT", () => {
    rejects(
      buildZip([file("s.txt", "stored!", { method: METHOD_STORED, size: 3 })]),
      "ENTRY_CORRUPT",
    );
  });

  test("unsupported compression methods are ARCHIVE_UNSUPPORTED", () => {
    for (const method of [1, 6, 9, 12, 14, 93, 95, 99]) {
      rejects(buildZip([file("a.txt", "x", { method })]), "ARCHIVE_UNSUPPORTED", String(method));
    }
  });

  test("encrypted entries are ARCHIVE_UNSUPPORTED", () => {
    rejects(buildZip([file("a.txt", "x", { flags: FLAG_ENCRYPTED })]), "ARCHIVE_UNSUPPORTED");
    rejects(
      buildZip([file("a.txt", "x", { flags: FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION })]),
      "ARCHIVE_UNSUPPORTED",
    );
    rejects(
      buildZip([file("a.txt", "x", { flags: FLAG_STRONG_ENCRYPTION })]),
      "ARCHIVE_UNSUPPORTED",
    );
    // UTF-8 on an ASCII name is harmless; a data descriptor is not accepted (one reading only).
    assert.deepEqual(paths(buildZip([file("a.txt", "x", { flags: 0x0800 })])), ["a.txt"]);
    rejects(buildZip([file("a.txt", "x", { flags: 0x0808 })]), "ARCHIVE_UNSUPPORTED");
  });

  test("a CRC-32 mismatch is ENTRY_CORRUPT (unless CRC checking is turned off)", () => {
    const good = buildZip([file("a.txt", "hello")]);
    assert.equal(readArchive(good)[0]?.crc32, crc32("hello") >>> 0);
    const bad = buildZip([file("a.txt", "hello", { crc: (crc32("hello") ^ 1) >>> 0 })]);
    rejects(bad, "ENTRY_CORRUPT", "CRC");
    const stored = buildZip([file("a.txt", "hello", { method: METHOD_STORED, crc: 0 })]);
    rejects(stored, "ENTRY_CORRUPT");
    const unchecked = readArchive(bad, DEFAULT_ARCHIVE_LIMITS, { verifyCrc: false });
    assert.equal(unchecked[0]?.data.toString(), "hello");
  });

  test("a corrupt Deflate stream is ENTRY_CORRUPT", () => {
    rejects(
      buildZip([file("a.txt", "hello", { body: Buffer.from([0xff, 0xff, 0xff]) })]),
      "ENTRY_CORRUPT",
    );
    // A truncated stream (the final block never arrives).
    const body = deflateRawSync(Buffer.from("hello hello hello"));
    rejects(
      buildZip([file("a.txt", "hello hello hello", { body: body.subarray(0, body.length - 2) })]),
      "ENTRY_CORRUPT",
    );
  });

  test("extra fields and comments are skipped", () => {
    const bytes = buildZip(
      [
        file("a.txt", "hello", {
          localExtra: Buffer.from("5455050001000000", "hex"),
          centralExtra: Buffer.from("55540100", "hex"),
          centralComment: Buffer.from("a comment"),
        }),
        file("b.txt", "world", { localExtra: Buffer.alloc(300, 0xaa) }),
      ],
      { comment: Buffer.from("an archive comment") },
    );
    assert.deepEqual(
      readArchive(bytes).map((e) => [e.path, e.data.toString()]),
      [
        ["a.txt", "hello"],
        ["b.txt", "world"],
      ],
    );
  });

  test("local header and central directory must agree on flags, method, CRC and sizes", () => {
    // Zeros in the local header (what a data descriptor would leave there): one reading only.
    const bytes = buildZip([file("a.txt", "hello")]);
    bytes.fill(0, 14, 26);
    rejects(bytes, "ENTRY_NAME_MISMATCH", "disagree on the crc");
    const method = buildZip([file("a.txt", "hello")]);
    method.writeUInt16LE(0, 8);
    rejects(method, "ENTRY_NAME_MISMATCH", "disagree on the method");
    // With the data-descriptor flag itself the archive is unsupported.
    rejects(
      buildZip([file("a.txt", "hello", { flags: 0x0008 })]),
      "ARCHIVE_UNSUPPORTED",
      "data descriptor",
    );
  });
});

describe("ambiguous archives (two readers could see different contents)", () => {
  const code = (bytes: Buffer) => {
    try {
      readArchive(bytes);
      return "accepted";
    } catch (error) {
      return `${(error as { code?: string }).code}: ${(error as Error).message}`;
    }
  };
  const good = () => buildZip([file("a.txt", "hello")]);

  test("a comment holding a forged end record (another reader would see an empty archive)", () => {
    // A complete EOCD for an empty archive, whose own comment length reaches the end too.
    const forged = Buffer.alloc(22);
    forged.writeUInt32LE(0x06054b50, 0);
    const bytes = buildZip([file("a.txt", "hello")], { comment: forged });
    assert.match(code(bytes), /^ARCHIVE_MALFORMED: .*ambiguous archive/);
  });

  test("a comment that merely contains a record signature", () => {
    const bytes = buildZip([file("a.txt", "hello")], {
      comment: Buffer.from("archive comment with PK\x05\x06 inside"),
    });
    assert.match(
      code(bytes),
      /^ARCHIVE_MALFORMED: the archive comment contains a ZIP record signature/,
    );
    const central = buildZip([file("a.txt", "hello")], { comment: Buffer.from("x PK\x01\x02 y") });
    assert.match(code(central), /^ARCHIVE_MALFORMED: the archive comment contains/);
  });

  test("data between the central directory and the end record", () => {
    const bytes = good();
    const eocd = bytes.length - 22;
    const padded = Buffer.concat([
      bytes.subarray(0, eocd),
      Buffer.from("junk"),
      bytes.subarray(eocd),
    ]);
    assert.match(code(padded), /^ARCHIVE_MALFORMED: 4 bytes between the central directory/);
  });

  test("a comment length that disagrees with the end of the file (appended data)", () => {
    const appended = Buffer.concat([good(), Buffer.from("appended")]);
    assert.match(
      code(appended),
      /^ARCHIVE_MALFORMED: no end-of-central-directory record whose comment length/,
    );
    const short = good();
    short.writeUInt16LE(5, short.length - 2); // claims a 5-byte comment that is not there
    assert.match(code(short), /^ARCHIVE_MALFORMED: no end-of-central-directory record/);
  });

  test("a central directory that does not start where the end record says", () => {
    const bytes = good();
    const eocd = bytes.length - 22;
    bytes.writeUInt32LE(bytes.readUInt32LE(eocd + 16) + 1, eocd + 16);
    bytes.writeUInt32LE(bytes.readUInt32LE(eocd + 12) - 1, eocd + 12);
    assert.match(
      code(bytes),
      /^ARCHIVE_MALFORMED: central directory record 0 is truncated or has a bad signature/,
    );
  });
});

describe("malformed archives", () => {
  const valid = writeArchive([
    { path: "a.txt", data: Buffer.from("hello") },
    { path: "dir/b.bin", data: Buffer.from("world") },
  ]);

  test("empty input, short input and garbage are ARCHIVE_MALFORMED", () => {
    rejects(Buffer.alloc(0), "ARCHIVE_MALFORMED");
    rejects(new Uint8Array(0), "ARCHIVE_MALFORMED");
    rejects(Buffer.from("PK"), "ARCHIVE_MALFORMED");
    rejects(Buffer.alloc(21), "ARCHIVE_MALFORMED");
    rejects(Buffer.alloc(1000, 0x41), "ARCHIVE_MALFORMED");
    rejects(Buffer.from("this is not a zip archive at all, not even close"), "ARCHIVE_MALFORMED");
  });

  test("an empty archive (only an EOCD) reads as no entries", () => {
    assert.deepEqual(readArchive(buildZip([])), []);
  });

  test("every truncation of a valid archive is rejected with a SkillError", () => {
    for (let length = 0; length < valid.length; length++) {
      rejects(valid.subarray(0, length), "ARCHIVE_MALFORMED", undefined);
    }
    assert.equal(readArchive(valid).length, 2);
  });

  test("bytes after the EOCD that its comment does not cover are ARCHIVE_MALFORMED", () => {
    rejects(buildZip([file("a.txt")], { trailing: Buffer.from("junk") }), "ARCHIVE_MALFORMED");
  });

  test("a Uint8Array view into a larger buffer is read correctly", () => {
    const backing = new Uint8Array(valid.length + 20);
    backing.set(valid, 10);
    const view = backing.subarray(10, 10 + valid.length);
    assert.deepEqual(paths(view), ["a.txt", "dir/b.bin"]);
  });

  test("a central directory pointing past the EOCD, or a bad record, is ARCHIVE_MALFORMED", () => {
    const entries = [file("a.txt")];
    const size = buildZip(entries).length;
    rejects(buildZip(entries, { cdOffset: size }), "ARCHIVE_MALFORMED");
    rejects(buildZip(entries, { cdSize: 1000 }), "ARCHIVE_MALFORMED");
    rejects(buildZip(entries, { cdSize: 10 }), "ARCHIVE_MALFORMED");
    rejects(buildZip(entries, { entryCount: 2 }), "ARCHIVE_MALFORMED");
    rejects(buildZip(entries, { cdOffset: 1 }), "ARCHIVE_MALFORMED");
  });

  test("a local header that is missing or misplaced is ARCHIVE_MALFORMED", () => {
    rejects(buildZip([file("a.txt", "x", { localOffset: 5 })]), "ARCHIVE_MALFORMED");
    rejects(buildZip([file("a.txt", "x", { noLocal: true, localOffset: 0 })]), "ARCHIVE_MALFORMED");
    rejects(buildZip([file("a.txt", "x", { localOffset: 0xfffffff0 })]), "ARCHIVE_MALFORMED");
  });

  test("entry data running into the central directory is ARCHIVE_MALFORMED", () => {
    rejects(buildZip([file("a.txt", "hello", { compressedSize: 100 })]), "ARCHIVE_MALFORMED");
    rejects(
      buildZip([file("a.txt", "hello", { method: METHOD_STORED, compressedSize: 6, size: 6 })]),
      "ARCHIVE_MALFORMED",
    );
  });

  test("multi-disk archives are ARCHIVE_UNSUPPORTED", () => {
    rejects(buildZip([file("a")], { diskNumber: 1 }), "ARCHIVE_UNSUPPORTED");
    rejects(buildZip([file("a")], { cdDisk: 1 }), "ARCHIVE_UNSUPPORTED");
    rejects(buildZip([file("a"), file("b")], { entriesOnDisk: 1 }), "ARCHIVE_UNSUPPORTED");
  });
});

describe("overlapping entries", () => {
  test("an entry whose local header lies inside another entry's data is rejected", () => {
    // "a" is Stored and its data is b's whole local record; b's central record points into it.
    const inner = file("b", "payload", { method: METHOD_STORED });
    const outer = { name: "a", data: localRecord(inner), method: METHOD_STORED };
    const aDataStart = 30 + 1;
    const bytes = buildZip([outer, { ...inner, noLocal: true, localOffset: aDataStart }]);
    rejects(bytes, "ARCHIVE_MALFORMED", "overlap");
    // Each on its own is a valid entry (b only where its bytes are not prepended to it).
    assert.deepEqual(paths(buildZip([outer])), ["a"]);
    assert.deepEqual(paths(buildZip([inner])), ["b"]);
    rejects(
      buildZip([inner], { prefix: Buffer.alloc(aDataStart) }),
      "ARCHIVE_MALFORMED",
      "belong to no entry",
    );
  });

  test("an entry whose compressed size reaches into the next local header is rejected", () => {
    const body = deflateRawSync("hello");
    const b = file("b", "world");
    const bytes = buildZip([file("a", "hello", { compressedSize: body.length + 10 }), b]);
    rejects(bytes, "ARCHIVE_MALFORMED", "overlap");
    // Reaching exactly to the next header is not an overlap.
    assert.deepEqual(paths(buildZip([file("a", "hello"), b])), ["a", "b"]);
  });

  test("two entries sharing one body through different local headers is rejected", () => {
    // b's local header is placed at a's data; a's body is b's header plus b's body. Listing b
    // first in the central directory must not change the answer.
    const inner = file("b", "zzz", { method: METHOD_STORED });
    const outer = { name: "a", data: localRecord(inner), method: METHOD_STORED };
    const bytes = buildZip([{ ...inner, noLocal: true, localOffset: 31 }, outer]);
    rejects(bytes, "ARCHIVE_MALFORMED", "overlap");
  });
});

describe("central directory order", () => {
  test("entries listed out of offset order are read when they tile the data, refused when a byte belongs to no entry", () => {
    // a's local record first, then b's (written as the trailing "gap"); the central directory
    // lists b first. The reader's in-order shortcut does not apply: the general check must.
    const a = file("a", "first", { method: METHOD_STORED });
    const b = file("b", "second", { method: METHOD_STORED });
    const aLength = localRecord(a).length;
    const reversed = buildZip([{ ...b, noLocal: true, localOffset: aLength }, a], {
      gap: localRecord(b),
    });
    assert.deepEqual(paths(reversed), ["a", "b"]);
    assert.deepEqual(
      readArchive(reversed).map((e) => e.data.toString()),
      ["first", "second"],
    );
    const hidden = buildZip([{ ...b, noLocal: true, localOffset: aLength + 1 }, a], {
      gap: Buffer.concat([Buffer.from([0]), localRecord(b)]),
    });
    rejects(hidden, "ARCHIVE_MALFORMED", "belong to no entry");
  });
});

describe("ZIP64 markers are ARCHIVE_UNSUPPORTED", () => {
  test("in the end-of-central-directory record", () => {
    const entries = [file("a.txt")];
    rejects(buildZip(entries, { entryCount: 0xffff }), "ARCHIVE_UNSUPPORTED", "ZIP64");
    rejects(buildZip(entries, { cdSize: 0xffffffff }), "ARCHIVE_UNSUPPORTED", "ZIP64");
    rejects(buildZip(entries, { cdOffset: 0xffffffff }), "ARCHIVE_UNSUPPORTED", "ZIP64");
  });

  test("in a central directory record", () => {
    rejects(buildZip([file("a.txt", "x", { size: 0xffffffff })]), "ARCHIVE_UNSUPPORTED", "ZIP64");
    rejects(
      buildZip([file("a.txt", "x", { compressedSize: 0xffffffff })]),
      "ARCHIVE_UNSUPPORTED",
      "ZIP64",
    );
    rejects(
      buildZip([file("a.txt", "x", { localOffset: 0xffffffff })]),
      "ARCHIVE_UNSUPPORTED",
      "ZIP64",
    );
  });
});

describe("writer", () => {
  const GOLDEN = [
    "504b0304 1400 0000 0800 0000 2100 86a61036 07000000 05000000 0500 0000 612e747874",
    "cb48cdc9c90700",
    "504b0304 1400 0000 0800 0000 2100 00000000 02000000 00000000 0900 0000 6469722f622e62696e",
    "0300",
    "504b0102 1403 1400 0000 0800 0000 2100 86a61036 07000000 05000000 0500 0000 0000 0000 0000",
    "0000a481 00000000 612e747874",
    "504b0102 1403 1400 0000 0800 0000 2100 00000000 02000000 00000000 0900 0000 0000 0000 0000",
    "0000a481 2a000000 6469722f622e62696e",
    "504b0506 0000 0000 0200 0200 6a000000 53000000 0000",
  ]
    .join("")
    .replaceAll(" ", "");

  const entries = [
    { path: "a.txt", data: Buffer.from("hello") },
    { path: "dir/b.bin", data: Buffer.alloc(0) },
  ];

  test("matches the reference writer byte for byte", () => {
    assert.equal(writeArchive(entries).toString("hex"), GOLDEN);
  });

  test("is deterministic", () => {
    assert.deepEqual(writeArchive(entries), writeArchive(entries));
  });

  test("readArchive(writeArchive(x)) round-trips", () => {
    const many = [
      { path: "z.bin", data: Buffer.from([0, 1, 2, 255]) },
      { path: "modules/m.wasm", data: Buffer.from("\0asm\x01\0\0\0", "latin1") },
      { path: "assets/ünï/cödé.txt", data: Buffer.from("utf-8 name") },
      { path: "big.bin", data: Buffer.alloc(200_000, 0x5a) },
      { path: "empty", data: Buffer.alloc(0) },
    ];
    const read = readArchive(writeArchive(many));
    const expected = [...many].sort((a, b) =>
      Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)),
    );
    assert.deepEqual(
      read.map(({ path, data }) => ({ path, data })),
      expected,
    );
    for (const entry of read) assert.equal(entry.crc32, crc32(entry.data) >>> 0);
    assert.deepEqual(
      readArchive(Buffer.from(GOLDEN, "hex")).map(({ path, data }) => ({ path, data })),
      entries,
    );
  });

  test("marks non-ASCII names as UTF-8 and only those", () => {
    const bytes = writeArchive([
      { path: "ä", data: Buffer.alloc(0) },
      { path: "a", data: Buffer.alloc(0) },
    ]);
    assert.equal(bytes.readUInt16LE(6) & FLAG_UTF8, FLAG_UTF8);
    const second = 30 + 2 + 2;
    assert.equal(bytes.readUInt32LE(second), 0x04034b50);
    assert.equal(bytes.readUInt16LE(second + 6) & FLAG_UTF8, 0);
  });
});

test("every rejection is a SkillError instance", () => {
  try {
    readArchive(Buffer.from("nope"));
    assert.fail("expected a throw");
  } catch (error) {
    assert.ok(error instanceof SkillError);
  }
});
