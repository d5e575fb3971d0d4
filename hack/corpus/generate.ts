/**
 * The adversarial corpus: hostile .palyra-skill artifacts, each with the error code the
 * verifier must answer. Built from one valid artifact so that each case differs from it by the
 * one flaw it names (and so fails for that reason, not an earlier one).
 *
 *   node hack/corpus/generate.ts --out DIR   writes DIR/<name>.palyra-skill and DIR/expected.json
 *
 * test/unit/corpus.test.ts runs every case through the library and the CLI under a memory and
 * a time cap.
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { deflateRawSync } from "node:zlib";
import { keyIdFor } from "../../src/artifact/ed25519.ts";
import type { ErrorCode } from "../../src/artifact/errors.ts";
import { DEFAULT_ARCHIVE_LIMITS } from "../../src/artifact/limits.ts";
import { type ArchiveEntry, readArchive } from "../../src/artifact/zip-reader.ts";
import { writeArchive } from "../../src/artifact/zip-writer.ts";
import { skillArtifact } from "../dev/artifacts.ts";
import {
  buildZip,
  FLAG_ENCRYPTED,
  FLAG_STRONG_ENCRYPTION,
  METHOD_DEFLATE,
  METHOD_STORED,
  MiB,
  type RawEntry,
  zeroBomb,
} from "./zip-builder.ts";

export interface CorpusCase {
  name: string;
  /** What is hostile about it, in a few words. */
  what: string;
  bytes: Buffer;
  expected: ErrorCode;
}

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const P = 2n ** 255n - 19n;

function le32(n: bigint): Buffer {
  const out = Buffer.alloc(32);
  let v = n;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function fromLe(bytes: Buffer): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] ?? 0);
  return v;
}

