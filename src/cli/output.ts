/** Writes a command's result: JSON (pretty, newline-terminated) or text lines. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** `key=value` pairs as the reference CLI prints them. */
export function kv(prefix: string, fields: Record<string, string | number | boolean>): string {
  return [prefix, ...Object.entries(fields).map(([k, v]) => `${k}=${v}`)].join(" ");
}

/** Object keys sorted recursively, as the reference prints json!-built documents. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
