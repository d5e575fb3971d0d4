import { createHash, type Hash, hash } from "node:crypto";
import { reusableUint32, type Sha256Stream, Sha256StreamClass, sha256Ranges } from "./inflate.ts";
import { PAYLOAD_CONTEXT, SIGNATURE_PATH } from "./limits.ts";
import type { ArchiveEntry } from "./zip-reader.ts";

function u64be(value: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}

/**
 * The payload hash: SHA-256 over the context string, then for each entry but signature.json,
 * in byte-wise path order, the length-prefixed path and the length-prefixed bytes.
 * `entries` must already be sorted (readArchive returns them sorted).
 */
export function computePayloadSha256(entries: readonly ArchiveEntry[]): string {
  const hash = createHash("sha256");
  hash.update(PAYLOAD_CONTEXT);
  for (const entry of entries) {
    if (entry.path === SIGNATURE_PATH) continue;
    const path = Buffer.from(entry.path, "utf8");
    hash.update(u64be(path.length));
    hash.update(path);
    hash.update(u64be(entry.data.length));
    hash.update(entry.data);
  }
  return hash.digest("hex");
}

/** One-shot SHA-256 (crypto.hash avoids a Hash object: measurably faster for small inputs). */
export function sha256Hex(data: Uint8Array): string {
  return hash("sha256", data, "hex");
}

// Both hashes read each slice of an entry while it is still in cache: measured at 1 MB, two
// passes chunk by chunk cost ~12% less than hashing each whole entry twice.
const INTERLEAVE_BYTES = 64 * 1024;

// The payload hash's framing and the bytes of entries up to GATHER_BYTES are gathered here and
// hashed in one call, together with those entries' own digests when the addon is loaded: each
// hash is a call into native code that costs more than copying such an entry, and the first
// entry not gathered costs the creation of a native hash state besides (measured: a 10 KB
// artifact's verification ~7% faster with 16 KiB than with 4 KiB). One PayloadHasher uses it
// at a time (they are used synchronously, start to finish).
let scratch = Buffer.allocUnsafe(64 * 1024);
const GATHER_BYTES = 16 * 1024;
// Where sha256Ranges writes its digests, grown when a call needs more.
let digestsOut = Buffer.allocUnsafe(32 * 8);

/** The digests of `ranges` of the scratch (32 bytes each), from the addon. */
function hashScratchRanges(
  hashRanges: NonNullable<typeof sha256Ranges>,
  ranges: Uint32Array,
): Buffer {
  const need = ranges.length * 16;
  if (digestsOut.length < need) digestsOut = Buffer.allocUnsafe(need);
  hashRanges(scratch, ranges, digestsOut);
  return digestsOut;
}

/**
 * The payload hash, fed entry by entry in byte-wise path order (signature.json is skipped),
 * and in the same pass the SHA-256 of every entry `digestOf` selects (`digests`, in the order
 * fed; an entry it leaves out, or whose digest is computed elsewhere, is only framed into the
 * payload hash). A large entry can instead be streamed into the payload hash while it is
 * inflated (beginStreamed), by the addon's hashing thread.
 */
export class PayloadHasher {
  readonly digests = new Map<string, string>();
  readonly #digestOf: (entry: ArchiveEntry) => boolean;
  // The payload hash once something has been flushed into it: the addon's, where loaded.
  #state: Sha256Stream | Hash | undefined;
  #used: number;
  // Gathered entries whose digest is wanted: path and where their bytes are in the scratch.
  readonly #pending: { path: string; start: number; end: number }[] = [];

  constructor(digestOf: (entry: ArchiveEntry) => boolean) {
    this.#digestOf = digestOf;
    this.#used = scratch.write(PAYLOAD_CONTEXT, 0, "latin1");
  }

  /** Frames and hashes one entry (the next in path order). */
  add(entry: ArchiveEntry): void {
    if (entry.path === SIGNATURE_PATH) return;
    const data = entry.data;
    const gather = data.length <= GATHER_BYTES;
    this.#frame(entry.path, data.length, gather ? data.length : 0);
    const digest = this.#digestOf(entry);
    if (gather) {
      const start = this.#used;
      this.#used += data.copy(scratch, start);
      if (digest) this.#pending.push({ path: entry.path, start, end: this.#used });
      return;
    }
    const state = this.#flush();
    if (!digest || entry.sha256 !== undefined) {
      // Computed while inflating (ArchiveEntry.sha256): only the payload hash reads the bytes.
      if (digest) this.digests.set(entry.path, entry.sha256 as string);
      state.update(data);
      return;
    }
    if (data.length <= INTERLEAVE_BYTES) {
      state.update(data);
      this.digests.set(entry.path, sha256Hex(data));
      return;
    }
    const entryHash = createHash("sha256");
    for (let at = 0; at < data.length; at += INTERLEAVE_BYTES) {
      const slice = data.subarray(at, at + INTERLEAVE_BYTES);
      state.update(slice);
      entryHash.update(slice);
    }
    this.digests.set(entry.path, entryHash.digest("hex"));
  }

