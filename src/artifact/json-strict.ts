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

/**
 * Whether `text`, which JSON.parse turned into `value`, names a key twice in some object. Every
 * `:` outside a string separates one key from its value, and an object keeps each key it names
 * unless the key is named twice (and an object dropped with a repeated key's first value takes
 * its own keys with it), so the document names a key twice exactly when the parsed value has
 * fewer keys than the text has colons. A count instead of findDuplicateKey's walk, which then
 * runs only to say where.
 */
export function namesKeyTwice(text: string, value: unknown): boolean {
  let colons = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x3a /* : */) {
      colons++;
    }
  }
  return keyCount(value) !== colons;
}

/** Own keys of every object in `value`, at any depth (without recursion: nesting is untrusted). */
function keyCount(value: unknown): number {
  let count = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== "object" || next === null) continue;
    if (Array.isArray(next)) {
      for (const item of next) pending.push(item);
      continue;
    }
    // Own keys only (Object.keys), as JSON.parse creates them: nothing inherited is counted.
    const record = next as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      count++;
      pending.push(record[key]);
    }
  }
  return count;
}
