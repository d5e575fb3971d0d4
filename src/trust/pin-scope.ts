/**
 * Where TOFU pins live and who trusts them. A trust-store ConfigMap holds the reference's
 * document under the policy's key (allowlist and cluster-wide pins, `tofu_publishers`), and one
 * more reference document per namespace for pins that bind only that namespace, under the data
 * key `tofu.<namespace>.<key>`. Every document is the reference CLI's format, so any one of them
 * can be handed to it as a trust store. Pure: no Kubernetes I/O.
 */

import { SkillError } from "../artifact/errors.ts";
import { parseTrustStore, type TrustStore } from "./store.ts";

export type TofuScope = "Namespace" | "Cluster";

/** What a policy does with pins: create new ones, trust existing ones, and of which scope. */
export interface PinUse {
  readonly scope: TofuScope;
  /** New first-use pins may be written (allowTofu). */
  readonly create: boolean;
  /** Existing pins of `scope` are trusted (allowTofu or trustExistingPins). */
  readonly honour: boolean;
}

export function pinUseOf(spec: {
  allowTofu?: boolean;
  trustExistingPins?: boolean;
  tofuScope?: TofuScope;
}): PinUse {
  const create = spec.allowTofu === true;
  return {
    scope: spec.tofuScope === "Cluster" ? "Cluster" : "Namespace",
    create,
    honour: create || spec.trustExistingPins === true,
  };
}

const PREFIX = "tofu.";

/** The data key of one namespace's pins for the store under `storeKey`. */
export function namespacePinsKey(storeKey: string, namespace: string): string {
  return `${PREFIX}${namespace}.${storeKey}`;
}

/** The namespace a data key holds pins for (namespaces have no dots), if it is such a key. */
export function namespaceOfPinsKey(dataKey: string, storeKey: string): string | undefined {
  if (!dataKey.startsWith(PREFIX) || !dataKey.endsWith(`.${storeKey}`)) return undefined;
  const namespace = dataKey.slice(PREFIX.length, dataKey.length - storeKey.length - 1);
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) ? namespace : undefined;
}

/** A trust-store ConfigMap read under one key: the store and the per-namespace pins. */
export interface ScopedTrustStore {
  readonly store: TrustStore;
  readonly namespacePins: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

/**
 * Parses the store document and every namespace-pins document beside it. A document that does
 * not parse makes the whole store invalid (fail closed), with the data key named.
 */
export function readScopedTrustStore(
  data: Readonly<Record<string, string>> | undefined,
  storeKey: string,
): ScopedTrustStore {
  const store = parseTrustStore(data?.[storeKey] ?? "");
  const namespacePins = new Map<string, ReadonlyMap<string, string>>();
  for (const [dataKey, text] of Object.entries(data ?? {})) {
    const namespace = namespaceOfPinsKey(dataKey, storeKey);
    if (namespace === undefined) continue;
    let doc: TrustStore;
    try {
      doc = parseTrustStore(text);
    } catch (error) {
      throw new SkillError(
        "TRUST_STORE_INVALID",
        `${dataKey}: ${(error as Error).message}`,
        dataKey,
      );
    }
    if (doc.trustedPublishers.size > 0) {
      // Allowlisting is the store document's job; a namespace document only holds pins.
      throw new SkillError(
        "TRUST_STORE_INVALID",
        `${dataKey}: a namespace's pin document must not allowlist publishers (trusted_publishers belongs in ${storeKey})`,
        dataKey,
      );
    }
    if (doc.tofuPublishers.size > 0) namespacePins.set(namespace, doc.tofuPublishers);
  }
  return { store, namespacePins };
}

const NONE: ReadonlyMap<string, string> = new Map();

/** The pins a policy trusts for a Skill in `namespace`: none unless it honours pins. */
export function pinsFor(
  scoped: ScopedTrustStore,
  use: PinUse,
  namespace: string,
): ReadonlyMap<string, string> {
  if (!use.honour) return NONE;
  if (use.scope === "Cluster") return scoped.store.tofuPublishers;
  return scoped.namespacePins.get(namespace) ?? NONE;
}

/** One pin as the policy status and `kubectl palyra-skill pins` list it. */
export interface ScopedPin {
  readonly publisher: string;
  readonly key: string;
  /** Absent for a cluster-wide pin. */
  readonly namespace?: string;
}

/** Every pin of the policy's scope in the store, cluster-wide first, then by namespace. */
export function pinsOfScope(scoped: ScopedTrustStore, scope: TofuScope): ScopedPin[] {
  if (scope === "Cluster") {
    return [...scoped.store.tofuPublishers]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([publisher, key]) => ({ publisher, key }));
  }
  const out: ScopedPin[] = [];
  for (const namespace of [...scoped.namespacePins.keys()].sort()) {
    const pins = scoped.namespacePins.get(namespace) ?? NONE;
    for (const publisher of [...pins.keys()].sort()) {
      out.push({ publisher, key: pins.get(publisher) as string, namespace });
    }
  }
  return out;
}

/** The key of a pin's record in the pin-history annotation: `namespace/publisher` or `publisher`. */
export function pinRecordKey(publisher: string, namespace?: string): string {
  return namespace === undefined ? publisher : `${namespace}/${publisher}`;
}
