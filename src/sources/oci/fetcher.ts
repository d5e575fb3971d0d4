/**
 * The operator's OCI source: a Skill's reference resolved with its own namespace's credentials
 * (a kubernetes.io/dockerconfigjson Secret the source names), then the layer downloaded unless
 * its digest is verified already. Wires the pure client to the loader.
 */

import { rootCertificates } from "node:tls";
import type { AddressPolicy } from "../address-policy.ts";
import type { ObjectSourceReader, OciFetcher, SourceRef } from "../artifact-loader.ts";
import { SourceError } from "../errors.ts";
import { credentialsFor, type RegistryCredentials } from "./auth.ts";
import { AgentPool, fetchOciLayer, resolveOci, TokenCache } from "./client.ts";
import { OciReferenceError, parseOciReference, registryHost } from "./reference.ts";

/** 127.0.0.0/8, ::1 and localhost: where a development registry without TLS may live. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (!v4) return false;
  return v4[1] === "127" && v4.slice(1).every((o) => Number(o) <= 255);
}

export const DOCKER_CONFIG_KEY = ".dockerconfigjson";

export interface OciFetcherDeps {
  addressPolicy?: AddressPolicy;
  timeouts?: { readMs: number; totalMs: number };
  /** A Secret's key in the Skill's namespace (throws a SourceError when it cannot be read). */
  readSecret(namespace: string, name: string, key: string): Promise<Buffer>;
  /**
   * The imagePullSecrets of the namespace's default ServiceAccount, as kubelet uses them; absent:
   * only pullSecretRef gives credentials.
   */
  defaultPullSecrets?(namespace: string): Promise<string[]>;
}

// The system roots plus a Skill's CA, built once per CA (the roots are ~200 KB of PEM).
const bundles = new Map<string, string>();
function withSystemRoots(caBundlePem: string): string {
  let bundle = bundles.get(caBundlePem);
  if (!bundle) {
    bundle = `${rootCertificates.join("\n")}\n${caBundlePem}`;
    if (bundles.size >= 64) bundles.delete(bundles.keys().next().value as string);
    bundles.set(caBundlePem, bundle);
  }
  return bundle;
}

export function createOciFetcher(deps: OciFetcherDeps): OciFetcher {
  const tokens = new TokenCache();
  const agents = new AgentPool();
  return async (ref, opts) => {
    let reference: ReturnType<typeof parseOciReference>;
    try {
      reference = parseOciReference(ref.reference);
    } catch (error) {
      if (error instanceof OciReferenceError)
        throw new SourceError("SOURCE_URL_INVALID", error.message, false);
      throw error;
    }
    if (ref.insecure && !isLoopback(registryHost(reference))) {
      throw new SourceError(
        "SOURCE_URL_INVALID",
        `${reference.registry}: insecure (plain http) is allowed only for a registry on a loopback address`,
        false,
      );
    }
    // No credentials travel over plain http.
    const credentials = ref.insecure
      ? undefined
      : await credentialsOf(ref, reference.registry, deps);
    const client = {
      ...(ref.caBundlePem ? { caBundlePem: withSystemRoots(ref.caBundlePem) } : {}),
      ...(deps.addressPolicy ? { addressPolicy: deps.addressPolicy } : {}),
      ...(deps.timeouts
        ? { readTimeoutMs: deps.timeouts.readMs, totalTimeoutMs: deps.timeouts.totalMs }
        : {}),
      credentials,
      tokens,
      agents,
      ...(ref.insecure ? { plainHttp: true } : {}),
    };
    const resolved = await resolveOci(reference, { ...client, maxArtifactBytes: opts.maxBytes });
    const digest = resolved.manifest.layer.digest.slice("sha256:".length);
    const source = {
      reference: resolved.pinned,
      ...(reference.tag !== undefined ? { tag: reference.tag } : {}),
    };
    if (opts.have(digest)) return { digest, source };
    const download = () =>
      fetchOciLayer(reference, resolved.manifest.layer, {
        ...client,
        ...(opts.onStart ? { onStart: opts.onStart } : {}),
        ...(opts.onBodyBytes ? { onBodyBytes: opts.onBodyBytes } : {}),
      });
    const layer = await (opts.share ? opts.share(digest, download) : download());
    return { digest: layer.sha256, bytes: layer.bytes, source };
  };
}

