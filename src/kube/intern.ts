/**
 * One copy of each repeated string in the informer caches. Ten thousand Skills sharing a hundred
 * artifacts repeat the same URLs, CA bundles, digests, condition messages and reasons; each
 * JSON.parse makes fresh copies, and strings were the largest part of the heap at that scale
 * (about 45% of it, measured with a heap snapshot in bench:scale). Interning trades a Map
 * lookup per string on each watch event for that memory.
 */

export class StringPool {
  #pool = new Map<string, string>();
  #max: number;

  /** `max` distinct strings; past it the pool starts over (objects keep what they hold). */
  constructor(max = 50_000) {
    this.#max = max;
  }

  get size(): number {
    return this.#pool.size;
  }

  string(value: string): string {
    const known = this.#pool.get(value);
    if (known !== undefined) return known;
    if (this.#pool.size >= this.#max) this.#pool.clear();
    this.#pool.set(value, value);
    return value;
  }

  /** Replaces, in place, every string inside `value` (objects and arrays, to `depth`). */
  deep<T>(value: T, depth = 24): T {
    if (depth <= 0 || value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const v = value[i];
        value[i] = typeof v === "string" ? this.string(v) : this.deep(v, depth - 1);
      }
      return value;
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const v = record[key];
      record[key] = typeof v === "string" ? this.string(v) : this.deep(v, depth - 1);
    }
    return value;
  }
}
