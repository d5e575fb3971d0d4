/**
 * Which network addresses artifact sources may connect to (the SSRF defence of the HTTPS source).
 *
 * By default every non-public range is refused: loopback, private, link-local, carrier-grade
 * NAT, multicast, documentation, benchmarking and reserved ranges, in IPv4 and IPv6. On top of
 * that:
 *
 *  1. `alwaysDeny` (e.g. the Kubernetes API server's own addresses) refuses, whatever else says;
 *  2. `allow` (admin-approved exceptions, e.g. an internal mirror) admits, even an address in a
 *     built-in range or in `deny`;
 *  3. `deny` (e.g. the cluster's pod and service CIDRs) and the built-in ranges refuse;
 *  4. everything else is allowed.
 *
 * An IPv6 address that carries an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
 * `::a.b.c.d`, NAT64 `64:ff9b::/96`) is judged by that IPv4 address as well as by itself: it is
 * refused when either form is refused and admitted by `allow` when either form is allowed (the
 * connection ends up at the IPv4 address). An entry inside `::ffff:0:0/96` is read as the IPv4
 * range it denotes. Parsing is done here, to bytes, rather than trusting `net.BlockList`'s
 * treatment of mapped addresses.
 *
 * Pure: no I/O, no DNS. Callers resolve names and check every resolved address.
 */

import { isIP } from "node:net";

/** The built-in refused ranges (non-public address space). */
export const DEFAULT_DENIED_RANGES: readonly string[] = Object.freeze([
  // IPv4
  "0.0.0.0/8", // "this network"; 0.0.0.0 reaches the local host on Linux
  "10.0.0.0/8",
  "100.64.0.0/10", // carrier-grade NAT
  "127.0.0.0/8",
  "169.254.0.0/16", // link-local, cloud metadata services
  "172.16.0.0/12",
  "192.0.0.0/24", // IETF protocol assignments
  "192.0.2.0/24", // TEST-NET-1
  "192.88.99.0/24", // 6to4 relay anycast
  "192.168.0.0/16",
  "198.18.0.0/15", // benchmarking
  "198.51.100.0/24", // TEST-NET-2
  "203.0.113.0/24", // TEST-NET-3
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved, including 255.255.255.255
  // IPv6
  "::/128",
  "::1/128",
  "64:ff9b:1::/48", // local-use NAT64
  "100::/64", // discard-only
  "2001::/23", // IETF protocol assignments (Teredo, ORCHIDv2, …)
  "2001:db8::/32", // documentation
  "2002::/16", // 6to4
  "fc00::/7", // unique local
  "fe80::/10", // link-local
  "fec0::/10", // site-local (deprecated)
  "ff00::/8", // multicast
]);

export interface AddressPolicyOptions {
  /** Admin-approved exceptions: admitted even inside a built-in range or `deny`. */
  allow?: readonly string[] | undefined;
  /** Extra refused ranges (e.g. the cluster's pod and service CIDRs). */
  deny?: readonly string[] | undefined;
  /** Refused whatever `allow` says (e.g. the Kubernetes API server's addresses). */
  alwaysDeny?: readonly string[] | undefined;
}

export type AddressVerdict =
  | { allowed: true }
  | {
      allowed: false;
      /** The range (as configured, bare IPs with their /32 or /128) that refused the address. */
      range: string;
      /** False when the range is in `alwaysDeny`: no `allow` entry can admit the address. */
      overridable: boolean;
    };

interface Ip {
  family: 4 | 6;
  bytes: Uint8Array;
}

interface Range extends Ip {
  prefix: number;
  text: string;
}

/** The first 96 bits of IPv4-mapped, IPv4-compatible and NAT64 (RFC 6052) addresses. */
const MAPPED = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
const COMPATIBLE = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const NAT64 = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0];

const DEFAULTS: readonly Range[] = DEFAULT_DENIED_RANGES.map((r) => parseRange(r, "built-in"));

export class AddressPolicy {
  readonly #allow: readonly Range[];
  readonly #deny: readonly Range[];
  readonly #alwaysDeny: readonly Range[];

  /** Throws an Error naming the first entry that is neither a CIDR nor an IP address. */
  constructor(options: AddressPolicyOptions = {}) {
    this.#allow = (options.allow ?? []).map((e) => parseRange(e, "allow"));
    this.#deny = (options.deny ?? []).map((e) => parseRange(e, "deny"));
    this.#alwaysDeny = (options.alwaysDeny ?? []).map((e) => parseRange(e, "alwaysDeny"));
  }

