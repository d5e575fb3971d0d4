import { crc32 } from "node:zlib";
import { SkillError } from "./errors.ts";
import {
  type InflateJob,
  inflateBatch,
  inflateEntry,
  inflateEntryWithDigest,
  type Sha256Stream,
} from "./inflate.ts";
import { type ArchiveLimits, DEFAULT_ARCHIVE_LIMITS } from "./limits.ts";
import { compareUtf8, hasSurrogate, normalizeEntryPath } from "./paths.ts";

/** One file entry of an artifact, after path normalisation and decompression. */
export interface ArchiveEntry {
  readonly path: string;
  readonly data: Buffer;
  /** The CRC-32 the archive declares for the entry (present on entries read from a ZIP). */
  readonly crc32?: number;
  /**
   * The SHA-256 (hex) of `data`, when it was computed while inflating (ReadOptions.digests);
   * valid only as long as `data` is not written to.
   */
  readonly sha256?: string;
}

export interface ReadOptions {
  /**
   * Check each entry's CRC-32 while reading (the default). Verification turns this off: the
   * signed payload hash covers every byte of the payload entries, so it checks the CRC only
   * of signature.json and, to name the culprit, of entries when the payload hash mismatches.
   */
  readonly verifyCrc?: boolean;
  /**
   * Compute the SHA-256 of large Deflate entries on a second thread while inflating them
   * (ArchiveEntry.sha256), where the addon is loaded. Verification turns this on.
   */
  readonly digests?: boolean;
  /**
   * Fed every entry in byte-wise path order, as soon as it and all before it are read (the
   * payload hash, during verification). Hashing throws nothing, so errors are unchanged.
   */
  readonly payload?: EntryFeed;
}

/** What ReadOptions.payload is fed (PayloadHasher): entries, or large ones streamed. */
export interface EntryFeed {
  add(entry: ArchiveEntry): void;
  /** For a large entry about to be inflated (the next in order): where to stream its bytes. */
  beginStreamed(path: string, size: number): Sha256Stream | undefined;
  /** After beginStreamed; `streamed` says whether the bytes went in while inflating. */
  endStreamed(entry: ArchiveEntry, streamed: boolean): void;
}

/** Throws ENTRY_CORRUPT when an entry's bytes do not match its declared CRC-32. */
export function assertCrc(entry: ArchiveEntry): void {
  if (entry.crc32 !== undefined && crc32(entry.data) >>> 0 !== entry.crc32) {
    throw new SkillError(
      "ENTRY_CORRUPT",
      `entry ${JSON.stringify(entry.path)} fails its CRC-32 check`,
      entry.path,
    );
  }
}

const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const EOCD_MAGIC = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
const CENTRAL_MAGIC = Buffer.from([0x50, 0x4b, 0x01, 0x02]);
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIZE = 30;
const MAX_COMMENT = 0xffff;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_UTF8 = 0x0800;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const FLAG_DATA_DESCRIPTOR = 0x0008;

// ignoreBOM: a leading U+FEFF is part of a name (the reference keeps it), not a mark to drop.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

interface CentralRecord {
  /** Where the name's bytes are in the central directory (compared with the local header's). */
  readonly nameStart: number;
  readonly nameLength: number;
  readonly name: string;
  /** The name is ASCII (so its NFC form is itself). */
  readonly ascii: boolean;
  readonly flags: number;
  readonly method: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localOffset: number;
}

function malformed(message: string, field?: string): SkillError {
  return new SkillError("ARCHIVE_MALFORMED", message, field);
}

/**
 * The one end-of-central-directory record. Readers disagree on which record counts when there
 * are several (the last signature, the first whose comment reaches the end, the one at a fixed
 * offset), so an archive with another candidate is refused: another signature inside the
 * comment, or a second signature whose comment length also reaches the end of the file.
 */
