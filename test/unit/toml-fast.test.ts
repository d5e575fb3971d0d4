/**
 * The manifest TOML fast path (src/artifact/toml-fast.ts) must be invisible: for every document
 * it accepts, smol-toml accepts it too and returns the same value (prototypes, BigInt integers
 * and key order included); everything else it leaves to smol-toml. Checked on every manifest in
 * the test vectors, on documents the project's TOML writer lays out, and on generated text made
 * of the subset's lines and of the lines around it (escapes, floats, dates, comments, dotted and
 * quoted keys, inline tables, redefinitions, odd white space and line ends).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { parse } from "smol-toml";
import { parseTomlFast } from "../../src/artifact/toml-fast.ts";
import { stringifyToml } from "../../src/artifact/toml-writer.ts";
import { readArchive } from "../../src/artifact/zip-reader.ts";
import { PROPERTY_TIMEOUT, runs } from "../support/fuzz.ts";

type Outcome = { accepted: false } | { accepted: true; value: unknown };

function smol(text: string): Outcome {
  try {
    return { accepted: true, value: parse(text, { integersAsBigInt: true }) };
  } catch {
    return { accepted: false };
  }
}

/**
 * Returns whether the fast path took the document; fails if it differs from smol-toml, with
 * integers as BigInt and, asked for numbers, with smol-toml's numbers.
 */
function agrees(text: string): boolean {
  const fast = parseTomlFast(text);
  const asNumbers = parseTomlFast(text, { integersAsNumbers: true });
  assert.equal(asNumbers === undefined, fast === undefined, text);
  if (fast === undefined) return false;
  const reference = smol(text);
  assert.ok(reference.accepted, `fast path accepted what smol-toml rejects:\n${text}`);
  assert.deepStrictEqual(fast, reference.value, text);
  assert.deepStrictEqual(asNumbers, parse(text), text);
  return true;
}

test("every manifest in the test vectors: the fast path takes the canonical ones, with smol-toml's value", () => {
  let taken = 0;
  let total = 0;
  for (const dir of ["../vectors/reference/", "../../../shared/vectors/reference/"]) {
    const url = new URL(dir, import.meta.url);
    let names: string[];
    try {
      names = readdirSync(url).filter((n) => n.endsWith(".palyra-skill"));
    } catch {
      continue;
    }
    for (const name of names) {
      const manifest = readArchive(readFileSync(new URL(name, url))).find(
        (e) => e.path === "skill.toml",
      );
      if (manifest === undefined) continue;
      total++;
      if (agrees(manifest.data.toString("utf8"))) taken++;
    }
  }
  assert.ok(total > 0 && taken === total, `${taken} of ${total} reference manifests taken`);
});

test("the corner cases the subset draws its lines on", () => {
  const cases: [string, boolean][] = [
    ["", true],
    ["a = 1", true],
    ["a = 1\r\nb = 2\r\n", true],
    ["a = 1\rb = 2", false],
    ["\ufeffa = 1", false],
    ["a = -0", false],
    ["a = 0", true],
    ["a = -7", true],
    ["a = 007", false],
    ["a = 1_000", false],
    ["a = 1.0", false],
    ["a = 1e3", false],
    ["a = 0x10", false],
    ["a = +1", false],
    ["a = 123456789012345", true],
    ["a = 1234567890123456", false],
    ["a = 1979-05-27", false],
    ["a = 07:32:00", false],
    ["a = 1\nab-de-f = 2", true],
    ['a = "x\\ty"', false],
    ['a = "x\ty"', false],
    ['a = "é ü \u2028 \ufeff"', true],
    ['a = """x"""', false],
    ["a = 'x'", false],
    ['a = "x" # c', false],
    ["# comment\na = 1", true],
    ["a = [\n  1,\n  2,\n]", true],
    ["a = [1,]", true],
    ["a = [,]", false],
    ["a = [[1]]", false],
    ["a = [1 # c\n]", false],
    ["a = {}", false],
    ["a.b = 1", false],
    ['"a" = 1', false],
    ["a = 1\na = 2", false],
    ["[a]\n[a]", false],
    ["[a.b]\n[a]", true],
    ["[a]\n[[a]]", false],
    ["[[a]]\n[a]", false],
    ["[[a.b]]\n[a]", true],
    ["[[a.b]]\n[[a]]", false],
    ["[[a]]\n[a.b]\n[[a]]\n[a.b]", true],
    ["[[a]]\n[a.b]\n[a.b]", false],
    ["a = 1\n[a.b]", false],
    ["[a]\nb = 1\n[a.b]", false],
    ["a = []\n[a.b]", false],
    ["a = []\n[[a]]", false],
    ["a = [1]\n[[a]]", false],
    ["[x]\nk = [1]\n[x.k.y]", false],
    ["[a.b.c]\n[a.b]\n[a]", true],
    ["[a.b]\n[a.b.c]\n[a]\n[a.b]", false],
    ["[a.b]\n[a]\n[a]", false],
    ["[[a.b]]\n[a.b.c]\n[[a.b]]\n[a.b.c]", true],
    ["[a.b]\n[a]\nb = 1", false],
    ["[ a ]", false],
    ["[a] ", true],
    ["[a] # c", false],
    ["[[a] ]", false],
    ["[a]]", false],
    ["[]", false],
    ["[a.]", false],
    ["__proto__ = 1", false],
    ["[__proto__]", false],
    ["constructor = 1\ntoString = 2", true],
    ["a = true\nb = false", true],
    ["a = trueish", false],
    ["a =", false],
    ["a = [", false],
    ['a = "', false],
    ["a = -", false],
  ];
  for (const [text, taken] of cases) {
    assert.equal(agrees(text), taken, JSON.stringify(text));
  }
});

