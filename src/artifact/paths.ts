import { SkillError } from "./errors.ts";
import { rustTrim } from "./trim.ts";

/**
 * Normalises an archive entry path as the spec says and rejects unsafe ones:
 * trim, `\` -> `/`, then no empty path, no leading `/`, no NUL or `:`, no empty/`.`/`..` segment.
 */
export function normalizeEntryPath(raw: string): string {
  return isNormalPath(raw) ? raw : checkEntryPath(raw);
}

/** The rule itself, for any path; normalizeEntryPath skips it for paths already normal. */
export function checkEntryPath(raw: string): string {
  const path = rustTrim(raw).replaceAll("\\", "/");
  const reject = (why: string): never => {
    throw new SkillError("INVALID_ENTRY_PATH", `entry path ${JSON.stringify(raw)} ${why}`, raw);
  };
  if (path.length === 0) reject("is empty");
  if (path.startsWith("/")) reject("is absolute");
  if (path.includes("\0")) reject("contains NUL");
  if (path.includes(":")) reject("contains ':'");
  for (const segment of path.split("/")) {
    if (segment === "" || segment === "." || segment === "..") {
      reject(`has an empty, '.' or '..' segment`);
    }
  }
  return path;
}

/**
 * Whether normalizeEntryPath would return the path unchanged, checked in one pass: printable
 * ASCII other than space, `\` and `:` (so nothing to trim or convert, no NUL), and non-empty
 * segments other than `.` and `..` (so not absolute either). Anything else takes the full path.
 */
function isNormalPath(path: string): boolean {
  const length = path.length;
  let segment = 0;
  for (let i = 0; i <= length; i++) {
    const c = i < length ? path.charCodeAt(i) : 0x2f;
    if (c === 0x2f /* / */) {
      const size = i - segment;
      if (size === 0) return false;
      if (size <= 2 && path.charCodeAt(segment) === 0x2e /* . */) {
        if (size === 1 || path.charCodeAt(segment + 1) === 0x2e) return false;
      }
      segment = i + 1;
    } else if (c <= 0x20 || c >= 0x7f || c === 0x5c /* \ */ || c === 0x3a /* : */) {
      return false;
    }
  }
  return true;
}

/** Byte-wise ascending order of the UTF-8 encodings, as the payload hash requires. */
export function compareUtf8(a: string, b: string): number {
  // UTF-16 code-unit order equals UTF-8 byte order unless a surrogate pair is involved.
  if (!HAS_SURROGATE.test(a) && !HAS_SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

const HAS_SURROGATE = /[\uD800-\uDFFF]/;

/** Whether UTF-16 order could differ from UTF-8 byte order for this string (see compareUtf8). */
export function hasSurrogate(value: string): boolean {
  return HAS_SURROGATE.test(value);
}
