/**
 * A work queue in the manner of client-go's: a key is queued at most once, is never handled
 * by two workers at a time (an add while it is processed marks it dirty and requeues it after),
 * failures come back with per-key exponential backoff that resets on success, and a conflict
 * is a requeue, not an error.
 */

import { KeyedBackoff } from "./backoff.ts";

export type HandlerResult =
  | undefined
  | { requeueAfterMs?: number; error?: unknown; conflict?: boolean };

/** A handler may return nothing (done), or a HandlerResult. */
export type Handler = (key: string) => Promise<unknown>;

export interface WorkQueueOptions {
  name: string;
  backoff?: KeyedBackoff;
  onError?: (key: string, error: unknown, retries: number) => void;
  onConflict?: (key: string) => void;
  metrics?: { depth?(n: number): void; adds?(): void; retries?(): void };
}

export class WorkQueue {
  readonly name: string;
  #opts: WorkQueueOptions;
  #backoff: KeyedBackoff;
  #queue: string[] = [];
  #queued = new Set<string>();
  #processing = new Set<string>();
  #dirty = new Set<string>();
  #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  #handler: Handler | undefined;
  #concurrency = 1;
  #active = 0;
  #closed = false;
  #idleWaiters: (() => void)[] = [];

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.#backoff = opts.backoff ?? new KeyedBackoff({ initialMs: 5, maxMs: 30_000 });
  }

  get length(): number {
    return this.#queue.length;
  }
  get processing(): number {
    return this.#processing.size;
  }
  get waiting(): number {
    return this.#timers.size;
  }

  has(key: string): boolean {
    return this.#queued.has(key) || this.#processing.has(key) || this.#timers.has(key);
  }

  retries(key: string): number {
    return this.#backoff.attempts(key);
  }

  forget(key: string): void {
    this.#backoff.forget(key);
  }

  add(key: string): void {
    if (this.#closed) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#opts.metrics?.adds?.();
    this.#opts.metrics?.depth?.(this.#queue.length);
    this.#pump();
  }

  /** Adds the key after a delay; of several pending delays for one key the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.#closed) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.#timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  addRateLimited(key: string): void {
    this.#opts.metrics?.retries?.();
    this.addAfter(key, this.#backoff.next(key));
  }

  start(handler: Handler, concurrency: number): void {
    this.#handler = handler;
    this.#concurrency = Math.max(1, concurrency);
    this.#pump();
  }

  /** Resolves when nothing is queued or processing (delayed keys are not waited for). */
  idle(): Promise<void> {
    if (this.#queue.length === 0 && this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops taking work: drops what waits, then resolves once in-flight handlers are done. */
  async shutDown(): Promise<void> {
    this.#closed = true;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#queue = [];
    this.#queued.clear();
    this.#dirty.clear();
    this.#opts.metrics?.depth?.(0);
    await this.idle();
  }

  #pump(): void {
    const handler = this.#handler;
    if (!handler) return;
    while (!this.#closed && this.#active < this.#concurrency && this.#queue.length > 0) {
      const key = this.#queue.shift() as string;
      this.#queued.delete(key);
      this.#processing.add(key);
      this.#active++;
      this.#opts.metrics?.depth?.(this.#queue.length);
      void this.#run(handler, key);
    }
    if (this.#queue.length === 0 && this.#active === 0) {
      for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  async #run(handler: Handler, key: string): Promise<void> {
    let result: HandlerResult;
    let thrown: unknown;
    let failed = false;
    try {
      result = (await handler(key)) as HandlerResult;
    } catch (error) {
      thrown = error;
      failed = true;
    }
    this.#processing.delete(key);
    this.#active--;
    if (!this.#closed) {
      if (failed || result?.error !== undefined) {
        const error = failed ? thrown : result?.error;
        this.#opts.onError?.(key, error, this.#backoff.attempts(key) + 1);
        this.#dirty.delete(key);
        this.addRateLimited(key);
      } else if (result?.conflict) {
        this.#opts.onConflict?.(key);
        this.#dirty.delete(key);
        this.addRateLimited(key);
      } else {
        this.#backoff.forget(key);
        if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
        if (this.#dirty.delete(key)) this.add(key);
      }
    }
    this.#pump();
  }
}
