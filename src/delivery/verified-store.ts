/**
 * The bytes of verified artifacts, by digest, for serving to pods: filled only by the loader
 * after a full verification, bounded in bytes (least recently used first), and handed out as
 * the stored buffer itself, so serving a request copies nothing.
 */

export class VerifiedStore {
  #maxBytes: number;
  #bytes = 0;
  #entries = new Map<string, Buffer>();

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Keeps verified bytes; an artifact larger than the whole budget is not kept. */
  put(digest: string, bytes: Buffer): void {
    if (bytes.length > this.#maxBytes) return;
    this.drop(digest);
    this.#entries.set(digest, bytes);
    this.#bytes += bytes.length;
    for (const [d, b] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(d);
      this.#bytes -= b.length;
    }
  }

  /** The bytes verified under this digest, if kept (and now the most recently used). */
  get(digest: string): Buffer | undefined {
    const bytes = this.#entries.get(digest);
    if (bytes) {
      this.#entries.delete(digest);
      this.#entries.set(digest, bytes);
    }
    return bytes;
  }

  drop(digest: string): void {
    const bytes = this.#entries.get(digest);
    if (bytes) {
      this.#entries.delete(digest);
      this.#bytes -= bytes.length;
    }
  }

  /** Purges every digest `keep` says no Enabled Skill references any more. */
  retain(keep: (digest: string) => boolean): number {
    let dropped = 0;
    for (const digest of [...this.#entries.keys()]) {
      if (!keep(digest)) {
        this.drop(digest);
        dropped++;
      }
    }
    return dropped;
  }
}