function findEndOfCentralDirectory(bytes: Buffer): number {
  const lowest = Math.max(0, bytes.length - EOCD_SIZE - MAX_COMMENT);
  // Only the tail can hold the record: search there, or each miss would scan the whole file.
  const tail = bytes.subarray(lowest);
  let found = -1;
  // Native search for each candidate signature, last first (most archives have one, at the end).
  for (
    let t = tail.lastIndexOf(EOCD_MAGIC, tail.length - EOCD_SIZE), at = lowest + t;
    t >= 0;
    t = t > 0 ? tail.lastIndexOf(EOCD_MAGIC, t - 1) : -1, at = lowest + t
  ) {
    // The comment must run exactly to the end; otherwise this is a stray signature in data.
    if (at + EOCD_SIZE + bytes.readUInt16LE(at + 20) !== bytes.length) continue;
    if (found >= 0) {
      throw malformed(
        `two end-of-central-directory records (at ${at} and ${found}) both reach the end of the file: ambiguous archive`,
      );
    }
    found = at;
  }
  if (found < 0) {
    throw malformed(
      "no end-of-central-directory record whose comment length matches the end of the file (not a ZIP archive, or data appended after it)",
    );
  }
  const comment = bytes.subarray(found + EOCD_SIZE);
  if (comment.includes(EOCD_MAGIC) || comment.includes(CENTRAL_MAGIC)) {
    throw malformed(
      "the archive comment contains a ZIP record signature (a forged end record): ambiguous archive",
    );
  }
  return found;
}

