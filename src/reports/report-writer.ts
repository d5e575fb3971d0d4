/**
 * Keeps one OpenReports Report per namespace in step with its Skills: namespaces are marked
 * dirty as Skills change, and a short debounce later the leader writes what changed (create,
 * replace, or delete when the last Skill is gone). Without the Report CRD it logs once and
 * writes nothing, and looks again every few minutes so installing the CRD later just works.
 */

import type { Skill } from "../api/v1alpha1/types.generated.ts";
import { isNotFound, KubeApiError, type KubeRequester, NotLeaderError } from "../kube/client.ts";
import { type OwnerReference, ownedBy } from "../kube/owner.ts";
import { deepEqual } from "../kube/patch.ts";
import type { Logger } from "../operator/log.ts";
import { buildReport, REPORT_API, REPORT_NAME } from "./openreports.ts";

export interface ReportWriterOptions {
  client: KubeRequester;
  log: Logger;
  /** The Skills as the informer has them now. */
  skills: () => readonly Skill[];
  /** Only the leader writes. */
  leads: () => boolean;
  debounceMs?: number;
  /** How often to look for the CRD again while it is missing. */
  discoveryMs?: number;
  onWrite?: (kind: "created" | "updated" | "deleted" | "error") => void;
  /** Owner of the Reports (see src/kube/owner.ts). */
  owner?: OwnerReference;
}

type Available = "unknown" | "yes" | "no";

type Meta = { ownerReferences?: unknown[] };

/** Same report and owner (the API server returns keys in its own order and adds metadata). */
function sameContent(current: Record<string, unknown>, desired: Record<string, unknown>): boolean {
  const { metadata: ma, ...a } = current;
  const { metadata: mb, ...b } = desired;
  return (
    deepEqual(a, b) &&
    deepEqual(
      (ma as Meta | undefined)?.ownerReferences ?? [],
      (mb as Meta | undefined)?.ownerReferences ?? [],
    )
  );
}

export class ReportWriter {
  #o: ReportWriterOptions;
  #dirty = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #available: Available = "unknown";
  #checkedAt = 0;
  #flushing: Promise<void> | undefined;
  #stopped = false;

  constructor(options: ReportWriterOptions) {
    this.#o = options;
  }

  /** A Skill in `namespace` changed (or went): its report is recomputed soon. */
  markDirty(namespace: string): void {
    if (this.#stopped) return;
    this.#dirty.add(namespace);
    this.#flushAfter(this.#o.debounceMs ?? 1000);
  }

  /** Every namespace with Skills (after gaining leadership: the reports may be stale). */
  markAll(): void {
    this.#known.clear();
    for (const s of this.#o.skills())
      if (s.metadata.namespace) this.markDirty(s.metadata.namespace);
  }

  /** No more flushes; an in-flight one is left to finish on its own (its requests time out). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** Writes the dirty namespaces' reports now (tests and shutdown call it directly). */
  flush(): Promise<void> {
    this.#flushing ??= this.#flushOnce().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #crdAvailable(): Promise<boolean> {
    const now = Date.now();
    if (this.#available === "yes") return true;
    if (this.#available === "no" && now - this.#checkedAt < (this.#o.discoveryMs ?? 300_000))
      return false;
    this.#checkedAt = now;
    try {
      await this.#o.client.request(REPORT_API);
      this.#o.log.info("OpenReports API found: writing a Report per namespace");
      this.#available = "yes";
      return true;
    } catch (error) {
      if (!isNotFound(error)) throw error;
      if (this.#available !== "no") {
        this.#o.log.info(
          "OpenReports Report CRD (reports.openreports.io) is not installed: no reports are written; install it to get them",
        );
      }
      this.#available = "no";
      return false;
    }
  }

  async #flushOnce(): Promise<void> {
    if (this.#dirty.size === 0 || !this.#o.leads()) return;
    let available: boolean;
    try {
      available = await this.#crdAvailable();
    } catch (error) {
      this.#o.log.warn("could not look for the OpenReports API; will retry", { error });
      this.#flushAfter(5000);
      return;
    }
    if (!available) {
      this.#dirty.clear();
      return;
    }
    const namespaces = [...this.#dirty];
    this.#dirty.clear();
    const skills = this.#o.skills();
    for (const namespace of namespaces) {
      if (!this.#o.leads()) return;
      try {
        await this.#write(namespace, skills);
      } catch (error) {
        if (error instanceof NotLeaderError) return;
        this.#o.onWrite?.("error");
        this.#o.log.warn("report write failed; will retry", { namespace, error });
        this.#dirty.add(namespace);
        // The CRD may have been removed: look again.
        if (error instanceof KubeApiError && error.notFound) this.#available = "unknown";
      }
    }
    if (this.#dirty.size > 0) this.#flushAfter(5000);
  }

  /** One pending flush at a time: the first caller's delay wins (debounce, or a retry). */
  #flushAfter(ms: number): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, ms);
    this.#timer.unref();
  }

  /**
   * What this replica last wrote or read per namespace: an unchanged report costs no request
   * at all (during a mass change every flush would otherwise GET each dirty report). A stale
   * entry is harmless: the PUT's resourceVersion fails with a conflict, the entry is dropped
   * and the next flush reads again. Cleared when leadership changes hands.
   */
  #known = new Map<string, { resourceVersion: string; report: Record<string, unknown> } | null>();

  async #write(namespace: string, skills: readonly Skill[]): Promise<void> {
    const path = `${REPORT_API}/namespaces/${encodeURIComponent(namespace)}/reports`;
    const built = buildReport(namespace, skills, Date.now());
    const desired = built && {
      ...built,
      metadata: { ...built.metadata, ...ownedBy(this.#o.owner) },
    };
    let current = this.#known.get(namespace);
    if (current === undefined) {
      try {
        const object = await this.#o.client.request<
          Record<string, unknown> & { metadata: { resourceVersion?: string } }
        >(`${path}/${REPORT_NAME}`);
        current = { resourceVersion: object.metadata.resourceVersion ?? "", report: object };
      } catch (error) {
        if (!isNotFound(error)) throw error;
        current = null;
      }
    }
    try {
      if (!desired) {
        if (current) {
          await this.#o.client
            .request(`${path}/${REPORT_NAME}`, { method: "DELETE" })
            .catch((error) => {
              if (!isNotFound(error)) throw error;
            });
          this.#o.onWrite?.("deleted");
        }
        this.#known.set(namespace, null);
        return;
      }
      const body = desired as unknown as Record<string, unknown>;
      if (current && sameContent(current.report, body)) {
        this.#known.set(namespace, current);
        return;
      }
      const written = await this.#o.client.request<{ metadata: { resourceVersion?: string } }>(
        current ? `${path}/${REPORT_NAME}` : path,
        current
          ? {
              method: "PUT",
              body: {
                ...desired,
                metadata: { ...desired.metadata, resourceVersion: current.resourceVersion },
              },
            }
          : { method: "POST", body: desired },
      );
      this.#known.set(namespace, {
        resourceVersion: written.metadata.resourceVersion ?? "",
        report: body,
      });
      this.#o.onWrite?.(current ? "updated" : "created");
    } catch (error) {
      // Someone else changed or removed it: read it again next time.
      this.#known.delete(namespace);
      throw error;
    }
  }
}
