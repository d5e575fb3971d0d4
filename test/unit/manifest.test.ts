/**
 * skill.toml parsing and validation, table-driven: one valid base manifest (TOML text) and,
 * for every rule of the spec's "Manifest (skill.toml)" section and of the reference's
 * validation order (ref-notes §3.2), a passing and a failing variant. Also defaults,
 * warnings (§3.4) and runtime compatibility (§3.3).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { type ErrorCode, SkillError } from "../../src/artifact/errors.ts";
import {
  checkRuntimeCompatibility,
  collectManifestWarnings,
  parseManifest,
  type SkillManifest,
} from "../../src/artifact/manifest.ts";
import { readArchive } from "../../src/artifact/zip-reader.ts";
import { exampleFile } from "../support/fixtures.ts";

const VECTOR = new URL("../vectors/independent/ok.palyra-skill", import.meta.url);

// ---------------------------------------------------------------------------------------------
// The base manifest and how variants are made from it
// ---------------------------------------------------------------------------------------------

const INPUT_SCHEMA =
  'input_schema = { type = "object", properties = { text = { type = "string" } }, required = ["text"] }';
const OUTPUT_SCHEMA = 'output_schema = { type = "object" }';
const HOSTS = 'http_egress_allowlist = ["api.example.com"]';
const DEVICE = "device_capabilities = []";
const NODE = "node_capabilities = []";
const READ_ROOTS = 'read_roots = ["skills/data"]';
const WRITE_ROOTS = 'write_roots = ["skills/cache"]';
const SECRET_SCOPE = 'scope = "skill:acme.echo_http"';
const KEY_NAMES = 'key_names = ["api_token"]';
const TIMEOUT = "wall_clock_timeout_ms = 2000";
const FUEL = "fuel_budget = 5000000";
const MEMORY = "max_memory_bytes = 33554432";
const OPT_IN = {
  filesystem: "filesystem = false",
  http_egress: "http_egress = false",
  secrets: "secrets = false",
  device: "device = false",
  node: "node = false",
} as const;

const TOOL_BLOCK = `[[entrypoints.tools]]
id = "acme.echo"
name = "echo"
description = "Echo payload"
${INPUT_SCHEMA}
${OUTPUT_SCHEMA}
risk = { default_sensitive = false, requires_approval = false }
`;

const BASE = `manifest_version = 2
skill_id = "acme.echo_http"
name = "Echo HTTP"
version = "1.0.0"
publisher = "acme"

${TOOL_BLOCK}
[capabilities]
${HOSTS}
${DEVICE}
${NODE}

[capabilities.filesystem]
${READ_ROOTS}
${WRITE_ROOTS}

[[capabilities.secrets]]
${SECRET_SCOPE}
${KEY_NAMES}

[capabilities.quotas]
${TIMEOUT}
${FUEL}
${MEMORY}

[capabilities.wildcard_opt_in]
${OPT_IN.filesystem}
${OPT_IN.http_egress}
${OPT_IN.secrets}
${OPT_IN.device}
${OPT_IN.node}

[compat]
required_protocol_major = 1
min_palyra_version = "0.1.0"
`;

type Edit = readonly [from: string, to: string];

/** The base manifest with exact, unique substitutions applied and `tail` appended. */
function manifest(edits: readonly Edit[] = [], tail = ""): string {
  let text = BASE;
  for (const [from, to] of edits) {
    const count = text.split(from).length - 1;
    if (count !== 1) throw new Error(`edit ${JSON.stringify(from)} matches ${count} times`);
    text = text.replace(from, () => to);
  }
  return tail === "" ? text : `${text}\n${tail}\n`;
}

const v1 = (tail = "", edits: readonly Edit[] = []): string =>
  manifest([["manifest_version = 2", "manifest_version = 1"], ...edits], tail);
const withOperator = (body: string, edits: readonly Edit[] = []): string =>
  manifest(edits, `[operator]\n${body}`);
/** Operator section with a plugin table (a display name keeps warnings quiet). */
const withPlugin = (body: string, edits: readonly Edit[] = []): string =>
  manifest(edits, `[operator]\ndisplay_name = "Echo"\n\n[operator.plugin]\n${body}`);
const withConfig = (body: string, edits: readonly Edit[] = []): string =>
  manifest(edits, `[operator]\ndisplay_name = "Echo"\n\n[operator.config]\n${body}`);
const withBuilder = (overrides: Record<string, string> = {}, tail = ""): string => {
  const fields: Record<string, string> = {
    experimental: "true",
    source_kind: '"prompt"',
    source_ref: '"builder://session/42"',
    rollout_flag: '"skills.builder.v1"',
    review_status: '"pending"',
    capability_declaration_path: '"builder/capabilities.json"',
    provenance_path: '"builder/provenance.json"',
    test_harness_path: '"builder/tests.json"',
    review_notes: '"none"',
    ...overrides,
  };
  const line = (k: string) =>
    fields[k] === undefined || fields[k] === "" ? "" : `${k} = ${fields[k]}\n`;
  const top = ["experimental", "source_kind", "source_ref", "rollout_flag", "review_status"];
  const checklist = [
    "capability_declaration_path",
    "provenance_path",
    "test_harness_path",
    "review_notes",
  ];
  return manifest(
    [],
    `[builder]\n${top.map(line).join("")}\n[builder.checklist]\n${checklist.map(line).join("")}${tail}`,
  );
};
/** Replaces the secret's key_names (and optionally its scope). */
const secrets = (keyNames: string, scope = SECRET_SCOPE.slice(8)): Edit[] => [
  [SECRET_SCOPE, `scope = ${scope}`],
  [KEY_NAMES, `key_names = ${keyNames}`],
];
const optIn = (which: keyof typeof OPT_IN): Edit => [OPT_IN[which], `${which} = true`];

// ---------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------

interface Failure {
  code: ErrorCode;
  /** For MANIFEST_INVALID: the reference message after "manifest validation failed: ". */
  message?: string;
  /** Substring the message must contain (used for parse errors, path errors, schema errors). */
  includes?: string;
  field?: string;
}

const invalid = (message: string, field?: string): Failure =>
  field === undefined
    ? { code: "MANIFEST_INVALID", message }
    : { code: "MANIFEST_INVALID", message, field };
const parseFailure = (field: string): Failure => ({
  code: "MANIFEST_PARSE_ERROR",
  includes: field,
  field,
});
const pathFailure = (raw: string): Failure => ({ code: "INVALID_ENTRY_PATH", includes: raw });

