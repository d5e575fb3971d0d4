/**
 * SBOM / provenance checks (ref-notes §4.1, §4.2), the derived views (capability grants and
 * policy bindings, §8) and the canonical TOML writer (§3.7) with manifest round trips.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { parse as parseToml } from "smol-toml";
import { validateProvenance, validateSbom } from "../../src/artifact/attestations.ts";
import { canonicalManifest } from "../../src/artifact/canonical-manifest.ts";
import { capabilityGrants, policyBindings } from "../../src/artifact/derived.ts";
import { type ErrorCode, SkillError } from "../../src/artifact/errors.ts";
import { parseManifest, type SkillManifest } from "../../src/artifact/manifest.ts";
import { stringifyToml, tomlString } from "../../src/artifact/toml-writer.ts";
import { readArchive } from "../../src/artifact/zip-reader.ts";
import { exampleFile } from "../support/fixtures.ts";

type TomlDocument = Parameters<typeof stringifyToml>[0];

/** smol-toml builds null-prototype objects; compare plain copies. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function expectError(fn: () => unknown, code: ErrorCode, message: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected ${code}, but nothing was thrown`);
  assert.ok(caught instanceof SkillError, `expected SkillError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (typeof message === "string") assert.equal(caught.message, message);
  else assert.match(caught.message, message);
}

const bytes = (text: string): Buffer => Buffer.from(text, "utf8");

// ---------------------------------------------------------------------------------------------
// SBOM (§4.1)
// ---------------------------------------------------------------------------------------------

describe("SBOM validation", () => {
  const PASS: [string, Uint8Array][] = [
    ["the echo-http example", exampleFile("echo-http", "sbom.cdx.json")],
    ["the fetch-anything example", exampleFile("fetch-anything", "sbom.cdx.json")],
    ["a minimal document", bytes('{"bomFormat":"CycloneDX","specVersion":"1.6"}')],
    ["surrounding whitespace", bytes(' \n\t{"bomFormat":"CycloneDX","specVersion":"1.5"}\r\n ')],
    ["a blank but non-empty specVersion", bytes('{"bomFormat":"CycloneDX","specVersion":" "}')],
    ["extra fields", bytes('{"bomFormat":"CycloneDX","specVersion":"1.4","components":[{}]}')],
  ];
  for (const [name, input] of PASS) {
    test(`accepts ${name}`, () => {
      validateSbom(input);
    });
  }

  const PARSE = /^invalid SBOM payload: /;
  const NOT_OBJECT = "SBOM must be JSON object";
  const FORMAT = "sbom.cdx.json must declare bomFormat='CycloneDX'";
  const SPEC = "sbom.cdx.json must include specVersion";
  const FAIL: [string, Uint8Array, string | RegExp][] = [
    ["truncated JSON", bytes('{"bomFormat":"CycloneDX"'), PARSE],
    ["empty input", bytes(""), PARSE],
    ["trailing garbage", bytes('{"bomFormat":"CycloneDX","specVersion":"1.6"} x'), PARSE],
    ["two documents", bytes('{"bomFormat":"CycloneDX","specVersion":"1.6"}{}'), PARSE],
    ["invalid UTF-8", Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), PARSE],
    // serde_json rejects a byte-order mark (ref-notes §4.1).
    [
      "a UTF-8 byte-order mark",
      bytes('\ufeff{"bomFormat":"CycloneDX","specVersion":"1.6"}'),
      PARSE,
    ],
    ["an array", bytes("[]"), NOT_OBJECT],
    ["null", bytes("null"), NOT_OBJECT],
    ["a string", bytes('"CycloneDX"'), NOT_OBJECT],
    ["a number", bytes("1"), NOT_OBJECT],
    ["a missing bomFormat", bytes('{"specVersion":"1.6"}'), FORMAT],
    ["a lower-case bomFormat", bytes('{"bomFormat":"cyclonedx","specVersion":"1.6"}'), FORMAT],
    ["a padded bomFormat", bytes('{"bomFormat":"CycloneDX ","specVersion":"1.6"}'), FORMAT],
    ["SPDX", bytes('{"bomFormat":"SPDX","specVersion":"1.6"}'), FORMAT],
    ["a non-string bomFormat", bytes('{"bomFormat":["CycloneDX"],"specVersion":"1.6"}'), FORMAT],
    ["a missing specVersion", bytes('{"bomFormat":"CycloneDX"}'), SPEC],
    ["an empty specVersion", bytes('{"bomFormat":"CycloneDX","specVersion":""}'), SPEC],
    ["a numeric specVersion", bytes('{"bomFormat":"CycloneDX","specVersion":1.6}'), SPEC],
    ["a null specVersion", bytes('{"bomFormat":"CycloneDX","specVersion":null}'), SPEC],
    ["bomFormat before specVersion", bytes('{"bomFormat":"x","specVersion":""}'), FORMAT],
  ];
  for (const [name, input, message] of FAIL) {
    test(`rejects ${name}`, () => {
      expectError(() => validateSbom(input), "SBOM_INVALID", message);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Provenance (§4.2)
// ---------------------------------------------------------------------------------------------

describe("provenance validation", () => {
  const PASS: [string, Uint8Array][] = [
    ["the echo-http example", exampleFile("echo-http", "provenance.json")],
    [
      "the reference example",
      bytes(
        '{"builder":{"id":"local-dev"},"subject":[{"name":"module.wasm","digest":{"sha256":"placeholder-generated-at-build"}}]}',
      ),
    ],
    ["an empty builder and any subject element", bytes('{"builder":{},"subject":[1]}')],
  ];
  for (const [name, input] of PASS) {
    test(`accepts ${name}`, () => {
      validateProvenance(input);
    });
  }

  const PARSE = /^invalid provenance payload: /;
  const NOT_OBJECT = "provenance must be JSON object";
  const BUILDER = "provenance must include builder object";
  const SUBJECT = "provenance must include non-empty subject array";
  const FAIL: [string, Uint8Array, string | RegExp][] = [
    ["malformed JSON", bytes('{"builder":{},'), PARSE],
    ["trailing garbage", bytes('{"builder":{},"subject":[1]},'), PARSE],
    ["a UTF-8 byte-order mark", bytes('\ufeff{"builder":{},"subject":[1]}'), PARSE],
    ["an array", bytes('[{"builder":{},"subject":[1]}]'), NOT_OBJECT],
    ["null", bytes("null"), NOT_OBJECT],
    ["a missing builder", bytes('{"subject":[1]}'), BUILDER],
    ["an array builder", bytes('{"builder":[],"subject":[1]}'), BUILDER],
    ["a string builder", bytes('{"builder":"local-dev","subject":[1]}'), BUILDER],
    ["a null builder", bytes('{"builder":null,"subject":[1]}'), BUILDER],
    ["a missing subject", bytes('{"builder":{}}'), SUBJECT],
    ["an empty subject", bytes('{"builder":{},"subject":[]}'), SUBJECT],
    ["an object subject", bytes('{"builder":{},"subject":{"name":"m"}}'), SUBJECT],
    ["a string subject", bytes('{"builder":{},"subject":"m"}'), SUBJECT],
    ["builder before subject", bytes('{"builder":1,"subject":[]}'), BUILDER],
  ];
  for (const [name, input, message] of FAIL) {
    test(`rejects ${name}`, () => {
      expectError(() => validateProvenance(input), "PROVENANCE_INVALID", message);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Manifests used below
// ---------------------------------------------------------------------------------------------

const SHA_A = "a".repeat(64);
const SHA_B = "b".repeat(64);

/** The reference's echo-http test manifest (ref-notes §3.7 / §8), written in a scrambled layout. */
const REFERENCE_ECHO = `publisher = "acme"
version = "1.0.0"
name = "Echo + HTTP"
skill_id = "acme.echo_http"

[compat]
min_palyra_version = "0.1.0"
required_protocol_major = 1

[[entrypoints.tools]]
description = "Echo payload"
name = "echo"
id = "acme.echo"
output_schema = { properties = { echo = { type = "string" } }, type = "object" }
input_schema = { type = "object", properties = { text = { type = "string" } } }

[[entrypoints.tools]]
id = "acme.http_get"
name = "http_get"
description = "Fetch a URL"
input_schema = { type = "object", properties = { url = { type = "string" } } }
output_schema = { type = "object", properties = { status = { type = "integer" } } }
risk = { requires_approval = true, default_sensitive = true }

[capabilities.quotas]
max_memory_bytes = 33554432
fuel_budget = 5000000
wall_clock_timeout_ms = 2000

[capabilities]
http_egress_allowlist = ["api.example.com"]
filesystem = { write_roots = ["skills/cache"], read_roots = ["skills/data"] }
secrets = [{ key_names = ["api_token"], scope = "skill:acme.echo_http" }]

[[integrity.files]]
path = "assets/templates/prompt.txt"
sha256 = "${SHA_A}"

[[integrity.files]]
path = "modules/module.wasm"
sha256 = "${SHA_B}"

[operator]
docs_url = "https://example.com/skills/echo-http"
tags = ["sample", "echo"]
categories = ["messaging", "network"]
description = "Operator-facing sample skill used by regression tests."
summary = "Echoes a payload and can call one external API."
display_name = "Echo HTTP"

[operator.plugin]
default_entrypoint = "run"
default_module_path = "modules/module.wasm"
default_tool_id = "acme.echo"

[operator.config]
required = ["api_base_url", "api_token"]

[operator.config.properties.api_token]
redacted = true
description = "Credential used by the sample skill"
title = "API token"
type = "string"

[operator.config.properties.api_base_url]
default = "https://api.example.com"
description = "Outbound endpoint"
title = "API base URL"
type = "string"
`;

