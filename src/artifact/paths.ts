import { SkillError } from "./errors.ts";
import { rustTrim } from "./trim.ts";

/**
 * Normalises an archive entry path as the spec says and rejects unsafe ones:
 * trim, `\` -> `/`, then no empty path, no leading `/`, no NUL or `:`, no empty/`.`/`..` segment.
 */
export function normalizeEntryPath(raw: string): string {
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

/** Byte-wise ascending order of the UTF-8 encodings, as the payload hash requires. */
export function compareUtf8(a: string, b: string): number {
  // UTF-16 code-unit order equals UTF-8 byte order unless a surrogate pair is involved.
  if (!HAS_SURROGATE.test(a) && !HAS_SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

const HAS_SURROGATE = /[\uD800-\uDFFF]/;
