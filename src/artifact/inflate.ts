import { createRequire } from "node:module";
import { inflateRawSync } from "node:zlib";
import { SkillError } from "./errors.ts";

/*
 * Raw DEFLATE for archive entries. Inflating is most of the cost of verifying a large
 * artifact, so it runs on zlib-rs (a memory-safe Rust port of zlib, through flate2) in the
 * project's own Node-API addon (native/, built by `make native`): ~20% faster than the zlib
 * bundled with Node on some of this project's machines, as fast on others. zlib-rs keeps zlib's
 * decoder and its checks, so both accept and reject the same streams (a differential test holds
 * them to it); where the addon is not built, or PALYRA_INFLATE_BACKEND=zlib, node:zlib does the
 * work. Either way the same checks follow: exactly the declared size, and no bytes after the
 * end of the stream. The addon also inflates an artifact's small entries in one call, and
 * hashes a large entry on a second thread while inflating it (this module loads the addon for
 * payload.ts too).
 */

interface InflateOutcome {
  readonly status: "end" | "full" | "truncated" | "error";
  readonly consumed: number;
  readonly produced: number;
  readonly message?: string;
}

type NativeInflate = (input: Uint8Array, output: Uint8Array) => InflateOutcome;
type NativeInflateBatch = (input: Uint8Array, plan: Uint32Array, output: Uint8Array) => number;

interface Addon {
  readonly inflateRaw: NativeInflate;
  /** Absent from an addon built before it existed: entries are then inflated one by one. */
  readonly inflateRawBatch?: NativeInflateBatch;
  readonly sha256HexAsync?: (data: Uint8Array) => Promise<string>;
  readonly sha256Ranges?: (data: Uint8Array, ranges: Uint32Array, out: Uint8Array) => void;
  readonly inflateRawSha256?: (
    input: Uint8Array,
    output: Uint8Array,
    chunk: number,
  ) => string | null | undefined;
  readonly inflateRawSha256Into?: (
    input: Uint8Array,
    output: Uint8Array,
    chunk: number,
    payload: Sha256Stream,
  ) => string | null | undefined;
  readonly Sha256Stream?: new () => Sha256Stream;
}

/** A SHA-256 computation in the addon, fed piece by piece (the payload hash). */
export interface Sha256Stream {
  update(data: Uint8Array): void;
  /** The digest (hex) of everything fed so far. */
  digestHex(): string;
}

/** Why the addon is not in use, when it is not; said in the operator's start line. */
export let INFLATE_FALLBACK_REASON: string | undefined;

function loadNative(): Addon | undefined {
  if (process.env.PALYRA_INFLATE_BACKEND === "zlib") {
    INFLATE_FALLBACK_REASON = "PALYRA_INFLATE_BACKEND=zlib";
    return undefined;
  }
  try {
    return createRequire(import.meta.url)("../../native/palyra-native.node") as Addon;
  } catch (error) {
    // Not built (MODULE_NOT_FOUND) or unloadable here (another libc, a truncated file).
    INFLATE_FALLBACK_REASON = `native/palyra-native.node did not load: ${(error as Error).message.split("\n")[0]}`;
    return undefined;
  }
}

const addon = loadNative();
const nativeInflate = addon?.inflateRaw;
const nativeBatch =
  typeof addon?.inflateRawBatch === "function" ? addon.inflateRawBatch : undefined;

/**
 * SHA-256 (hex) of a buffer on libuv's thread pool, reading it in place, from the addon; undefined
 * where the addon is not loaded. The buffer must not change until the promise settles.
 */
export const sha256HexOffThread: ((data: Uint8Array) => Promise<string>) | undefined =
  typeof addon?.sha256HexAsync === "function" ? addon.sha256HexAsync : undefined;

/**
 * The SHA-256 of each range of a buffer (a start and an end per range in `ranges`), written
 * into `out` 32 bytes per range (out must not overlap data), in one call to the addon;
 * undefined where the addon is not loaded.
 */
export const sha256Ranges:
  | ((data: Uint8Array, ranges: Uint32Array, out: Uint8Array) => void)
  | undefined = typeof addon?.sha256Ranges === "function" ? addon.sha256Ranges : undefined;

/** Which library inflates entries ("zlib-rs" or "node:zlib"). */
export const INFLATE_BACKEND: "zlib-rs" | "node:zlib" =
  nativeInflate === undefined ? "node:zlib" : "zlib-rs";

function corrupt(name: string, detail: string): SkillError {
  return new SkillError("ENTRY_CORRUPT", `entry ${JSON.stringify(name)} ${detail}`, name);
}

/**
 * Inflates one entry's raw DEFLATE data, which must decode to exactly `size` bytes (already
 * checked against the limits) and end exactly where the data ends: bytes after the end of the
 * stream are read by no decoder, a place to hide data that one tool may report and another not.
 */
export function inflateEntry(compressed: Buffer, size: number, name: string): Buffer {
  return nativeInflate === undefined
    ? inflateWithZlib(compressed, size, name)
    : inflateWithNative(nativeInflate, compressed, size, name);
}

/** inflateEntry on a chosen library, for the differential test; undefined if not loaded. */
export function inflateEntryWith(
  backend: "zlib-rs" | "node:zlib",
): ((compressed: Buffer, size: number, name: string) => Buffer) | undefined {
  if (backend === "node:zlib") return inflateWithZlib;
  const inflate = nativeInflate;
  return inflate === undefined
    ? undefined
    : (compressed, size, name) => inflateWithNative(inflate, compressed, size, name);
}

// A typed array of 64 bytes or less lives on V8's heap, and handing one to the addon makes V8
// move it off the heap first, every call; this one is off the heap for good (see
// reusableUint32). Used by one synchronous call at a time.
let uint32Scratch = new Uint32Array(new ArrayBuffer(256 * 4));

