/**
 * A hand-rolled ZIP builder: every header field can be set independently so that each rule of
 * the reader can be exercised in isolation, and each malformation built on purpose (the unit
 * tests and the adversarial corpus use it).
 */

import { constants, crc32, deflateRawSync } from "node:zlib";

export const MiB = 1024 * 1024;
export const METHOD_STORED = 0;
export const METHOD_DEFLATE = 8;
export const FLAG_ENCRYPTED = 0x0001;
export const FLAG_STRONG_ENCRYPTION = 0x0040;
export const FLAG_UTF8 = 0x0800;

export interface RawEntry {
  /** Name in the central directory (a string is written as UTF-8). */
  readonly name: string | Buffer;
  /** Name in the local header; defaults to `name`. */
  readonly localName?: string | Buffer;
  /** Uncompressed contents; used for the default CRC, size and compressed body. */
  readonly data?: Buffer;
  /** Compression method (default Deflate). */
  readonly method?: number;
  /** Compressed bytes as stored in the archive; defaults to `data` compressed with `method`. */
  readonly body?: Buffer;
  /** General-purpose flags of the central record; defaults to UTF-8 when the name is not ASCII. */
  readonly flags?: number;
  /** General-purpose flags of the local header; defaults to `flags`. */
  readonly localFlags?: number;
  /** Declared CRC-32 (default: the CRC of `data`). */
  readonly crc?: number;
  /** Declared uncompressed size (central and local; default: `data.length`). */
  readonly size?: number;
  /** Declared compressed size (central and local; default: `body.length`). */
  readonly compressedSize?: number;
  readonly localExtra?: Buffer;
  readonly centralExtra?: Buffer;
  readonly centralComment?: Buffer;
  /** Offset the central record points at (default: where this entry's local header is written). */
  readonly localOffset?: number;
  /** Write only the central record, no local header/body (pair with `localOffset`). */
  readonly noLocal?: boolean;
}

export interface ZipOptions {
  /** Bytes before the first local header (offsets account for them). */
  readonly prefix?: Buffer;
  /** Bytes between the last entry body and the central directory. */
  readonly gap?: Buffer;
  /** Archive comment (counted in the EOCD). */
  readonly comment?: Buffer;
  /** Bytes after the EOCD that the EOCD does not account for. */
  readonly trailing?: Buffer;
  readonly diskNumber?: number;
  readonly cdDisk?: number;
  readonly entriesOnDisk?: number;
  readonly entryCount?: number;
  readonly cdSize?: number;
  readonly cdOffset?: number;
}

const asBytes = (value: string | Buffer): Buffer =>
  typeof value === "string" ? Buffer.from(value, "utf8") : value;

function bodyOf(entry: RawEntry): Buffer {
  if (entry.body !== undefined) return entry.body;
  const data = entry.data ?? Buffer.alloc(0);
  return (entry.method ?? METHOD_DEFLATE) === METHOD_DEFLATE ? deflateRawSync(data) : data;
}

function defaultFlags(entry: RawEntry): number {
  if (entry.flags !== undefined) return entry.flags;
  return asBytes(entry.name).some((b) => b >= 0x80) ? FLAG_UTF8 : 0;
}

/**
 * The ten fields the local header (from offset 4) and the central record (from offset 6)
 * share, in the same order: version needed, flags, method, DOS time and date, CRC-32, sizes,
 * name and extra lengths. Each record passes its own flags, name and extra field.
 */
function writeSharedFields(
  header: Buffer,
  at: number,
  entry: RawEntry,
  flags: number,
  body: Buffer,
  name: Buffer,
  extra: Buffer,
): void {
  const data = entry.data ?? Buffer.alloc(0);
  header.writeUInt16LE(20, at);
  header.writeUInt16LE(flags, at + 2);
  header.writeUInt16LE(entry.method ?? METHOD_DEFLATE, at + 4);
  header.writeUInt16LE(0, at + 6);
  header.writeUInt16LE(0x21, at + 8);
  header.writeUInt32LE(entry.crc ?? crc32(data) >>> 0, at + 10);
  header.writeUInt32LE(entry.compressedSize ?? body.length, at + 14);
  header.writeUInt32LE(entry.size ?? data.length, at + 18);
  header.writeUInt16LE(name.length, at + 22);
  header.writeUInt16LE(extra.length, at + 24);
}

