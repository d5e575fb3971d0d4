/**
 * JSON.parse keeps the last of two equal keys; serde (the reference) rejects the document, and
 * another consumer may read the first. A signed document must have one reading, so the entries
 * the verifier reads are checked for a key named twice in any object, at any depth.
 * Runs on text that JSON.parse has already accepted, so it only tracks structure.
 */

/** The first key that an object names twice, with its path (e.g. `$.builder.id`), if any. */
export function findDuplicateKey(text: string): { path: string; key: string } | undefined {
  interface Frame {
    keys: Set<string> | undefined; // undefined: an array
    path: string;
    expectKey: boolean;
    lastKey: string;
  }
  const stack: Frame[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) {
          escaped = true;
          i += 2;
        } else if (d === 0x22) break;
        else i++;
      }
      i++;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        // Escapes are decoded so that "p\u0075blisher" and "publisher" are the same key.
        const key = escaped
          ? (JSON.parse(text.slice(start, i)) as string)
          : text.slice(start + 1, i - 1);
        if (top.keys.has(key)) return { path: top.path, key };
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parent = stack[stack.length - 1];
      const here = parent
        ? parent.keys
          ? `${parent.path}.${parent.lastKey}`
          : `${parent.path}[]`
        : "$";
      stack.push({
        keys: c === 0x7b ? new Set() : undefined,
        path: here,
        expectKey: true,
        lastKey: "",
      });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
    i++;
  }
  return undefined;
}