/** What the reference's toml::to_string_pretty prints for it (ref-notes §3.7 golden). */
const REFERENCE_ECHO_CANONICAL = `manifest_version = 2
skill_id = "acme.echo_http"
name = "Echo + HTTP"
version = "1.0.0"
publisher = "acme"

[[entrypoints.tools]]
id = "acme.echo"
name = "echo"
description = "Echo payload"

[entrypoints.tools.input_schema]
type = "object"

[entrypoints.tools.input_schema.properties.text]
type = "string"

[entrypoints.tools.output_schema]
type = "object"

[entrypoints.tools.output_schema.properties.echo]
type = "string"

[entrypoints.tools.risk]
default_sensitive = false
requires_approval = false

[[entrypoints.tools]]
id = "acme.http_get"
name = "http_get"
description = "Fetch a URL"

[entrypoints.tools.input_schema]
type = "object"

[entrypoints.tools.input_schema.properties.url]
type = "string"

[entrypoints.tools.output_schema]
type = "object"

[entrypoints.tools.output_schema.properties.status]
type = "integer"

[entrypoints.tools.risk]
default_sensitive = true
requires_approval = true

[capabilities]
http_egress_allowlist = ["api.example.com"]
device_capabilities = []
node_capabilities = []

[capabilities.filesystem]
read_roots = ["skills/data"]
write_roots = ["skills/cache"]

[[capabilities.secrets]]
scope = "skill:acme.echo_http"
key_names = ["api_token"]

[capabilities.quotas]
wall_clock_timeout_ms = 2000
fuel_budget = 5000000
max_memory_bytes = 33554432

[capabilities.wildcard_opt_in]
filesystem = false
http_egress = false
secrets = false
device = false
node = false

[compat]
required_protocol_major = 1
min_palyra_version = "0.1.0"

[[integrity.files]]
path = "assets/templates/prompt.txt"
sha256 = "${SHA_A}"

[[integrity.files]]
path = "modules/module.wasm"
sha256 = "${SHA_B}"

[operator]
display_name = "Echo HTTP"
summary = "Echoes a payload and can call one external API."
description = "Operator-facing sample skill used by regression tests."
categories = [
    "messaging",
    "network",
]
tags = [
    "sample",
    "echo",
]
docs_url = "https://example.com/skills/echo-http"

[operator.plugin]
default_tool_id = "acme.echo"
default_module_path = "modules/module.wasm"
default_entrypoint = "run"

[operator.config]
schema_version = 1
required = [
    "api_base_url",
    "api_token",
]

[operator.config.properties.api_base_url]
type = "string"
title = "API base URL"
description = "Outbound endpoint"
default = "https://api.example.com"
redacted = false

[operator.config.properties.api_token]
type = "string"
title = "API token"
description = "Credential used by the sample skill"
redacted = true
`;

