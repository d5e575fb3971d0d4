/**
 * Tool schemas are checked without Ajv when they are plain (src/artifact/tool-schema.ts): that
 * must never accept a schema Ajv would refuse. Checked on generated schemas made of the plain
 * keywords with values of the right types and of the wrong ones, and of the keywords around them
 * (references, patterns, identifiers, other drafts); and Ajv is not loaded for the schemas the
 * test vectors declare.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { Ajv } from "ajv";
import { Ajv2019 } from "ajv/dist/2019.js";
import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { parseManifest } from "../../src/artifact/manifest.ts";
import { checkToolSchema, plainSchema } from "../../src/artifact/tool-schema.ts";
import { readArchive } from "../../src/artifact/zip-reader.ts";
import { PROPERTY_TIMEOUT, runs } from "../support/fuzz.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Ajv's verdict as tool-schema.ts asked it before plain schemas skipped it. */
function ajvVerdict(schema: Json): string | undefined {
  const declared =
    typeof schema === "object" && schema !== null && !Array.isArray(schema)
      ? schema.$schema
      : undefined;
  const options = { strict: false, validateFormats: false, allErrors: false };
  const ajv =
    typeof declared === "string" && declared.includes("2020-12")
      ? new Ajv2020(options)
      : typeof declared === "string" && declared.includes("2019-09")
        ? new Ajv2019(options)
        : new Ajv(options);
  try {
    ajv.compile(schema as object);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Whether every object in the value is a plain one, as parsing makes them: verdicts are cached
 * by JSON text, which does not show keys an object inherits (fast-check makes such objects).
 */
function jsonLike(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return true;
  if (!Array.isArray(value)) {
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) return false;
  }
  return Object.values(value).every(jsonLike);
}

const anyValue = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -0, -1, 0.5, 1e300, -1e-300, 4294967296, "", "x"),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);
const typeName = fc.constantFrom(
  "array",
  "boolean",
  "integer",
  "null",
  "number",
  "object",
  "string",
);
const badTypeName = fc.constantFrom("int", "Object", "any", "", "float");
const propertyName = fc.oneof(
  fc.constantFrom("a", "b", "__proto__", "constructor", "toString", "$ref", "a'b", 'a"b', "a\\b"),
  fc.string({ unit: "binary", maxLength: 6 }),
);
const number = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1e300, 2 ** 53, 4294967295),
);

/** Schemas made of the plain keywords, mostly right, sometimes wrong, and of other keywords. */
const schema: fc.Arbitrary<Json> = fc.letrec<{ schema: Json; object: Json }>((tie) => ({
  schema: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.boolean(),
    tie("object"),
    tie("object"),
  ),
  object: fc
    .array(
      fc.oneof(
        fc.tuple(
          fc.constant("type"),
          fc.oneof(
            typeName,
            fc.array(typeName, { maxLength: 3 }),
            badTypeName,
            fc.array(fc.oneof(typeName, badTypeName), { maxLength: 3 }),
            anyValue,
          ),
        ),
        fc.tuple(
          fc.constantFrom("title", "description", "$comment", "format"),
          fc.oneof(fc.string(), anyValue),
        ),
        fc.tuple(fc.constantFrom("default", "const", "examples"), anyValue),
        fc.tuple(fc.constantFrom("readOnly", "uniqueItems"), fc.oneof(fc.boolean(), anyValue)),
        fc.tuple(
          fc.constant("enum"),
          fc.oneof(
            fc.array(fc.oneof(fc.string({ maxLength: 2 }), fc.integer({ min: 0, max: 3 })), {
              maxLength: 4,
            }),
            fc.array(anyValue, { maxLength: 3 }),
            anyValue,
          ),
        ),
        fc.tuple(
          fc.constant("required"),
          fc.oneof(fc.array(propertyName, { maxLength: 3 }), fc.array(anyValue, { maxLength: 2 })),
        ),
        fc.tuple(
          fc.constantFrom(
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
          ),
          fc.oneof(number, anyValue),
        ),
        fc.tuple(
          fc.constantFrom(
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
          ),
          fc.oneof(fc.nat(), number, anyValue),
        ),
        fc.tuple(
          fc.constant("properties"),
          fc.oneof(
            fc.dictionary(propertyName, tie("schema"), { maxKeys: 3 }),
            fc.array(tie("schema"), { maxLength: 1 }),
            anyValue,
          ),
        ),
        fc.tuple(
          fc.constantFrom("items", "additionalProperties"),
          fc.oneof(tie("schema"), anyValue),
        ),
        fc.tuple(
          fc.constantFrom("$schema", "$ref", "$id", "pattern", "allOf", "definitions", "$defs"),
          fc.oneof(
            fc.constantFrom(
              "http://json-schema.org/draft-07/schema#",
              "http://json-schema.org/draft-07/schema",
              "http://json-schema.org/draft-04/schema#",
              "https://json-schema.org/draft/2020-12/schema",
              "https://json-schema.org/draft/2019-09/schema",
              "#",
              "#/definitions/a",
              "(",
              "^a$",
            ),
            anyValue,
          ),
        ),
      ),
      { maxLength: 5 },
    )
    .map((entries) => Object.fromEntries(entries) as Json),
})).schema;

