/**
 * A fast path for the TOML that manifests are written in, in front of smol-toml: the layout
 * the reference's `toml::to_string_pretty` and this project's writer produce (bare keys,
 * `[table]` and `[[array.of.tables]]` headers, basic strings without escapes, decimal integers,
 * booleans, arrays of those over one or more lines). smol-toml spends most of a manifest's
 * parse on bookkeeping for what such a document never uses (dotted keys, inline tables, every
 * string and number form), and allocates ~40 KB doing it.
 *
 * This returns exactly what smol-toml's `parse(text, { integersAsBigInt: true })` returns for
 * the documents it accepts (or its `parse(text)`, on request), objects without prototypes
 * included, and undefined for anything else, which smol-toml then parses (and reports, when it
 * is not TOML): a line outside the subset, or a document the subset can write but TOML forbids
 * (a key or table defined twice, a table redefined as an array of tables, a header through a
 * value). It never throws.
 * test/unit/toml-fast.test.ts holds it to smol-toml's answer on generated documents.
 */

type Table = Record<string, unknown>;

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const HASH = 0x23;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const EQUALS = 0x3d;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const BACKSLASH = 0x5c;
// Decimal integers of at most this many digits: far inside the range every reader keeps exact.
const MAX_DIGITS = 15;

function isBareKeyChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= ZERO && c <= NINE) ||
    c === 0x5f ||
    c === MINUS
  );
}

/**
 * A table as smol-toml makes one, without a prototype, but kept in V8's fast (hidden-class)
 * mode: Object.create(null) makes a dictionary-mode object, on which every later read of the
 * manifest is a hash lookup (measured: ~12% of verifying the 2 KB reference vector).
 */
function newTable(): Table {
  return Object.setPrototypeOf({}, null);
}