/** A v1 manifest using the compat aliases (the older revision of the reference example). */
const LEGACY = `manifest_version = 1
skill_id = "acme.legacy"
name = "Legacy"
version = "0.1.0"
publisher = "acme"

[[entrypoints.tools]]
id = "acme.legacy.run"
name = "run"
description = "Runs"
input_schema = {}
output_schema = {}

[compat]
min_protocol_major = 1
min_runtime_version = "0.1.0"
`;

/** Exercises operator/plugin/config/builder fields and awkward strings, keys and schemas. */
const FULL = `manifest_version = 2
skill_id = "acme.full-skill"
name = "Full \\"quoted\\" skill"
version = "+01.2.3"
publisher = "acme"

[[entrypoints.tools]]
id = "acme.search"
name = "search"
description = """
Searches things.
It's multi-line, with a "quote" and a \\\\ backslash.\\r
"""
risk = { default_sensitive = true }

[entrypoints.tools.input_schema]
type = "object"
required = ["q", "limit"]
additionalProperties = false
"x-empty" = {}
"a.b" = { "it's" = "key with quote", 'say "hi"' = 1 }

[entrypoints.tools.input_schema.properties.q]
type = "string"
minLength = 1
pattern = '^\\w+$'

[entrypoints.tools.input_schema.properties.limit]
type = "integer"
minimum = 1
maximum = 100
default = 10
multipleOf = 0.5

[[entrypoints.tools.input_schema.oneOf]]
required = ["q"]

[[entrypoints.tools.input_schema.oneOf]]
required = ["limit"]
not = {}

[entrypoints.tools.output_schema]
type = "array"
items = { anyOf = [{ type = "string" }, { type = "null" }] }
enum = [[1, 2], ["a"], []]

[[entrypoints.tools]]
id = "acme.ping"
name = "ping"
description = "tab\\there, ctl \\u0001 char and del \\u007F"
input_schema = {}
output_schema = { type = "object", properties = {} }
risk = { requires_approval = true }

[capabilities]
http_egress_allowlist = ["api.example.com", "*.cdn.example.com"]
device_capabilities = ["camera"]
node_capabilities = ["gpu", "*"]

[capabilities.filesystem]
read_roots = ["skills/*"]
write_roots = []

[[capabilities.secrets]]
scope = "global"
key_names = ["a", "b"]

[[capabilities.secrets]]
scope = "principal:admin:ops"
key_names = ["*"]

[capabilities.wildcard_opt_in]
filesystem = true
http_egress = true
secrets = true
node = true

[compat]
min_protocol_major = 0
min_runtime_version = "0.0.1"
max_palyra_version = "0.9.0"

[builder]
experimental = true
source_kind = "prompt"
source_ref = "builder://session/42?x='y'"
rollout_flag = "skills.builder.v1"

[builder.checklist]
capability_declaration_path = "builder/capabilities.json"
provenance_path = "builder\\\\provenance.json"
test_harness_path = "builder/tests.json"
review_notes = '''
Reviewed "twice" \\ once more'''

[operator]
display_name = "Full"
summary = "Uses everything"
categories = ["search"]
tags = []
docs_url = "https://example.com/docs/full"

[operator.plugin]
plugin_id = "acme.full_plugin"
abi_major = 1
default_tool_id = "acme.search"
default_module_path = "modules/full.wasm"
default_entrypoint = "run"
risk = "privileged"
storage_prefixes = ["plugins/full/*"]
outbound_hosts = ["api.example.com", "*.example.org"]
secret_scopes = ["skill:acme.full-skill"]
event_subscriptions = ["skill.updated", "skill.removed"]

[[operator.plugin.contracts]]
kind = "memory_provider"

[[operator.plugin.contracts]]
kind = "plugin_lifecycle_hook"
version = 1

[[operator.plugin.required_capabilities]]
class = "http_host"
value = "api.example.com"

[[operator.plugin.required_capabilities]]
class = "secret"
value = "skill:acme.full-skill"

[[operator.plugin.optional_capabilities]]
class = "event_subscription"
value = "skill.updated"

[operator.plugin.compatibility]
min_abi_major = 1
max_abi_major = 2
host_versions = ["0.1.x"]

[operator.config]
schema_version = 3
required = ["mode"]

[operator.config.properties.mode]
type = "string"
enum_values = ["fast", "slow"]
default = "fast"

[operator.config.properties.ratio]
type = "number"
default = 0.25

[operator.config.properties.retries]
type = "integer"
default = 3
title = "Retries"

[operator.config.properties.verbose]
type = "boolean"
default = false

[operator.config.properties.hosts]
type = "string_list"
default = ["a", "b"]
description = "Host list"

[operator.config.properties.empty_list]
type = "string_list"
default = []

[operator.config.properties.api_token]
type = "string"
redacted = true
`;

