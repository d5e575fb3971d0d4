/**
 * List+watch into a local store, the way client-go's reflector does it: a paginated list, then a
 * watch from the list's resourceVersion with bookmarks; relist on 410 Gone; restart with jittered
 * backoff on any other failure (client-node's informer stops there); and a periodic resync that
 * hands every cached object to the handlers again so missed work is eventually redone.
 */

import type { ObjectMeta } from "../api/v1alpha1/types.generated.ts";
import { Backoff } from "./backoff.ts";
import { KubeApiError, type KubeClient, METADATA_ACCEPT, METADATA_WATCH_ACCEPT } from "./client.ts";

export interface KubeObject {
  metadata: ObjectMeta;
}

export type InformerEventType = "add" | "update" | "delete" | "resync";
export type InformerHandler<T> = (type: InformerEventType, object: T, previous?: T) => void;

export interface InformerOptions {
  /** For logs and metrics, e.g. "skills". */
  name: string;
  /** The collection path, e.g. /apis/skills.palyra.dev/v1alpha1/skills (all namespaces). */
  path: string;
  /** Ask for PartialObjectMetadata: labels and resourceVersions without the (large) data. */
  metadataOnly?: boolean;
  labelSelector?: string;
  fieldSelector?: string;
  resyncMs?: number;
  pageSize?: number;
  /** Applied to every object before it is stored (e.g. to drop managedFields and save memory). */
  transform?: (object: KubeObject) => KubeObject;
  /** reason "gone": the watch expired (410) and a relist follows; "error": a backoff restart. */
  onRestart?: (informer: string, reason: "gone" | "error", error: unknown) => void;
  onSynced?: (informer: string) => void;
}

class Gone extends Error {}