/** The local header, name, extra field and body of one entry. */
export function localRecord(entry: RawEntry): Buffer {
  const name = asBytes(entry.localName ?? entry.name);
  const extra = entry.localExtra ?? Buffer.alloc(0);
  const body = bodyOf(entry);
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  writeSharedFields(header, 4, entry, entry.localFlags ?? defaultFlags(entry), body, name, extra);
  return Buffer.concat([header, name, extra, body]);
}

export function centralRecord(entry: RawEntry, offset: number): Buffer {
  const name = asBytes(entry.name);
  const extra = entry.centralExtra ?? Buffer.alloc(0);
  const comment = entry.centralComment ?? Buffer.alloc(0);
  const body = bodyOf(entry);
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE((3 << 8) | 20, 4);
  writeSharedFields(header, 6, entry, defaultFlags(entry), body, name, extra);
  header.writeUInt16LE(comment.length, 32);
  header.writeUInt32LE((0o100644 << 16) >>> 0, 38);
  header.writeUInt32LE(entry.localOffset ?? offset, 42);
  return Buffer.concat([header, name, extra, comment]);
}

export function buildZip(entries: readonly RawEntry[], options: ZipOptions = {}): Buffer {
  const prefix = options.prefix ?? Buffer.alloc(0);
  const locals: Buffer[] = [prefix];
  const centrals: Buffer[] = [];
  let offset = prefix.length;
  for (const entry of entries) {
    centrals.push(centralRecord(entry, offset));
    if (entry.noLocal) continue;
    const local = localRecord(entry);
    locals.push(local);
    offset += local.length;
  }
  const gap = options.gap ?? Buffer.alloc(0);
  locals.push(gap);
  offset += gap.length;
  const central = Buffer.concat(centrals);
  const comment = options.comment ?? Buffer.alloc(0);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(options.diskNumber ?? 0, 4);
  eocd.writeUInt16LE(options.cdDisk ?? 0, 6);
  eocd.writeUInt16LE(options.entriesOnDisk ?? options.entryCount ?? entries.length, 8);
  eocd.writeUInt16LE(options.entryCount ?? entries.length, 10);
  eocd.writeUInt32LE(options.cdSize ?? central.length, 12);
  eocd.writeUInt32LE(options.cdOffset ?? offset, 16);
  eocd.writeUInt16LE(comment.length, 20);
  return Buffer.concat([...locals, central, eocd, comment, options.trailing ?? Buffer.alloc(0)]);
}

/** One file entry with the given name and contents. */
export const file = (
  name: string | Buffer,
  data = "x",
  extra: Partial<RawEntry> = {},
): RawEntry => ({
  name,
  data: Buffer.from(data),
  ...extra,
});

/**
 * A raw Deflate stream of `mib` MiB of zeros, built without ever holding the output: one
 * sync-flushed MiB, then copies of a MiB compressed against a window of zeros, then an empty
 * final block. About 1 KiB per MiB.
 */
export function zeroBomb(mib: number): Buffer {
  const head = deflateRawSync(Buffer.alloc(MiB), { finishFlush: constants.Z_SYNC_FLUSH });
  const next = deflateRawSync(Buffer.alloc(MiB), {
    dictionary: Buffer.alloc(32 * 1024),
    finishFlush: constants.Z_SYNC_FLUSH,
  });
  const parts = [head];
  for (let i = 1; i < mib; i++) parts.push(next);
  parts.push(Buffer.from([0x03, 0x00]));
  return Buffer.concat(parts);
}
