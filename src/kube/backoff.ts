/** Exponential backoff with a cap and optional jitter, alone or per key (client-go's rate limiter). */

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** 0..1: the share of each delay that is randomised away, so many retries do not align. */
  jitter?: number;
  random?: () => number;
}

function delay(opts: BackoffOptions, attempt: number): number {
  const initial = opts.initialMs ?? 5;
  const max = opts.maxMs ?? 30_000;
  const base = Math.min(max, initial * (opts.factor ?? 2) ** Math.min(attempt, 64));
  const jitter = opts.jitter ?? 0;
  return jitter > 0 ? base * (1 - jitter * (opts.random ?? Math.random)()) : base;
}

export class Backoff {
  #opts: BackoffOptions;
  #attempts = 0;

  constructor(opts: BackoffOptions = {}) {
    this.#opts = opts;
  }

  get attempts(): number {
    return this.#attempts;
  }

  next(): number {
    return delay(this.#opts, this.#attempts++);
  }

  reset(): void {
    this.#attempts = 0;
  }
}

export class KeyedBackoff {
  #opts: BackoffOptions;
  #attempts = new Map<string, number>();

  constructor(opts: BackoffOptions = {}) {
    this.#opts = opts;
  }

  get size(): number {
    return this.#attempts.size;
  }

  next(key: string): number {
    const n = this.#attempts.get(key) ?? 0;
    this.#attempts.set(key, n + 1);
    return delay(this.#opts, n);
  }

  attempts(key: string): number {
    return this.#attempts.get(key) ?? 0;
  }

  forget(key: string): void {
    this.#attempts.delete(key);
  }
}
