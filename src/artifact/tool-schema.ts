import { hash } from "node:crypto";
import { createRequire } from "node:module";
import type { Ajv, Options } from "ajv";
import type { JsonValue } from "./manifest.ts";

/*
 * Each tool's input_schema/output_schema must compile as a JSON Schema. Schemas come from
 * untrusted artifacts, so they are bounded in size and depth before Ajv sees them, compiled
 * by a fresh Ajv instance each (no `$id` registered by one artifact can leak into another),
 * never fetch remote references, and the verdicts are cached by content (the same artifact
 * is verified over and over).
 *
 * Ajv is loaded only when a schema needs it: loading it costs a process 20-35 ms and ~14 MiB,
 * and a one-shot `palyra-skill verify` would spend that on schemas as plain as most tools
 * declare. A schema made only of the keywords in PLAIN (draft-07, the default, with values of
 * the types its meta-schema demands; see plainSchema) is one every Ajv compiles: it is accepted
 * without Ajv. Anything else, valid or not, is compiled, so every rejection and its message
 * still comes from Ajv.
 */
const MAX_SCHEMA_BYTES = 64 * 1024;
const MAX_SCHEMA_DEPTH = 32;
const CACHE_LIMIT = 512;
const AJV_OPTIONS: Options = { strict: false, validateFormats: false, allErrors: false };

/**
 * Verdicts by the schema's JSON text, or by its SHA-256 when the text is longer than
 * HASHED_ABOVE (a cache of large keys would hold up to 32 MiB; hashing a small one costs more
 * than the lookup it serves). A SHA-256 in base64 ends with `=`, a JSON text never does. The
 * text keeps the schema's key order: Ajv reports the first problem it meets, so the same keywords
 * in another order may be refused with another message.
 */
const verdicts = new Map<string, string | undefined>();
const HASHED_ABOVE = 1024;

function depthOf(value: unknown, depth = 0): number {
  if (depth > MAX_SCHEMA_DEPTH || typeof value !== "object" || value === null) return depth;
  let deepest = depth;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child, depth + 1));
  return deepest;
}

/**
 * Ajv is CommonJS: required when a schema needs it (checking stays synchronous), each draft's
 * class only when a schema declares that draft. Node caches the modules after the first time.
 */
let require: NodeJS.Require | undefined;

/** The validator for the draft the schema declares (draft-07 when it declares none). */
function ajvFor(schema: JsonValue): Ajv {
  require ??= createRequire(import.meta.url);
  const declared =
    typeof schema === "object" && schema !== null && !Array.isArray(schema)
      ? schema.$schema
      : undefined;
  if (typeof declared === "string" && declared.includes("2020-12")) {
    const { Ajv2020 } = require("ajv/dist/2020.js") as typeof import("ajv/dist/2020.js");
    return new Ajv2020(AJV_OPTIONS);
  }
  if (typeof declared === "string" && declared.includes("2019-09")) {
    const { Ajv2019 } = require("ajv/dist/2019.js") as typeof import("ajv/dist/2019.js");
    return new Ajv2019(AJV_OPTIONS);
  }
  const { Ajv } = require("ajv") as typeof import("ajv");
  return new Ajv(AJV_OPTIONS);
}

const SIMPLE_TYPES = new Set(["array", "boolean", "integer", "null", "number", "object", "string"]);
const DRAFT_07 = new Set([
  "http://json-schema.org/draft-07/schema#",
  "http://json-schema.org/draft-07/schema",
]);

/** An object as JSON and TOML make them (Ajv also reads keys an object inherits). */
const isRecord = (value: unknown): value is Record<string, JsonValue> => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
};
const isNumber = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value);
const isCount = (value: unknown) => isNumber(value) && Number.isInteger(value) && value >= 0;
const isString = (value: unknown) => typeof value === "string";
const isBoolean = (value: unknown) => typeof value === "boolean";
const distinct = (values: readonly unknown[]) => new Set(values).size === values.length;
const isTypeName = (value: unknown) => typeof value === "string" && SIMPLE_TYPES.has(value);
const isPrimitive = (value: unknown) =>
  value === null || isString(value) || isBoolean(value) || isNumber(value);