  /**
   * Whether an artifact source may connect to `address` (an IPv4 or IPv6 address; brackets and
   * an IPv6 zone index are accepted). Throws when `address` is not an IP address.
   */
  check(address: string): AddressVerdict {
    const forms = candidates(address);
    const always = firstMatch(this.#alwaysDeny, forms);
    if (always) return { allowed: false, range: always.text, overridable: false };
    if (firstMatch(this.#allow, forms)) return { allowed: true };
    const denied = firstMatch(this.#deny, forms) ?? firstMatch(DEFAULTS, forms);
    if (denied) return { allowed: false, range: denied.text, overridable: true };
    return { allowed: true };
  }

  /**
   * Whether `address` lies in a built-in non-public range or in `deny`, whether or not `allow`
   * admits it: what such a target answers must not be echoed back. Throws when `address` is not
   * an IP address.
   */
  isInternal(address: string): boolean {
    const forms = candidates(address);
    return firstMatch(this.#deny, forms) !== undefined || firstMatch(DEFAULTS, forms) !== undefined;
  }
}

function firstMatch(ranges: readonly Range[], forms: readonly Ip[]): Range | undefined {
  for (const form of forms) {
    for (const range of ranges) if (contains(range, form)) return range;
  }
  return undefined;
}

function contains(range: Range, ip: Ip): boolean {
  if (range.family !== ip.family) return false;
  const whole = range.prefix >> 3;
  for (let i = 0; i < whole; i++) if (range.bytes[i] !== ip.bytes[i]) return false;
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((range.bytes[whole] ?? 0) & mask) === ((ip.bytes[whole] ?? 0) & mask);
}

/** The address itself, then the IPv4 address it carries, if any. */
function candidates(address: string): Ip[] {
  let text = address.trim();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const zone = text.indexOf("%");
  if (zone !== -1 && text.includes(":")) text = text.slice(0, zone);
  const ip = parseIp(text);
  if (!ip) throw new Error(`not an IP address: ${JSON.stringify(address)}`);
  const embedded = embeddedIPv4(ip);
  return embedded ? [ip, embedded] : [ip];
}

function embeddedIPv4(ip: Ip): Ip | undefined {
  if (ip.family !== 6) return undefined;
  for (const prefix of [MAPPED, COMPATIBLE, NAT64]) {
    if (prefix.every((b, i) => ip.bytes[i] === b)) {
      return { family: 4, bytes: ip.bytes.slice(12) };
    }
  }
  return undefined;
}

function parseRange(entry: string, list: string): Range {
  const invalid = () =>
    new Error(
      `${list} entry ${JSON.stringify(entry)} is not a CIDR (such as 10.0.0.0/8 or fd00::/8) or an IP address`,
    );
  if (typeof entry !== "string") throw invalid();
  const text = entry.trim();
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  if (addressText.includes("%")) throw invalid(); // zone indexes make no sense in a range
  const ip = parseIp(addressText);
  if (!ip) throw invalid();
  const bits = ip.family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) throw invalid();
    prefix = Number(prefixText);
    if (prefix > bits) throw invalid();
  }
  const shown = slash === -1 ? `${text}/${bits}` : text;
  // An entry inside ::ffff:0:0/96 denotes IPv4 addresses: match them as such.
  if (ip.family === 6 && prefix >= 96 && MAPPED.every((b, i) => ip.bytes[i] === b)) {
    return { family: 4, bytes: ip.bytes.slice(12), prefix: prefix - 96, text: shown };
  }
  return { ...ip, prefix, text: shown };
}

/** Strict parsing to 4 or 16 bytes; undefined for anything else (no zone index). */
function parseIp(text: string): Ip | undefined {
  const family = isIP(text);
  if (family === 4) {
    const bytes = parseIPv4(text);
    return bytes ? { family: 4, bytes } : undefined;
  }
  if (family === 6 && !text.includes("%")) {
    const bytes = parseIPv6(text);
    return bytes ? { family: 6, bytes } : undefined;
  }
  return undefined;
}

function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (const [i, part] of parts.entries()) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    bytes[i] = n;
  }
  return bytes;
}

function parseIPv6(input: string): Uint8Array | undefined {
  let text = input;
  // A trailing dotted IPv4 address stands for the last two groups.
  if (text.includes(".")) {
    const colon = text.lastIndexOf(":");
    const v4 = parseIPv4(text.slice(colon + 1));
    if (colon === -1 || !v4) return undefined;
    const hi = ((v4[0] ?? 0) << 8) | (v4[1] ?? 0);
    const lo = ((v4[2] ?? 0) << 8) | (v4[3] ?? 0);
    text = `${text.slice(0, colon + 1)}${hi.toString(16)}:${lo.toString(16)}`;
  }
  const gap = text.indexOf("::");
  if (gap !== -1 && text.indexOf("::", gap + 1) !== -1) return undefined;
  const split = (s: string) => (s === "" ? [] : s.split(":"));
  const head = split(gap === -1 ? text : text.slice(0, gap));
  const tail = gap === -1 ? [] : split(text.slice(gap + 2));
  if (gap === -1 ? head.length !== 8 : head.length + tail.length > 7) return undefined;
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail];
  const bytes = new Uint8Array(16);
  for (const [i, group] of groups.entries()) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    const n = Number.parseInt(group, 16);
    bytes[2 * i] = n >> 8;
    bytes[2 * i + 1] = n & 0xff;
  }
  return bytes;
}