// Encodings of the eight small-order points of edwards25519 (and non-canonical twins).
const SMALL_ORDER_KEYS = [
  "0100000000000000000000000000000000000000000000000000000000000000",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0000000000000000000000000000000000000000000000000000000000000080",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

export function generateCorpus(): CorpusCase[] {
  const base = skillArtifact({ keySeed: 7 });
  const entries = readArchive(base.bytes);
  const cases: CorpusCase[] = [];
  const add = (name: string, what: string, expected: ErrorCode, bytes: Buffer) =>
    cases.push({ name, what, expected, bytes });

  const text = (path: string) =>
    (entries.find((e) => e.path === path)?.data ?? Buffer.alloc(0)).toString("utf8");
  /** The valid artifact with one entry's bytes replaced (written canonically). */
  const withEntry = (path: string, data: Buffer | string): Buffer =>
    writeArchive(entries.map((e) => (e.path === path ? { path, data: Buffer.from(data) } : e)));
  const withEntries = (extra: ArchiveEntry[]): Buffer => writeArchive([...entries, ...extra]);
  /** The valid entries as raw entries for the hand-rolled builder. */
  const raw = (overrides: Record<string, Partial<RawEntry>> = {}): RawEntry[] =>
    entries.map((e) => ({ name: e.path, data: e.data, ...(overrides[e.path] ?? {}) }));

  // --- zip bombs ---------------------------------------------------------------------------
  add(
    "bomb-ratio",
    "one entry of 80 MiB of zeros (~80 KiB compressed)",
    "ENTRY_TOO_LARGE",
    buildZip([...raw(), { name: "assets/bomb.bin", body: zeroBomb(80), size: 80 * MiB, crc: 0 }]),
  );
  add(
    "bomb-lying-size",
    "declares 1 KiB, inflates to 8 MiB",
    "ENTRY_CORRUPT",
    buildZip([...raw(), { name: "assets/bomb.bin", body: zeroBomb(8), size: 1024, crc: 0 }]),
  );
  add(
    "bomb-total",
    "five 15 MiB entries: each under the entry limit, together over the total",
    "ARCHIVE_TOTAL_TOO_LARGE",
    buildZip([
      ...raw(),
      ...[1, 2, 3, 4, 5].map((i) => ({
        name: `assets/b${i}.bin`,
        body: zeroBomb(15),
        size: 15 * MiB,
        crc: 0,
      })),
    ]),
  );
  const quoted: RawEntry[] = Array.from({ length: 40 }, (_, i) => ({
    name: `assets/q${i}.bin`,
    noLocal: true,
    localOffset: 0,
    data: entries[0]?.data ?? Buffer.alloc(0),
  }));
  add(
    "bomb-overlapping-quoted",
    "40 central records pointing at one local entry",
    "ENTRY_NAME_MISMATCH",
    buildZip([...raw(), ...quoted]),
  );
  add(
    "bomb-many-entries",
    `${DEFAULT_ARCHIVE_LIMITS.maxEntries + 1} entries`,
    "TOO_MANY_ENTRIES",
    withEntries(
      Array.from({ length: DEFAULT_ARCHIVE_LIMITS.maxEntries + 1 - entries.length }, (_, i) => ({
        path: `assets/f${i}.txt`,
        data: Buffer.from("x"),
      })),
    ),
  );
  add(
    "bomb-lying-small",
    "declares 16 MiB + 1 with a tiny body",
    "ENTRY_TOO_LARGE",
    buildZip([...raw(), { name: "assets/x.bin", data: Buffer.from("x"), size: 16 * MiB + 1 }]),
  );

  // --- lying sizes and CRCs --------------------------------------------------------------------
  add(
    "size-larger-than-data",
    "declared size larger than what inflates",
    "ENTRY_CORRUPT",
    buildZip(raw({ "skill.toml": { size: text("skill.toml").length + 10 } })),
  );
  add(
    "size-stored-mismatch",
    "stored entry whose sizes disagree",
    "ENTRY_CORRUPT",
    buildZip(raw({ "assets/prompt.txt": { method: METHOD_STORED, size: 3 } })),
  );
  add(
    "crc-wrong",
    "CRC-32 that does not match the bytes",
    "ENTRY_CORRUPT",
    buildZip(raw({ "signature.json": { crc: 0xdeadbeef } })),
  );
  add(
    "compressed-size-past-directory",
    "compressed size running into the central directory",
    "ARCHIVE_MALFORMED",
    buildZip(raw({ "skill.toml": { compressedSize: 1_000_000 } })),
  );

  // --- every path spelling ------------------------------------------------------------------
  const badPaths: [string, string][] = [
    ["dotdot", "../evil"],
    ["dotdot-inner", "assets/../../evil"],
    ["dotdot-backslash", "assets\\..\\..\\evil"],
    ["absolute", "/etc/passwd"],
    ["absolute-backslash", "\\evil"],
    ["drive-letter", "C:/evil"],
    ["drive-relative", "c:evil"],
    ["ads-stream", "assets/x.txt:stream"],
    ["empty-segment", "assets//x.txt"],
    ["dot-segment", "./assets/x.txt"],
    ["inner-dot", "assets/./x.txt"],
    ["trailing-dotdot", "assets/.."],
    ["nul", "assets/x\u0000.txt"],
    ["empty", ""],
    ["spaces-only", "   "],
    ["unc", "\\\\server\\share\\x"],
    ["leading-space-absolute", " /etc/passwd"],
  ];
  for (const [name, path] of badPaths) {
    add(
      `path-${name}`,
      `entry named ${JSON.stringify(path)}`,
      "INVALID_ENTRY_PATH",
      buildZip([...raw(), { name: path, data: Buffer.from("x") }]),
    );
  }
  add(
    "path-cp437",
    "non-ASCII name not flagged UTF-8",
    "INVALID_ENTRY_PATH",
    buildZip([
      ...raw(),
      {
        name: Buffer.from([0x61, 0x73, 0x73, 0x65, 0x74, 0x73, 0x2f, 0x82]),
        data: Buffer.from("x"),
        flags: 0,
      },
    ]),
  );
  add(
    "path-bad-utf8",
    "flagged UTF-8 but not UTF-8",
    "INVALID_ENTRY_PATH",
    buildZip([
      ...raw(),
      { name: Buffer.from([0x61, 0x2f, 0xc3, 0x28]), data: Buffer.from("x"), flags: 0x0800 },
    ]),
  );
  add(
    "path-overlong-utf8",
    "an overlong UTF-8 encoding of '/'",
    "INVALID_ENTRY_PATH",
    buildZip([
      ...raw(),
      { name: Buffer.from([0x61, 0xc0, 0xaf, 0x62]), data: Buffer.from("x"), flags: 0x0800 },
    ]),
  );

  // --- duplicate and normalised-duplicate names ---------------------------------------------
  add(
    "dup-manifest",
    "skill.toml twice",
    "DUPLICATE_ENTRY",
    buildZip([...raw(), { name: "skill.toml", data: Buffer.from('id = "evil"') }]),
  );
  add(
    "dup-signature",
    "signature.json twice",
    "DUPLICATE_ENTRY",
    buildZip([...raw(), { name: "signature.json", data: Buffer.from("{}") }]),
  );
  add(
    "dup-backslash",
    "assets/prompt.txt and assets\\prompt.txt",
    "DUPLICATE_ENTRY",
    buildZip([...raw(), { name: "assets\\prompt.txt", data: Buffer.from("evil") }]),
  );
  add(
    "dup-trimmed",
    "' skill.toml' trims to skill.toml",
    "DUPLICATE_ENTRY",
    buildZip([...raw(), { name: " skill.toml", data: Buffer.from("evil") }]),
  );
  add(
    "dup-case",
    "assets/prompt.txt and assets/PROMPT.txt (one file on macOS and Windows)",
    "DUPLICATE_ENTRY",
    buildZip([...raw(), { name: "assets/PROMPT.txt", data: Buffer.from("evil") }]),
  );
  add(
    "dup-nfc",
    "assets/caf\u00e9 and assets/cafe\u0301 (one name after NFC)",
    "DUPLICATE_ENTRY",
    buildZip([
      ...raw(),
      { name: "assets/caf\u00e9", data: Buffer.from("a") },
      { name: "assets/cafe\u0301", data: Buffer.from("b") },
    ]),
  );
  add(
    "dup-module",
    "modules/echo.wasm twice",
    "DUPLICATE_ENTRY",
    buildZip([...raw(), { name: "modules/echo.wasm", data: Buffer.from("\0asm\u0001\0\0\0") }]),
  );

  // --- local/central disagreement --------------------------------------------------------------
  add(
    "local-name-differs",
    "local header names another file",
    "ENTRY_NAME_MISMATCH",
    buildZip(raw({ "skill.toml": { localName: "skill.tomm" } })),
  );
  add(
    "local-name-traversal",
    "central name fine, local name ../x",
    "ENTRY_NAME_MISMATCH",
    buildZip(raw({ "assets/prompt.txt": { localName: "../prompt.txt" } })),
  );
  add(
    "local-method-differs",
    "local header says stored, central says deflate",
    "ENTRY_NAME_MISMATCH",
    (() => {
      const bytes = buildZip(raw());
      bytes.writeUInt16LE(METHOD_STORED, 8); // the first local header's method
      return bytes;
    })(),
  );

  // --- prepended, appended, in-between data -------------------------------------------------
  add(
    "prepended",
    "a shell script before the first entry (offsets adjusted)",
    "ARCHIVE_MALFORMED",
    buildZip(raw(), { prefix: Buffer.from("#!/bin/sh\necho pwned\nexit 0\n") }),
  );
  add(
    "appended",
    "bytes after the end record",
    "ARCHIVE_MALFORMED",
    buildZip(raw(), { trailing: Buffer.from("appended") }),
  );
  add(
    "bytes-after-deflate-stream",
    "an entry's compressed bytes go on after its deflate stream ends (hidden in the entry)",
    "ENTRY_CORRUPT",
    (() => {
      const manifest = entries.find((e) => e.path === "skill.toml")?.data ?? Buffer.alloc(0);
      const body = Buffer.concat([deflateRawSync(manifest), Buffer.from("hidden payload")]);
      return buildZip(raw({ "skill.toml": { body } }));
    })(),
  );
  add(
    "gap-before-directory",
    "bytes between the last entry and the central directory",
    "ARCHIVE_MALFORMED",
    buildZip(raw(), { gap: Buffer.from("hidden bytes") }),
  );
  const forged = Buffer.alloc(22);
  forged.writeUInt32LE(0x06054b50, 0);
  add(
    "forged-end-record",
    "archive comment holding an empty archive's end record",
    "ARCHIVE_MALFORMED",
    buildZip(raw(), { comment: forged }),
  );
  add(
    "comment-with-signature",
    "archive comment containing PK\\x05\\x06",
    "ARCHIVE_MALFORMED",
    buildZip(raw(), { comment: Buffer.from("x PK\u0005\u0006 y") }),
  );
  add(
    "directory-offset-off-by-one",
    "end record points one byte past the directory",
    "ARCHIVE_MALFORMED",
    (() => {
      const bytes = buildZip(raw());
      const eocd = bytes.length - 22;
      bytes.writeUInt32LE(bytes.readUInt32LE(eocd + 16) + 1, eocd + 16);
      return bytes;
    })(),
  );
  add(
    "truncated",
    "the last 100 bytes cut off",
    "ARCHIVE_MALFORMED",
    base.bytes.subarray(0, base.bytes.length - 100),
  );
  add(
    "not-a-zip",
    "a PNG header",
    "ARCHIVE_MALFORMED",
    Buffer.from("89504e470d0a1a0a0000000d49484452", "hex"),
  );
  add("empty-file", "zero bytes", "ARCHIVE_MALFORMED", Buffer.alloc(0));
  add("empty-archive", "a ZIP with no entries", "MISSING_ENTRY", buildZip([]));

  // --- overlapping entries, data descriptors, encryption, methods -------------------------------
  add(
    "overlapping-entries",
    "two central records share one local entry",
    "ENTRY_NAME_MISMATCH",
    (() => {
      const r = raw();
      const bytes = buildZip([
        ...r,
        {
          name: "assets/overlap.bin",
          noLocal: true,
          localOffset: 0,
          data: r[0]?.data ?? Buffer.alloc(0),
          localName: String(r[0]?.name),
        },
      ]);
      return bytes;
    })(),
  );
  add(
    "data-descriptor",
    "sizes deferred to a data descriptor (flag bit 3)",
    "ARCHIVE_UNSUPPORTED",
    buildZip(raw({ "assets/prompt.txt": { flags: 0x0008 } })),
  );
  add(
    "encrypted",
    "traditional PKWARE encryption flag",
    "ARCHIVE_UNSUPPORTED",
    buildZip(raw({ "assets/prompt.txt": { flags: FLAG_ENCRYPTED } })),
  );
  add(
    "strong-encryption",
    "strong encryption flag",
    "ARCHIVE_UNSUPPORTED",
    buildZip(raw({ "assets/prompt.txt": { flags: FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION } })),
  );
  for (const [method, label] of [
    [1, "shrink"],
    [6, "implode"],
    [9, "deflate64"],
    [12, "bzip2"],
    [14, "lzma"],
    [93, "zstd"],
    [95, "xz"],
    [99, "aes"],
  ] as const) {
    add(
      `method-${label}`,
      `compression method ${method}`,
      "ARCHIVE_UNSUPPORTED",
      buildZip(raw({ "assets/prompt.txt": { method, body: Buffer.from("whatever") } })),
    );
  }
  add(
    "zip64-marker",
    "end record with ZIP64 markers",
    "ARCHIVE_UNSUPPORTED",
    buildZip(raw(), { entryCount: 0xffff, entriesOnDisk: 0xffff }),
  );
  add("multi-disk", "a spanned archive", "ARCHIVE_UNSUPPORTED", buildZip(raw(), { diskNumber: 1 }));
  add(
    "deflate-garbage",
    "a deflate stream that is not deflate",
    "ENTRY_CORRUPT",
    buildZip(
      raw({
        "assets/prompt.txt": { method: METHOD_DEFLATE, body: Buffer.from("ffffffffffff", "hex") },
      }),
    ),
  );

  // --- signatures and keys ------------------------------------------------------------------
  const signature = JSON.parse(text("signature.json")) as Record<string, unknown>;
  const sigBytes = Buffer.from(String(signature.signature_base64), "base64");
  const withSignature = (patch: Record<string, unknown>) =>
    withEntry("signature.json", JSON.stringify({ ...signature, ...patch }, null, 2));
  const rBytes = sigBytes.subarray(0, 32);
  const s = fromLe(sigBytes.subarray(32));
  add(
    "sig-malleable-s-plus-l",
    "S + L: the same signature, non-canonical",
    "SIGNATURE_INVALID",
    withSignature({ signature_base64: Buffer.concat([rBytes, le32(s + L)]).toString("base64") }),
  );
  add(
    "sig-s-max",
    "S = 2^256 - 1",
    "SIGNATURE_INVALID",
    withSignature({
      signature_base64: Buffer.concat([rBytes, Buffer.alloc(32, 0xff)]).toString("base64"),
    }),
  );
  add(
    "sig-zero",
    "all-zero signature",
    "SIGNATURE_INVALID",
    withSignature({ signature_base64: Buffer.alloc(64).toString("base64") }),
  );
  add(
    "sig-r-small-order",
    "R of small order, S = 0",
    "SIGNATURE_INVALID",
    withSignature({
      signature_base64: Buffer.concat([
        Buffer.from(SMALL_ORDER_KEYS[0] as string, "hex"),
        Buffer.alloc(32),
      ]).toString("base64"),
    }),
  );
  add(
    "sig-flipped-bit",
    "one bit of S flipped",
    "SIGNATURE_INVALID",
    withSignature({ signature_base64: Buffer.concat([rBytes, le32(s ^ 1n)]).toString("base64") }),
  );
  add(
    "sig-short",
    "63-byte signature",
    "SIGNATURE_MALFORMED",
    withSignature({ signature_base64: sigBytes.subarray(0, 63).toString("base64") }),
  );
  add(
    "sig-long",
    "65-byte signature",
    "SIGNATURE_MALFORMED",
    withSignature({
      signature_base64: Buffer.concat([sigBytes, Buffer.alloc(1)]).toString("base64"),
    }),
  );
  add(
    "sig-base64url",
    "signature in base64url",
    "SIGNATURE_MALFORMED",
    withSignature({
      signature_base64:
        sigBytes.toString("base64url") +
        (sigBytes.toString("base64url").includes("-") ||
        sigBytes.toString("base64url").includes("_")
          ? ""
          : "-"),
    }),
  );
  add(
    "sig-base64-whitespace",
    "a newline inside the base64",
    "SIGNATURE_MALFORMED",
    withSignature({
      signature_base64: `${sigBytes.toString("base64").slice(0, 20)}\n${sigBytes.toString("base64").slice(20)}`,
    }),
  );
  add(
    "sig-base64-nonzero-padding-bits",
    "base64 whose padding bits are set (non-canonical)",
    "SIGNATURE_MALFORMED",
    withSignature({
      signature_base64: (() => {
        const b = sigBytes.toString("base64");
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const last = b[b.length - 3] ?? "A";
        return `${b.slice(0, -3)}${alphabet[(alphabet.indexOf(last) | 1) % 64]}==`;
      })(),
    }),
  );
  add(
    "sig-not-string",
    "signature_base64 is a number",
    "SIGNATURE_MALFORMED",
    withSignature({ signature_base64: 42 }),
  );
  add(
    "sig-algorithm",
    "algorithm ed448",
    "UNSUPPORTED_ALGORITHM",
    withSignature({ algorithm: "ed448" }),
  );
  add(
    "sig-algorithm-case",
    "algorithm ED25519",
    "UNSUPPORTED_ALGORITHM",
    withSignature({ algorithm: "ED25519" }),
  );
  add(
    "sig-payload-hash",
    "a payload hash of other bytes",
    "PAYLOAD_HASH_MISMATCH",
    withSignature({ payload_sha256: "0".repeat(64) }),
  );
  add(
    "sig-payload-hash-upper",
    "the payload hash in upper case",
    "PAYLOAD_HASH_MISMATCH",
    withSignature({ payload_sha256: String(signature.payload_sha256).toUpperCase() }),
  );
  add(
    "sig-key-id",
    "key_id of another key",
    "KEY_ID_MISMATCH",
    withSignature({ key_id: "0".repeat(16) }),
  );
  add(
    "sig-publisher",
    "signature names another publisher",
    "PUBLISHER_MISMATCH",
    withSignature({ publisher: "zeta" }),
  );
  add(
    "sig-extra-field",
    "an unknown field",
    "SIGNATURE_MALFORMED",
    withSignature({ note: "trust me" }),
  );
  add(
    "sig-signed-at-negative",
    "signed_at_unix_ms -1",
    "SIGNATURE_MALFORMED",
    withSignature({ signed_at_unix_ms: -1 }),
  );
  add(
    "sig-signed-at-float",
    "signed_at_unix_ms 1.5",
    "SIGNATURE_MALFORMED",
    withSignature({ signed_at_unix_ms: 1.5 }),
  );
  add(
    "sig-signed-at-huge",
    "signed_at_unix_ms 2^64",
    "SIGNATURE_MALFORMED",
    withEntry(
      "signature.json",
      text("signature.json").replace(
        /"signed_at_unix_ms": \d+/,
        '"signed_at_unix_ms": 18446744073709551616',
      ),
    ),
  );
  add(
    "sig-bom",
    "a byte-order mark before the JSON",
    "SIGNATURE_MALFORMED",
    withEntry("signature.json", `\ufeff${text("signature.json")}`),
  );
  add(
    "sig-not-json",
    "signature.json is not JSON",
    "SIGNATURE_MALFORMED",
    withEntry("signature.json", "publisher=acme"),
  );
  add(
    "sig-array",
    "signature.json is an array",
    "SIGNATURE_MALFORMED",
    withEntry("signature.json", "[]"),
  );
  add(
    "sig-missing",
    "no signature.json",
    "MISSING_ENTRY",
    writeArchive(entries.filter((e) => e.path !== "signature.json")),
  );
  for (const [i, hex] of SMALL_ORDER_KEYS.entries()) {
    const key = Buffer.from(hex, "hex");
    add(
      `key-weak-${i}`,
      `public key ${hex.slice(0, 8)}… (small order or non-canonical)`,
      "PUBLIC_KEY_INVALID",
      withSignature({ public_key_base64: key.toString("base64"), key_id: keyIdFor(key) }),
    );
  }
  const yTooBig = le32(P + 1n);
  add(
    "key-noncanonical-y",
    "y = p + 1 (non-canonical encoding)",
    "PUBLIC_KEY_INVALID",
    withSignature({ public_key_base64: yTooBig.toString("base64"), key_id: keyIdFor(yTooBig) }),
  );
  add(
    "key-short",
    "a 31-byte public key",
    "PUBLIC_KEY_INVALID",
    withSignature({ public_key_base64: Buffer.alloc(31, 1).toString("base64") }),
  );
  add(
    "key-other",
    "a valid key that did not sign",
    "SIGNATURE_INVALID",
    (() => {
      const other = skillArtifact({ keySeed: 8 }).publicKeyHex;
      const key = Buffer.from(other, "hex");
      return withSignature({ public_key_base64: key.toString("base64"), key_id: keyIdFor(key) });
    })(),
  );

  // --- duplicate JSON keys --------------------------------------------------------------------
  const dupe = (path: string, field: string) =>
    withEntry(path, text(path).replace(/^\{/, `{"${field}":"evil",`));
  add(
    "json-dup-sig-publisher",
    'signature.json names "publisher" twice',
    "SIGNATURE_MALFORMED",
    dupe("signature.json", "publisher"),
  );
  add(
    "json-dup-sig-key",
    'signature.json names "public_key_base64" twice',
    "SIGNATURE_MALFORMED",
    dupe("signature.json", "public_key_base64"),
  );
  add(
    "json-dup-sig-escaped",
    "a duplicate spelled with a \\u escape",
    "SIGNATURE_MALFORMED",
    withEntry(
      "signature.json",
      text("signature.json").replace(/^\{/, '{"p\\u0075blisher":"evil",'),
    ),
  );
  add(
    "json-dup-sbom",
    'sbom names "bomFormat" twice',
    "SBOM_INVALID",
    dupe("sbom.cdx.json", "bomFormat"),
  );
  add(
    "json-dup-provenance",
    'provenance names "builder" twice',
    "PROVENANCE_INVALID",
    dupe("provenance.json", "builder"),
  );
  add(
    "json-dup-provenance-nested",
    "a duplicate inside provenance.builder",
    "PROVENANCE_INVALID",
    withEntry(
      "provenance.json",
      text("provenance.json").replace(
        /"builder":\s*\{/,
        '"builder": {"id": "https://evil.example/",',
      ),
    ),
  );
  add(
    "json-sbom-deep",
    "SBOM nested 100,000 arrays deep",
    "SBOM_INVALID",
    withEntry("sbom.cdx.json", `${"[".repeat(100_000)}${"]".repeat(100_000)}`),
  );
  add(
    "json-sbom-not-object",
    "SBOM is a string",
    "SBOM_INVALID",
    withEntry("sbom.cdx.json", '"CycloneDX"'),
  );
  add(
    "json-provenance-bom",
    "provenance with a byte-order mark",
    "PROVENANCE_INVALID",
    withEntry("provenance.json", `\ufeff${text("provenance.json")}`),
  );
  add(
    "json-provenance-invalid-utf8",
    "provenance that is not UTF-8",
    "PROVENANCE_INVALID",
    withEntry(
      "provenance.json",
      Buffer.concat([Buffer.from('{"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
    ),
  );

  // --- TOML edge cases ------------------------------------------------------------------------
  const manifest = text("skill.toml");
  const toml = (name: string, what: string, expected: ErrorCode, body: string) =>
    add(`toml-${name}`, what, expected, withEntry("skill.toml", body));
  toml(
    "dup-key",
    "a key set twice",
    "MANIFEST_PARSE_ERROR",
    `${manifest}\nid = "other"\n`.replace(/^/, 'id = "evil"\n'),
  );
  toml(
    "dup-table",
    "a table defined twice",
    "MANIFEST_PARSE_ERROR",
    `${manifest}\n[entrypoints]\n[entrypoints]\n`,
  );
  toml(
    "dotted-redefine",
    "a dotted key redefining a table",
    "MANIFEST_PARSE_ERROR",
    `a.b = 1\n[a]\nb = 2\n${manifest}`,
  );
  toml(
    "table-vs-array",
    "a table redefined as an array of tables",
    "MANIFEST_PARSE_ERROR",
    `${manifest}\n[x]\n[[x]]\n`,
  );
  toml(
    "huge-int",
    "an integer of 2^64",
    "MANIFEST_PARSE_ERROR",
    `${manifest}\nhuge = 18446744073709551616\n`,
  );
  toml(
    "deep-inline",
    "inline tables nested 50,000 deep",
    "MANIFEST_PARSE_ERROR",
    `deep = ${"{a=".repeat(50_000)}1${"}".repeat(50_000)}\n${manifest}`,
  );
  toml(
    "deep-array",
    "arrays nested 50,000 deep",
    "MANIFEST_PARSE_ERROR",
    `deep = ${"[".repeat(50_000)}${"]".repeat(50_000)}\n${manifest}`,
  );
  toml(
    "huge-string",
    "a 12 MiB string",
    "MANIFEST_PARSE_ERROR",
    `${manifest}\n[x]\ns = "${"a".repeat(12 * 1024 * 1024)}"\n`,
  );
  toml(
    "invalid-utf8",
    "skill.toml that is not UTF-8",
    "MANIFEST_PARSE_ERROR",
    Buffer.concat([Buffer.from(manifest), Buffer.from([0xc3, 0x28])]).toString("latin1"),
  );
  toml("nul", "a NUL byte", "MANIFEST_PARSE_ERROR", `${manifest}\n\u0000\n`);
  toml(
    "unterminated",
    "an unterminated string",
    "MANIFEST_PARSE_ERROR",
    `${manifest}\nx = "open\n`,
  );
  toml("not-toml", "JSON instead of TOML", "MANIFEST_PARSE_ERROR", '{"id": "acme.echo_http"}');
  toml("empty", "an empty manifest", "MANIFEST_PARSE_ERROR", "");
  toml("bare-cr", "a bare carriage return", "MANIFEST_PARSE_ERROR", `${manifest}\nx = 1\r y = 2\n`);

  // --- odd Unicode in identifiers ------------------------------------------------------------
  const setField = (field: string, value: string) =>
    manifest.replace(new RegExp(`^${field} = ".*"$`, "m"), `${field} = ${JSON.stringify(value)}`);
  const unicode: [string, string, string][] = [
    ["id-cyrillic-a", "skill_id", "\u0430cme.echo_http"],
    ["id-rtl-override", "skill_id", "acme.echo\u202e_http"],
    ["id-zero-width", "skill_id", "acme.echo\u200b_http"],
    ["id-fullwidth", "skill_id", "ａcme.echo_http"],
    ["id-combining", "skill_id", "acme.e\u0301cho_http"],
    ["id-uppercase", "skill_id", "ACME.echo_http"],
    ["id-space", "skill_id", "acme.echo http"],
    ["id-empty", "skill_id", ""],
    ["id-newline", "skill_id", "acme.echo\nhttp"],
    ["publisher-homoglyph", "publisher", "\u0430cme"],
    ["publisher-nfd", "publisher", "acme\u0301"],
    ["version-unicode-digit", "version", "\u0661.0.0"],
    ["version-leading-v", "version", "v1.0.0"],
    ["version-huge", "version", "99999999999999999999.0.0"],
  ];
  for (const [name, field, value] of unicode) {
    toml(name, `${field} = ${JSON.stringify(value)}`, "MANIFEST_INVALID", setField(field, value));
  }
  return cases;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: "string" } } });
  const out = values.out ?? "corpus-out";
  mkdirSync(out, { recursive: true });
  const cases = generateCorpus();
  for (const c of cases) writeFileSync(join(out, `${c.name}.palyra-skill`), c.bytes);
  writeFileSync(
    join(out, "expected.json"),
    `${JSON.stringify(Object.fromEntries(cases.map((c) => [c.name, { expected: c.expected, what: c.what }])), null, 2)}\n`,
  );
  console.log(`wrote ${cases.length} hostile artifacts and expected.json to ${out}`);
}