const bareKey = fc.constantFrom("a", "b", "c", "x-y", "_1", "0", "Key");
const anyKey = fc.oneof(
  { weight: 6, arbitrary: bareKey },
  fc.constantFrom('"a"', "'b'", '"a.b"', "a.b", "a . b", " a", "__proto__", "constructor"),
);

const stringBody = fc.stringMatching(/^[a-z"\\\t\u00e9 #=[\]\r\n\u007f\u0085-]{0,6}$/);
const scalar = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc.constantFrom(
    "0",
    "-0",
    "007",
    "1_000",
    "1.5",
    "1e3",
    "0x1f",
    "+3",
    "inf",
    "nan",
    "true",
    "false",
    "truex",
    "1979-05-27",
    "07:32:00",
    "9007199254740993",
    "123456789012345",
  ),
  stringBody.map((s) => `"${s}"`),
  stringBody.map((s) => `'${s}'`),
  stringBody.map((s) => `"""${s}"""`),
);
const blank = fc.constantFrom("", " ", "  ", "\t");
const lineEnd = fc.constantFrom("\n", "\n", "\n", "\r\n", "\r", " \n", " # note\n", "\n\n");
const value = fc.oneof(
  { weight: 4, arbitrary: scalar },
  fc
    .tuple(fc.array(scalar, { maxLength: 3 }), fc.boolean(), fc.constantFrom(", ", ",", ",\n  "))
    .map(([items, trailing, sep]) => `[${items.join(sep)}${trailing ? "," : ""}]`),
  fc.constantFrom("[]", "[ ]", "[\n]", "[[1]]", "{}", "{ a = 1 }", "[1 2]", "[,]"),
);
const line = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.tuple(blank, anyKey, blank, value).map(([b, k, s, v]) => `${b}${k}${s}=${s}${v}`),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.boolean(), fc.array(bareKey, { minLength: 1, maxLength: 3 }), blank)
      .map(([array, path, b]) => (array ? `${b}[[${path.join(".")}]]` : `${b}[${path.join(".")}]`)),
  },
  fc.constantFrom("# comment", "#\tx", "", "   ", "[ a ]", "[[a] ]", "[a.]", "a.b.c = 1"),
);

test(
  "property: generated documents get smol-toml's answer from the fast path, or go to smol-toml",
  PROPERTY_TIMEOUT,
  () => {
    let taken = 0;
    let runsDone = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(line, lineEnd), { maxLength: 12 }),
        fc.constantFrom("", "\n", "\ufeff"),
        (lines, prefix) => {
          runsDone++;
          const text = prefix + lines.map(([l, end]) => l + end).join("");
          if (agrees(text)) taken++;
        },
      ),
      { numRuns: runs(6000) },
    );
    // The generator must exercise the fast path itself, not only the fallback.
    assert.ok(taken > runsDone / 20, `only ${taken} of ${runsDone} documents took the fast path`);
  },
);

test(
  "property: documents the project's TOML writer lays out take the fast path, with smol-toml's value",
  PROPERTY_TIMEOUT,
  () => {
    const key = fc.oneof({ weight: 5, arbitrary: bareKey }, fc.constantFrom("a b", "é", 'q"'));
    const leaf = fc.oneof(
      fc.integer({ min: -1e6, max: 1e6 }),
      fc.boolean(),
      fc.string({ maxLength: 8 }),
      fc.constantFrom("plain text", "tab\there", 'quote " here', "back\\slash"),
    );
    const { table } = fc.letrec<{ table: Record<string, unknown>; node: unknown }>((tie) => ({
      node: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        leaf,
        fc.array(leaf, { maxLength: 4 }),
        tie("table"),
        fc.array(tie("table"), { minLength: 1, maxLength: 2 }),
      ),
      table: fc.dictionary(key, tie("node"), { maxKeys: 4 }),
    }));
    let taken = 0;
    let runsDone = 0;
    fc.assert(
      fc.property(table, (document) => {
        runsDone++;
        let text: string;
        try {
          text = stringifyToml(document as never);
        } catch {
          return;
        }
        if (agrees(text)) taken++;
      }),
      { numRuns: runs(2000) },
    );
    assert.ok(
      taken > runsDone / 4,
      `only ${taken} of ${runsDone} written documents took the fast path`,
    );
  },
);

test(
  "property: documents of the subset's own lines: tables, arrays of tables and keys defined in any order",
  PROPERTY_TIMEOUT,
  () => {
    const canonical = fc.oneof(
      fc.integer({ min: -99, max: 99 }).map(String),
      fc.constantFrom("true", "false", '"s"', '"é"', "[]", '["a", 1]', "[\n  1,\n]"),
    );
    const subsetLine = fc.oneof(
      fc.tuple(bareKey, canonical).map(([k, v]) => `${k} = ${v}`),
      fc
        .tuple(
          fc.boolean(),
          fc.array(fc.constantFrom("a", "b", "c"), { minLength: 1, maxLength: 3 }),
        )
        .map(([array, path]) => (array ? `[[${path.join(".")}]]` : `[${path.join(".")}]`)),
    );
    let taken = 0;
    let runsDone = 0;
    fc.assert(
      fc.property(fc.array(subsetLine, { maxLength: 14 }), (lines) => {
        runsDone++;
        const text = lines.join("\n");
        const fast = agrees(text);
        if (fast) taken++;
        // Inside the subset, only what TOML forbids is left to smol-toml.
        else assert.equal(smol(text).accepted, false, text);
      }),
      { numRuns: runs(6000) },
    );
    assert.ok(taken > runsDone / 4, `only ${taken} of ${runsDone} documents took the fast path`);
  },
);
