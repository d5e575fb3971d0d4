/**
 * OCI references as the distribution project's grammar defines them (`registry/repository:tag`,
 * `registry/repository@sha256:<digest>`, or both), with one choice of ours: the registry is
 * always named. A bare `repository:tag` would mean Docker Hub to a container runtime and
 * something else to a reader; a supply-chain control should not guess where bytes come from.
 */

export interface OciReference {
  /** host[:port], as written (lower-cased host). */
  readonly registry: string;
  /** path components joined by "/". */
  readonly repository: string;
  readonly tag?: string;
  /** "sha256:<64 hex>". */
  readonly digest?: string;
}

export class OciReferenceError extends Error {
  constructor(reference: string, why: string) {
    super(`OCI reference ${JSON.stringify(reference.slice(0, 300))} is not valid: ${why}`);
    this.name = "OciReferenceError";
  }
}

// distribution/reference: path components, tags, and (for us) sha256 digests only.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;

export function parseOciReference(reference: string): OciReference {
  const fail = (why: string) => new OciReferenceError(reference, why);
  if (reference.length === 0 || reference.length > 1024)
    throw fail("it must be 1 to 1024 characters");
  if (/\s/.test(reference)) throw fail("it contains white space");
  if (/^[a-z]+:\/\//i.test(reference)) throw fail("write it without a scheme (no https://)");
  let rest = reference;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digest.startsWith("sha256:"))
      throw fail(`only sha256 digests are supported, not ${JSON.stringify(digest.split(":")[0])}`);
    if (!DIGEST.test(digest))
      throw fail("the digest must be sha256: and 64 lower-case hex characters");
  }
  const slash = rest.indexOf("/");
  if (slash < 0) {
    throw fail(
      "name the registry (registry.example.com/repository:tag): there is no default registry",
    );
  }
  const registry = rest.slice(0, slash);
  let path = rest.slice(slash + 1);
  let tag: string | undefined;
  const lastSlash = path.lastIndexOf("/");
  const colon = path.indexOf(":", lastSlash + 1);
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) throw fail(`the tag ${JSON.stringify(tag)} is not a valid tag`);
  }
  if (tag === undefined && digest === undefined) {
    throw fail('give a tag (:1.0.0) or a digest (@sha256:...); "latest" is not assumed');
  }
  checkRegistry(registry, fail);
  if (path.length === 0 || path.length > 255)
    throw fail("the repository must be 1 to 255 characters");
  for (const component of path.split("/")) {
    if (!COMPONENT.test(component)) {
      throw fail(
        `repository component ${JSON.stringify(component)} must be lower-case letters and digits, separated by ".", "_", "__" or "-"`,
      );
    }
  }
  return {
    registry: registry.toLowerCase(),
    repository: path,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

function checkRegistry(registry: string, fail: (why: string) => Error): void {
  let host = registry;
  let port: string | undefined;
  const bracket = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(registry);
  if (bracket) {
    port = bracket[2];
  } else {
    const colon = registry.lastIndexOf(":");
    if (colon >= 0) {
      host = registry.slice(0, colon);
      port = registry.slice(colon + 1);
    }
    const labels = host.split(".");
    const looksLikeHost = host === "localhost" || labels.length > 1 || port !== undefined;
    if (!looksLikeHost) {
      throw fail(
        `the first component ${JSON.stringify(registry)} is not a registry host (it needs a "." or a port, or is localhost)`,
      );
    }
    if (!labels.every((l) => HOST_LABEL.test(l)) || host.length > 253) {
      throw fail(`the registry host ${JSON.stringify(host)} is not a valid host name`);
    }
  }
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) > 0 && Number(port) < 65536)) {
    throw fail(`the registry port ${JSON.stringify(port)} is not a port number`);
  }
}

/** The reference written back, canonical: registry/repository[:tag][@digest]. */
export function formatOciReference(ref: OciReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/** The registry's host without port or brackets, for address checks. */
export function registryHost(ref: Pick<OciReference, "registry">): string {
  const bracket = /^\[([^\]]+)\]/.exec(ref.registry);
  if (bracket) return bracket[1] as string;
  const colon = ref.registry.lastIndexOf(":");
  return colon >= 0 ? ref.registry.slice(0, colon) : ref.registry;
}