function decodeName(bytes: Buffer, start: number, end: number, flags: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if ((bytes[i] as number) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return bytes.toString("latin1", start, end);
  if ((flags & FLAG_UTF8) === 0) {
    throw new SkillError(
      "INVALID_ENTRY_PATH",
      "entry name is not ASCII and not marked UTF-8 (code page 437 names are not accepted)",
    );
  }
  try {
    return utf8Decoder.decode(bytes.subarray(start, end));
  } catch {
    throw new SkillError("INVALID_ENTRY_PATH", "entry name is not valid UTF-8");
  }
}

const NON_ASCII = /[\u0080-\uffff]/;

/** The central directory's records and where entry data must end (the directory's start). */
function readCentralDirectory(
  bytes: Buffer,
  limits: ArchiveLimits,
): { records: CentralRecord[]; dataEnd: number } {
  const eocd = findEndOfCentralDirectory(bytes);
  const diskNumber = bytes.readUInt16LE(eocd + 4);
  const cdDisk = bytes.readUInt16LE(eocd + 6);
  const entriesOnDisk = bytes.readUInt16LE(eocd + 8);
  const entryCount = bytes.readUInt16LE(eocd + 10);
  const cdSize = bytes.readUInt32LE(eocd + 12);
  const cdOffset = bytes.readUInt32LE(eocd + 16);
  if (entryCount === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw new SkillError("ARCHIVE_UNSUPPORTED", "ZIP64 archives are not supported");
  }
  if (diskNumber !== 0 || cdDisk !== 0 || entriesOnDisk !== entryCount) {
    throw new SkillError("ARCHIVE_UNSUPPORTED", "multi-disk (spanned) archives are not supported");
  }
  if (entryCount > limits.maxEntries) {
    throw new SkillError(
      "TOO_MANY_ENTRIES",
      `archive has ${entryCount} entries; the limit is ${limits.maxEntries}`,
    );
  }
  if (cdOffset + cdSize > eocd) {
    throw malformed("central directory extends past the end-of-central-directory record");
  }
  // Anything between the directory and the end record is read by some tools and not others.
  if (cdOffset + cdSize !== eocd) {
    throw malformed(
      `${eocd - cdOffset - cdSize} bytes between the central directory and the end record: ambiguous archive`,
    );
  }

  const records: CentralRecord[] = [];
  let at = cdOffset;
  for (let i = 0; i < entryCount; i++) {
    if (
      at + CENTRAL_HEADER_SIZE > cdOffset + cdSize ||
      bytes.readUInt32LE(at) !== CENTRAL_SIGNATURE
    ) {
      throw malformed(`central directory record ${i} is truncated or has a bad signature`);
    }
    const flags = bytes.readUInt16LE(at + 8);
    const method = bytes.readUInt16LE(at + 10);
    const crc = bytes.readUInt32LE(at + 16);
    const compressedSize = bytes.readUInt32LE(at + 20);
    const size = bytes.readUInt32LE(at + 24);
    const nameLength = bytes.readUInt16LE(at + 28);
    const extraLength = bytes.readUInt16LE(at + 30);
    const commentLength = bytes.readUInt16LE(at + 32);
    const localOffset = bytes.readUInt32LE(at + 42);
    const end = at + CENTRAL_HEADER_SIZE + nameLength + extraLength + commentLength;
    if (end > cdOffset + cdSize) throw malformed(`central directory record ${i} is truncated`);
    const nameStart = at + CENTRAL_HEADER_SIZE;
    const name = decodeName(bytes, nameStart, nameStart + nameLength, flags);
    if ((flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) !== 0) {
      throw new SkillError(
        "ARCHIVE_UNSUPPORTED",
        `entry ${JSON.stringify(name)} is encrypted`,
        name,
      );
    }
    if ((flags & FLAG_DATA_DESCRIPTOR) !== 0) {
      // Sizes in a trailer: readers that trust the local header and readers that trust the
      // descriptor can see different data. The reference's writer never sets this flag.
      throw new SkillError(
        "ARCHIVE_UNSUPPORTED",
        `entry ${JSON.stringify(name)} uses a data descriptor (general-purpose flag bit 3)`,
        name,
      );
    }
    if (compressedSize === 0xffffffff || size === 0xffffffff || localOffset === 0xffffffff) {
      throw new SkillError("ARCHIVE_UNSUPPORTED", `entry ${JSON.stringify(name)} uses ZIP64`, name);
    }
    records.push({
      nameStart,
      nameLength,
      name,
      ascii: !NON_ASCII.test(name),
      flags,
      method,
      crc,
      compressedSize,
      size,
      localOffset,
    });
    at = end;
  }
  return { records, dataEnd: cdOffset };
}

function isDirectory(record: CentralRecord): boolean {
  return record.name.endsWith("/") || record.name.endsWith("\\");
}

const HEADER_FIELDS = [
  ["flags", 6, 2],
  ["method", 8, 2],
  ["crc", 14, 4],
  ["compressedSize", 18, 4],
  ["size", 22, 4],
] as const;

/** Locates an entry's compressed bytes through its local header, which must agree on the name. */
function locateData(bytes: Buffer, record: CentralRecord, dataEnd: number): [number, number] {
  const at = record.localOffset;
  if (at + LOCAL_HEADER_SIZE > dataEnd || bytes.readUInt32LE(at) !== LOCAL_SIGNATURE) {
    throw malformed(`local header of ${JSON.stringify(record.name)} is missing`, record.name);
  }
  const nameLength = bytes.readUInt16LE(at + 26);
  const extraLength = bytes.readUInt16LE(at + 28);
  const localNameEnd = Math.min(at + LOCAL_HEADER_SIZE + nameLength, bytes.length);
  if (
    localNameEnd - (at + LOCAL_HEADER_SIZE) !== record.nameLength ||
    bytes.compare(
      bytes,
      record.nameStart,
      record.nameStart + record.nameLength,
      at + LOCAL_HEADER_SIZE,
      localNameEnd,
    ) !== 0
  ) {
    const localName = bytes.subarray(at + LOCAL_HEADER_SIZE, localNameEnd);
    throw new SkillError(
      "ENTRY_NAME_MISMATCH",
      `local header names ${JSON.stringify(localName.toString("utf8"))} but the central directory names ${JSON.stringify(record.name)}`,
      record.name,
    );
  }
  // Every field both headers carry must agree: a reader that trusts the local header must see
  // the same entry as one that trusts the central directory.
  for (const [field, offset, width] of HEADER_FIELDS) {
    const local = width === 2 ? bytes.readUInt16LE(at + offset) : bytes.readUInt32LE(at + offset);
    if (local !== record[field]) {
      throw new SkillError(
        "ENTRY_NAME_MISMATCH",
        `local header and central directory disagree on the ${field} of ${JSON.stringify(record.name)} (${local} vs ${record[field]})`,
        record.name,
      );
    }
  }
  const start = at + LOCAL_HEADER_SIZE + nameLength + extraLength;
  const end = start + record.compressedSize;
  if (end > dataEnd) {
    throw malformed(`data of ${JSON.stringify(record.name)} runs past the archive`, record.name);
  }
  return [start, end];
}

/** A Stored entry's sizes must agree; any other method but Deflate is unsupported. */
function checkMethod(record: CentralRecord): void {
  if (record.method === METHOD_STORED) {
    if (record.compressedSize !== record.size) {
      throw new SkillError(
        "ENTRY_CORRUPT",
        `stored entry ${JSON.stringify(record.name)} has inconsistent sizes`,
        record.name,
      );
    }
    return;
  }
  if (record.method !== METHOD_DEFLATE) {
    throw new SkillError(
      "ARCHIVE_UNSUPPORTED",
      `entry ${JSON.stringify(record.name)} uses compression method ${record.method}; only Stored and Deflate are accepted`,
      record.name,
    );
  }
}

// Deflate entries up to this size are inflated together, in one call to the addon.
const BATCH_ENTRY_BYTES = 64 * 1024;
// Deflate entries at least this large have their digest computed while inflating, when asked
// (below this, starting the hashing thread costs more than it saves).
const DIGEST_WHILE_INFLATING_BYTES = 256 * 1024;

/**
 * Reads an artifact under the limits. Declared sizes are checked before any inflation and the
 * actual inflated size is bounded by the declared one, so a lying header cannot make this
 * allocate past a limit. Entries that overlap each other (a known zip-bomb construction),
 * encrypted or ZIP64 entries, and names that differ between the local header and the central
 * directory are rejected. Returns file entries sorted byte-wise by normalised path.
 */
export function readArchive(
  input: Uint8Array,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
  options: ReadOptions = {},
): ArchiveEntry[] {
  if (input.length > limits.maxArtifactBytes) {
    throw new SkillError(
      "ARTIFACT_TOO_LARGE",
      `artifact is ${input.length} bytes; the limit is ${limits.maxArtifactBytes}`,
    );
  }
  const bytes = Buffer.isBuffer(input)
    ? input
    : Buffer.from(input.buffer, input.byteOffset, input.length);
  if (bytes.length < EOCD_SIZE) throw malformed("too short to be a ZIP archive");
  const { records, dataEnd } = readCentralDirectory(bytes, limits);

  const files = records.filter((r) => !isDirectory(r));
  let declaredTotal = 0;
  for (const record of files) {
    if (record.size > limits.maxEntryBytes) {
      throw new SkillError(
        "ENTRY_TOO_LARGE",
        `entry ${JSON.stringify(record.name)} is ${record.size} bytes uncompressed; the limit is ${limits.maxEntryBytes}`,
        record.name,
      );
    }
    declaredTotal += record.size;
    if (declaredTotal > limits.maxTotalBytes) {
      throw new SkillError(
        "ARCHIVE_TOTAL_TOO_LARGE",
        `entries total more than ${limits.maxTotalBytes} bytes uncompressed`,
      );
    }
  }

  // Files by their path folded for case and Unicode normalisation: the first of each.
  const byFolded = new Map<string, { readonly name: string; readonly path: string }>();
  let surrogates = false;
  const located: Located[] = [];
  for (const record of files) {
    const path = normalizeEntryPath(record.name);
    if (!record.ascii && hasSurrogate(path)) surrogates = true;
    // Names equal but for case or Unicode normalisation are one file once extracted on macOS
    // or Windows (and after NFC): refused, so no extraction can overwrite one with another.
    // (An earlier entry with the same path has the same folded path, and is the only earlier
    // one with it: a second would have been refused already.)
    const folded = (record.ascii ? path : path.normalize("NFC")).toLowerCase();
    const earlier = byFolded.get(folded);
    if (earlier !== undefined) {
      throw new SkillError(
        "DUPLICATE_ENTRY",
        earlier.path === path
          ? `entries ${JSON.stringify(earlier.name)} and ${JSON.stringify(record.name)} both normalise to ${JSON.stringify(path)}`
          : `entries ${JSON.stringify(earlier.name)} and ${JSON.stringify(record.name)} differ only in case or Unicode normalisation`,
        path,
      );
    }
    byFolded.set(folded, { name: record.name, path });
    const [start, end] = locateData(bytes, record, dataEnd);
    located.push({ record, path, start, end, size: record.size, entry: undefined });
  }

  // Every byte before the central directory belongs to exactly one entry, in order from offset
  // 0: overlapping entries (a zip-bomb construction), prepended data (a script, another
  // archive) or bytes hidden between entries are what one reader skips and another reads.
  // Directory records are located too: their headers occupy bytes like any other.
  checkCoverage(bytes, records, located, dataEnd);

  // Small Deflate entries are inflated in one batch first; an entry the batch did not give
  // (large, or from the first that fails on) is inflated alone, in archive order, so every
  // error is still the one the first failing entry gives. Stored entries are the archive's own
  // bytes. Checks and errors stay in archive order.
  const batched = located.filter(
    ({ record }) => record.method === METHOD_DEFLATE && record.size <= BATCH_ENTRY_BYTES,
  );
  const inflated = inflateBatch(bytes, batched);
  for (let i = 0; i < batched.length; i++) {
    const data = inflated[i];
    if (data === undefined) break;
    const item = batched[i] as Located;
    item.entry = { path: item.path, data, crc32: item.record.crc };
  }
  for (const item of located) {
    if (item.record.method === METHOD_STORED) {
      item.entry = {
        path: item.path,
        data: bytes.subarray(item.start, item.end),
        crc32: item.record.crc,
      };
    }
  }
  // UTF-16 order is UTF-8 byte order unless a surrogate pair is involved.
  const order = located.slice();
  order.sort(
    surrogates
      ? (a, b) => compareUtf8(a.path, b.path)
      : (a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
  const feed = options.payload;
  let fed = 0;
  // Feeds, in path order, every entry that is ready and has all before it fed.
  const feedReady = (): void => {
    if (feed === undefined) return;
    for (; fed < order.length; fed++) {
      const entry = (order[fed] as Located).entry;
      if (entry === undefined) return;
      feed.add(entry);
    }
  };
  for (const item of located) {
    const { record, path } = item;
    checkMethod(record);
    let entry = item.entry;
    if (entry === undefined) {
      const compressed = bytes.subarray(item.start, item.end);
      if (options.digests === true && record.size >= DIGEST_WHILE_INFLATING_BYTES) {
        feedReady();
        // Next in path order: its bytes go into the payload hash while it is inflated.
        const stream =
          feed !== undefined && order[fed] === item
            ? feed.beginStreamed(path, record.size)
            : undefined;
        const { data, sha256 } = inflateEntryWithDigest(compressed, record.size, record.name, {
          payload: stream,
        });
        entry =
          sha256 === undefined
            ? { path, data, crc32: record.crc }
            : { path, data, crc32: record.crc, sha256 };
        item.entry = entry;
        if (stream !== undefined) {
          (feed as EntryFeed).endStreamed(entry, sha256 !== undefined);
          fed++;
        }
      } else {
        entry = {
          path,
          data: inflateEntry(compressed, record.size, record.name),
          crc32: record.crc,
        };
        item.entry = entry;
      }
    }
    if (options.verifyCrc !== false) assertCrc(entry);
    feedReady();
  }
  return order.map((item) => item.entry as ArchiveEntry);
}

/** A file entry being read: where its compressed bytes are, and the entry once it is read. */
interface Located extends InflateJob {
  readonly record: CentralRecord;
  readonly path: string;
  entry: ArchiveEntry | undefined;
}

/** See readArchive: entries (files located, directories located here) tile the data exactly. */
function checkCoverage(
  bytes: Buffer,
  records: readonly CentralRecord[],
  located: readonly Located[],
  dataEnd: number,
): void {
  let spans: readonly { readonly record: CentralRecord; readonly end: number }[] = located;
  // Usually there is no directory record and the files are in offset order already.
  const inOrder = located.every(
    (item, i) =>
      i === 0 || (located[i - 1] as Located).record.localOffset <= item.record.localOffset,
  );
  if (located.length !== records.length || !inOrder) {
    spans = [
      ...located,
      ...records
        .filter(isDirectory)
        .map((record) => ({ record, end: locateData(bytes, record, dataEnd)[1] })),
    ].sort((a, b) => a.record.localOffset - b.record.localOffset);
  }
  let covered = 0;
  let previous: CentralRecord | undefined;
  for (const { record, end } of spans) {
    const start = record.localOffset;
    if (start < covered) {
      throw malformed(
        `entries ${JSON.stringify(previous?.name)} and ${JSON.stringify(record.name)} overlap`,
      );
    }
    if (start > covered) {
      throw malformed(
        `${start - covered} bytes at offset ${covered} belong to no entry (prepended or hidden data)`,
      );
    }
    covered = end;
    previous = record;
  }
  if (covered !== dataEnd) {
    throw malformed(
      `${dataEnd - covered} bytes between the last entry and the central directory belong to no entry`,
    );
  }
}