function expectFailure(text: string, expected: Failure): SkillError {
  let caught: unknown;
  try {
    parseManifest(text);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected ${expected.code}, but the manifest was accepted`);
  assert.ok(caught instanceof SkillError, `expected SkillError, got ${String(caught)}`);
  assert.equal(caught.code, expected.code, caught.message);
  if (expected.message !== undefined) {
    assert.equal(caught.message, `manifest validation failed: ${expected.message}`);
  }
  if (expected.code === "MANIFEST_PARSE_ERROR") {
    assert.match(caught.message, /^manifest parse failed: /);
  }
  if (expected.includes !== undefined) {
    assert.ok(
      caught.message.includes(expected.includes),
      `message ${JSON.stringify(caught.message)} does not name ${JSON.stringify(expected.includes)}`,
    );
  }
  if (expected.field !== undefined) assert.equal(caught.field, expected.field);
  return caught;
}

/** smol-toml builds null-prototype objects; compare plain copies. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function expectValid(text: string): SkillManifest {
  try {
    return parseManifest(text);
  } catch (error) {
    assert.fail(`expected the manifest to be accepted, got ${(error as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The rule table: every row is one passing and one failing variant
// ---------------------------------------------------------------------------------------------

interface Rule {
  name: string;
  pass: string;
  fail: string;
  expect: Failure;
}

const rule = (name: string, pass: string, fail: string, expect: Failure): Rule => ({
  name,
  pass,
  fail,
  expect,
});

const RULES: Rule[] = [
  // ---- TOML syntax ----
  rule("TOML syntax errors are parse errors", BASE, `${BASE}\nbroken = `, {
    code: "MANIFEST_PARSE_ERROR",
    includes: "manifest parse failed: ",
  }),
  rule(
    "a key repeated in TOML is a parse error",
    BASE,
    manifest([['publisher = "acme"', 'publisher = "acme"\npublisher = "acme"']]),
    { code: "MANIFEST_PARSE_ERROR" },
  ),

  // ---- manifest_version (step 1) ----
  rule(
    "manifest_version 1 is accepted, 3 is not",
    v1(),
    manifest([["manifest_version = 2", "manifest_version = 3"]]),
    invalid("manifest_version must equal 1 or 2", "manifest_version"),
  ),
  rule(
    "manifest_version 0 is rejected",
    BASE,
    manifest([["manifest_version = 2", "manifest_version = 0"]]),
    invalid("manifest_version must equal 1 or 2", "manifest_version"),
  ),
  rule(
    "manifest_version must be an integer, not a string",
    BASE,
    manifest([["manifest_version = 2", 'manifest_version = "2"']]),
    parseFailure("manifest_version"),
  ),
  rule(
    "manifest_version is a u32 (negative is a type error)",
    BASE,
    manifest([["manifest_version = 2", "manifest_version = -1"]]),
    parseFailure("manifest_version"),
  ),
  rule(
    "manifest_version is a u32 (above 4294967295 is a type error)",
    BASE,
    manifest([["manifest_version = 2", "manifest_version = 4294967296"]]),
    parseFailure("manifest_version"),
  ),

  // ---- publisher: identifier (step 2) ----
  rule(
    "publisher must use [a-z0-9._-:]",
    manifest([
      ['publisher = "acme"', 'publisher = "ac-me_1.x:y"'],
      ['id = "acme.echo"', 'id = "ac-me_1.x:y.echo"'],
    ]),
    manifest([['publisher = "acme"', 'publisher = "Acme"']]),
    invalid("publisher must use [a-z0-9._-:]", "publisher"),
  ),
  rule(
    "publisher cannot be empty",
    BASE,
    manifest([['publisher = "acme"', 'publisher = ""']]),
    invalid("publisher cannot be empty", "publisher"),
  ),
  rule(
    "publisher is trimmed (Unicode White_Space incl. U+0085) but blank is empty",
    manifest([['publisher = "acme"', 'publisher = " \\u0085acme\\u00a0 "']]),
    manifest([['publisher = "acme"', 'publisher = " \\t "']]),
    invalid("publisher cannot be empty", "publisher"),
  ),
  rule(
    "publisher trimming does not strip U+FEFF (Rust trim)",
    manifest([['publisher = "acme"', 'publisher = "\\u2003acme"']]),
    manifest([['publisher = "acme"', 'publisher = "\\ufeffacme"']]),
    invalid("publisher must use [a-z0-9._-:]", "publisher"),
  ),
  rule(
    "publisher is required",
    BASE,
    manifest([['publisher = "acme"\n', ""]]),
    parseFailure("publisher"),
  ),

  // ---- skill_id (step 3) ----
  rule(
    "skill_id: a single segment and [a-z0-9_-] segments are fine; uppercase is not",
    manifest([['skill_id = "acme.echo_http"', 'skill_id = "my-org.echo_2"']]),
    manifest([['skill_id = "acme.echo_http"', 'skill_id = "Acme.echo"']]),
    invalid("skill_id must use [a-z0-9._-:]", "skill_id"),
  ),
  rule(
    "skill_id cannot be empty",
    manifest([['skill_id = "acme.echo_http"', 'skill_id = "echo"']]),
    manifest([['skill_id = "acme.echo_http"', 'skill_id = "  "']]),
    invalid("skill_id cannot be empty", "skill_id"),
  ),
  ...["acme..echo", ".acme", "acme.", ".", "acme:echo"].map((id) =>
    rule(
      `skill_id ${JSON.stringify(id)} needs non-empty dot-separated segments without ':'`,
      BASE,
      manifest([['skill_id = "acme.echo_http"', `skill_id = "${id}"`]]),
      invalid("skill_id must use non-empty dot-separated [a-z0-9_-] segments", "skill_id"),
    ),
  ),
  rule(
    "skill_id with a slash is not an identifier",
    BASE,
    manifest([['skill_id = "acme.echo_http"', 'skill_id = "acme/echo"']]),
    invalid("skill_id must use [a-z0-9._-:]", "skill_id"),
  ),
  rule(
    "skill_id is required",
    BASE,
    manifest([['skill_id = "acme.echo_http"\n', ""]]),
    parseFailure("skill_id"),
  ),

  // ---- version: semver (step 4) ----
  ...(
    [
      ["1.0", "version must use semantic version major.minor.patch"],
      ["1.0.0.0", "version must use semantic version major.minor.patch"],
      ["1.0.0-beta", "version patch invalid"],
      ["1.0.0+build", "version patch invalid"],
      ["v1.0.0", "version major invalid"],
      ["-1.0.0", "version major invalid"],
      ["+.0.0", "version major invalid"],
      ["1..0", "version minor invalid"],
      ["1.x.0", "version minor invalid"],
      ["1. 0.0", "version minor invalid"],
      ["4294967296.0.0", "version major invalid"],
      ["0.4294967296.0", "version minor invalid"],
      ["0.0.99999999999999999999", "version patch invalid"],
    ] as const
  ).map(([bad, message]) =>
    rule(
      `version ${JSON.stringify(bad)} is rejected`,
      BASE,
      manifest([['version = "1.0.0"', `version = "${bad}"`]]),
      invalid(message, "version"),
    ),
  ),
  ...["+1.0.0", "01.002.0003", "4294967295.4294967295.4294967295", " 1.0.0 ", "1.0.+0"].map(
    (good) =>
      rule(
        `version ${JSON.stringify(good)} is accepted (Rust u32: leading '+' and zeros, trimmed)`,
        manifest([['version = "1.0.0"', `version = "${good}"`]]),
        manifest([['version = "1.0.0"', 'version = ""']]),
        invalid("version must use semantic version major.minor.patch", "version"),
      ),
  ),
  rule(
    "version is a string",
    BASE,
    manifest([['version = "1.0.0"', "version = 1"]]),
    parseFailure("version"),
  ),

  // ---- compat (steps 5, 6) and aliases ----
  rule(
    "compat.min_palyra_version must be semver",
    manifest([['min_palyra_version = "0.1.0"', 'min_palyra_version = "00.01.00"']]),
    manifest([['min_palyra_version = "0.1.0"', 'min_palyra_version = "0.1"']]),
    invalid(
      "compat.min_palyra_version must use semantic version major.minor.patch",
      "compat.min_palyra_version",
    ),
  ),
  rule(
    "compat.min_palyra_version part errors name the part",
    BASE,
    manifest([['min_palyra_version = "0.1.0"', 'min_palyra_version = "0.a.0"']]),
    invalid("compat.min_palyra_version minor invalid", "compat.min_palyra_version"),
  ),
  rule(
    "compat.max_palyra_version must be semver",
    manifest([
      [
        'min_palyra_version = "0.1.0"',
        'min_palyra_version = "0.1.0"\nmax_palyra_version = "0.9.9"',
      ],
    ]),
    manifest([
      [
        'min_palyra_version = "0.1.0"',
        'min_palyra_version = "0.1.0"\nmax_palyra_version = "0.9.x"',
      ],
    ]),
    invalid("compat.max_palyra_version patch invalid", "compat.max_palyra_version"),
  ),
  rule(
    "compat.max_palyra_version >= min (equal is fine; compared numerically)",
    manifest([
      [
        'min_palyra_version = "0.1.0"',
        'min_palyra_version = "0.9.0"\nmax_palyra_version = "0.10.0"',
      ],
    ]),
    manifest([
      [
        'min_palyra_version = "0.1.0"',
        'min_palyra_version = "0.10.0"\nmax_palyra_version = "0.9.0"',
      ],
    ]),
    invalid(
      "compat.max_palyra_version must be greater than or equal to compat.min_palyra_version",
      "compat.max_palyra_version",
    ),
  ),
  rule(
    "compat.max_palyra_version equal to min passes, one patch below fails",
    manifest([
      [
        'min_palyra_version = "0.1.0"',
        'min_palyra_version = "0.1.0"\nmax_palyra_version = "0.1.0"',
      ],
    ]),
    manifest([
      [
        'min_palyra_version = "0.1.0"',
        'min_palyra_version = "0.1.1"\nmax_palyra_version = "0.1.0"',
      ],
    ]),
    invalid(
      "compat.max_palyra_version must be greater than or equal to compat.min_palyra_version",
      "compat.max_palyra_version",
    ),
  ),
  rule(
    "compat alias min_protocol_major is accepted; giving both names is a duplicate",
    manifest([["required_protocol_major = 1", "min_protocol_major = 1"]]),
    manifest([
      ["required_protocol_major = 1", "required_protocol_major = 1\nmin_protocol_major = 1"],
    ]),
    {
      code: "MANIFEST_PARSE_ERROR",
      includes: "compat.required_protocol_major",
      field: "compat.required_protocol_major",
    },
  ),
  rule(
    "compat alias min_runtime_version is accepted; giving both names is a duplicate",
    manifest([['min_palyra_version = "0.1.0"', 'min_runtime_version = "0.1.0"']]),
    manifest([
      [
        'min_palyra_version = "0.1.0"',
        'min_palyra_version = "0.1.0"\nmin_runtime_version = "0.1.0"',
      ],
    ]),
    {
      code: "MANIFEST_PARSE_ERROR",
      includes: "compat.min_palyra_version",
      field: "compat.min_palyra_version",
    },
  ),
  rule(
    "compat alias values are validated like the real field",
    manifest([['min_palyra_version = "0.1.0"', 'min_runtime_version = "0.0.1"']]),
    manifest([['min_palyra_version = "0.1.0"', 'min_runtime_version = "x"']]),
    invalid(
      "compat.min_palyra_version must use semantic version major.minor.patch",
      "compat.min_palyra_version",
    ),
  ),
  rule(
    "compat.required_protocol_major is required",
    BASE,
    manifest([["required_protocol_major = 1\n", ""]]),
    parseFailure("compat.required_protocol_major"),
  ),
  rule(
    "compat.min_palyra_version is required",
    BASE,
    manifest([['min_palyra_version = "0.1.0"\n', ""]]),
    parseFailure("compat.min_palyra_version"),
  ),
  rule(
    "compat.required_protocol_major is an integer",
    manifest([["required_protocol_major = 1", "required_protocol_major = 0"]]),
    manifest([["required_protocol_major = 1", 'required_protocol_major = "1"']]),
    parseFailure("compat.required_protocol_major"),
  ),
  rule(
    "the compat table is required",
    BASE,
    manifest([['[compat]\nrequired_protocol_major = 1\nmin_palyra_version = "0.1.0"\n', ""]]),
    parseFailure("compat"),
  ),

  // ---- name (step 7) ----
  rule(
    "name cannot be blank",
    manifest([['name = "Echo HTTP"', 'name = " x "']]),
    manifest([['name = "Echo HTTP"', 'name = " \\t "']]),
    invalid("name cannot be empty", "name"),
  ),
  rule(
    "name is a string",
    BASE,
    manifest([['name = "Echo HTTP"', "name = 5"]]),
    parseFailure("name"),
  ),
  rule("name is required", BASE, manifest([['name = "Echo HTTP"\n', ""]]), parseFailure("name")),

  // ---- tools (steps 8, 9) ----
  rule(
    "entrypoints.tools cannot be empty",
    BASE,
    manifest([[TOOL_BLOCK, "[entrypoints]\ntools = []\n"]]),
    invalid("entrypoints.tools cannot be empty", "entrypoints.tools"),
  ),
  rule(
    "entrypoints.tools is required",
    BASE,
    manifest([[TOOL_BLOCK, "[entrypoints]\n"]]),
    parseFailure("entrypoints.tools"),
  ),
  rule("entrypoints is required", BASE, manifest([[TOOL_BLOCK, ""]]), parseFailure("entrypoints")),
  rule(
    "tool id is an identifier",
    BASE,
    manifest([['id = "acme.echo"', 'id = "acme.Echo"']]),
    invalid("entrypoints.tools[].id must use [a-z0-9._-:]"),
  ),
  rule(
    "tool id cannot be empty",
    BASE,
    manifest([['id = "acme.echo"', 'id = ""']]),
    invalid("entrypoints.tools[].id cannot be empty"),
  ),
  ...["other.echo", "acme", "acmeecho", "acme:echo"].map((id) =>
    rule(
      `tool id ${JSON.stringify(id)} must be namespaced with the publisher`,
      manifest([['id = "acme.echo"', 'id = "acme.echo.v2:x"']]),
      manifest([['id = "acme.echo"', `id = "${id}"`]]),
      invalid(`tool id '${id}' must be namespaced with 'acme.'`, "entrypoints.tools[0].id"),
    ),
  ),
  rule(
    "tool namespacing uses the trimmed publisher and the trimmed id",
    manifest([
      ['publisher = "acme"', 'publisher = " acme "'],
      ['id = "acme.echo"', 'id = " acme.echo "'],
    ]),
    manifest([
      ['publisher = "acme"', 'publisher = " acme "'],
      ['id = "acme.echo"', 'id = " acme"'],
    ]),
    invalid("tool id ' acme' must be namespaced with 'acme.'"),
  ),
  rule(
    "duplicate tool ids (after trimming) are rejected, reported with the raw id",
    manifest([], TOOL_BLOCK.replace('id = "acme.echo"', 'id = "acme.echo2"')),
    manifest([], TOOL_BLOCK.replace('id = "acme.echo"', 'id = "acme.echo "')),
    invalid("duplicate tool id 'acme.echo '", "entrypoints.tools[1].id"),
  ),
  rule(
    "tool name cannot be blank",
    BASE,
    manifest([['name = "echo"', 'name = "  "']]),
    invalid("tool 'acme.echo' must include non-empty name and description", "entrypoints.tools[0]"),
  ),
  rule(
    "tool description cannot be empty",
    BASE,
    manifest([['description = "Echo payload"', 'description = ""']]),
    invalid("tool 'acme.echo' must include non-empty name and description", "entrypoints.tools[0]"),
  ),
  rule(
    "tool input_schema must be a JSON object (string)",
    BASE,
    manifest([[INPUT_SCHEMA, 'input_schema = "object"']]),
    invalid("tool 'acme.echo' schemas must be JSON objects", "entrypoints.tools[0]"),
  ),
  rule(
    "tool output_schema must be a JSON object (array)",
    manifest([[OUTPUT_SCHEMA, "output_schema = {}"]]),
    manifest([[OUTPUT_SCHEMA, 'output_schema = [{ type = "object" }]']]),
    invalid("tool 'acme.echo' schemas must be JSON objects", "entrypoints.tools[0]"),
  ),
  rule(
    "tool schema must be a JSON object (number)",
    BASE,
    manifest([[OUTPUT_SCHEMA, "output_schema = 12"]]),
    invalid("tool 'acme.echo' schemas must be JSON objects", "entrypoints.tools[0]"),
  ),
  rule(
    "tool input_schema must compile as JSON Schema (type = 12)",
    manifest([[INPUT_SCHEMA, 'input_schema = { type = ["object", "null"], x-vendor = 12 }']]),
    manifest([[INPUT_SCHEMA, "input_schema = { type = 12 }"]]),
    {
      code: "MANIFEST_INVALID",
      includes:
        "manifest validation failed: tool 'acme.echo' input_schema is not a valid JSON Schema",
      field: "entrypoints.tools[0].input_schema",
    },
  ),
  rule(
    "tool output_schema must compile as JSON Schema (unresolvable remote $ref)",
    manifest([
      [
        OUTPUT_SCHEMA,
        'output_schema = { "$ref" = "#/definitions/out", definitions = { out = { type = "object" } } }',
      ],
    ]),
    manifest([
      [OUTPUT_SCHEMA, 'output_schema = { "$ref" = "https://schemas.invalid/missing.json" }'],
    ]),
    {
      code: "MANIFEST_INVALID",
      includes:
        "manifest validation failed: tool 'acme.echo' output_schema is not a valid JSON Schema",
      field: "entrypoints.tools[0].output_schema",
    },
  ),
  rule(
    "tool schema with an unresolvable local $ref does not compile",
    BASE,
    manifest([[INPUT_SCHEMA, 'input_schema = { "$ref" = "#/definitions/nope" }']]),
    {
      code: "MANIFEST_INVALID",
      includes: "input_schema is not a valid JSON Schema",
      field: "entrypoints.tools[0].input_schema",
    },
  ),
  rule(
    "tool id is required",
    BASE,
    manifest([['id = "acme.echo"\n', ""]]),
    parseFailure("entrypoints.tools[0].id"),
  ),
  rule(
    "tool input_schema is required",
    BASE,
    manifest([[`${INPUT_SCHEMA}\n`, ""]]),
    parseFailure("entrypoints.tools[0].input_schema"),
  ),
  rule(
    "tool output_schema is required",
    BASE,
    manifest([[`${OUTPUT_SCHEMA}\n`, ""]]),
    parseFailure("entrypoints.tools[0].output_schema"),
  ),
  rule(
    "tool risk flags are booleans",
    manifest([
      [
        "risk = { default_sensitive = false, requires_approval = false }",
        "risk = { requires_approval = true }",
      ],
    ]),
    manifest([
      [
        "risk = { default_sensitive = false, requires_approval = false }",
        'risk = { default_sensitive = "no" }',
      ],
    ]),
    parseFailure("entrypoints.tools[0].risk.default_sensitive"),
  ),
  rule(
    "tools must be an array of tables",
    BASE,
    manifest([[TOOL_BLOCK, '[entrypoints]\ntools = "acme.echo"\n']]),
    parseFailure("entrypoints.tools"),
  ),

  // ---- filesystem (step 10) ----
  rule(
    "read_roots wildcard needs wildcard_opt_in.filesystem",
    manifest([[READ_ROOTS, 'read_roots = ["skills/*"]'], optIn("filesystem")]),
    manifest([[READ_ROOTS, 'read_roots = ["skills/*"]']]),
    invalid("capability path 'skills/*' uses wildcard without explicit opt-in"),
  ),
  rule(
    "write_roots wildcard needs wildcard_opt_in.filesystem",
    manifest([[WRITE_ROOTS, 'write_roots = ["*"]'], optIn("filesystem")]),
    manifest([[WRITE_ROOTS, 'write_roots = ["*"]'], optIn("http_egress")]),
    invalid("capability path '*' uses wildcard without explicit opt-in"),
  ),
  ...["../data", "/abs/data", "c:temp", "skills//data", "skills/./data", "skills/", ""].map((p) =>
    rule(
      `read root ${JSON.stringify(p)} breaks the artifact path rules`,
      manifest([[READ_ROOTS, 'read_roots = ["skills\\\\data", " skills/data "]']]),
      manifest([[READ_ROOTS, `read_roots = [${JSON.stringify(p)}]`]]),
      pathFailure(p),
    ),
  ),
  rule(
    "write root '..' is rejected",
    BASE,
    manifest([[WRITE_ROOTS, 'write_roots = ["skills/../../etc"]']]),
    pathFailure("skills/../../etc"),
  ),
  rule(
    "wildcard paths still go through the path rules with the opt-in",
    manifest([[READ_ROOTS, 'read_roots = ["skills/*/data"]'], optIn("filesystem")]),
    manifest([[READ_ROOTS, 'read_roots = ["../*"]'], optIn("filesystem")]),
    pathFailure("../*"),
  ),
  rule(
    "the wildcard check comes before the path check",
    BASE,
    manifest([[READ_ROOTS, 'read_roots = ["../*"]']]),
    invalid("capability path '../*' uses wildcard without explicit opt-in"),
  ),
  rule(
    "read_roots is a list of strings",
    BASE,
    manifest([[READ_ROOTS, 'read_roots = "skills/data"']]),
    parseFailure("capabilities.filesystem.read_roots"),
  ),

  // ---- http egress hosts (step 11) ----
  ...[
    "API.Example.COM",
    "api.example.com.",
    "api.example.com...",
    " api.example.com ",
    "10.0.0.1",
    "api-.example.com",
    "xn--bcher-kva.example",
  ].map((host) =>
    rule(
      `host ${JSON.stringify(host)} is accepted`,
      manifest([[HOSTS, `http_egress_allowlist = [${JSON.stringify(host)}]`]]),
      manifest([[HOSTS, 'http_egress_allowlist = ["api example.com"]']]),
      invalid("invalid host 'api example.com'"),
    ),
  ),
  ...[
    "a..b.example.com",
    "-api.example.com",
    "api.example.com-",
    "api-.",
    ".api.example.com",
    "api.example.com:443",
    "my_host.example.com",
    "",
    "   ",
    ".",
    "[::1]",
    "bücher.example",
    "https://api.example.com",
  ].map((host) =>
    rule(
      `host ${JSON.stringify(host)} is rejected`,
      BASE,
      manifest([[HOSTS, `http_egress_allowlist = [${JSON.stringify(host)}]`]]),
      invalid(`invalid host '${host}'`),
    ),
  ),
  rule(
    // Rust lowercases hosts with to_ascii_lowercase; U+212A KELVIN SIGN is not ASCII.
    "host with a non-ASCII letter that lowercases to ASCII (U+212A KELVIN SIGN) is rejected",
    BASE,
    manifest([[HOSTS, 'http_egress_allowlist = ["\\u212Aexample.com"]']]),
    invalid("invalid host '\u212Aexample.com'"),
  ),
  rule(
    "host wildcard needs wildcard_opt_in.http_egress",
    manifest([[HOSTS, 'http_egress_allowlist = ["*.example.com", "*"]'], optIn("http_egress")]),
    manifest([[HOSTS, 'http_egress_allowlist = ["*.example.com"]'], optIn("filesystem")]),
    invalid("host '*.example.com' uses wildcard without explicit opt-in"),
  ),
  rule(
    "with the opt-in a wildcard host is accepted unchecked",
    manifest([[HOSTS, 'http_egress_allowlist = ["bad_host:*"]'], optIn("http_egress")]),
    manifest([[HOSTS, 'http_egress_allowlist = ["bad_host:1"]'], optIn("http_egress")]),
    invalid("invalid host 'bad_host:1'"),
  ),

  // ---- secrets (step 12) ----
  ...[
    "global",
    " global ",
    "principal:admin",
    "principal:admin:ops",
    "channel:general",
    "skill:acme.echo_http",
  ].map((scope) =>
    rule(
      `secret scope ${JSON.stringify(scope)} is accepted`,
      manifest(secrets('["api_token"]', JSON.stringify(scope))),
      manifest(secrets('["api_token"]', '"vault"')),
      invalid("invalid secret scope 'vault'"),
    ),
  ),
  ...(
    [
      ["Skill:acme", "invalid secret scope 'Skill:acme'"],
      ["Global", "invalid secret scope 'Global'"],
      ["user:bob", "invalid secret scope 'user:bob'"],
      ["", "invalid secret scope ''"],
      ["skill:", "capabilities.secrets[].scope cannot be empty"],
      ["skill: ", "capabilities.secrets[].scope cannot be empty"],
      ["skill:Acme", "capabilities.secrets[].scope must use [a-z0-9._-:]"],
      ["principal:a b", "capabilities.secrets[].scope must use [a-z0-9._-:]"],
    ] as const
  ).map(([scope, message]) =>
    rule(
      `secret scope ${JSON.stringify(scope)} is rejected`,
      BASE,
      manifest(secrets('["api_token"]', JSON.stringify(scope))),
      invalid(message),
    ),
  ),
  rule(
    "secret key_names cannot be empty",
    BASE,
    manifest(secrets("[]")),
    invalid(
      "secret scope 'skill:acme.echo_http' must list key_names",
      "capabilities.secrets[0].key_names",
    ),
  ),
  rule(
    "secret key_names defaults to empty, which is rejected",
    BASE,
    manifest([[`${KEY_NAMES}\n`, ""]]),
    invalid("secret scope 'skill:acme.echo_http' must list key_names"),
  ),
  rule(
    "secret key names are identifiers",
    manifest(secrets('["api_token", "db:password.v2"]')),
    manifest(secrets('["API_TOKEN"]')),
    invalid("capabilities.secrets[].key_names must use [a-z0-9._-:]"),
  ),
  rule(
    "secret key names cannot be blank",
    BASE,
    manifest(secrets('[" "]')),
    invalid("capabilities.secrets[].key_names cannot be empty"),
  ),
  rule(
    "secret key wildcard needs wildcard_opt_in.secrets",
    manifest([...secrets('["*"]'), optIn("secrets")]),
    manifest([...secrets('["api_*"]'), optIn("device")]),
    invalid("capabilities.secrets[].key_names contains wildcard without explicit opt-in"),
  ),
  rule(
    "secret scope is required",
    BASE,
    manifest([[`${SECRET_SCOPE}\n`, ""]]),
    parseFailure("capabilities.secrets[0].scope"),
  ),
  rule(
    "the scope check comes before the key_names check",
    BASE,
    manifest(secrets("[]", '"vault"')),
    invalid("invalid secret scope 'vault'"),
  ),

  // ---- device / node capabilities (steps 13, 14) ----
  rule(
    "device capabilities are identifiers",
    manifest([[DEVICE, 'device_capabilities = ["camera", "mic.v2"]']]),
    manifest([[DEVICE, 'device_capabilities = ["Camera"]']]),
    invalid("capabilities.device_capabilities must use [a-z0-9._-:]"),
  ),
  rule(
    "device capabilities cannot be blank",
    BASE,
    manifest([[DEVICE, 'device_capabilities = [""]']]),
    invalid("capabilities.device_capabilities cannot be empty"),
  ),
  rule(
    "device wildcard needs wildcard_opt_in.device",
    manifest([[DEVICE, 'device_capabilities = ["*"]'], optIn("device")]),
    manifest([[DEVICE, 'device_capabilities = ["*"]'], optIn("node")]),
    invalid("capabilities.device_capabilities contains wildcard without explicit opt-in"),
  ),
  rule(
    "node capabilities are identifiers",
    manifest([[NODE, 'node_capabilities = ["gpu"]']]),
    manifest([[NODE, 'node_capabilities = ["gpu 0"]']]),
    invalid("capabilities.node_capabilities must use [a-z0-9._-:]"),
  ),
  rule(
    "node wildcard needs wildcard_opt_in.node",
    manifest([[NODE, 'node_capabilities = ["gpu.*"]'], optIn("node")]),
    manifest([[NODE, 'node_capabilities = ["gpu.*"]'], optIn("device")]),
    invalid("capabilities.node_capabilities contains wildcard without explicit opt-in"),
  ),

  // ---- quotas (step 15) ----
  ...[
    [TIMEOUT, "wall_clock_timeout_ms = 0"],
    [FUEL, "fuel_budget = 0"],
    [MEMORY, "max_memory_bytes = 65535"],
    [MEMORY, "max_memory_bytes = 0"],
  ].map(([from, to]) =>
    rule(
      `quota ${to} is rejected`,
      manifest([
        [TIMEOUT, "wall_clock_timeout_ms = 1"],
        [FUEL, "fuel_budget = 1"],
        [MEMORY, "max_memory_bytes = 65536"],
      ]),
      manifest([[from as string, to as string]]),
      invalid(
        "capabilities.quotas values must be non-zero and memory >= 65536",
        "capabilities.quotas",
      ),
    ),
  ),
  rule(
    "quotas are non-negative integers",
    BASE,
    manifest([[FUEL, "fuel_budget = -5"]]),
    parseFailure("capabilities.quotas.fuel_budget"),
  ),
  rule(
    "quotas are integers, not strings",
    BASE,
    manifest([[TIMEOUT, 'wall_clock_timeout_ms = "2000"']]),
    parseFailure("capabilities.quotas.wall_clock_timeout_ms"),
  ),
  rule(
    "quotas are integers, not fractional floats",
    BASE,
    manifest([[MEMORY, "max_memory_bytes = 65536.5"]]),
    parseFailure("capabilities.quotas.max_memory_bytes"),
  ),
  rule(
    // serde's u64 refuses a TOML float even when it is integral.
    "quotas are integers, not integral floats",
    BASE,
    manifest([[FUEL, "fuel_budget = 5000000.0"]]),
    parseFailure("capabilities.quotas.fuel_budget"),
  ),
  rule(
    // Deliberate limit (README): integers are exact up to 2^53-1 here; the reference's u64
    // quotas go further, and such a manifest is rejected with a clear message, never rounded.
    "quota values are exact integers up to 2^53-1; larger ones are rejected, not rounded",
    manifest([[FUEL, "fuel_budget = 9007199254740991"]]),
    manifest([[FUEL, "fuel_budget = 9223372036854775807"]]),
    parseFailure("capabilities.quotas.fuel_budget"),
  ),

  // ---- wildcard_opt_in ----
  rule(
    "wildcard_opt_in flags are booleans",
    manifest([[OPT_IN.node, "node = true"]]),
    manifest([[OPT_IN.node, "node = 1"]]),
    parseFailure("capabilities.wildcard_opt_in.node"),
  ),

  // ---- unknown keys at several depths ----
  ...(
    [
      ["top level", ['publisher = "acme"', 'publisher = "acme"\nauthor = "x"'], "author"],
      [
        "entrypoints",
        [TOOL_BLOCK, `[entrypoints]\nresources = []\n\n${TOOL_BLOCK}`],
        "entrypoints.resources",
      ],
      [
        "a tool",
        ['description = "Echo payload"', 'description = "Echo payload"\ntimeout = 5'],
        "entrypoints.tools[0].timeout",
      ],
      [
        "tool risk",
        [
          "risk = { default_sensitive = false, requires_approval = false }",
          "risk = { sensitive = true }",
        ],
        "entrypoints.tools[0].risk.sensitive",
      ],
      ["capabilities", [HOSTS, `${HOSTS}\nnetwork = true`], "capabilities.network"],
      [
        "filesystem",
        [WRITE_ROOTS, `${WRITE_ROOTS}\nexec_roots = []`],
        "capabilities.filesystem.exec_roots",
      ],
      ["a secret", [KEY_NAMES, `${KEY_NAMES}\nkeys = []`], "capabilities.secrets[0].keys"],
      ["quotas", [MEMORY, `${MEMORY}\ncpu_ms = 1`], "capabilities.quotas.cpu_ms"],
      [
        "wildcard_opt_in",
        [OPT_IN.node, `${OPT_IN.node}\nall = true`],
        "capabilities.wildcard_opt_in.all",
      ],
      [
        "compat",
        ["required_protocol_major = 1", "required_protocol_major = 1\nmax_protocol_major = 2"],
        "compat.max_protocol_major",
      ],
    ] as const
  ).map(([where, edit, field]) =>
    rule(`unknown key in ${where} is a parse error`, BASE, manifest([edit]), parseFailure(field)),
  ),
  rule(
    "unknown key in an integrity entry is a parse error",
    manifest([], '[[integrity.files]]\npath = "modules/m.wasm"\nsha256 = "00"'),
    manifest([], '[[integrity.files]]\npath = "modules/m.wasm"\nsha256 = "00"\nsize = 1'),
    parseFailure("integrity.files[0].size"),
  ),
  rule(
    "integrity entries need path and sha256",
    manifest([], "[integrity]\nfiles = []"),
    manifest([], '[[integrity.files]]\npath = "modules/m.wasm"'),
    parseFailure("integrity.files[0].sha256"),
  ),
  rule(
    "unknown key in integrity is a parse error",
    manifest([], "[integrity]\nfiles = []"),
    manifest([], '[integrity]\nfiles = []\nalgorithm = "sha256"'),
    parseFailure("integrity.algorithm"),
  ),
  rule(
    "unknown key in operator is a parse error",
    withOperator('display_name = "Echo"'),
    withOperator('display_name = "Echo"\nicon = "x.png"'),
    parseFailure("operator.icon"),
  ),
  rule(
    "unknown key in operator.plugin is a parse error",
    withPlugin('default_entrypoint = "run"'),
    withPlugin('default_entrypoint = "run"\nruntime = "wasm"'),
    parseFailure("operator.plugin.runtime"),
  ),
  rule(
    "unknown key in a config property is a parse error",
    withConfig('[operator.config.properties.url]\ntype = "string"'),
    withConfig('[operator.config.properties.url]\ntype = "string"\nsecret = true'),
    parseFailure("operator.config.properties.url.secret"),
  ),
  rule(
    "unknown key in builder.checklist is a parse error",
    withBuilder(),
    withBuilder({}, 'reviewer = "bob"\n'),
    parseFailure("builder.checklist.reviewer"),
  ),
  rule(
    "unknown key in a plugin contract is a parse error",
    withPlugin('[[operator.plugin.contracts]]\nkind = "memory_provider"'),
    withPlugin('[[operator.plugin.contracts]]\nkind = "memory_provider"\nname = "x"'),
    parseFailure("operator.plugin.contracts[0].name"),
  ),
  rule(
    "keys inside tool schemas are free-form JSON, not unknown keys",
    manifest([
      [INPUT_SCHEMA, 'input_schema = { type = "object", x-anything = { deep = { er = true } } }'],
    ]),
    manifest([[INPUT_SCHEMA, "input_schema = { type = false }"]]),
    { code: "MANIFEST_INVALID", includes: "input_schema is not a valid JSON Schema" },
  ),

  // ---- builder (step 16) ----
  rule(
    "builder.experimental must stay true",
    withBuilder(),
    withBuilder({ experimental: "false" }),
    invalid(
      "builder.experimental must stay true for generated builder outputs",
      "builder.experimental",
    ),
  ),
  ...(["source_kind", "source_ref", "rollout_flag"] as const).map((name) =>
    rule(
      `builder.${name} cannot be blank`,
      withBuilder({ [name]: '" x "' }),
      withBuilder({ [name]: '"  "' }),
      invalid(`builder.${name} cannot be empty`, `builder.${name}`),
    ),
  ),
  ...(["capability_declaration_path", "provenance_path", "test_harness_path"] as const).flatMap(
    (name) => [
      rule(
        `builder.checklist.${name} cannot be blank`,
        withBuilder({ [name]: '"docs\\\\builder.md"' }),
        withBuilder({ [name]: '" "' }),
        invalid(`builder.checklist.${name} cannot be empty`, `builder.checklist.${name}`),
      ),
      rule(
        `builder.checklist.${name} follows the artifact path rules`,
        withBuilder({ [name]: '"builder/x.json"' }),
        withBuilder({ [name]: '"../x.json"' }),
        pathFailure("../x.json"),
      ),
    ],
  ),
  rule(
    "builder.experimental is checked before source_kind",
    withBuilder(),
    withBuilder({ experimental: "false", source_kind: '""' }),
    invalid("builder.experimental must stay true for generated builder outputs"),
  ),
  rule(
    "builder text fields come before checklist paths",
    withBuilder(),
    withBuilder({ rollout_flag: '""', provenance_path: '"/abs"' }),
    invalid("builder.rollout_flag cannot be empty"),
  ),
  rule(
    "builder review_status and review_notes are optional",
    withBuilder({ review_status: "", review_notes: "" }),
    withBuilder({ source_ref: "" }),
    parseFailure("builder.source_ref"),
  ),
  rule(
    "builder.checklist is required",
    withBuilder(),
    manifest(
      [],
      '[builder]\nexperimental = true\nsource_kind = "a"\nsource_ref = "b"\nrollout_flag = "c"',
    ),
    parseFailure("builder.checklist"),
  ),
  rule(
    "builder.checklist.test_harness_path is required",
    withBuilder(),
    withBuilder({ test_harness_path: "" }),
    parseFailure("builder.checklist.test_harness_path"),
  ),
  rule(
    "builder.experimental is a boolean",
    withBuilder(),
    withBuilder({ experimental: '"true"' }),
    parseFailure("builder.experimental"),
  ),

  // ---- operator metadata vs manifest_version (step 17.1) ----
  rule(
    "operator metadata requires manifest_version 2",
    withOperator('display_name = "Echo"'),
    v1('[operator]\ndisplay_name = "Echo"'),
    invalid("operator metadata requires manifest_version 2", "operator"),
  ),
  rule(
    "an empty operator (even with explicit empty lists and risk = internal) is fine on v1",
    v1(
      '[operator]\ncategories = []\ntags = []\n\n[operator.plugin]\nrisk = "internal"\ncontracts = []',
    ),
    v1('[operator.plugin]\nrisk = "public"'),
    invalid("operator metadata requires manifest_version 2"),
  ),
  rule(
    "an empty config contract is operator metadata (needs v2)",
    manifest([], "[operator.config]"),
    v1("[operator.config]"),
    invalid("operator metadata requires manifest_version 2"),
  ),
  rule(
    "v1 operator tags need v2",
    v1("[operator]\ntags = []"),
    v1('[operator]\ntags = ["x"]'),
    invalid("operator metadata requires manifest_version 2"),
  ),
  rule(
    "the manifest_version check for operator metadata comes before operator field checks",
    v1(),
    v1('[operator]\ndisplay_name = ""'),
    invalid("operator metadata requires manifest_version 2"),
  ),

  // ---- operator texts, labels, docs_url (17.3 - 17.5) ----
  ...(["display_name", "summary", "description"] as const).map((name) =>
    rule(
      `operator.${name} cannot be blank when present`,
      withOperator(`${name} = "x"`),
      withOperator(`${name} = " \\n "`),
      invalid(`operator.${name} cannot be empty`, `operator.${name}`),
    ),
  ),
  rule(
    "operator.categories entries use [a-z0-9._-]",
    withOperator('categories = ["messaging", "net-work_2.x"]'),
    withOperator('categories = ["Messaging"]'),
    invalid("operator.categories entries must use [a-z0-9._-]"),
  ),
  rule(
    "operator.categories entries cannot contain ':'",
    withOperator('categories = [" messaging "]'),
    withOperator('categories = ["a:b"]'),
    invalid("operator.categories entries must use [a-z0-9._-]"),
  ),
  rule(
    "operator.tags entries cannot be blank",
    withOperator('tags = ["sample"]'),
    withOperator('tags = ["sample", " "]'),
    invalid("operator.tags entries must use [a-z0-9._-]"),
  ),
  ...[
    "http://example.com/docs",
    "https://example.com/docs#top",
    "https://example.com/a b",
    " ",
    "ftp://x",
  ].map((url) =>
    rule(
      `operator.docs_url ${JSON.stringify(url)} is rejected`,
      withOperator('docs_url = " https://example.com/skills/echo-http "'),
      withOperator(`docs_url = ${JSON.stringify(url)}`),
      invalid(
        "operator.docs_url must be an https URL without fragments or spaces",
        "operator.docs_url",
      ),
    ),
  ),
  rule(
    "operator texts are checked before labels and docs_url",
    withOperator('summary = "s"'),
    withOperator('summary = ""\ntags = ["Bad"]\ndocs_url = "http://x"'),
    invalid("operator.summary cannot be empty"),
  ),

  // ---- plugin defaults (17.6 - 17.8) ----
  rule(
    "operator.plugin.default_tool_id must reference a tool id",
    withPlugin('default_tool_id = " acme.echo "'),
    withPlugin('default_tool_id = "acme.missing"'),
    invalid(
      "operator.plugin.default_tool_id 'acme.missing' must reference an entrypoints.tools id",
      "operator.plugin.default_tool_id",
    ),
  ),
  rule(
    "operator.plugin.default_tool_id is compared with the raw tool id",
    withPlugin('default_tool_id = "acme.echo"'),
    withPlugin('default_tool_id = "acme.echo"', [['id = "acme.echo"', 'id = " acme.echo"']]),
    invalid("operator.plugin.default_tool_id 'acme.echo' must reference an entrypoints.tools id"),
  ),
  rule(
    "operator.plugin.default_tool_id is an identifier",
    withPlugin('default_tool_id = "acme.echo"'),
    withPlugin('default_tool_id = "Acme.Echo"'),
    invalid(
      "operator.plugin.default_tool_id must use [a-z0-9._-:]",
      "operator.plugin.default_tool_id",
    ),
  ),
  ...[
    "assets/echo.wasm",
    "modules/echo.wat",
    "modules/../echo.wasm",
    "/modules/echo.wasm",
    "Modules/echo.wasm",
  ].map((p) =>
    rule(
      `operator.plugin.default_module_path ${JSON.stringify(p)} is rejected`,
      withPlugin('default_module_path = "modules/sub/echo.wasm"'),
      withPlugin(`default_module_path = ${JSON.stringify(p)}`),
      invalid(
        "operator.plugin.default_module_path must reference a modules/*.wasm entry",
        "operator.plugin.default_module_path",
      ),
    ),
  ),
  rule(
    "operator.plugin.default_module_path then goes through the path rules",
    withPlugin('default_module_path = "modules/echo.wasm"'),
    withPlugin('default_module_path = "modules//echo.wasm"'),
    pathFailure("modules//echo.wasm"),
  ),
  ...["run.main", "Run", "", "  ", "run:x"].map((entry) =>
    rule(
      `operator.plugin.default_entrypoint ${JSON.stringify(entry)} is rejected`,
      withPlugin('default_entrypoint = " run_main-2 "'),
      withPlugin(`default_entrypoint = ${JSON.stringify(entry)}`),
      invalid(
        "operator.plugin.default_entrypoint must use [a-z0-9_-]",
        "operator.plugin.default_entrypoint",
      ),
    ),
  ),

  // ---- plugin extension (17.9) ----
  rule(
    "operator.plugin.plugin_id must be namespaced with the publisher",
    withPlugin('plugin_id = "acme.echo_plugin"'),
    withPlugin('plugin_id = "zeta.echo_plugin"'),
    invalid(
      "operator.plugin.plugin_id 'zeta.echo_plugin' must be namespaced with 'acme.'",
      "operator.plugin.plugin_id",
    ),
  ),
  rule(
    "operator.plugin.plugin_id is an identifier",
    withPlugin('plugin_id = "acme.p"'),
    withPlugin('plugin_id = "acme.P"'),
    invalid("operator.plugin.plugin_id must use [a-z0-9._-:]", "operator.plugin.plugin_id"),
  ),
  rule(
    "operator.plugin.abi_major must be 1",
    withPlugin("abi_major = 1"),
    withPlugin("abi_major = 2"),
    invalid(
      "operator.plugin.abi_major 2 is not supported by this host SDK ABI range 1..=1",
      "operator.plugin.abi_major",
    ),
  ),
  rule(
    "operator.plugin.abi_major 0 is unsupported too",
    withPlugin("abi_major = 1"),
    withPlugin("abi_major = 0"),
    invalid("operator.plugin.abi_major 0 is not supported by this host SDK ABI range 1..=1"),
  ),
  rule(
    "operator.plugin.abi_major is a u32",
    withPlugin("abi_major = 1"),
    withPlugin("abi_major = -1"),
    parseFailure("operator.plugin.abi_major"),
  ),
  rule(
    "operator.plugin.risk is one of internal/public/sensitive/privileged",
    withPlugin('risk = "privileged"'),
    withPlugin('risk = "root"'),
    parseFailure("operator.plugin.risk"),
  ),
  ...(
    [
      [
        "http_host",
        "api.example.com",
        "*.example.com",
        "host '*.example.com' uses wildcard without explicit opt-in",
      ],
      ["http_host", "API.example.com.", "bad_host", "invalid host 'bad_host'"],
      ["secret", "skill:acme.echo", "vault", "invalid secret scope 'vault'"],
      [
        "storage_prefix",
        "plugins/echo",
        "plugins/*",
        "capability path 'plugins/*' uses wildcard without explicit opt-in",
      ],
      [
        "channel",
        "ops.alerts",
        "Ops",
        "operator.plugin capability requirement keys must use [a-z0-9._-]",
      ],
      [
        "event_subscription",
        "skill.updated",
        "skill:updated",
        "operator.plugin capability requirement keys must use [a-z0-9._-]",
      ],
    ] as const
  ).flatMap(([cls, good, bad, message]) =>
    (["required_capabilities", "optional_capabilities"] as const).map((list) =>
      rule(
        `operator.plugin.${list} ${cls} value rule`,
        withPlugin(`[[operator.plugin.${list}]]\nclass = "${cls}"\nvalue = "${good}"`),
        withPlugin(`[[operator.plugin.${list}]]\nclass = "${cls}"\nvalue = "${bad}"`),
        invalid(message),
      ),
    ),
  ),
  rule(
    "a http_host requirement never accepts a wildcard, even with the http_egress opt-in",
    withPlugin(
      '[[operator.plugin.required_capabilities]]\nclass = "http_host"\nvalue = "api.example.com"',
      [optIn("http_egress")],
    ),
    withPlugin('[[operator.plugin.required_capabilities]]\nclass = "http_host"\nvalue = "*"', [
      optIn("http_egress"),
    ]),
    invalid("host '*' uses wildcard without explicit opt-in"),
  ),
  rule(
    "a storage_prefix requirement goes through the path rules",
    withPlugin(
      '[[operator.plugin.required_capabilities]]\nclass = "storage_prefix"\nvalue = "a/b"',
    ),
    withPlugin(
      '[[operator.plugin.required_capabilities]]\nclass = "storage_prefix"\nvalue = "../b"',
    ),
    pathFailure("../b"),
  ),
  rule(
    "capability requirement values cannot be blank",
    withPlugin('[[operator.plugin.optional_capabilities]]\nclass = "channel"\nvalue = "ops"'),
    withPlugin('[[operator.plugin.optional_capabilities]]\nclass = "channel"\nvalue = "  "'),
    invalid("operator.plugin capability requirement values cannot be empty"),
  ),
  rule(
    "capability requirements are unique per (class, trimmed value) within one list",
    withPlugin(
      '[[operator.plugin.required_capabilities]]\nclass = "channel"\nvalue = "ops"\n\n' +
        '[[operator.plugin.required_capabilities]]\nclass = "event_subscription"\nvalue = "ops"\n\n' +
        '[[operator.plugin.optional_capabilities]]\nclass = "channel"\nvalue = "ops"',
    ),
    withPlugin(
      '[[operator.plugin.required_capabilities]]\nclass = "channel"\nvalue = "ops"\n\n' +
        '[[operator.plugin.required_capabilities]]\nclass = "channel"\nvalue = " ops "',
    ),
    invalid("operator.plugin capability requirements must be unique"),
  ),
  rule(
    "capability requirement class is an enum",
    withPlugin('[[operator.plugin.required_capabilities]]\nclass = "secret"\nvalue = "global"'),
    withPlugin('[[operator.plugin.required_capabilities]]\nclass = "device"\nvalue = "camera"'),
    parseFailure("operator.plugin.required_capabilities[0].class"),
  ),
  rule(
    "capability requirement value is required",
    withPlugin('[[operator.plugin.required_capabilities]]\nclass = "secret"\nvalue = "global"'),
    withPlugin('[[operator.plugin.required_capabilities]]\nclass = "secret"'),
    parseFailure("operator.plugin.required_capabilities[0].value"),
  ),
  rule(
    "operator.plugin.storage_prefixes wildcard needs the filesystem opt-in",
    withPlugin('storage_prefixes = ["plugins/*"]', [optIn("filesystem")]),
    withPlugin('storage_prefixes = ["plugins/*"]'),
    invalid("capability path 'plugins/*' uses wildcard without explicit opt-in"),
  ),
  rule(
    "operator.plugin.storage_prefixes follow the path rules",
    withPlugin('storage_prefixes = ["plugins/echo"]'),
    withPlugin('storage_prefixes = ["/plugins"]'),
    pathFailure("/plugins"),
  ),
  rule(
    "operator.plugin.outbound_hosts wildcard needs the http_egress opt-in",
    withPlugin('outbound_hosts = ["*.example.com"]', [optIn("http_egress")]),
    withPlugin('outbound_hosts = ["*.example.com"]'),
    invalid("host '*.example.com' uses wildcard without explicit opt-in"),
  ),
  rule(
    "operator.plugin.outbound_hosts are hosts",
    withPlugin('outbound_hosts = ["api.example.com"]'),
    withPlugin('outbound_hosts = ["api.example.com:8443"]'),
    invalid("invalid host 'api.example.com:8443'"),
  ),
  rule(
    "operator.plugin.secret_scopes are secret scopes",
    withPlugin('secret_scopes = ["global", "principal:ops"]'),
    withPlugin('secret_scopes = ["channel:"]'),
    invalid("capabilities.secrets[].scope cannot be empty"),
  ),
  rule(
    "operator.plugin.event_subscriptions are config keys",
    withPlugin('event_subscriptions = ["skill.updated"]'),
    withPlugin('event_subscriptions = ["Skill.Updated"]'),
    invalid("operator.plugin.event_subscriptions keys must use [a-z0-9._-]"),
  ),
  rule(
    "operator.plugin.compatibility bounds must be non-zero",
    withPlugin("[operator.plugin.compatibility]\nmin_abi_major = 1\nmax_abi_major = 3"),
    withPlugin("[operator.plugin.compatibility]\nmin_abi_major = 0\nmax_abi_major = 1"),
    invalid("operator.plugin.compatibility ABI bounds must be non-zero"),
  ),
  rule(
    "operator.plugin.compatibility max bound must be non-zero too",
    withPlugin("[operator.plugin.compatibility]\nmin_abi_major = 1\nmax_abi_major = 1"),
    withPlugin("[operator.plugin.compatibility]\nmin_abi_major = 1\nmax_abi_major = 0"),
    invalid("operator.plugin.compatibility ABI bounds must be non-zero"),
  ),
  rule(
    "operator.plugin.compatibility min must not exceed max",
    withPlugin("[operator.plugin.compatibility]\nmin_abi_major = 2\nmax_abi_major = 2"),
    withPlugin("[operator.plugin.compatibility]\nmin_abi_major = 3\nmax_abi_major = 2"),
    invalid("operator.plugin.compatibility min_abi_major must not exceed max_abi_major"),
  ),
  rule(
    "operator.plugin.compatibility.host_versions entries cannot be blank",
    withPlugin(
      '[operator.plugin.compatibility]\nmin_abi_major = 1\nmax_abi_major = 1\nhost_versions = ["0.1.x"]',
    ),
    withPlugin(
      '[operator.plugin.compatibility]\nmin_abi_major = 1\nmax_abi_major = 1\nhost_versions = ["0.1.x", " "]',
    ),
    invalid("operator.plugin.compatibility.host_versions cannot be empty"),
  ),
  rule(
    "operator.plugin.compatibility needs both bounds",
    withPlugin("[operator.plugin.compatibility]\nmin_abi_major = 1\nmax_abi_major = 1"),
    withPlugin("[operator.plugin.compatibility]\nmin_abi_major = 1"),
    parseFailure("operator.plugin.compatibility.max_abi_major"),
  ),

  // ---- contracts (17.10) ----
  rule(
    "operator.plugin.contracts version 0 is rejected",
    withPlugin('[[operator.plugin.contracts]]\nkind = "memory_provider"\nversion = 1'),
    withPlugin('[[operator.plugin.contracts]]\nkind = "memory_provider"\nversion = 0'),
    invalid("operator.plugin.contracts 'memory_provider' must use a non-zero version"),
  ),
  rule(
    "operator.plugin.contracts version other than 1 is unsupported",
    withPlugin('[[operator.plugin.contracts]]\nkind = "plugin_lifecycle_hook"'),
    withPlugin('[[operator.plugin.contracts]]\nkind = "context_engine"\nversion = 2'),
    invalid(
      "operator.plugin.contracts 'context_engine' version 2 is not supported by this SDK ABI",
    ),
  ),
  rule(
    "operator.plugin.contracts kinds are unique",
    withPlugin(
      '[[operator.plugin.contracts]]\nkind = "agent_harness"\n\n[[operator.plugin.contracts]]\nkind = "tool_result_middleware"',
    ),
    withPlugin(
      '[[operator.plugin.contracts]]\nkind = "agent_harness"\n\n[[operator.plugin.contracts]]\nkind = "agent_harness"',
    ),
    invalid("operator.plugin.contracts contains duplicate kind 'agent_harness'"),
  ),
  rule(
    "operator.plugin.contracts kind is an enum",
    withPlugin('[[operator.plugin.contracts]]\nkind = "connector_adapter"'),
    withPlugin('[[operator.plugin.contracts]]\nkind = "teleporter"'),
    parseFailure("operator.plugin.contracts[0].kind"),
  ),
  rule(
    "operator.plugin.contracts kind is required",
    withPlugin('[[operator.plugin.contracts]]\nkind = "delivery_adapter"'),
    withPlugin("[[operator.plugin.contracts]]\nversion = 1"),
    parseFailure("operator.plugin.contracts[0].kind"),
  ),
  rule(
    "plugin defaults are checked before the plugin extension fields",
    withPlugin('default_entrypoint = "run"'),
    withPlugin('default_entrypoint = "Run"\nabi_major = 9'),
    invalid("operator.plugin.default_entrypoint must use [a-z0-9_-]"),
  ),
  rule(
    "compatibility is checked before contracts",
    withPlugin("abi_major = 1"),
    withPlugin(
      '[operator.plugin.compatibility]\nmin_abi_major = 2\nmax_abi_major = 1\n\n[[operator.plugin.contracts]]\nkind = "agent_harness"\nversion = 0',
    ),
    invalid("operator.plugin.compatibility min_abi_major must not exceed max_abi_major"),
  ),

  // ---- config (17.11) ----
  rule(
    "operator.config.schema_version must be non-zero",
    withConfig("schema_version = 1"),
    withConfig("schema_version = 0"),
    invalid("operator.config.schema_version must be non-zero", "operator.config.schema_version"),
  ),
  rule(
    "operator.config.required must name a declared property",
    withConfig('required = ["url"]\n\n[operator.config.properties.url]\ntype = "string"'),
    withConfig('required = ["token"]\n\n[operator.config.properties.url]\ntype = "string"'),
    invalid("operator.config.required references unknown property 'token'"),
  ),
  rule(
    "operator.config.required entries are config keys",
    withConfig('required = ["url"]\n\n[operator.config.properties.url]\ntype = "string"'),
    withConfig('required = ["URL"]\n\n[operator.config.properties.URL]\ntype = "string"'),
    invalid("operator.config.required keys must use [a-z0-9._-]"),
  ),
  rule(
    "operator.config property names are config keys",
    withConfig('[operator.config.properties."api.base-url_2"]\ntype = "string"'),
    withConfig('[operator.config.properties."api url"]\ntype = "string"'),
    invalid("operator.config.properties keys must use [a-z0-9._-]"),
  ),
  rule(
    "operator.config property title cannot be blank",
    withConfig('[operator.config.properties.url]\ntype = "string"\ntitle = "URL"'),
    withConfig('[operator.config.properties.url]\ntype = "string"\ntitle = " "'),
    invalid("operator.config.properties[].title cannot be empty"),
  ),
  rule(
    "operator.config property description cannot be blank",
    withConfig('[operator.config.properties.url]\ntype = "string"\ndescription = "d"'),
    withConfig('[operator.config.properties.url]\ntype = "string"\ndescription = ""'),
    invalid("operator.config.properties[].description cannot be empty"),
  ),
  rule(
    "operator.config properties are checked in sorted name order",
    withConfig(
      '[operator.config.properties.b]\ntype = "string"\n\n[operator.config.properties.a]\ntype = "string"',
    ),
    withConfig(
      '[operator.config.properties.b]\ntype = "string"\ntitle = ""\n\n[operator.config.properties.a]\ntype = "string"\ndescription = ""',
    ),
    invalid("operator.config.properties[].description cannot be empty"),
  ),
  rule(
    "operator.config.required is checked before properties",
    withConfig('[operator.config.properties.a]\ntype = "string"'),
    withConfig('required = ["zz"]\n\n[operator.config.properties.a]\ntype = "string"\ntitle = ""'),
    invalid("operator.config.required references unknown property 'zz'"),
  ),
  rule(
    "operator.config enum_values require type string",
    withConfig(
      '[operator.config.properties.mode]\ntype = "string"\nenum_values = ["fast", "slow"]',
    ),
    withConfig('[operator.config.properties.mode]\ntype = "integer"\nenum_values = ["1", "2"]'),
    invalid("operator.config property 'mode' enum_values require type='string'"),
  ),
  rule(
    "operator.config enum_values cannot contain blank strings",
    withConfig('[operator.config.properties.mode]\ntype = "string"\nenum_values = ["fast"]'),
    withConfig('[operator.config.properties.mode]\ntype = "string"\nenum_values = ["fast", " "]'),
    invalid("operator.config property 'mode' enum_values cannot contain empty strings"),
  ),
  rule(
    "operator.config enum_values must be unique after trimming",
    withConfig(
      '[operator.config.properties.mode]\ntype = "string"\nenum_values = ["fast", "Fast"]',
    ),
    withConfig(
      '[operator.config.properties.mode]\ntype = "string"\nenum_values = ["fast", " fast"]',
    ),
    invalid("operator.config property 'mode' enum_values must be unique"),
  ),
  ...(
    [
      ["string", '"x"', "1", "String"],
      ["integer", "-3", "1.5", "Integer"],
      ["integer", "7", '"7"', "Integer"],
      ["number", "1.5", '"1.5"', "Number"],
      ["number", "2", "true", "Number"],
      ["boolean", "false", '"false"', "Boolean"],
      ["string_list", '["a", "b"]', '["a", 1]', "StringList"],
      ["string_list", "[]", '"a"', "StringList"],
    ] as const
  ).map(([type, good, bad, rust]) =>
    rule(
      `operator.config ${type} default must match (bad: ${bad})`,
      withConfig(`[operator.config.properties.p]\ntype = "${type}"\ndefault = ${good}`),
      withConfig(`[operator.config.properties.p]\ntype = "${type}"\ndefault = ${bad}`),
      invalid(`operator.config property 'p' default does not match declared type '${rust}'`),
    ),
  ),
  rule(
    // serde_json sees a TOML float 1.0 as f64, which is not an i64/u64.
    "operator.config integer default rejects an integral float (1.0)",
    withConfig('[operator.config.properties.p]\ntype = "integer"\ndefault = 1'),
    withConfig('[operator.config.properties.p]\ntype = "integer"\ndefault = 1.0'),
    invalid("operator.config property 'p' default does not match declared type 'Integer'"),
  ),
  rule(
    "operator.config default must be one of enum_values exactly (no trim)",
    withConfig(
      '[operator.config.properties.mode]\ntype = "string"\nenum_values = ["fast", "slow"]\ndefault = "slow"',
    ),
    withConfig(
      '[operator.config.properties.mode]\ntype = "string"\nenum_values = ["fast", "slow"]\ndefault = " slow"',
    ),
    invalid("operator.config property 'mode' default must be one of enum_values"),
  ),
  rule(
    "operator.config property type is an enum",
    withConfig('[operator.config.properties.p]\ntype = "string_list"'),
    withConfig('[operator.config.properties.p]\ntype = "object"'),
    parseFailure("operator.config.properties.p.type"),
  ),
  rule(
    "operator.config property type is required",
    withConfig('[operator.config.properties.p]\ntype = "boolean"'),
    withConfig("[operator.config.properties.p]\nredacted = true"),
    parseFailure("operator.config.properties.p.type"),
  ),
  rule(
    "operator.config is validated after the plugin",
    withConfig("schema_version = 1"),
    manifest(
      [],
      '[operator]\ndisplay_name = "Echo"\n\n[operator.plugin]\nabi_major = 5\n\n[operator.config]\nschema_version = 0',
    ),
    invalid("operator.plugin.abi_major 5 is not supported by this host SDK ABI range 1..=1"),
  ),

  // ---- wrong types ----
  rule(
    "capabilities.filesystem is a table",
    BASE,
    manifest([
      [`[capabilities.filesystem]\n${READ_ROOTS}\n${WRITE_ROOTS}\n`, ""],
      [HOSTS, `${HOSTS}\nfilesystem = "skills"`],
    ]),
    parseFailure("capabilities.filesystem"),
  ),
  rule(
    "operator.categories is a list of strings",
    withOperator('categories = ["a"]'),
    withOperator("categories = [1]"),
    parseFailure("operator.categories[0]"),
  ),
  rule(
    "http_egress_allowlist entries are strings",
    BASE,
    manifest([[HOSTS, "http_egress_allowlist = [1]"]]),
    parseFailure("capabilities.http_egress_allowlist[0]"),
  ),
  rule(
    "secrets is an array of tables",
    BASE,
    manifest([["[[capabilities.secrets]]\n", "[capabilities.secrets]\n"]]),
    parseFailure("capabilities.secrets"),
  ),
];

describe("manifest rules (one passing and one failing variant each)", () => {
  test("the base manifest is valid", () => {
    expectValid(BASE);
  });
  for (const r of RULES) {
    test(`${r.name}: passing variant`, () => {
      expectValid(r.pass);
    });
    test(`${r.name}: failing variant`, () => {
      expectFailure(r.fail, r.expect);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Validation order: the first failing rule wins
// ---------------------------------------------------------------------------------------------

describe("validation order", () => {
  const ORDER: [string, string, string][] = [
    [
      "manifest_version before publisher",
      manifest([
        ["manifest_version = 2", "manifest_version = 7"],
        ['publisher = "acme"', 'publisher = "A"'],
      ]),
      "manifest_version must equal 1 or 2",
    ],
    [
      "publisher before skill_id",
      manifest([
        ['publisher = "acme"', 'publisher = "A"'],
        ['skill_id = "acme.echo_http"', 'skill_id = "a..b"'],
      ]),
      "publisher must use [a-z0-9._-:]",
    ],
    [
      "skill_id before version",
      manifest([
        ['skill_id = "acme.echo_http"', 'skill_id = "a..b"'],
        ['version = "1.0.0"', 'version = "1"'],
      ]),
      "skill_id must use non-empty dot-separated [a-z0-9_-] segments",
    ],
    [
      "version before compat",
      manifest([
        ['version = "1.0.0"', 'version = "1"'],
        ['min_palyra_version = "0.1.0"', 'min_palyra_version = "x"'],
      ]),
      "version must use semantic version major.minor.patch",
    ],
    [
      "compat before name",
      manifest([
        ['min_palyra_version = "0.1.0"', 'min_palyra_version = "x"'],
        ['name = "Echo HTTP"', 'name = ""'],
      ]),
      "compat.min_palyra_version must use semantic version major.minor.patch",
    ],
    [
      "name before tools",
      manifest([
        ['name = "Echo HTTP"', 'name = ""'],
        ['id = "acme.echo"', 'id = "zeta.echo"'],
      ]),
      "name cannot be empty",
    ],
    [
      "tool id namespacing before name/description",
      manifest([
        ['id = "acme.echo"', 'id = "zeta.echo"'],
        ['name = "echo"', 'name = ""'],
      ]),
      "tool id 'zeta.echo' must be namespaced with 'acme.'",
    ],
    [
      "tool name/description before schemas",
      manifest([
        ['name = "echo"', 'name = ""'],
        [INPUT_SCHEMA, "input_schema = 1"],
      ]),
      "tool 'acme.echo' must include non-empty name and description",
    ],
    [
      "first tool's problems before the second tool's",
      manifest(
        [[INPUT_SCHEMA, "input_schema = 1"]],
        TOOL_BLOCK.replace('id = "acme.echo"', 'id = "zeta.x"'),
      ),
      "tool 'acme.echo' schemas must be JSON objects",
    ],
    [
      "tools before filesystem",
      manifest([
        [INPUT_SCHEMA, "input_schema = 1"],
        [READ_ROOTS, 'read_roots = ["*"]'],
      ]),
      "tool 'acme.echo' schemas must be JSON objects",
    ],
    [
      "read_roots before write_roots",
      manifest([
        [READ_ROOTS, 'read_roots = ["r*"]'],
        [WRITE_ROOTS, 'write_roots = ["w*"]'],
      ]),
      "capability path 'r*' uses wildcard without explicit opt-in",
    ],
    [
      "filesystem before hosts",
      manifest([
        [WRITE_ROOTS, 'write_roots = ["w*"]'],
        [HOSTS, 'http_egress_allowlist = ["*"]'],
      ]),
      "capability path 'w*' uses wildcard without explicit opt-in",
    ],
    [
      "hosts before secrets",
      manifest([[HOSTS, 'http_egress_allowlist = ["*"]'], ...secrets("[]")]),
      "host '*' uses wildcard without explicit opt-in",
    ],
    [
      "secrets before device capabilities",
      manifest([...secrets("[]"), [DEVICE, 'device_capabilities = ["*"]']]),
      "secret scope 'skill:acme.echo_http' must list key_names",
    ],
    [
      "device before node capabilities",
      manifest([
        [DEVICE, 'device_capabilities = ["*"]'],
        [NODE, 'node_capabilities = ["*"]'],
      ]),
      "capabilities.device_capabilities contains wildcard without explicit opt-in",
    ],
    [
      "node capabilities before quotas",
      manifest([
        [NODE, 'node_capabilities = ["*"]'],
        [FUEL, "fuel_budget = 0"],
      ]),
      "capabilities.node_capabilities contains wildcard without explicit opt-in",
    ],
    [
      "quotas before builder",
      manifest(
        [[FUEL, "fuel_budget = 0"]],
        '[builder]\nexperimental = false\nsource_kind = "a"\nsource_ref = "b"\nrollout_flag = "c"\n\n[builder.checklist]\ncapability_declaration_path = "a"\nprovenance_path = "b"\ntest_harness_path = "c"',
      ),
      "capabilities.quotas values must be non-zero and memory >= 65536",
    ],
    [
      "builder before operator",
      manifest(
        [["manifest_version = 2", "manifest_version = 1"]],
        '[builder]\nexperimental = false\nsource_kind = "a"\nsource_ref = "b"\nrollout_flag = "c"\n\n[builder.checklist]\ncapability_declaration_path = "a"\nprovenance_path = "b"\ntest_harness_path = "c"\n\n[operator]\ndisplay_name = "x"',
      ),
      "builder.experimental must stay true for generated builder outputs",
    ],
  ];
  for (const [name, text, message] of ORDER) {
    test(name, () => {
      expectFailure(text, invalid(message));
    });
  }

  test("structural (parse) errors come before any rule", () => {
    expectFailure(
      manifest([['publisher = "acme"', 'publisher = "A"\nextra = 1']]),
      parseFailure("extra"),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Tool schema compilation keeps no state between manifests
// ---------------------------------------------------------------------------------------------

describe("tool schema compilation", () => {
  test("a tool schema declaring JSON Schema 2020-12 is a valid JSON Schema", () => {
    expectValid(
      manifest([
        [
          INPUT_SCHEMA,
          'input_schema = { "$schema" = "https://json-schema.org/draft/2020-12/schema", type = "object" }',
        ],
      ]),
    );
  });

  test("a schema that failed to compile does not poison a later schema with the same $id", () => {
    const id = "https://schemas.example.com/echo-input-state-leak.json";
    expectFailure(manifest([[INPUT_SCHEMA, `input_schema = { "$id" = "${id}", type = 12 }`]]), {
      code: "MANIFEST_INVALID",
      includes: "input_schema is not a valid JSON Schema",
    });
    expectValid(manifest([[INPUT_SCHEMA, `input_schema = { "$id" = "${id}", type = "object" }`]]));
  });

  test("two manifests may use the same $id with different schemas", () => {
    const id = "https://schemas.example.com/echo-input-shared.json";
    expectValid(manifest([[INPUT_SCHEMA, `input_schema = { "$id" = "${id}", type = "object" }`]]));
    expectValid(manifest([[INPUT_SCHEMA, `input_schema = { "$id" = "${id}", type = "string" }`]]));
  });

  test("the same schema is judged the same way every time", () => {
    for (let i = 0; i < 3; i++) {
      expectFailure(manifest([[INPUT_SCHEMA, "input_schema = { type = 12 }"]]), {
        code: "MANIFEST_INVALID",
        includes: "input_schema is not a valid JSON Schema",
      });
      expectValid(BASE);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

const MINIMAL = `skill_id = "acme.min"
name = "Min"
version = "0.0.1"
publisher = "acme"

[[entrypoints.tools]]
id = "acme.t"
name = "t"
description = "d"
input_schema = {}
output_schema = {}

[compat]
required_protocol_major = 1
min_palyra_version = "0.1.0"
`;

describe("defaults", () => {
  test("a minimal manifest has every default filled in", () => {
    assert.deepEqual(plain(parseManifest(MINIMAL)), {
      manifest_version: 2,
      skill_id: "acme.min",
      name: "Min",
      version: "0.0.1",
      publisher: "acme",
      entrypoints: {
        tools: [
          {
            id: "acme.t",
            name: "t",
            description: "d",
            input_schema: {},
            output_schema: {},
            risk: { default_sensitive: false, requires_approval: false },
          },
        ],
      },
      capabilities: {
        filesystem: { read_roots: [], write_roots: [] },
        http_egress_allowlist: [],
        secrets: [],
        device_capabilities: [],
        node_capabilities: [],
        quotas: { wall_clock_timeout_ms: 30000, fuel_budget: 10000000, max_memory_bytes: 67108864 },
        wildcard_opt_in: {
          filesystem: false,
          http_egress: false,
          secrets: false,
          device: false,
          node: false,
        },
      },
      compat: { required_protocol_major: 1, min_palyra_version: "0.1.0" },
      integrity: { files: [] },
      operator: {
        categories: [],
        tags: [],
        plugin: {
          contracts: [],
          risk: "internal",
          required_capabilities: [],
          optional_capabilities: [],
          storage_prefixes: [],
          outbound_hosts: [],
          secret_scopes: [],
          event_subscriptions: [],
        },
      },
    });
  });

  test("absent optional fields stay absent (builder, max version, operator texts, config)", () => {
    const m = parseManifest(MINIMAL);
    assert.equal("builder" in m, false);
    assert.equal("max_palyra_version" in m.compat, false);
    assert.equal("display_name" in m.operator, false);
    assert.equal("config" in m.operator, false);
    assert.equal("compatibility" in m.operator.plugin, false);
  });

  test("each quota defaults on its own", () => {
    const m = parseManifest(
      MINIMAL.replace("[compat]", "[capabilities.quotas]\nfuel_budget = 7\n\n[compat]"),
    );
    assert.deepEqual(plain(m.capabilities.quotas), {
      wall_clock_timeout_ms: 30000,
      fuel_budget: 7,
      max_memory_bytes: 67108864,
    });
  });

  test("nested defaults: risk flags, secret key_names, contract version, config fields, builder", () => {
    const m = parseManifest(
      withConfig('[operator.config.properties.url]\ntype = "string"', [
        [
          "risk = { default_sensitive = false, requires_approval = false }",
          "risk = { requires_approval = true }",
        ],
      ]).replace(
        "[operator.config]",
        '[[operator.plugin.contracts]]\nkind = "memory_provider"\n\n[operator.config]',
      ),
    );
    assert.deepEqual(plain(m.entrypoints.tools[0]?.risk), {
      default_sensitive: false,
      requires_approval: true,
    });
    assert.deepEqual(plain(m.operator.plugin.contracts), [{ kind: "memory_provider", version: 1 }]);
    assert.deepEqual(plain(m.operator.config), {
      schema_version: 1,
      required: [],
      properties: { url: { type: "string", redacted: false, enum_values: [] } },
    });
    const b = parseManifest(withBuilder({ review_status: "", review_notes: "" })).builder;
    assert.equal(b?.review_status, "");
    assert.equal(b?.checklist.review_notes, "");
  });

  test("a missing manifest_version becomes 2, an explicit 1 stays 1", () => {
    assert.equal(parseManifest(MINIMAL).manifest_version, 2);
    assert.equal(parseManifest(`manifest_version = 1\n${MINIMAL}`).manifest_version, 1);
  });

  test("compat aliases are renamed to the current names", () => {
    const m = parseManifest(
      MINIMAL.replace("required_protocol_major", "min_protocol_major").replace(
        "min_palyra_version",
        "min_runtime_version",
      ),
    );
    assert.deepEqual(plain(m.compat), { required_protocol_major: 1, min_palyra_version: "0.1.0" });
  });

  test("validation never rewrites values: raw strings are kept", () => {
    const m = parseManifest(
      manifest([
        ['publisher = "acme"', 'publisher = " acme "'],
        ['version = "1.0.0"', 'version = "+01.0.0"'],
        [HOSTS, 'http_egress_allowlist = ["API.Example.com."]'],
      ]),
    );
    assert.equal(m.publisher, " acme ");
    assert.equal(m.version, "+01.0.0");
    assert.deepEqual(plain(m.capabilities.http_egress_allowlist), ["API.Example.com."]);
  });

  test("the repository examples and the independent vector parse", () => {
    for (const example of ["echo-http", "fetch-anything"]) {
      expectValid(exampleFile(example, "skill.toml").toString("utf8"));
    }
    const vector = readArchive(readFileSync(VECTOR)).find((e) => e.path === "skill.toml");
    assert.ok(vector !== undefined);
    const m = expectValid(vector.data.toString("utf8"));
    assert.equal(m.skill_id, "zeta.notes");
    assert.equal(m.integrity.files.length, 4);
  });
});

// ---------------------------------------------------------------------------------------------
// Warnings (ref-notes §3.4)
// ---------------------------------------------------------------------------------------------

const W = {
  legacy: {
    code: "legacy_manifest_version",
    severity: "warning",
    message: "manifest_version 1 is still supported for compatibility, but 2 is now recommended",
  },
  missing: {
    code: "missing_operator_metadata",
    severity: "warning",
    message: "operator-facing metadata is missing; inventory and doctor output will be degraded",
  },
  displayName: {
    code: "missing_operator_display_name",
    severity: "warning",
    message: "operator.display_name is missing",
  },
  emptyConfig: {
    code: "empty_operator_config_contract",
    severity: "warning",
    message: "operator.config is present but does not declare any properties",
  },
  redaction: (name: string) => ({
    code: "operator_config_redaction_recommended",
    severity: "warning",
    message: `operator.config property '${name}' looks secret-like but is not marked redacted`,
  }),
} as const;

describe("manifest warnings", () => {
  const warnings = (text: string) => plain(collectManifestWarnings(parseManifest(text)));

  test("v1 without operator: legacy_manifest_version then missing_operator_metadata", () => {
    assert.deepEqual(warnings(v1()), [W.legacy, W.missing]);
  });

  test("v1 with an explicitly empty operator gets the same two warnings", () => {
    assert.deepEqual(warnings(v1('[operator.plugin]\nrisk = "internal"')), [W.legacy, W.missing]);
  });

  test("v2 without operator: missing_operator_metadata only", () => {
    assert.deepEqual(warnings(BASE), [W.missing]);
  });

  test("operator without display_name", () => {
    assert.deepEqual(warnings(withOperator('summary = "s"')), [W.displayName]);
  });

  test("operator with display_name and nothing else: no warnings", () => {
    assert.deepEqual(warnings(withOperator('display_name = "Echo"')), []);
  });

  test("a plugin-only operator misses its display name", () => {
    assert.deepEqual(warnings(manifest([], '[operator.plugin]\nrisk = "public"')), [W.displayName]);
  });

  test("empty config contract", () => {
    assert.deepEqual(warnings(withConfig("schema_version = 1")), [W.emptyConfig]);
  });

  test("missing display name comes before the empty-config warning", () => {
    assert.deepEqual(warnings(manifest([], "[operator.config]")), [W.displayName, W.emptyConfig]);
  });

  test("secret-like, unredacted properties, in sorted name order, after the display-name warning", () => {
    const text = manifest(
      [],
      [
        "[operator]",
        'summary = "s"',
        "",
        "[operator.config]",
        "[operator.config.properties.zz_token]",
        'type = "string"',
        "[operator.config.properties.db_password]",
        'type = "string"',
        "redacted = true",
        "[operator.config.properties.my_secret_name]",
        'type = "string"',
        "[operator.config.properties.api_key]",
        'type = "string"',
        "[operator.config.properties.client_key_id]",
        'type = "string"',
        "[operator.config.properties.base_url]",
        'type = "string"',
        "[operator.config.properties.tokenizer]",
        'type = "string"',
        "redacted = false",
        "[operator.config.properties.apikey]",
        'type = "string"',
      ].join("\n"),
    );
    assert.deepEqual(warnings(text), [
      W.displayName,
      W.redaction("api_key"),
      W.redaction("client_key_id"),
      W.redaction("my_secret_name"),
      W.redaction("tokenizer"),
      W.redaction("zz_token"),
    ]);
  });

  test("warnings do not fail parsing", () => {
    expectValid(v1());
  });
});

// ---------------------------------------------------------------------------------------------
// Runtime compatibility (ref-notes §3.3)
// ---------------------------------------------------------------------------------------------

describe("runtime compatibility", () => {
  const compat = (lines: string) =>
    parseManifest(manifest([['required_protocol_major = 1\nmin_palyra_version = "0.1.0"', lines]]));
  const incompatible = (
    m: SkillManifest,
    message: string,
    field: string,
    target?: { version: string; protocolMajor: number },
  ) => {
    let caught: unknown;
    try {
      if (target === undefined) checkRuntimeCompatibility(m);
      else checkRuntimeCompatibility(m, target);
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof SkillError, "expected MANIFEST_INCOMPATIBLE");
    assert.equal(caught.code, "MANIFEST_INCOMPATIBLE");
    assert.equal(caught.message, message);
    assert.equal(caught.field, field);
  };

  test("the base manifest is compatible with the default target 0.1.0 / protocol 1", () => {
    checkRuntimeCompatibility(parseManifest(BASE));
    checkRuntimeCompatibility(parseManifest(BASE), { version: "0.1.0", protocolMajor: 1 });
  });

  test("protocol major 0 and 1 pass, 2 fails", () => {
    checkRuntimeCompatibility(compat('required_protocol_major = 0\nmin_palyra_version = "0.1.0"'));
    incompatible(
      compat('required_protocol_major = 2\nmin_palyra_version = "0.1.0"'),
      "requested min protocol major 2 is higher than current 1",
      "compat.required_protocol_major",
    );
  });

  test("min version above the runtime fails, quoting the raw string", () => {
    checkRuntimeCompatibility(compat('required_protocol_major = 1\nmin_palyra_version = "0.0.9"'));
    incompatible(
      compat('required_protocol_major = 1\nmin_palyra_version = "0.1.1"'),
      "requested min runtime version 0.1.1 is higher than current 0.1.0",
      "compat.min_palyra_version",
    );
    incompatible(
      compat('required_protocol_major = 1\nmin_palyra_version = " 00.02.0"'),
      "requested min runtime version  00.02.0 is higher than current 0.1.0",
      "compat.min_palyra_version",
    );
  });

  test("max version below the runtime fails; equal passes", () => {
    checkRuntimeCompatibility(
      compat(
        'required_protocol_major = 1\nmin_palyra_version = "0.0.1"\nmax_palyra_version = "0.1.0"',
      ),
    );
    incompatible(
      compat(
        'required_protocol_major = 1\nmin_palyra_version = "0.0.1"\nmax_palyra_version = "0.0.9"',
      ),
      "current runtime version 0.1.0 is higher than supported maximum 0.0.9",
      "compat.max_palyra_version",
    );
  });

  test("the protocol check comes first, then min, then max", () => {
    incompatible(
      compat(
        'required_protocol_major = 3\nmin_palyra_version = "9.0.0"\nmax_palyra_version = "9.0.0"',
      ),
      "requested min protocol major 3 is higher than current 1",
      "compat.required_protocol_major",
    );
    incompatible(
      compat(
        'required_protocol_major = 1\nmin_palyra_version = "0.2.0"\nmax_palyra_version = "0.2.0"',
      ),
      "requested min runtime version 0.2.0 is higher than current 0.1.0",
      "compat.min_palyra_version",
    );
  });

  test("a custom target runtime is honoured", () => {
    const target = { version: "2.5.0", protocolMajor: 3 };
    const ok = compat(
      'required_protocol_major = 3\nmin_palyra_version = "2.5.0"\nmax_palyra_version = "2.10.0"',
    );
    checkRuntimeCompatibility(ok, target);
    incompatible(
      ok,
      "requested min protocol major 3 is higher than current 1",
      "compat.required_protocol_major",
    );
    incompatible(
      compat('required_protocol_major = 4\nmin_palyra_version = "0.1.0"'),
      "requested min protocol major 4 is higher than current 3",
      "compat.required_protocol_major",
      target,
    );
    incompatible(
      compat('required_protocol_major = 1\nmin_palyra_version = "2.5.1"'),
      "requested min runtime version 2.5.1 is higher than current 2.5.0",
      "compat.min_palyra_version",
      target,
    );
    incompatible(
      compat(
        'required_protocol_major = 1\nmin_palyra_version = "0.1.0"\nmax_palyra_version = "2.4.99"',
      ),
      "current runtime version 2.5.0 is higher than supported maximum 2.4.99",
      "compat.max_palyra_version",
      target,
    );
  });

  test("aliases feed the compatibility check", () => {
    const m = parseManifest(
      manifest([
        ["required_protocol_major = 1", "min_protocol_major = 2"],
        ['min_palyra_version = "0.1.0"', 'min_runtime_version = "0.1.0"'],
      ]),
    );
    incompatible(
      m,
      "requested min protocol major 2 is higher than current 1",
      "compat.required_protocol_major",
    );
  });
});
