import { createHash, hash } from "node:crypto";
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