function isTable(value: unknown): value is Table {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// The scanners take a position and return the position after what they read, or -1 where the
// text leaves the subset. Plain functions over (text, position): V8 keeps both in registers.

function skipBlanks(text: string, at: number): number {
  let c = text.charCodeAt(at);
  while (c === SPACE || c === TAB) c = text.charCodeAt(++at);
  return at;
}

/** Past the end of a line (after optional blanks): a line break or the end of the text. */
function endOfLine(text: string, at: number): number {
  at = skipBlanks(text, at);
  if (at >= text.length) return at;
  const c = text.charCodeAt(at);
  if (c === LF) return at + 1;
  if (c === CR && text.charCodeAt(at + 1) === LF) return at + 2;
  return -1;
}

/** Blanks and line breaks, inside an array; -1 on a comment or a bare CR. */
function skipBlankLines(text: string, at: number): number {
  for (;;) {
    at = skipBlanks(text, at);
    const c = text.charCodeAt(at);
    if (c === LF) at++;
    else if (c === CR && text.charCodeAt(at + 1) === LF) at += 2;
    else return c === HASH || c === CR ? -1 : at;
  }
}

function bareKeyEnd(text: string, at: number): number {
  while (isBareKeyChar(text.charCodeAt(at))) at++;
  return at;
}

/** A value must be followed by a blank, a line break, a comma or `]` (or end the text). */
function valueEnds(text: string, at: number): boolean {
  if (at >= text.length) return true;
  const c = text.charCodeAt(at);
  return c === SPACE || c === TAB || c === LF || c === CR || c === COMMA || c === CLOSE;
}

// What the last scalar or value scanned was (scanners return positions), and whether integers
// are read as numbers (all are safe integers) instead of BigInt: set per parse.
let scanned: unknown;
let integersAsNumbers = false;

function scanScalar(text: string, at: number): number {
  const c = text.charCodeAt(at);
  if (c === QUOTE) {
    const start = ++at;
    for (;;) {
      const d = text.charCodeAt(at);
      if (d === QUOTE) break;
      // Control characters (tab included), escapes and the end of the text leave the subset.
      if (d < SPACE || d === 0x7f || d === BACKSLASH || at >= text.length) return -1;
      at++;
    }
    scanned = text.slice(start, at++);
    return valueEnds(text, at) ? at : -1;
  }
  if (c === 0x74 /* t */ && text.startsWith("true", at)) {
    scanned = true;
    return valueEnds(text, at + 4) ? at + 4 : -1;
  }
  if (c === 0x66 /* f */ && text.startsWith("false", at)) {
    scanned = false;
    return valueEnds(text, at + 5) ? at + 5 : -1;
  }
  const start = at;
  if (c === MINUS) at++;
  const first = text.charCodeAt(at);
  if (!(first >= ZERO && first <= NINE)) return -1; // NaN at the end of the text too
  // No leading zeros (and no -0): 0 alone, or a digit 1-9 and more digits.
  if (first === ZERO) {
    if (c === MINUS) return -1;
    at++;
  } else {
    let d = first;
    while (d >= ZERO && d <= NINE) d = text.charCodeAt(++at);
  }
  if (at - start > MAX_DIGITS || !valueEnds(text, at)) return -1;
  const digits = text.slice(start, at);
  scanned = integersAsNumbers ? Number(digits) : BigInt(digits);
  return at;
}

function scanValue(text: string, at: number): number {
  if (text.charCodeAt(at) !== OPEN) return scanScalar(text, at);
  at++;
  const items: unknown[] = [];
  for (;;) {
    at = skipBlankLines(text, at);
    if (at < 0) return -1;
    if (text.charCodeAt(at) === CLOSE) break;
    at = scanScalar(text, at);
    if (at < 0) return -1;
    items.push(scanned);
    at = skipBlankLines(text, at);
    if (at < 0) return -1;
    const c = text.charCodeAt(at);
    if (c === CLOSE) break;
    if (c !== COMMA) return -1;
    at++;
  }
  scanned = items;
  return valueEnds(text, at + 1) ? at + 1 : -1;
}

/**
 * The document as smol-toml's `parse(text, { integersAsBigInt: true })` returns it, or with
 * `integersAsNumbers` as its `parse(text)` does (every integer here is a safe one); undefined to
 * let smol-toml parse it.
 */
export function parseTomlFast(
  text: string,
  options: { readonly integersAsNumbers?: boolean } = {},
): Table | undefined {
  integersAsNumbers = options.integersAsNumbers === true;
  const root = newTable();
  // Tables a header created on its way to another ([a.b] creates a), which one later header
  // may still define. Every other table was defined by its own header, once. (An array of
  // tables holds only tables and a value array none, so its first item tells them apart.)
  const implicit = new Set<Table>();
  const length = text.length;
  let table = root;
  let at = 0;
  while (at < length) {
    at = skipBlanks(text, at);
    if (at >= length) break;
    const c = text.charCodeAt(at);
    if (c === LF || c === CR) {
      at = endOfLine(text, at);
      if (at < 0) return undefined;
      continue;
    }
    if (c === HASH) {
      // A comment of printable ASCII to the end of the line.
      for (at++; at < length; at++) {
        const d = text.charCodeAt(at);
        if (d === LF || d === CR) break;
        if (d < SPACE || d > 0x7e) return undefined;
      }
      at = endOfLine(text, at);
      if (at < 0) return undefined;
      continue;
    }
    if (c === OPEN) {
      const isArray = text.charCodeAt(at + 1) === OPEN;
      at += isArray ? 2 : 1;
      // Walked while read: a header that turns out malformed abandons the whole parse.
      let parent = root;
      let last: string;
      for (;;) {
        const end = bareKeyEnd(text, at);
        if (end === at) return undefined;
        const key = text.slice(at, end);
        if (key === "__proto__") return undefined;
        at = end;
        if (text.charCodeAt(at) !== DOT) {
          last = key;
          break;
        }
        at++;
        // Tables have no prototype and no value is undefined: a plain read is an own-key test.
        const existing = parent[key];
        if (existing === undefined) {
          const created = newTable();
          implicit.add(created);
          parent[key] = created;
          parent = created;
        } else if (isTable(existing)) {
          parent = existing;
        } else if (Array.isArray(existing) && isTable(existing[0])) {
          parent = existing[existing.length - 1] as Table;
        } else {
          return undefined;
        }
      }
      if (text.charCodeAt(at) !== CLOSE) return undefined;
      if (isArray && text.charCodeAt(at + 1) !== CLOSE) return undefined;
      at = endOfLine(text, at + (isArray ? 2 : 1));
      if (at < 0) return undefined;
      const existing = parent[last];
      if (isArray) {
        const element = newTable();
        if (existing === undefined) {
          parent[last] = [element];
        } else if (Array.isArray(existing) && isTable(existing[0])) {
          existing.push(element);
        } else {
          return undefined;
        }
        table = element;
      } else if (existing === undefined) {
        table = newTable();
        parent[last] = table;
      } else if (isTable(existing) && implicit.delete(existing)) {
        table = existing;
      } else {
        return undefined;
      }
      continue;
    }
    const keyEnd = bareKeyEnd(text, at);
    if (keyEnd === at) return undefined;
    const key = text.slice(at, keyEnd);
    at = skipBlanks(text, keyEnd);
    if (text.charCodeAt(at) !== EQUALS) return undefined;
    at = scanValue(text, skipBlanks(text, at + 1));
    if (at < 0 || key === "__proto__" || table[key] !== undefined) return undefined;
    table[key] = scanned;
    at = endOfLine(text, at);
    if (at < 0) return undefined;
  }
  return root;
}