async function credentialsOf(
  ref: Extract<SourceRef, { kind: "oci" }>,
  registry: string,
  deps: OciFetcherDeps,
): Promise<RegistryCredentials | undefined> {
  if (!ref.pullSecret) return fromServiceAccount(ref.namespace, registry, deps);
  const bytes = await deps.readSecret(ref.namespace, ref.pullSecret, DOCKER_CONFIG_KEY);
  let found: RegistryCredentials | undefined;
  try {
    found = credentialsFor(bytes.toString("utf8"), registry);
  } catch (error) {
    throw new SourceError(
      "SOURCE_AUTH_FAILED",
      `pull Secret ${ref.namespace}/${ref.pullSecret}: ${(error as Error).message}`,
      false,
    );
  }
  if (!found) {
    throw new SourceError(
      "SOURCE_AUTH_FAILED",
      `pull Secret ${ref.namespace}/${ref.pullSecret} holds no credentials for ${registry}`,
      false,
    );
  }
  return found;
}

/**
 * As kubelet does: the first of the default ServiceAccount's imagePullSecrets with an entry for
 * the registry; none (or an unreadable one) is anonymous, never an error: most registries a
 * Skill names without a pull Secret are public.
 */
async function fromServiceAccount(
  namespace: string,
  registry: string,
  deps: OciFetcherDeps,
): Promise<RegistryCredentials | undefined> {
  if (!deps.defaultPullSecrets) return undefined;
  let names: string[];
  try {
    names = await deps.defaultPullSecrets(namespace);
  } catch {
    return undefined;
  }
  for (const name of names.slice(0, 16)) {
    try {
      const bytes = await deps.readSecret(namespace, name, DOCKER_CONFIG_KEY);
      const found = credentialsFor(bytes.toString("utf8"), registry);
      if (found) return found;
    } catch {
      // Not a usable docker config: kubelet skips it too.
    }
  }
  return undefined;
}

/**
 * Pull Secrets by resourceVersion (the Secret informer's, so a rotation is seen at once) and the
 * default ServiceAccount's imagePullSecrets for 30 s: a resolution per namespace and reference
 * must not cost API reads each. Bounded.
 */
export class PullSecretCache {
  #objects: Pick<ObjectSourceReader, "read" | "version">;
  #readDefaults: (namespace: string) => Promise<string[]>;
  #secrets = new Map<string, { version: string; bytes: Buffer }>();
  #defaults = new Map<string, { names: Promise<string[]>; at: number }>();

  constructor(
    objects: Pick<ObjectSourceReader, "read" | "version">,
    readDefaults: (namespace: string) => Promise<string[]>,
  ) {
    this.#objects = objects;
    this.#readDefaults = readDefaults;
  }

  async read(namespace: string, name: string, key: string): Promise<Buffer> {
    const id = `${namespace}/${name}/${key}`;
    const version = this.#objects.version("secret", namespace, name);
    const cached = this.#secrets.get(id);
    if (cached && version !== undefined && cached.version === version) return cached.bytes;
    const read = await this.#objects.read("secret", namespace, name, key, 256 * 1024);
    if (this.#secrets.size >= 1024)
      this.#secrets.delete(this.#secrets.keys().next().value as string);
    this.#secrets.set(id, { version: read.resourceVersion, bytes: read.bytes });
    return read.bytes;
  }

  defaults(namespace: string, now = Date.now()): Promise<string[]> {
    const cached = this.#defaults.get(namespace);
    if (cached && now - cached.at < 30_000) return cached.names;
    const names = this.#readDefaults(namespace);
    names.catch(() => this.#defaults.delete(namespace));
    if (this.#defaults.size >= 1024)
      this.#defaults.delete(this.#defaults.keys().next().value as string);
    this.#defaults.set(namespace, { names, at: now });
    return names;
  }
}
