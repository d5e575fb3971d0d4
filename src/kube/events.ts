/**
 * Kubernetes Events, recorded off the reconcile path: a bounded queue drained by a few workers,
 * and repeats of the same (object, type, reason, message) folded into one Event's count, as
 * client-go's recorder does, so a flapping Skill cannot flood etcd.
 */

import { createHash } from "node:crypto";
import type { ObjectMeta } from "../api/v1alpha1/types.generated.ts";
import { KubeApiError, type KubeRequester, MERGE_PATCH } from "./client.ts";
import { rfc3339 } from "./conditions.ts";

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

export type EventType = "Normal" | "Warning";

export interface RecordedEvent {
  target: EventTarget;
  type: EventType;
  reason: string;
  message: string;
}

interface Pending extends RecordedEvent {
  at: Date;
}

export interface EventRecorderOptions {
  component: string;
  /** Where events about cluster-scoped objects go (Kubernetes uses "default"). */
  clusterScopedNamespace?: string;
  concurrency?: number;
  maxQueued?: number;
  /** Sustained event writes per second (a token bucket): events never crowd out reconciles. */
  qps?: number;
  burst?: number;
  onError?: (error: unknown, event: RecordedEvent) => void;
  host?: string;
}

export class EventRecorder {
  #client: KubeRequester;
  #opts: EventRecorderOptions;
  #queue: Pending[] = [];
  #active = 0;
  #seen = new Map<string, { namespace: string; name: string; count: number }>();
  #idleWaiters: (() => void)[] = [];
  #dropped = 0;
  #tokens: number;
  #refilledAt = Date.now();
  #wake: NodeJS.Timeout | undefined;

  constructor(client: KubeRequester, opts: EventRecorderOptions) {
    this.#client = client;
    this.#opts = opts;
    this.#tokens = opts.burst ?? 25;
  }

  get dropped(): number {
    return this.#dropped;
  }

  record(target: EventTarget, type: EventType, reason: string, message: string): void {
    if (this.#queue.length >= (this.#opts.maxQueued ?? 10_000)) {
      this.#queue.shift();
      this.#dropped++;
    }
    // Only what the Event names: a queued event must not keep a whole object version alive.
    const { name, namespace, uid, resourceVersion } = target.metadata;
    const metadata: ObjectMeta = { name: name ?? "" };
    if (namespace) metadata.namespace = namespace;
    if (uid) metadata.uid = uid;
    if (resourceVersion) metadata.resourceVersion = resourceVersion;
    this.#queue.push({
      target: { apiVersion: target.apiVersion, kind: target.kind, metadata },
      type,
      reason,
      message: message.slice(0, 1024),
      at: new Date(),
    });
    this.#pump();
  }

  /** Resolves when every queued event has been written (or failed), or after `timeoutMs`. */
  flush(timeoutMs = 5000): Promise<void> {
    if (this.#queue.length === 0 && this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #take(): boolean {
    const qps = this.#opts.qps ?? 20;
    const burst = this.#opts.burst ?? 25;
    const now = Date.now();
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#refilledAt) / 1000) * qps);
    this.#refilledAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    if (!this.#wake) {
      this.#wake = setTimeout(
        () => {
          this.#wake = undefined;
          this.#pump();
        },
        Math.ceil(1000 / qps),
      );
      this.#wake.unref();
    }
    return false;
  }

  #pump(): void {
    while (this.#active < (this.#opts.concurrency ?? 4) && this.#queue.length > 0 && this.#take()) {
      const event = this.#queue.shift() as Pending;
      this.#active++;
      this.#write(event)
        .catch((error: unknown) => this.#opts.onError?.(error, event))
        .finally(() => {
          this.#active--;
          this.#pump();
          if (this.#queue.length === 0 && this.#active === 0) {
            for (const wake of this.#idleWaiters.splice(0)) wake();
          }
        });
    }
  }

  async #write(event: Pending): Promise<void> {
    const meta = event.target.metadata;
    const namespace = meta.namespace ?? this.#opts.clusterScopedNamespace ?? "default";
    const key = createHash("sha256")
      .update([meta.uid, event.type, event.reason, event.message].join("\u0000"))
      .digest("base64");
    const now = rfc3339(event.at);
    const prior = this.#seen.get(key);
    if (prior) {
      try {
        await this.#client.request(`/api/v1/namespaces/${prior.namespace}/events/${prior.name}`, {
          method: "PATCH",
          contentType: MERGE_PATCH,
          body: { count: prior.count + 1, lastTimestamp: now },
        });
        prior.count++;
        return;
      } catch (error) {
        if (!(error instanceof KubeApiError && error.notFound)) throw error;
        this.#seen.delete(key);
      }
    }
    const name = `${meta.name}.${event.at.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
    await this.#client.request(`/api/v1/namespaces/${namespace}/events`, {
      method: "POST",
      body: {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: event.target.apiVersion,
          kind: event.target.kind,
          name: meta.name,
          ...(meta.namespace ? { namespace: meta.namespace } : {}),
          uid: meta.uid,
          resourceVersion: meta.resourceVersion,
        },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: {
          component: this.#opts.component,
          ...(this.#opts.host ? { host: this.#opts.host } : {}),
        },
        reportingComponent: this.#opts.component,
        reportingInstance: this.#opts.host ?? this.#opts.component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
    if (this.#seen.size > 4096) this.#seen.clear();
    this.#seen.set(key, { namespace, name, count: 1 });
  }
}