function canonicalToml(m: SkillManifest): string {
  return stringifyToml(canonicalManifest(m) as TomlDocument);
}

function vectorManifest(): string {
  const entries = readArchive(
    readFileSync(new URL("../vectors/independent/ok.palyra-skill", import.meta.url)),
  );
  const toml = entries.find((e) => e.path === "skill.toml");
  assert.ok(toml !== undefined);
  return toml.data.toString("utf8");
}

// ---------------------------------------------------------------------------------------------
// Derived views (§8)
// ---------------------------------------------------------------------------------------------

describe("capability grants", () => {
  test("the reference echo-http manifest", () => {
    assert.deepEqual(plain(capabilityGrants(parseManifest(REFERENCE_ECHO))), {
      http_hosts: ["api.example.com"],
      secret_keys: ["skill:acme.echo_http/api_token"],
      storage_prefixes: ["skills/cache"],
      channels: [],
    });
  });

  test("the repository echo-http example", () => {
    const m = parseManifest(exampleFile("echo-http", "skill.toml").toString("utf8"));
    assert.deepEqual(plain(capabilityGrants(m)), {
      http_hosts: ["echo.acme.example"],
      secret_keys: [],
      storage_prefixes: [],
      channels: [],
    });
  });

  test("http hosts: trimmed, byte-sorted, de-duplicated, not lowercased, wildcards kept", () => {
    const m = parseManifest(FULL);
    m.capabilities.http_egress_allowlist = [
      " b.example.com",
      "a.example.com",
      "b.example.com ",
      "API.example.com",
      "api.example.com.",
      "*.cdn.example.com",
      "",
      "   ",
    ];
    assert.deepEqual(capabilityGrants(m).http_hosts, [
      "*.cdn.example.com",
      "API.example.com",
      "a.example.com",
      "api.example.com.",
      "b.example.com",
    ]);
  });

  test("http hosts from a parsed manifest keep their raw spelling", () => {
    const m = parseManifest(
      REFERENCE_ECHO.replace(
        'http_egress_allowlist = ["api.example.com"]',
        'http_egress_allowlist = ["Zeta.example.com.", " api.example.com ", "api.example.com"]',
      ),
    );
    assert.deepEqual(capabilityGrants(m).http_hosts, ["Zeta.example.com.", "api.example.com"]);
  });

  test("secret keys: '<scope>/<key>' from raw strings, sorted and de-duplicated", () => {
    const m = parseManifest(FULL);
    m.capabilities.secrets = [
      { scope: "skill:b", key_names: ["z", "a"] },
      { scope: "global", key_names: ["k"] },
      { scope: "skill:b", key_names: ["a"] },
      { scope: " global", key_names: ["k "] },
    ];
    assert.deepEqual(capabilityGrants(m).secret_keys, [
      " global/k ",
      "global/k",
      "skill:b/a",
      "skill:b/z",
    ]);
  });

  test("storage prefixes are the write roots only (trimmed, blanks dropped, sorted, unique)", () => {
    const m = parseManifest(REFERENCE_ECHO);
    m.capabilities.filesystem.read_roots = ["read/only"];
    m.capabilities.filesystem.write_roots = [" cache/b", "cache/a", "cache/a", "", "cache/b"];
    assert.deepEqual(capabilityGrants(m).storage_prefixes, ["cache/a", "cache/b"]);
  });

  test("channels are always empty, even with node and device capabilities", () => {
    const grants = capabilityGrants(parseManifest(FULL));
    assert.deepEqual(plain(grants), {
      http_hosts: ["*.cdn.example.com", "api.example.com"],
      secret_keys: ["global/a", "global/b", "principal:admin:ops/*"],
      storage_prefixes: [],
      channels: [],
    });
  });
});

