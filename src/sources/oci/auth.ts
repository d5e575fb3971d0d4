/**
 * Registry authentication, the pure parts: WWW-Authenticate challenges (RFC 7235, as the
 * distribution token protocol uses them), credentials from a Docker config document (a
 * kubernetes.io/dockerconfigjson Secret, or ~/.docker/config.json for the CLI), and where a
 * bearer token may be asked for.
 */

export type Challenge =
  | { scheme: "basic"; realm?: string }
  | { scheme: "bearer"; realm: string; service?: string; scope?: string };

/**
 * The first Basic or Bearer challenge of a WWW-Authenticate header; undefined when there is
 * none we can answer (a 401 without a challenge is a registry we cannot authenticate with).
 */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  for (const value of values) {
    for (const challenge of splitChallenges(value)) {
      const scheme = challenge.scheme.toLowerCase();
      if (scheme === "basic") {
        return challenge.params.realm !== undefined
          ? { scheme: "basic", realm: challenge.params.realm }
          : { scheme: "basic" };
      }
      if (scheme === "bearer" && challenge.params.realm) {
        const { realm, service, scope } = challenge.params;
        return {
          scheme: "bearer",
          realm,
          ...(service !== undefined ? { service } : {}),
          ...(scope !== undefined ? { scope } : {}),
        };
      }
    }
  }
  return undefined;
}

/** `Scheme k="v", k=v, Scheme2 k=v` into challenges; quoted strings may hold commas. */
function splitChallenges(value: string): { scheme: string; params: Record<string, string> }[] {
  const out: { scheme: string; params: Record<string, string> }[] = [];
  let current: { scheme: string; params: Record<string, string> } | undefined;
  let i = 0;
  const skip = () => {
    while (i < value.length && (value[i] === " " || value[i] === "\t" || value[i] === ",")) i++;
  };
  const token = () => {
    const start = i;
    while (i < value.length && /[A-Za-z0-9!#$%&'*+.^_`|~\-/]/.test(value[i] as string)) i++;
    return value.slice(start, i);
  };
  while (i < value.length) {
    skip();
    const name = token();
    if (name === "") {
      i++; // not a token character: skip it
      continue;
    }
    let k = i;
    while (value[k] === " ") k++;
    if (value[k] === "=" && current) {
      i = k + 1;
      while (value[i] === " ") i++;
      let v = "";
      if (value[i] === '"') {
        i++;
        while (i < value.length && value[i] !== '"') {
          if (value[i] === "\\" && i + 1 < value.length) i++;
          v += value[i];
          i++;
        }
        i++; // closing quote
      } else {
        const start = i;
        while (i < value.length && value[i] !== "," && value[i] !== " ") i++;
        v = value.slice(start, i);
      }
      current.params[name.toLowerCase()] = v;
    } else {
      current = { scheme: name, params: {} };
      out.push(current);
    }
  }
  return out;
}

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * The credentials a Docker config document holds for a registry host (`auths` keys may be
 * `host`, `host:port`, or a URL `https://host/v1/`); undefined when it holds none for it.
 * Throws with a clear message when the document itself is malformed.
 */
export function credentialsFor(
  dockerConfigJson: string,
  registry: string,
): RegistryCredentials | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(dockerConfigJson);
  } catch (error) {
    throw new Error(`the Docker config is not JSON (${(error as Error).message})`);
  }
  const auths = (doc as { auths?: unknown } | null)?.auths;
  if (typeof auths !== "object" || auths === null) {
    throw new Error('the Docker config has no "auths" object');
  }
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    if (normalizeRegistryKey(key) !== registry.toLowerCase()) continue;
    const e = (entry ?? {}) as { auth?: unknown; username?: unknown; password?: unknown };
    if (typeof e.username === "string" && typeof e.password === "string") {
      return { username: e.username, password: e.password };
    }
    if (typeof e.auth === "string") {
      const decoded = Buffer.from(e.auth, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon <= 0) throw new Error(`the Docker config's auth for ${key} is not user:password`);
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    throw new Error(`the Docker config's entry for ${key} has neither auth nor username/password`);
  }
  return undefined;
}

function normalizeRegistryKey(key: string): string {
  let k = key.trim().toLowerCase();
  k = k.replace(/^https?:\/\//, "");
  const slash = k.indexOf("/");
  return slash >= 0 ? k.slice(0, slash) : k;
}

/** `Authorization: Basic ...` for credentials. */
export function basicAuthorization(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}

/**
 * Where a bearer token may be asked for, and whether credentials may go with the request:
 * the realm must be https; credentials are sent only to the registry's own host (a realm on
 * another host gets an anonymous request, never the registry's password).
 */
export function tokenRequest(
  challenge: Extract<Challenge, { scheme: "bearer" }>,
  registryHost: string,
  scope: string,
): { url: URL; sendCredentials: boolean } {
  let url: URL;
  try {
    url = new URL(challenge.realm);
  } catch {
    throw new Error(`the registry's token realm ${JSON.stringify(challenge.realm)} is not a URL`);
  }
  if (url.protocol !== "https:") {
    throw new Error(`the registry's token realm ${url.origin} is not https`);
  }
  if (challenge.service !== undefined) url.searchParams.set("service", challenge.service);
  url.searchParams.set("scope", scope);
  return { url, sendCredentials: url.hostname === urlHostname(registryHost) };
}

/**
 * A registry host (no port, no brackets) as a URL's hostname spells it: lower case, an IPv6
 * literal in brackets and compressed, an IPv4 address in dotted decimal. Compared raw, a registry
 * named by an IPv6 literal never matched its own realm ("[::1]" is not "::1").
 */
function urlHostname(host: string): string | undefined {
  try {
    return new URL(`https://${host.includes(":") ? `[${host}]` : host}/`).hostname;
  } catch {
    return undefined;
  }
}