/** A work-queue key back to the fields every log line about an object carries. */
export function keyFields(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf("/");
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The transform most informers want: managedFields are large and nothing here reads them. */
export function dropManagedFields(object: KubeObject): KubeObject {
  const meta = object.metadata as ObjectMeta & { managedFields?: unknown };
  if (meta?.managedFields) delete meta.managedFields;
  return object;
}

export function objectKey(meta: ObjectMeta): string {
  return meta.namespace ? `${meta.namespace}/${meta.name}` : (meta.name ?? "");
}

export class Informer<T extends KubeObject> {
  readonly name: string;
  #client: KubeClient;
  #opts: InformerOptions;
  #store = new Map<string, T>();
  #handlers: InformerHandler<T>[] = [];
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #resync: NodeJS.Timeout | undefined;
  #backoff = new Backoff({ initialMs: 200, maxMs: 30_000, jitter: 0.5 });
  #restarts = 0;
  #resourceVersion: string | undefined;

  constructor(client: KubeClient, opts: InformerOptions) {
    this.#client = client;
    this.#opts = opts;
    this.name = opts.name;
  }

  on(handler: InformerHandler<T>): void {
    this.#handlers.push(handler);
  }

  get synced(): boolean {
    return this.#synced;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get size(): number {
    return this.#store.size;
  }

  get(key: string): T | undefined {
    return this.#store.get(key);
  }

  list(): T[] {
    return [...this.#store.values()];
  }

  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  start(): void {
    if (this.#loop) return;
    this.#loop = this.#run();
    const resyncMs = this.#opts.resyncMs ?? 0;
    if (resyncMs > 0) {
      this.#resync = setInterval(() => {
        if (!this.#synced) return;
        for (const object of this.#store.values()) this.#emit("resync", object);
      }, resyncMs);
      this.#resync.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.#resync) clearInterval(this.#resync);
    this.#abort.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        if (this.#resourceVersion === undefined) this.#resourceVersion = await this.#relist(signal);
        const started = Date.now();
        await this.#watch(signal);
        // A watch the server closes at once is a failure in disguise: do not spin on it.
        if (Date.now() - started < 1000) await sleep(this.#backoff.next(), signal);
        else this.#backoff.reset();
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof Gone || (error instanceof KubeApiError && error.gone)) {
          // Our resourceVersion fell out of the watch window: relist, no penalty.
          this.#opts.onRestart?.(this.name, "gone", error);
          this.#resourceVersion = undefined;
          continue;
        }
        this.#restarts++;
        this.#opts.onRestart?.(this.name, "error", error);
        // As client-go does: an API server that is down or throttling is waited out and the
        // watch resumes where it stopped (a 410 then says if that is too old); any other failure
        // relists from scratch.
        if (!isUnreachableOrThrottled(error)) this.#resourceVersion = undefined;
        await sleep(this.#backoff.next(), signal);
      }
    }
  }

  async #relist(signal: AbortSignal): Promise<string> {
    const seen = new Map<string, T>();
    let cont: string | undefined;
    let resourceVersion = "";
    do {
      const page = await this.#client.request<{
        metadata: { resourceVersion: string; continue?: string };
        items: T[] | null;
      }>(this.#opts.path, {
        query: {
          limit: this.#opts.pageSize ?? 500,
          continue: cont,
          labelSelector: this.#opts.labelSelector,
          fieldSelector: this.#opts.fieldSelector,
        },
        ...(this.#opts.metadataOnly ? { accept: METADATA_ACCEPT } : {}),
        signal,
        timeoutMs: 60_000,
      });
      for (const item of page.items ?? [])
        seen.set(objectKey(item.metadata), this.#transform(item));
      cont = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (cont);

    for (const [key, old] of this.#store) {
      if (!seen.has(key)) {
        this.#store.delete(key);
        this.#emit("delete", old);
      }
    }
    for (const [key, object] of seen) {
      const old = this.#store.get(key);
      this.#store.set(key, object);
      if (!old) this.#emit("add", object);
      else if (old.metadata.resourceVersion !== object.metadata.resourceVersion) {
        this.#emit("update", object, old);
      }
    }
    if (!this.#synced) {
      this.#synced = true;
      this.#opts.onSynced?.(this.name);
      for (const wake of this.#syncWaiters.splice(0)) wake();
    }
    return resourceVersion;
  }

  /** Watch until the server ends the stream, keeping #resourceVersion at the last one seen. */
  async #watch(signal: AbortSignal): Promise<void> {
    // Spread reconnects like client-go so many watchers do not return at once.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    await this.#client.stream(
      this.#opts.path,
      {
        query: {
          watch: 1,
          allowWatchBookmarks: true,
          resourceVersion: this.#resourceVersion,
          timeoutSeconds,
          labelSelector: this.#opts.labelSelector,
          fieldSelector: this.#opts.fieldSelector,
        },
        ...(this.#opts.metadataOnly ? { accept: METADATA_WATCH_ACCEPT } : {}),
        signal,
      },
      (value) => {
        const event = value as { type: string; object: T & { code?: number; message?: string } };
        if (event.type === "ERROR") {
          if (event.object.code === 410) throw new Gone(event.object.message ?? "gone");
          throw new Error(`watch error: ${event.object.message ?? JSON.stringify(event.object)}`);
        }
        const rv = event.object.metadata?.resourceVersion;
        if (rv) this.#resourceVersion = rv;
        if (event.type === "BOOKMARK") return;
        const object = this.#transform(event.object);
        const key = objectKey(object.metadata);
        const old = this.#store.get(key);
        if (event.type === "DELETED") {
          this.#store.delete(key);
          this.#emit("delete", object);
        } else {
          this.#store.set(key, object);
          this.#emit(old ? "update" : "add", object, old);
        }
      },
    );
  }

  #transform(object: T): T {
    return this.#opts.transform ? (this.#opts.transform(object) as T) : object;
  }

  #emit(type: InformerEventType, object: T, previous?: T): void {
    for (const handler of this.#handlers) {
      try {
        handler(type, object, previous);
      } catch {
        // A handler only enqueues work; it must never stop the watch.
      }
    }
  }
}

const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "EHOSTUNREACH", "ETIMEDOUT"]);

function isUnreachableOrThrottled(error: unknown): boolean {
  if (error instanceof KubeApiError) return error.status === 429;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && UNREACHABLE.has(code);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