/**
 * The keywords a plain schema may use, each with what its value must be: what draft-07's
 * meta-schema asks of it, or narrower. None of them can make Ajv's compilation fail otherwise
 * (no references, identifiers or regular expressions; formats are not validated).
 */
const PLAIN: Record<string, (value: JsonValue) => boolean> = {
  type: (v) =>
    isTypeName(v) || (Array.isArray(v) && v.length > 0 && v.every(isTypeName) && distinct(v)),
  title: isString,
  description: isString,
  $comment: isString,
  format: isString,
  default: () => true,
  const: () => true,
  examples: Array.isArray,
  readOnly: isBoolean,
  uniqueItems: isBoolean,
  enum: (v) => Array.isArray(v) && v.length > 0 && v.every(isPrimitive) && distinct(v),
  required: (v) => Array.isArray(v) && v.every(isString) && distinct(v),
  minimum: isNumber,
  maximum: isNumber,
  exclusiveMinimum: isNumber,
  exclusiveMaximum: isNumber,
  multipleOf: (v) => isNumber(v) && v > 0,
  minLength: isCount,
  maxLength: isCount,
  minItems: isCount,
  maxItems: isCount,
  minProperties: isCount,
  maxProperties: isCount,
  properties: (v) => isRecord(v) && Object.values(v).every((s) => plainSchema(s)),
  items: (v) => plainSchema(v),
  additionalProperties: (v) => plainSchema(v),
};

/** Whether the schema is made only of PLAIN keywords (`$schema` only at the top, draft-07). */
export function plainSchema(schema: JsonValue, top = false): boolean {
  if (typeof schema === "boolean") return true;
  if (!isRecord(schema)) return false;
  for (const key of Object.keys(schema)) {
    const value = schema[key] as JsonValue;
    if (key === "$schema" && top && typeof value === "string" && DRAFT_07.has(value)) continue;
    const check = Object.hasOwn(PLAIN, key) ? PLAIN[key] : undefined;
    if (check === undefined || !check(value)) return false;
  }
  return true;
}

/** Returns why the schema does not compile, or undefined when it does. */
export function checkToolSchema(schema: JsonValue): string | undefined {
  const text = JSON.stringify(schema);
  // JSON text writes Infinity and NaN (TOML's inf and nan) as null: such a schema's text is not
  // its key (`minimum = inf` compiles, `"minimum": null` does not), so it is never cached.
  const cacheable = !text.includes("null") || finiteNumbersOnly(schema);
  const key = text.length > HASHED_ABOVE ? hash("sha256", text, "base64") : text;
  if (cacheable && verdicts.has(key)) return verdicts.get(key);
  let verdict: string | undefined;
  if (text.length > MAX_SCHEMA_BYTES) verdict = `schema is larger than ${MAX_SCHEMA_BYTES} bytes`;
  else if (depthOf(schema) > MAX_SCHEMA_DEPTH)
    verdict = `schema nests deeper than ${MAX_SCHEMA_DEPTH} levels`;
  else if (!plainSchema(schema, true)) {
    try {
      ajvFor(schema).compile(schema as object);
    } catch (error) {
      verdict = (error as Error).message;
    }
  }
  if (!cacheable) return verdict;
  // The oldest verdict makes room (a Map iterates in insertion order).
  if (verdicts.size >= CACHE_LIMIT) verdicts.delete(verdicts.keys().next().value as string);
  verdicts.set(key, verdict);
  return verdict;
}

function finiteNumbersOnly(value: unknown, depth = 0): boolean {
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object" || value === null) return true;
  // Deeper than the limit is refused whatever its numbers; stop walking there.
  if (depth > MAX_SCHEMA_DEPTH) return true;
  return Object.values(value).every((v) => finiteNumbersOnly(v, depth + 1));
}
