/**
 * The manifest's structure validator is generated ahead of time
 * (src/artifact/generated/manifest-structure.validator.js, scripts/gen-manifest-validator.ts).
 * It must be what the generator makes of the schema now, and judge every document as a
 * validator Ajv compiles from the schema at run time does: the same verdict, the same errors
 * (what manifest.ts turns into messages) and the same defaults filled in. Checked on every
 * manifest in the test vectors and examples, and on generated mutations of them (fields
 * removed, added, and given values of other types and unknown variants).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { Ajv, type ValidateFunction } from "ajv";
import fc from "fast-check";
import { parse } from "smol-toml";
import {
  generate,
  OUTPUT,
  OUTPUT_TYPES,
  STRUCTURE_OPTIONS,
} from "../../scripts/gen-manifest-validator.ts";
import { validate as generated } from "../../src/artifact/generated/manifest-structure.validator.js";
import { MANIFEST_SCHEMA } from "../../src/artifact/manifest-schema.ts";
import { readArchive } from "../../src/artifact/zip-reader.ts";
import { PROPERTY_TIMEOUT, runs } from "../support/fuzz.ts";

const compiled: ValidateFunction = new Ajv(STRUCTURE_OPTIONS).compile(MANIFEST_SCHEMA);

test("the generated validator is what the generator makes of the schema now", () => {
  const { code, types } = generate();
  assert.equal(readFileSync(OUTPUT, "utf8"), code, "run: node scripts/gen-manifest-validator.ts");
  assert.equal(
    readFileSync(OUTPUT_TYPES, "utf8"),
    types,
    "run: node scripts/gen-manifest-validator.ts",
  );
});

test("manifest.ts validates with the generated module, not Ajv's compiler", () => {
  const source = readFileSync(new URL("../../src/artifact/manifest.ts", import.meta.url), "utf8");
  assert.match(source, /from "\.\/generated\/manifest-structure\.validator\.js"/);
  assert.doesNotMatch(source, /^import \{[^}]*\bAjv\b/m);
  assert.doesNotMatch(source, /\.compile\(/);
});

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every skill.toml of the test vectors and examples, as the TOML parser gives it. */
function seeds(): Record<string, Json>[] {
  const documents: Record<string, Json>[] = [];
  for (const dir of ["../vectors/reference/", "../vectors/independent/"]) {
    const url = new URL(dir, import.meta.url);
    for (const name of readdirSync(url).filter((n) => n.endsWith(".palyra-skill"))) {
      const entry = readArchive(readFileSync(new URL(name, url))).find(
        (e) => e.path === "skill.toml",
      );
      if (entry) documents.push(parse(entry.data.toString("utf8")) as Record<string, Json>);
    }
  }
  const examples = new URL("../../examples/", import.meta.url);
  for (const example of readdirSync(examples, { withFileTypes: true })) {
    if (!example.isDirectory()) continue;
    try {
      const text = readFileSync(new URL(`${example.name}/skill.toml`, examples), "utf8");
      documents.push(parse(text) as Record<string, Json>);
    } catch {}
  }
  return documents;
}

const SEEDS = seeds();

/** Runs both validators on copies; asserts the same verdict, errors and filled-in document. */
function agree(document: Json, label: string): boolean {
  const a = structuredClone(document);
  const b = structuredClone(document);
  const verdict = generated(a);
  assert.equal(verdict, compiled(b), label);
  assert.deepStrictEqual(generated.errors ?? null, compiled.errors ?? null, label);
  assert.deepStrictEqual(a, b, label);
  return verdict;
}

test("every manifest of the vectors and examples: the same verdict, errors and defaults", () => {
  assert.ok(SEEDS.length >= 10, `${SEEDS.length} manifests`);
  let valid = 0;
  for (const [i, document] of SEEDS.entries()) if (agree(document, `seed ${i}`)) valid++;
  assert.ok(valid > 0, "some are structurally valid");
  assert.equal(agree({}, "empty"), false);
  assert.equal(agree([], "an array"), false);
  assert.equal(agree(null, "null"), false);
});

/** The paths to every value in a document (the root excluded). */
function pathsOf(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== "object" || value === null) return [];
  const entries: [string | number, Json][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value);
  return entries.flatMap(([key, child]) => [[...prefix, key], ...pathsOf(child, [...prefix, key])]);
}

type Mutation =
  | { kind: "delete" }
  | { kind: "replace"; value: Json }
  | { kind: "add"; key: string; value: Json };

/** Values of every type, and of the edges the schema draws (u32 bounds, floats, variants). */
const replacement: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    4294967295,
    4294967296,
    Number.MAX_SAFE_INTEGER,
    "",
    "x",
    "http_host",
    "secret",
    "memory_provider",
    "string_list",
    "privileged",
    "unknown_variant",
    [],
    {},
    ["a"],
    [1],
    { a: 1 },
  ),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({ kind: "delete" }),
  replacement.map((value): Mutation => ({ kind: "replace", value })),
  fc
    .tuple(
      fc.oneof(fc.constantFrom("extra", "risk", "default", "class", "kind"), fc.string()),
      replacement,
    )
    .map(([key, value]): Mutation => ({ kind: "add", key, value })),
);

function mutate(document: Json, path: (string | number)[], change: Mutation): Json {
  const copy = structuredClone(document);
  let parent = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const last = path.at(-1) as string | number;
  if (change.kind === "replace") parent[last] = change.value;
  else if (change.kind === "delete") {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else {
    const target = parent[last];
    if (typeof target === "object" && target !== null && !Array.isArray(target)) {
      target[change.key] = change.value;
    } else if (Array.isArray(target)) target.push(change.value);
    else parent[last] = change.value;
  }
  return copy;
}

test("mutated manifests: the same verdict, errors and defaults", PROPERTY_TIMEOUT, () => {
  let invalid = 0;
  const seedAndPaths = fc.nat({ max: SEEDS.length - 1 }).chain((i) => {
    const seed = SEEDS[i] as Json;
    const paths = pathsOf(seed);
    return fc.tuple(
      fc.constant(seed),
      fc.array(fc.tuple(fc.constantFrom(...paths), mutation), { minLength: 1, maxLength: 3 }),
    );
  });
  fc.assert(
    fc.property(seedAndPaths, ([seed, changes]) => {
      let document = seed;
      for (const [path, change] of changes) {
        // A path may no longer exist once an earlier change removed or replaced its parent.
        if (!pathsOf(document).some((p) => p.join("\0") === path.join("\0"))) continue;
        document = mutate(document, path, change);
      }
      if (!agree(document, JSON.stringify(changes))) invalid++;
    }),
    { numRuns: runs(1500) },
  );
  assert.ok(invalid > 500, `${invalid} invalid documents generated`);
});
