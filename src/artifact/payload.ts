import { createHash, type Hash, hash } from "node:crypto";
import { sha256Ranges } from "./inflate.ts";
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

// The payload hash's framing and the bytes of small entries are gathered here and hashed in one
// call, together with those entries' own digests when the addon is loaded: each hash is a call
// into native code that costs more than copying a small entry.
let scratch = Buffer.allocUnsafe(16 * 1024);
const GATHER_BYTES = 4 * 1024;

/**
 * The payload hash and, in the same pass, the SHA-256 of every entry `digestOf` selects
 * (entries it leaves out, or whose digest is computed elsewhere, are only framed into the
 * payload hash). `entries` must be sorted, as for computePayloadSha256.
 */
export function hashPayloadAndEntries(
  entries: readonly ArchiveEntry[],
  digestOf: (entry: ArchiveEntry) => boolean,
): { payloadSha256: string; digests: Map<string, string> } {
  const digests = new Map<string, string>();
  let payload: Hash | undefined;
  let used = scratch.write(PAYLOAD_CONTEXT, 0, "latin1");
  // Gathered entries whose digest is wanted: path and where their bytes are in the scratch.
  const pending: { path: string; start: number; end: number }[] = [];
  const settle = (): void => {
    if (pending.length === 0) return;
    if (sha256Ranges === undefined) {
      for (const { path, start, end } of pending) {
        digests.set(path, sha256Hex(scratch.subarray(start, end)));
      }
    } else {
      const ranges = new Uint32Array(pending.length * 2);
      pending.forEach(({ start, end }, i) => {
        ranges[2 * i] = start;
        ranges[2 * i + 1] = end;
      });
      const out = sha256Ranges(scratch, ranges);
      pending.forEach(({ path }, i) => {
        digests.set(path, out.toString("hex", 32 * i, 32 * i + 32));
      });
    }
    pending.length = 0;
  };
  const flush = (): Hash => {
    settle();
    payload ??= createHash("sha256");
    payload.update(scratch.subarray(0, used));
    used = 0;
    return payload;
  };
  for (const entry of entries) {
    if (entry.path === SIGNATURE_PATH) continue;
    const data = entry.data;
    const pathBytes = Buffer.byteLength(entry.path, "utf8");
    const gather = data.length <= GATHER_BYTES;
    const need = 16 + pathBytes + (gather ? data.length : 0);
    if (used + need > scratch.length) {
      flush();
      if (need > scratch.length) scratch = Buffer.allocUnsafe(need);
    }
    used = writeU64(pathBytes, used);
    used += scratch.write(entry.path, used, "utf8");
    used = writeU64(data.length, used);
    const digest = digestOf(entry);
    if (gather) {
      const start = used;
      used += data.copy(scratch, used);
      if (digest) pending.push({ path: entry.path, start, end: used });
      continue;
    }
    const hash = flush();
    if (!digest) {
      hash.update(data);
      continue;
    }
    if (data.length <= INTERLEAVE_BYTES) {
      hash.update(data);
      digests.set(entry.path, sha256Hex(data));
      continue;
    }
    const entryHash = createHash("sha256");
    for (let at = 0; at < data.length; at += INTERLEAVE_BYTES) {
      const slice = data.subarray(at, at + INTERLEAVE_BYTES);
      hash.update(slice);
      entryHash.update(slice);
    }
    digests.set(entry.path, entryHash.digest("hex"));
  }
  if (payload === undefined && sha256Ranges !== undefined) {
    // Everything is in the scratch: the payload hash and the digests in one call.
    const ranges = new Uint32Array(2 + pending.length * 2);
    ranges[1] = used;
    pending.forEach(({ start, end }, i) => {
      ranges[2 + 2 * i] = start;
      ranges[3 + 2 * i] = end;
    });
    const out = sha256Ranges(scratch, ranges);
    pending.forEach(({ path }, i) => {
      digests.set(path, out.toString("hex", 32 * (i + 1), 32 * (i + 2)));
    });
    return { payloadSha256: out.toString("hex", 0, 32), digests };
  }
  settle();
  const payloadSha256 =
    payload === undefined
      ? hash("sha256", scratch.subarray(0, used), "hex")
      : flush().digest("hex");
  return { payloadSha256, digests };
}

/** Writes `value` (a safe integer) as a big-endian u64 into the scratch buffer at `at`. */
function writeU64(value: number, at: number): number {
  scratch.writeUInt32BE(Math.floor(value / 0x100000000), at);
  scratch.writeUInt32BE(value >>> 0, at + 4);
  return at + 8;
}