/**
 * A view of `length` numbers for passing to the addon, valid until the next call; its contents
 * are whatever the last user left.
 */
export function reusableUint32(length: number): Uint32Array {
  if (uint32Scratch.length < length) uint32Scratch = new Uint32Array(new ArrayBuffer(length * 4));
  return uint32Scratch.subarray(0, length);
}

/** One raw DEFLATE entry of a larger buffer, for inflateBatch. */
export interface InflateJob {
  readonly start: number;
  readonly end: number;
  readonly size: number;
}

/**
 * Inflates several entries of `input` in one call to the addon (small entries: the call costs
 * more than inflating them one by one). Returns, per job, exactly what inflateEntry would
 * return, or undefined for each job from the first that would fail (and for every job when
 * the addon is not loaded): inflateEntry on that job gives its result or its error. The
 * outputs are views of one buffer.
 */
export function inflateBatch(input: Buffer, jobs: readonly InflateJob[]): (Buffer | undefined)[] {
  const results = new Array<Buffer | undefined>(jobs.length).fill(undefined);
  if (nativeBatch === undefined || jobs.length === 0) return results;
  const plan = reusableUint32(jobs.length * 4);
  let total = 0;
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i] as InflateJob;
    plan[4 * i] = job.start;
    plan[4 * i + 1] = job.end;
    plan[4 * i + 2] = total;
    plan[4 * i + 3] = job.size;
    total += job.size;
  }
  // Each window has one byte of room past its declared size; the last one's is this + 1.
  const output = Buffer.allocUnsafe(total + 1);
  const done = nativeBatch(input, plan, output);
  for (let i = 0; i < done; i++) {
    const at = plan[4 * i + 2] as number;
    results[i] = output.subarray(at, at + (plan[4 * i + 3] as number));
  }
  return results;
}

const nativeWithDigest =
  typeof addon?.inflateRawSha256 === "function" ? addon.inflateRawSha256 : undefined;
const nativeWithDigestInto =
  typeof addon?.inflateRawSha256Into === "function" ? addon.inflateRawSha256Into : undefined;

/** The addon's Sha256Stream class; undefined where the addon (or that part of it) is not loaded. */
export const Sha256StreamClass: (new () => Sha256Stream) | undefined =
  typeof addon?.Sha256Stream === "function" && nativeWithDigestInto !== undefined
    ? addon.Sha256Stream
    : undefined;

// Output handed to the hashing thread this many bytes at a time.
const DIGEST_CHUNK_BYTES = 64 * 1024;

/**
 * inflateEntry, and the SHA-256 of the inflated bytes computed by a second thread while they are
 * inflated (the addon's inflateRawSha256), for large entries whose digest is wanted; given
 * `payload`, the same thread feeds the bytes into it too. The same result and the same errors as
 * inflateEntry; `sha256` is absent where the addon is not loaded, and then nothing was fed.
 */
export function inflateEntryWithDigest(
  compressed: Buffer,
  size: number,
  name: string,
  options: { readonly payload?: Sha256Stream | undefined; readonly chunk?: number } = {},
): { data: Buffer; sha256?: string } {
  const chunk = options.chunk ?? DIGEST_CHUNK_BYTES;
  if (nativeWithDigest === undefined) return { data: inflateEntry(compressed, size, name) };
  const output = Buffer.allocUnsafe(size + 1);
  // With `payload`, the hashing thread also feeds the bytes into it (left as it was on failure).
  const sha256 =
    options.payload === undefined || nativeWithDigestInto === undefined
      ? nativeWithDigest(compressed, output, chunk)
      : nativeWithDigestInto(compressed, output, chunk, options.payload);
  // Not exactly the declared size, not ending where the data ends, or not DEFLATE: inflateEntry
  // says which (the same decoder on the same bytes).
  if (typeof sha256 !== "string") return { data: inflateEntry(compressed, size, name) };
  return { data: output.subarray(0, size), sha256 };
}

function inflateWithNative(
  inflate: NativeInflate,
  compressed: Buffer,
  size: number,
  name: string,
): Buffer {
  // One byte past the declared size is enough to catch a header that under-declares.
  const output = Buffer.allocUnsafe(size + 1);
  const outcome = inflate(compressed, output);
  switch (outcome.status) {
    case "error":
      throw corrupt(name, `does not inflate: ${outcome.message ?? "invalid deflate data"}`);
    case "truncated":
      throw corrupt(name, "does not inflate: unexpected end of file");
    case "full":
      throw corrupt(name, `inflates past its declared size of ${size} bytes`);
  }
  return checked(output.subarray(0, outcome.produced), outcome.consumed, compressed, size, name);
}

function inflateWithZlib(compressed: Buffer, size: number, name: string): Buffer {
  let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    // An output chunk of the declared size inflates in one allocation with no copies;
    // small entries avoid the default 16 KiB buffer.
    inflated = inflateRawSync(compressed, {
      maxOutputLength: size + 1,
      chunkSize: Math.max(64, size + 1),
      info: true,
    }) as unknown as typeof inflated;
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw corrupt(name, `inflates past its declared size of ${size} bytes`);
    }
    throw corrupt(name, `does not inflate: ${(error as Error).message}`);
  }
  return checked(inflated.buffer, inflated.engine.bytesWritten, compressed, size, name);
}

function checked(
  data: Buffer,
  consumed: number,
  compressed: Buffer,
  size: number,
  name: string,
): Buffer {
  if (data.length !== size) {
    throw corrupt(name, `inflates to ${data.length} bytes, not its declared ${size}`);
  }
  if (consumed !== compressed.length) {
    throw corrupt(
      name,
      `has ${compressed.length - consumed} bytes after the end of its deflate stream`,
    );
  }
  return data;
}
