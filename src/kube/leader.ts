/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics: a lease is
 * free when its holder has not renewed it for leaseDuration as measured on *our* clock since we
 * last saw it change (so clock skew between replicas does not matter); the leader renews every
 * retryPeriod and gives up leadership the moment it has failed to renew for renewDeadline; every
 * write is a compare-and-swap on resourceVersion. A leader that stops cleanly releases the lease
 * so the next one takes over at once.
 */

import { KubeApiError, type KubeClient } from "./client.ts";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  onNewLeader?: (identity: string) => void;
  onError?: (error: unknown) => void;
  now?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  metadata: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

const microTime = (ms: number) => new Date(ms).toISOString().replace("Z", "000Z");

export class LeaderElector {
  #client: KubeClient;
  #o: Required<
    Pick<LeaderElectionOptions, "leaseDurationMs" | "renewDeadlineMs" | "retryPeriodMs">
  > &
    LeaderElectionOptions;
  #leading = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #observed: { record: string; at: number } | undefined;
  #lastRenew = 0;
  #leader = "";
  #loop: Promise<void> | undefined;

  constructor(client: KubeClient, options: LeaderElectionOptions) {
    this.#client = client;
    this.#o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      ...options,
    };
  }

  /** True only while this replica holds a lease it renewed within renewDeadline. */
  get leading(): boolean {
    return this.#leading && this.#now() - this.#lastRenew < this.#o.renewDeadlineMs;
  }

  get leader(): string {
    return this.#leader;
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/leases`;
  }

  start(): void {
    if (this.#loop) return;
    this.#loop = this.#run();
  }

  /** Stops campaigning; a leader releases the lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#wake?.();
    await this.#loop;
    if (this.#leading) {
      this.#lose();
      await this.#release().catch((error: unknown) => this.#o.onError?.(error));
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#tryAcquireOrRenew();
      } catch (error) {
        this.#o.onError?.(error);
      }
      // Renewal that keeps failing past the deadline ends leadership, even with the API down.
      if (this.#leading && this.#now() - this.#lastRenew >= this.#o.renewDeadlineMs) this.#lose();
      if (this.#stopped) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(
          resolve,
          this.#o.retryPeriodMs * (this.#leading ? 1 : 1 + Math.random() * 0.2),
        );
      });
      this.#wake = undefined;
    }
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const now = this.#now();
    let lease: Lease | undefined;
    try {
      lease = await this.#client.request<Lease>(
        `${this.#path}/${encodeURIComponent(this.#o.name)}`,
        {
          timeoutMs: this.#o.retryPeriodMs * 2,
        },
      );
    } catch (error) {
      if (!(error instanceof KubeApiError && error.notFound)) throw error;
    }
    const me = this.#o.identity;
    const spec: LeaseSpec = {
      holderIdentity: me,
      leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (!lease) {
      await this.#write("POST", this.#path, {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: this.#o.name, namespace: this.#o.namespace },
        spec,
      });
      return;
    }
    const current = lease.spec ?? {};
    const record = JSON.stringify(current);
    if (this.#observed?.record !== record) this.#observed = { record, at: now };
    const holder = current.holderIdentity ?? "";
    if (holder !== this.#leader) {
      this.#leader = holder;
      if (holder) this.#o.onNewLeader?.(holder);
    }
    const held = holder !== "" && holder !== me;
    const duration = (current.leaseDurationSeconds ?? 15) * 1000;
    if (held && now < (this.#observed?.at ?? now) + duration) {
      if (this.#leading) this.#lose();
      return;
    }
    if (holder === me) {
      if (current.acquireTime) spec.acquireTime = current.acquireTime;
      spec.leaseTransitions = current.leaseTransitions ?? 0;
    } else {
      spec.leaseTransitions = (current.leaseTransitions ?? 0) + 1;
    }
    await this.#write("PUT", `${this.#path}/${encodeURIComponent(this.#o.name)}`, {
      ...lease,
      spec,
    });
  }

  async #write(
    method: "POST" | "PUT",
    path: string,
    body: Lease & Record<string, unknown>,
  ): Promise<void> {
    try {
      const written = await this.#client.request<Lease>(path, {
        method,
        body,
        timeoutMs: this.#o.retryPeriodMs * 2,
      });
      this.#observed = { record: JSON.stringify(written.spec ?? {}), at: this.#now() };
      this.#lastRenew = this.#now();
      this.#leader = this.#o.identity;
      if (!this.#leading) {
        this.#leading = true;
        this.#o.onStartedLeading?.();
      }
    } catch (error) {
      // Someone else wrote first: they lead; we keep watching.
      if (error instanceof KubeApiError && (error.conflict || error.status === 409)) {
        if (this.#leading) this.#lose();
        return;
      }
      throw error;
    }
  }

  #lose(): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.onStoppedLeading?.();
  }

  async #release(): Promise<void> {
    const path = `${this.#path}/${encodeURIComponent(this.#o.name)}`;
    const lease = await this.#client.request<Lease>(path, { timeoutMs: 5000 });
    if (lease.spec?.holderIdentity !== this.#o.identity) return;
    const now = microTime(this.#now());
    await this.#client.request(path, {
      method: "PUT",
      body: {
        ...lease,
        spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: now },
      },
      timeoutMs: 5000,
    });
  }
}