  /**
   * For the next entry in path order, about to be inflated: frames it and returns the payload
   * hash for the inflater to stream its `size` bytes into (then call endStreamed), or undefined,
   * having done nothing, where the addon is not loaded (then add() the entry once inflated).
   */
  beginStreamed(path: string, size: number): Sha256Stream | undefined {
    if (Sha256StreamClass === undefined || path === SIGNATURE_PATH) return undefined;
    this.#frame(path, size, 0);
    const state = this.#flush();
    return "digestHex" in state ? state : undefined;
  }

  /**
   * After beginStreamed: the entry as inflated, and `sha256` when its bytes went into the payload
   * hash as they were inflated (otherwise they are hashed here).
   */
  endStreamed(entry: ArchiveEntry, streamed: boolean): void {
    if (!streamed) {
      // Framed already; the bytes did not go in (the inflate was left to inflateEntry).
      (this.#state as Sha256Stream | Hash).update(entry.data);
    }
    if (this.#digestOf(entry)) {
      this.digests.set(entry.path, entry.sha256 ?? sha256Hex(entry.data));
    }
  }

  /** The payload hash (hex); the hasher is done. */
  finish(): string {
    if (this.#state === undefined && sha256Ranges !== undefined) {
      // Everything is in the scratch: the payload hash and the digests in one call.
      const pending = this.#pending;
      const ranges = reusableUint32(2 + pending.length * 2);
      ranges[0] = 0;
      ranges[1] = this.#used;
      for (let i = 0; i < pending.length; i++) {
        const { start, end } = pending[i] as (typeof pending)[number];
        ranges[2 + 2 * i] = start;
        ranges[3 + 2 * i] = end;
      }
      const out = hashScratchRanges(sha256Ranges, ranges);
      for (let i = 0; i < pending.length; i++) {
        this.digests.set(
          (pending[i] as (typeof pending)[number]).path,
          out.toString("hex", 32 * (i + 1), 32 * (i + 2)),
        );
      }
      return out.toString("hex", 0, 32);
    }
    if (this.#state === undefined) {
      this.#settle();
      return hash("sha256", scratch.subarray(0, this.#used), "hex");
    }
    const state = this.#flush();
    return "digestHex" in state ? state.digestHex() : state.digest("hex");
  }

  /** Writes an entry's framing, making room for `extra` more bytes after it. */
  #frame(path: string, size: number, extra: number): void {
    const pathBytes = Buffer.byteLength(path, "utf8");
    const need = 16 + pathBytes + extra;
    if (this.#used + need > scratch.length) {
      this.#flush();
      if (need > scratch.length) scratch = Buffer.allocUnsafe(need);
    }
    let used = writeU64(pathBytes, this.#used);
    used += scratch.write(path, used, "utf8");
    this.#used = writeU64(size, used);
  }

  /** Digests of the gathered entries that want one. */
  #settle(): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    if (sha256Ranges === undefined) {
      for (const { path, start, end } of pending) {
        this.digests.set(path, sha256Hex(scratch.subarray(start, end)));
      }
    } else {
      const ranges = reusableUint32(pending.length * 2);
      for (let i = 0; i < pending.length; i++) {
        const { start, end } = pending[i] as (typeof pending)[number];
        ranges[2 * i] = start;
        ranges[2 * i + 1] = end;
      }
      const out = hashScratchRanges(sha256Ranges, ranges);
      for (let i = 0; i < pending.length; i++) {
        this.digests.set(
          (pending[i] as (typeof pending)[number]).path,
          out.toString("hex", 32 * i, 32 * i + 32),
        );
      }
    }
    pending.length = 0;
  }

  /** Moves the gathered bytes into the payload hash; returns it. */
  #flush(): Sha256Stream | Hash {
    this.#settle();
    this.#state ??=
      Sha256StreamClass === undefined ? createHash("sha256") : new Sha256StreamClass();
    this.#state.update(scratch.subarray(0, this.#used));
    this.#used = 0;
    return this.#state;
  }
}

/**
 * The payload hash and, in the same pass, the SHA-256 of every entry `digestOf` selects
 * (entries it leaves out, or whose digest is computed elsewhere, are only framed into the
 * payload hash). `entries` must be sorted, as for computePayloadSha256.
 */
export function hashPayloadAndEntries(
  entries: readonly ArchiveEntry[],
  digestOf: (entry: ArchiveEntry) => boolean,
): { payloadSha256: string; digests: Map<string, string> } {
  const hasher = new PayloadHasher(digestOf);
  for (const entry of entries) hasher.add(entry);
  return { payloadSha256: hasher.finish(), digests: hasher.digests };
}

/** Writes `value` (a safe integer) as a big-endian u64 into the scratch buffer at `at`. */
function writeU64(value: number, at: number): number {
  scratch.writeUInt32BE(Math.floor(value / 0x100000000), at);
  scratch.writeUInt32BE(value >>> 0, at + 4);
  return at + 8;
}