test("a plain schema is one Ajv compiles", PROPERTY_TIMEOUT, () => {
  let plain = 0;
  let refused = 0;
  fc.assert(
    fc.property(schema, (s) => {
      if (typeof s !== "object" || s === null || Array.isArray(s)) return;
      const verdict = ajvVerdict(s);
      if (verdict !== undefined) refused++;
      if (plainSchema(s, true)) {
        plain++;
        assert.equal(verdict, undefined, JSON.stringify(s));
      }
      if (jsonLike(s)) {
        assert.equal(checkToolSchema(s), verdict, JSON.stringify(s));
      }
    }),
    { numRuns: runs(500) },
  );
  assert.ok(plain > 50 && refused > 100, `${plain} plain, ${refused} refused`);
});

test("the edges of what is plain", () => {
  const cases: [Json, boolean][] = [
    [{}, true],
    [{ type: "object", properties: { a: { type: "string" } }, required: ["a"] }, true],
    [{ $schema: "http://json-schema.org/draft-07/schema#", type: "object" }, true],
    [{ properties: { a: { $schema: "http://json-schema.org/draft-07/schema#" } } }, false],
    [{ $schema: "https://json-schema.org/draft/2020-12/schema", type: "object" }, false],
    [{ $schema: "http://json-schema.org/draft-04/schema#", type: "object" }, false],
    [{ type: [] }, false],
    [{ type: ["string", "string"] }, false],
    [{ enum: [] }, false],
    [{ enum: [1, 1] }, false],
    [{ enum: [{}] }, false],
    [{ required: ["a", "a"] }, false],
    [{ minLength: -1 }, false],
    [{ minLength: 1.5 }, false],
    [{ multipleOf: 0 }, false],
    [{ minimum: Number.POSITIVE_INFINITY }, false],
    [{ items: [{}] }, false],
    [{ pattern: "a" }, false],
    [{ $ref: "#" }, false],
    [{ toString: "x" }, false],
    [JSON.parse('{ "properties": { "__proto__": { "type": "string" } } }'), true],
    [{ properties: { __proto__: { type: 12 } } }, false],
  ];
  for (const [s, expected] of cases) {
    assert.equal(plainSchema(s, true), expected, JSON.stringify(s));
    if (expected) assert.equal(ajvVerdict(s), undefined, JSON.stringify(s));
    if (jsonLike(s)) {
      assert.equal(checkToolSchema(s), ajvVerdict(s), JSON.stringify(s));
    }
  }
});

test("the vectors' tool schemas are plain: verifying them loads no Ajv", () => {
  const dir = new URL("../vectors/reference/", import.meta.url);
  const schemas: Json[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".palyra-skill"))) {
    const entry = readArchive(readFileSync(new URL(name, dir))).find(
      (e) => e.path === "skill.toml",
    );
    if (entry === undefined) continue;
    for (const tool of parseManifest(entry.data.toString("utf8")).entrypoints.tools) {
      schemas.push(tool.input_schema as Json, tool.output_schema as Json);
    }
  }
  assert.ok(schemas.length > 0);
  for (const s of schemas) assert.ok(plainSchema(s, true), JSON.stringify(s));

  const manifestModule = pathToFileURL(
    new URL("../../src/artifact/manifest.ts", import.meta.url).pathname,
  ).href;
  const probe = (schemaToml: string) =>
    spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { createRequire } from "node:module";
const { parseManifest } = await import(${JSON.stringify(manifestModule)});
parseManifest(${JSON.stringify(`skill_id = "acme.min"\nname = "Min"\nversion = "0.0.1"\npublisher = "acme"\n\n[[entrypoints.tools]]\nid = "acme.t"\nname = "t"\ndescription = "d"\n${schemaToml}\noutput_schema = {}\n\n[compat]\nrequired_protocol_major = 1\nmin_palyra_version = "0.1.0"\n`)});
const cache = createRequire(import.meta.url).cache;
console.log(Object.keys(cache).some((path) => path.includes("/node_modules/ajv/")));`,
      ],
      { encoding: "utf8" },
    );
  const plain = probe('input_schema = { type = "object", required = ["a"] }');
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(plain.stdout.trim(), "false", "a plain schema loads no Ajv");
  const other = probe('input_schema = { type = "string", pattern = "^a" }');
  assert.equal(other.status, 0, other.stderr);
  assert.equal(other.stdout.trim(), "true", "a schema with a pattern is compiled by Ajv");
});

test("a schema with inf or nan (TOML) is never answered from the verdict of its JSON text's twin", () => {
  // JSON.stringify writes Infinity and NaN as null: the two below share a text, not a verdict.
  for (const [invalid, valid] of [
    [{ minimum: null }, { minimum: Number.POSITIVE_INFINITY }],
    [{ maximum: null }, { maximum: Number.NaN }],
  ] as [Json, Json][]) {
    assert.match(checkToolSchema(invalid) ?? "", /must be number/);
    assert.equal(ajvVerdict(valid), undefined);
    assert.equal(checkToolSchema(valid), undefined, JSON.stringify(valid));
    // And the other way round: the valid one's verdict is not cached for the invalid one.
    assert.match(checkToolSchema(invalid) ?? "", /must be number/);
  }
});
