import { Ajv } from "ajv";
import type { JsonValue } from "./manifest.ts";

/*
 * Each tool's input_schema/output_schema must compile as a JSON Schema. Schemas come from
 * untrusted artifacts, so they are bounded in size and depth before Ajv sees them, and
 * compiled results are cached by content (the same artifact is verified over and over).
 */
const MAX_SCHEMA_BYTES = 64 * 1024;
const MAX_SCHEMA_DEPTH = 32;
const CACHE_LIMIT = 512;

const ajv = new Ajv({
  strict: false,
  validateFormats: false,
  allErrors: false,
  code: { optimize: false },
});
const verdicts = new Map<string, string | undefined>();

function depthOf(value: unknown, depth = 0): number {
  if (depth > MAX_SCHEMA_DEPTH || typeof value !== "object" || value === null) return depth;
  let deepest = depth;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child, depth + 1));
  return deepest;
}

/** Returns why the schema does not compile, or undefined when it does. */
export function checkToolSchema(schema: JsonValue): string | undefined {
  const text = JSON.stringify(schema);
  if (verdicts.has(text)) return verdicts.get(text);
  let verdict: string | undefined;
  if (text.length > MAX_SCHEMA_BYTES) verdict = `schema is larger than ${MAX_SCHEMA_BYTES} bytes`;
  else if (depthOf(schema) > MAX_SCHEMA_DEPTH)
    verdict = `schema nests deeper than ${MAX_SCHEMA_DEPTH} levels`;
  else {
    try {
      ajv.compile(schema as object);
      // Compiled validators are kept by Ajv keyed on the schema; drop them, we only needed the verdict.
      ajv.removeSchema(schema as object);
    } catch (error) {
      verdict = (error as Error).message;
    }
  }
  if (verdicts.size >= CACHE_LIMIT) verdicts.clear();
  verdicts.set(text, verdict);
  return verdict;
}