describe("policy bindings", () => {
  const skill = (action: string, id = "acme.echo_http") => ({
    action: `skill.capability.${action}`,
    resource: `skill:${id}`,
    requires_approval: true,
  });
  const tool = (id: string, requiresApproval: boolean) => ({
    action: "tool.execute",
    resource: `tool:${id}`,
    requires_approval: requiresApproval,
  });

  test("the reference echo-http example (ref-notes §8)", () => {
    assert.deepEqual(plain(policyBindings(parseManifest(REFERENCE_ECHO))), [
      skill("filesystem.write"),
      skill("http.egress"),
      skill("vault.read"),
      tool("acme.echo", false),
      tool("acme.http_get", true),
    ]);
  });

  test("the repository echo-http example", () => {
    const m = parseManifest(exampleFile("echo-http", "skill.toml").toString("utf8"));
    assert.deepEqual(plain(policyBindings(m)), [skill("http.egress"), tool("acme.echo", false)]);
  });

  test("capability bindings sort before tools; tools sort by resource", () => {
    const m = parseManifest(REFERENCE_ECHO);
    const base = m.entrypoints.tools[0] as SkillManifest["entrypoints"]["tools"][number];
    m.entrypoints.tools = [
      { ...base, id: "acme.zeta", risk: { default_sensitive: true, requires_approval: false } },
      { ...base, id: "acme.alpha", risk: { default_sensitive: false, requires_approval: false } },
      { ...base, id: "acme.mid", risk: { default_sensitive: false, requires_approval: true } },
    ];
    m.capabilities.node_capabilities = ["gpu"];
    assert.deepEqual(plain(policyBindings(m)), [
      skill("device.use"),
      skill("filesystem.write"),
      skill("http.egress"),
      skill("vault.read"),
      tool("acme.alpha", false),
      tool("acme.mid", true),
      tool("acme.zeta", true),
    ]);
  });

  test("a tool requires approval when sensitive or when it asks for approval", () => {
    const m = parseManifest(FULL);
    assert.deepEqual(
      plain(policyBindings(m)).filter((b) => b.action === "tool.execute"),
      [tool("acme.ping", true), tool("acme.search", true)],
    );
  });

  test("read roots alone add no filesystem binding; device or node add one device.use", () => {
    const m = parseManifest(FULL);
    assert.deepEqual(
      plain(policyBindings(m)).filter((b) => b.action !== "tool.execute"),
      [
        skill("device.use", "acme.full-skill"),
        skill("http.egress", "acme.full-skill"),
        skill("vault.read", "acme.full-skill"),
      ],
    );
    m.capabilities.device_capabilities = [];
    assert.deepEqual(
      policyBindings(m).filter((b) => b.action === "skill.capability.device.use").length,
      1,
    );
    m.capabilities.node_capabilities = [];
    assert.deepEqual(
      policyBindings(m).filter((b) => b.action === "skill.capability.device.use").length,
      0,
    );
  });

  test("no capabilities: only tool bindings", () => {
    assert.deepEqual(plain(policyBindings(parseManifest(LEGACY))), [
      tool("acme.legacy.run", false),
    ]);
  });

  test("duplicates collapse; false sorts before true for the same action and resource", () => {
    const m = parseManifest(LEGACY);
    const base = m.entrypoints.tools[0] as SkillManifest["entrypoints"]["tools"][number];
    m.entrypoints.tools = [
      { ...base, id: "acme.x", risk: { default_sensitive: false, requires_approval: true } },
      { ...base, id: "acme.x", risk: { default_sensitive: false, requires_approval: false } },
      { ...base, id: "acme.x", risk: { default_sensitive: true, requires_approval: true } },
      { ...base, id: "acme.x", risk: { default_sensitive: false, requires_approval: false } },
    ];
    assert.deepEqual(plain(policyBindings(m)), [tool("acme.x", false), tool("acme.x", true)]);
  });

  test("resources use the raw skill id and tool ids", () => {
    const m = parseManifest(
      REFERENCE_ECHO.replace('id = "acme.http_get"', 'id = " acme.http_get"'),
    );
    assert.deepEqual(
      plain(policyBindings(m)).map((b) => b.resource),
      [
        "skill:acme.echo_http",
        "skill:acme.echo_http",
        "skill:acme.echo_http",
        "tool: acme.http_get",
        "tool:acme.echo",
      ],
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The canonical TOML writer (§3.7)
// ---------------------------------------------------------------------------------------------

describe("TOML string quoting", () => {
  const CASES: [string, string, string][] = [
    ["fast path", "a-b_c./ :Z9", '"a-b_c./ :Z9"'],
    ["empty", "", '""'],
    ["apostrophe", "it's", `"it's"`],
    ["double quotes", 'say "hi"', `'say "hi"'`],
    ["backslash", "back\\slash", "'back\\slash'"],
    ["newline", "a\nb", '"""\na\nb"""'],
    ["tab", "tab\tx", '"tab\tx"'],
    ["control character", "ctl\u0001x", '"ctl\\u0001x"'],
    ["both quote kinds", `both ' and "`, `"""both ' and """"`],
    ["CRLF", "a\r\nb", '"""\na\\r\nb"""'],
    ["non-ASCII", "héllo ✓", '"héllo ✓"'],
    ["both quotes and a backslash", `a'b"c\\`, `'''a'b"c\\'''`],
    ["three double quotes and an apostrophe", `x"""'y`, `'''x"""'y'''`],
    ["DEL", "d\u007fe", '"d\\u007Fe"'],
    ["lone carriage return", "a\rb", '"a\\rb"'],
    ["newline, quotes, apostrophes and a backslash", `a\n'''"""\\`, '"""\na\n\'\'\'""\\"\\\\"""'],
  ];
  for (const [name, input, expected] of CASES) {
    test(`${name}: ${JSON.stringify(input)} -> ${expected}`, () => {
      assert.equal(tomlString(input), expected);
      assert.equal(stringifyToml({ k: input }), `k = ${expected}\n`);
      assert.equal((parseToml(`k = ${expected}`) as { k: string }).k, input);
    });
  }
});

describe("TOML layout", () => {
  test("keys are bare or quoted as needed", () => {
    assert.equal(
      stringifyToml({
        bare_Key_1: 1,
        "a.b": 2,
        'q"uote': 3,
        "it's": 4,
        "both'\"": 5,
        "": 6,
        ü: 7,
      }),
      'bare_Key_1 = 1\n"a.b" = 2\n\'q"uote\' = 3\n"it\'s" = 4\n"both\'\\"" = 5\n"" = 6\n"ü" = 7\n',
    );
  });

  test("arrays: empty and single inline, two or more one per line with a trailing comma", () => {
    assert.equal(
      stringifyToml({ none: [], one: ["x"], two: ["a", "b"], nums: [1, 2, 3] }),
      'none = []\none = ["x"]\ntwo = [\n    "a",\n    "b",\n]\nnums = [\n    1,\n    2,\n    3,\n]\n',
    );
  });

  test("plain values come before sub-tables whatever the insertion order", () => {
    assert.equal(
      stringifyToml({ t: { x: 1 }, list: [{ y: 2 }], a: "v", b: true }),
      'a = "v"\nb = true\n\n[t]\nx = 1\n\n[[list]]\ny = 2\n',
    );
  });

  test("intermediate tables holding only tables get no header", () => {
    assert.equal(stringifyToml({ a: { b: { c: { d: 1 } } } }), "[a.b.c]\nd = 1\n");
    assert.equal(
      stringifyToml({ entrypoints: { tools: [{ id: "x" }, { id: "y" }] } }),
      '[[entrypoints.tools]]\nid = "x"\n\n[[entrypoints.tools]]\nid = "y"\n',
    );
  });

  test("empty tables keep their header", () => {
    assert.equal(stringifyToml({ a: {} }), "[a]\n");
    assert.equal(stringifyToml({ a: { b: {} } }), "[a.b]\n");
    assert.equal(
      stringifyToml({ x: 1, a: { b: {}, c: { d: {} } } }),
      "x = 1\n\n[a.b]\n\n[a.c.d]\n",
    );
  });

  test("an empty array of tables is an inline [] among the plain values", () => {
    assert.equal(
      stringifyToml({ caps: { hosts: ["h"], filesystem: { r: [] }, secrets: [], dev: [] } }),
      '[caps]\nhosts = ["h"]\nsecrets = []\ndev = []\n\n[caps.filesystem]\nr = []\n',
    );
  });

  test("arrays of tables nest under the element they belong to", () => {
    assert.equal(
      stringifyToml({ t: [{ id: 1, s: { oneOf: [{ a: 1 }, {}] } }] }),
      "[[t]]\nid = 1\n\n[[t.s.oneOf]]\na = 1\n\n[[t.s.oneOf]]\n",
    );
  });

  test("quoted keys in table headers", () => {
    assert.equal(stringifyToml({ p: { "a.b": { type: "x" } } }), '[p."a.b"]\ntype = "x"\n');
  });

  test("scalars: integers, booleans, fractional floats", () => {
    assert.equal(
      stringifyToml({ i: 42, n: -7, f: 0.25, g: -1.5, t: true, u: false }),
      "i = 42\nn = -7\nf = 0.25\ng = -1.5\nt = true\nu = false\n",
    );
  });

  test("floats never use exponent notation and keep their value (tiny magnitude)", () => {
    // Rust Display prints 1.5e-20 as 0.000000000000000000015.
    assert.equal(stringifyToml({ x: 1.5e-20 }), "x = 0.000000000000000000015\n");
  });

  test("floats never use exponent notation (large magnitude)", () => {
    // 1e21 is beyond any TOML integer, so it can only be a float: Rust prints it in full with .0.
    assert.equal(stringifyToml({ x: 1e21 }), "x = 1000000000000000000000.0\n");
  });

  test("the output ends with exactly one newline and tables are separated by one blank line", () => {
    const out = stringifyToml({ a: 1, t: { b: 2 }, u: { c: 3 } });
    assert.equal(out, "a = 1\n\n[t]\nb = 2\n\n[u]\nc = 3\n");
  });
});

describe("canonical manifest", () => {
  test("the reference echo-http manifest serialises exactly like the reference golden", () => {
    assert.equal(canonicalToml(parseManifest(REFERENCE_ECHO)), REFERENCE_ECHO_CANONICAL);
  });

  test("a v1 manifest from aliases: new compat names and the trailing empty operator", () => {
    const out = canonicalToml(parseManifest(LEGACY));
    assert.ok(out.startsWith("manifest_version = 1\n"));
    assert.ok(
      out.includes('[compat]\nrequired_protocol_major = 1\nmin_palyra_version = "0.1.0"\n'),
      out,
    );
    assert.ok(!out.includes("min_protocol_major") && !out.includes("min_runtime_version"));
    assert.ok(out.endsWith("[operator]\ncategories = []\ntags = []\n\n[operator.plugin]\n"), out);
  });

  test("empty lists and tables: secrets = [] inline, empty schemas keep their header", () => {
    const out = canonicalToml(parseManifest(LEGACY));
    assert.ok(
      out.includes(
        "[capabilities]\nhttp_egress_allowlist = []\nsecrets = []\ndevice_capabilities = []\nnode_capabilities = []\n\n[capabilities.filesystem]\nread_roots = []\nwrite_roots = []\n",
      ),
      out,
    );
    assert.ok(
      out.includes("[entrypoints.tools.input_schema]\n\n[entrypoints.tools.output_schema]\n\n"),
      out,
    );
    assert.ok(out.includes("[integrity]\nfiles = []\n"), out);
    assert.ok(!out.includes("[entrypoints]\n"));
  });

  test("a missing manifest_version is written as 2", () => {
    const out = canonicalToml(parseManifest(LEGACY.replace("manifest_version = 1\n", "")));
    assert.ok(out.startsWith("manifest_version = 2\n"));
  });

  test("plugin lists, risk=internal and absent options are skipped; config fields kept", () => {
    const text = canonicalToml(
      parseManifest(
        `${LEGACY.replace("manifest_version = 1", "manifest_version = 2")}\n[operator.plugin]\nrisk = "internal"\ncontracts = []\nabi_major = 1\n\n[operator.config]\n[operator.config.properties.x]\ntype = "boolean"\n`,
      ),
    );
    assert.ok(
      text.endsWith(
        '[operator]\ncategories = []\ntags = []\n\n[operator.plugin]\nabi_major = 1\n\n[operator.config]\nschema_version = 1\nrequired = []\n\n[operator.config.properties.x]\ntype = "boolean"\nredacted = false\n',
      ),
      text,
    );
  });

  test("the builder section sits between integrity and operator, with defaults written", () => {
    const out = canonicalToml(parseManifest(FULL));
    const builder = out.indexOf("\n[builder]\n");
    assert.ok(out.indexOf("[compat]") < builder && builder < out.indexOf("\n[operator]\n"));
    assert.ok(
      out.includes(
        '[builder]\nexperimental = true\nsource_kind = "prompt"\nsource_ref = "builder://session/42?x=\'y\'"\nrollout_flag = "skills.builder.v1"\nreview_status = ""\n\n[builder.checklist]\n',
      ),
      out,
    );
  });

  test("schema keys are written in sorted order", () => {
    const out = canonicalToml(parseManifest(FULL));
    assert.ok(
      out.includes(
        '[entrypoints.tools.input_schema]\nadditionalProperties = false\nrequired = [\n    "q",\n    "limit",\n]\ntype = "object"\n\n[entrypoints.tools.input_schema."a.b"]\n"it\'s" = "key with quote"\n\'say "hi"\' = 1\n',
      ),
      out,
    );
  });
});

describe("round trip: parse(stringify(canonical(parse(x)))) == parse(x)", () => {
  const SOURCES: [string, () => string][] = [
    ["the repository echo-http example", () => exampleFile("echo-http", "skill.toml").toString()],
    [
      "the repository fetch-anything example",
      () => exampleFile("fetch-anything", "skill.toml").toString(),
    ],
    ["the independent vector ok.palyra-skill", vectorManifest],
    ["the reference echo-http manifest", () => REFERENCE_ECHO],
    ["a v1 manifest with compat aliases", () => LEGACY],
    ["a manifest with operator, plugin, config and builder fields", () => FULL],
  ];
  for (const [name, source] of SOURCES) {
    test(name, () => {
      const original = parseManifest(source());
      const written = canonicalToml(original);
      const reparsed = parseManifest(written);
      assert.deepEqual(plain(reparsed), plain(original));
      // and the canonical form is a fixed point
      assert.equal(canonicalToml(reparsed), written);
    });
  }

  test("the full manifest keeps every awkward string intact", () => {
    const m = parseManifest(canonicalToml(parseManifest(FULL)));
    assert.equal(m.name, 'Full "quoted" skill');
    assert.equal(
      m.entrypoints.tools[0]?.description,
      'Searches things.\nIt\'s multi-line, with a "quote" and a \\ backslash.\r\n',
    );
    assert.equal(m.entrypoints.tools[1]?.description, "tab\there, ctl \u0001 char and del \u007f");
    assert.equal(m.builder?.checklist.review_notes, 'Reviewed "twice" \\ once more');
    assert.equal(m.builder?.checklist.provenance_path, "builder\\provenance.json");
    assert.deepEqual(plain(m.entrypoints.tools[1]?.output_schema), {
      properties: {},
      type: "object",
    });
  });

  test("float values in schemas survive the round trip", () => {
    const source = LEGACY.replace("input_schema = {}", "input_schema = { minimum = 1.5e-20 }");
    const original = parseManifest(source);
    assert.deepEqual(plain(parseManifest(canonicalToml(original))), plain(original));
  });
});
