/**
 * The trust-store ConfigMaps: read at the resourceVersion the informer last saw (one GET per
 * change, parsed once), and TOFU pins written with that resourceVersion as precondition so that
 * two writers racing to pin one publisher can never both win, and nothing is overwritten.
 */

import type { SkillTrustPolicy } from "../../api/v1alpha1/types.generated.ts";
import { SkillError } from "../../artifact/errors.ts";
import { KubeApiError, type KubeRequester, MERGE_PATCH } from "../../kube/client.ts";
import type { Informer, KubeObject } from "../../kube/informer.ts";
import { PIN_HISTORY_ANNOTATION, type PinRecord, withPinRecord } from "../../trust/pin-history.ts";
import {
  namespacePinsKey,
  pinRecordKey,
  readScopedTrustStore,
  type ScopedTrustStore,
  type TofuScope,
} from "../../trust/pin-scope.ts";
import { pinTofuKey, serializeTrustStore, type TrustStore } from "../../trust/store.ts";
import type { TrustStoreObservation, TrustStoreRef } from "../skill/decide.ts";

/**
 * The label that marks a ConfigMap as a trust store. The webhook guards every ConfigMap that
 * carries it (registered at start, before any policy is read), and the operator reads no store
 * without it: a store is guarded before any policy can use it.
 */
export const TRUST_STORE_LABEL = "skills.palyra.dev/trust-store";

interface ConfigMap {
  metadata: {
    resourceVersion?: string;
    uid?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  data?: Record<string, string>;
}

export function trustStoreRefOf(policy: SkillTrustPolicy): TrustStoreRef | undefined {
  const ts = policy.spec.trustStore;
  return ts
    ? { namespace: ts.namespace, name: ts.name, key: ts.key ?? "trust-store.json" }
    : undefined;
}

export type PinResult = "pinned" | "conflict";

export class TrustStoreCache {
  #client: KubeRequester;
  #configMaps: Informer<KubeObject>;
  #objects = new Map<
    string,
    { resourceVersion: string; object: ConfigMap | undefined; stale: boolean }
  >();
  #parsed = new Map<string, TrustStoreObservation>();

  constructor(client: KubeRequester, configMaps: Informer<KubeObject>) {
    this.#client = client;
    this.#configMaps = configMaps;
  }

  async observe(policy: SkillTrustPolicy): Promise<TrustStoreObservation> {
    const ref = trustStoreRefOf(policy);
    if (!ref) return { kind: "unset" };
    const id = `${ref.namespace}/${ref.name}`;
    const known = this.#configMaps.get(id)?.metadata.resourceVersion;
    let entry = this.#objects.get(id);
    if (!entry || entry.stale || entry.resourceVersion !== known) {
      let object: ConfigMap | undefined;
      try {
        object = await this.#client.request<ConfigMap>(
          `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/configmaps/${encodeURIComponent(ref.name)}`,
          { timeoutMs: 30_000 },
        );
      } catch (error) {
        if (!(error instanceof KubeApiError && error.notFound)) throw error;
      }
      entry = { resourceVersion: object?.metadata.resourceVersion ?? "", object, stale: false };
      this.#objects.set(id, entry);
    }
    const cacheKey = `${id}#${ref.key}@${entry.resourceVersion}`;
    const cached = this.#parsed.get(cacheKey);
    if (cached) return cached;
    let observation: TrustStoreObservation;
    if (!entry.object) observation = { kind: "missing", ref };
    else if (entry.object.metadata.labels?.[TRUST_STORE_LABEL] !== "true") {
      observation = { kind: "unguarded", ref };
    } else {
      try {
        const scoped = readScopedTrustStore(entry.object.data, ref.key);
        observation = {
          kind: "ok",
          ref,
          store: scoped.store,
          namespacePins: scoped.namespacePins,
          resourceVersion: entry.resourceVersion,
        };
      } catch (error) {
        observation = {
          kind: "invalid",
          ref,
          message: error instanceof SkillError ? error.message : String(error),
        };
      }
    }
    if (this.#parsed.size > 1024) this.#parsed.clear();
    this.#parsed.set(cacheKey, observation);
    return observation;
  }

  /** The last parsed store a policy names, without I/O (the admission path); undefined if unread. */
  peek(policy: SkillTrustPolicy): ScopedTrustStore | undefined {
    const ref = trustStoreRefOf(policy);
    if (!ref) return undefined;
    const id = `${ref.namespace}/${ref.name}`;
    const entry = this.#objects.get(id);
    if (!entry || entry.stale) return undefined;
    const parsed = this.#parsed.get(`${id}#${ref.key}@${entry.resourceVersion}`);
    return parsed?.kind === "ok" ? parsed : undefined;
  }

  /**
   * Writes a first-use pin and its record (who, when) in one patch; "conflict" when the store
   * changed since it was read. A cluster-wide pin goes into the store document itself, a
   * namespace's pin into that namespace's pin document.
   */
  async pin(
    observed: Extract<TrustStoreObservation, { kind: "ok" }>,
    scope: { scope: TofuScope; namespace: string },
    publisher: string,
    key: string,
    record: Omit<PinRecord, "key">,
  ): Promise<PinResult> {
    const { ref } = observed;
    const id = `${ref.namespace}/${ref.name}`;
    const namespace = scope.scope === "Namespace" ? scope.namespace : undefined;
    const dataKey = namespace === undefined ? ref.key : namespacePinsKey(ref.key, namespace);
    const current: TrustStore =
      namespace === undefined
        ? observed.store
        : {
            trustedPublishers: new Map(),
            tofuPublishers: observed.namespacePins.get(namespace) ?? new Map(),
          };
    const next = serializeTrustStore(pinTofuKey(current, publisher, key));
    // The cached object is the one read at observed.resourceVersion (the patch's precondition
    // fails otherwise), so its annotation is the history to extend.
    const cached = this.#objects.get(id);
    const previous =
      cached?.resourceVersion === observed.resourceVersion
        ? cached.object?.metadata.annotations?.[PIN_HISTORY_ANNOTATION]
        : undefined;
    const history = withPinRecord(previous, pinRecordKey(publisher, namespace), {
      ...record,
      key,
    });
    try {
      const object = await this.#client.request<ConfigMap>(
        `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/configmaps/${encodeURIComponent(ref.name)}`,
        {
          method: "PATCH",
          contentType: MERGE_PATCH,
          body: {
            metadata: {
              resourceVersion: observed.resourceVersion,
              annotations: { [PIN_HISTORY_ANNOTATION]: history },
            },
            data: { [dataKey]: next },
          },
          timeoutMs: 30_000,
        },
      );
      this.#objects.set(id, {
        resourceVersion: object.metadata.resourceVersion ?? "",
        object,
        stale: false,
      });
      return "pinned";
    } catch (error) {
      if (error instanceof KubeApiError && (error.conflict || error.notFound)) {
        const entry = this.#objects.get(id);
        if (entry) entry.stale = true;
        return "conflict";
      }
      throw error;
    }
  }
}
