import { Ajv, type Options } from "ajv";
import { Ajv2019 } from "ajv/dist/2019.js";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { JsonValue } from "./manifest.ts";

/*
 * Each tool's input_schema/output_schema must compile as a JSON Schema. Schemas come from
 * untrusted artifacts, so they are bounded in size and depth before Ajv sees them, compiled
 * by a fresh Ajv instance each (no `$id` registered by one artifact can leak into another),
 * never fetch remote references, and the verdicts are cached by content (the same artifact
 * is verified over and over).
 */
const MAX_SCHEMA_BYTES = 64 * 1024;
const MAX_SCHEMA_DEPTH = 32;
const CACHE_LIMIT = 512;
const AJV_OPTIONS: Options = { strict: false, validateFormats: false, allErrors: false };

const verdicts = new Map<string, string | undefined>();

function depthOf(value: unknown, depth = 0): number {
  if (depth > MAX_SCHEMA_DEPTH || typeof value !== "object" || value === null) return depth;
  let deepest = depth;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child, depth + 1));
  return deepest;
}

/** The validator for the draft the schema declares (draft-07 when it declares none). */
function ajvFor(schema: JsonValue): Ajv {
  const declared =
    typeof schema === "object" && schema !== null && !Array.isArray(schema)
      ? schema.$schema
      : undefined;
  if (typeof declared === "string" && declared.includes("2020-12")) return new Ajv2020(AJV_OPTIONS);
  if (typeof declared === "string" && declared.includes("2019-09")) return new Ajv2019(AJV_OPTIONS);
  return new Ajv(AJV_OPTIONS);
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
      ajvFor(schema).compile(schema as object);
    } catch (error) {
      verdict = (error as Error).message;
    }
  }
  if (verdicts.size >= CACHE_LIMIT) verdicts.clear();
  verdicts.set(text, verdict);
  return verdict;
}
