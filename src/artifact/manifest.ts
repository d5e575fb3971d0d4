import type { ErrorObject, ValidateFunction } from "ajv";
import { parse as parseToml, TomlError } from "smol-toml";
import { SkillError } from "./errors.ts";
import { validate as generatedStructureValidator } from "./generated/manifest-structure.validator.js";
import { compareSemVer, isIdentifier, parseSemVer, type SemVer } from "./identifiers.ts";
import { DEFAULT_RUNTIME_TARGET, type RuntimeTarget } from "./limits.ts";
import { compareUtf8, normalizeEntryPath } from "./paths.ts";
import { parseTomlFast } from "./toml-fast.ts";
import { checkToolSchema } from "./tool-schema.ts";
import { rustTrim } from "./trim.ts";

export { rustTrim } from "./trim.ts";

export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

export interface ToolEntrypoint {
  id: string;
  name: string;
  description: string;
  input_schema: JsonValue;
  output_schema: JsonValue;
  risk: { default_sensitive: boolean; requires_approval: boolean };
}

export interface SecretScope {
  scope: string;
  key_names: string[];
}

export interface WildcardOptIn {
  filesystem: boolean;
  http_egress: boolean;
  secrets: boolean;
  device: boolean;
  node: boolean;
}

export interface Capabilities {
  filesystem: { read_roots: string[]; write_roots: string[] };
  http_egress_allowlist: string[];
  secrets: SecretScope[];
  device_capabilities: string[];
  node_capabilities: string[];
  quotas: { wall_clock_timeout_ms: number; fuel_budget: number; max_memory_bytes: number };
  wildcard_opt_in: WildcardOptIn;
}

export interface IntegrityEntry {
  path: string;
  sha256: string;
}

export interface CapabilityRequirement {
  class: "http_host" | "secret" | "storage_prefix" | "channel" | "event_subscription";
  value: string;
}

export interface PluginMetadata {
  plugin_id?: string;
  abi_major?: number;
  default_tool_id?: string;
  default_module_path?: string;
  default_entrypoint?: string;
  contracts: { kind: string; version: number }[];
  risk: "internal" | "public" | "sensitive" | "privileged";
  required_capabilities: CapabilityRequirement[];
  optional_capabilities: CapabilityRequirement[];
  storage_prefixes: string[];
  outbound_hosts: string[];
  secret_scopes: string[];
  event_subscriptions: string[];
  compatibility?: { min_abi_major: number; max_abi_major: number; host_versions: string[] };
}

export interface ConfigProperty {
  type: "string" | "integer" | "number" | "boolean" | "string_list";
  title?: string;
  description?: string;
  default?: JsonValue;
  redacted: boolean;
  enum_values: string[];
}

export interface OperatorMetadata {
  display_name?: string;
  summary?: string;
  description?: string;
  categories: string[];
  tags: string[];
  docs_url?: string;
  plugin: PluginMetadata;
  config?: {
    schema_version: number;
    required: string[];
    properties: Record<string, ConfigProperty>;
  };
}

export interface BuilderMetadata {
  experimental: boolean;
  source_kind: string;
  source_ref: string;
  rollout_flag: string;
  review_status: string;
  checklist: {
    capability_declaration_path: string;
    provenance_path: string;
    test_harness_path: string;
    review_notes: string;
  };
}

/** A parsed skill.toml with every default filled in, in the reference's field order. */
export interface SkillManifest {
  manifest_version: number;
  skill_id: string;
  name: string;
  version: string;
  publisher: string;
  entrypoints: { tools: ToolEntrypoint[] };
  capabilities: Capabilities;
  compat: {
    required_protocol_major: number;
    min_palyra_version: string;
    max_palyra_version?: string;
  };
  integrity: { files: IntegrityEntry[] };
  builder?: BuilderMetadata;
  operator: OperatorMetadata;
}

export interface ManifestWarning {
  code: string;
  severity: "warning" | "error";
  message: string;
}

/**
 * The schema's (MANIFEST_SCHEMA's) validator, generated ahead of time by Ajv's standalone code
 * (scripts/gen-manifest-validator.ts): compiling it cost every process 80-90 ms and loading Ajv's
 * compiler 20-25 ms more.
 */
function structureValidator(): ValidateFunction {
  return generatedStructureValidator;
}

const COMPAT_ALIASES: Record<string, string> = {
  min_protocol_major: "required_protocol_major",
  min_runtime_version: "min_palyra_version",
};

function invalid(message: string, field?: string): SkillError {
  return new SkillError("MANIFEST_INVALID", `manifest validation failed: ${message}`, field);
}

function parseError(message: string, field?: string): SkillError {
  return new SkillError("MANIFEST_PARSE_ERROR", `manifest parse failed: ${message}`, field);
}

function fieldOf(error: ErrorObject): string {
  const path = error.instancePath
    .split("/")
    .slice(1)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join("")
    .replace(/^\./, "");
  if (error.keyword === "additionalProperties") {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    return path ? `${path}.${extra}` : extra;
  }
  if (error.keyword === "required") {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    return path ? `${path}.${missing}` : missing;
  }
  return path || "(root)";
}

function describeStructureError(error: ErrorObject): SkillError {
  const field = fieldOf(error);
  switch (error.keyword) {
    case "additionalProperties":
      return parseError(`unknown field \`${field}\``, field);
    case "required":
      return parseError(`missing field \`${field}\``, field);
    case "enum":
      return parseError(
        `${field}: unknown variant, expected one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => `\`${v}\``).join(", ")}`,
        field,
      );
    default:
      return parseError(`${field}: ${error.message ?? "invalid value"}`, field);
  }
}

const INTEGER_FIELDS = [
  "manifest_version",
  "capabilities.quotas.wall_clock_timeout_ms",
  "capabilities.quotas.fuel_budget",
  "capabilities.quotas.max_memory_bytes",
  "compat.required_protocol_major",
  "operator.plugin.abi_major",
  "operator.plugin.compatibility.min_abi_major",
  "operator.plugin.compatibility.max_abi_major",
  "operator.config.schema_version",
].map((field) => ({ field, path: field.split(".") }));

/** Config properties whose `default` was written as a TOML float (`1.0` is not an integer). */
const floatDefaults = new WeakSet<object>();

function child(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/** Typed integer fields reject TOML floats, as serde does for the reference's u32/u64 fields. */
function rejectFloatsInIntegerFields(document: Record<string, unknown>): void {
  const floatAt = (value: unknown, field: string) => {
    if (typeof value === "number") {
      throw parseError(
        `${field}: invalid type: floating point \`${value}\`, expected an integer`,
        field,
      );
    }
  };
  for (const { field, path } of INTEGER_FIELDS) {
    let value: unknown = document;
    for (const key of path) value = child(value, key);
    floatAt(value, field);
  }
  const contracts = child(child(document.operator, "plugin"), "contracts");
  if (Array.isArray(contracts)) {
    contracts.forEach((c, i) => {
      floatAt(child(c, "version"), `operator.plugin.contracts[${i}].version`);
    });
  }
  const properties = child(child(document.operator, "config"), "properties");
  if (typeof properties === "object" && properties !== null) {
    for (const property of Object.values(properties)) {
      if (
        typeof property === "object" &&
        property !== null &&
        typeof child(property, "default") === "number"
      ) {
        floatDefaults.add(property);
      }
    }
  }
}

function pathText(path: readonly (string | number)[]): string {
  return (
    path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("") ||
    "(root)"
  );
}

/**
 * TOML values to the JSON data model: BigInt integers back to numbers (integers past 2^53
 * cannot be represented exactly here) and no date-times (JSON has none). The path is built
 * only for an error message: this walk is on the verification hot path.
 */
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

function fromToml(value: unknown, path: (string | number)[]): unknown {
  if (typeof value === "bigint") {
    if (value > MAX_SAFE || value < MIN_SAFE) {
      const field = pathText(path);
      throw parseError(
        `${field}: integer ${value} is outside the supported range (|n| <= 2^53-1)`,
        field,
      );
    }
    return Number(value);
  }
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Date) {
    const field = pathText(path);
    throw parseError(`${field}: TOML date-time values are not allowed`, field);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      value[i] = fromToml(value[i], path);
      path.pop();
    }
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    path.push(key);
    record[key] = fromToml(record[key], path);
    path.pop();
  }
  return record;
}

/** Renames the compat aliases the reference accepts; giving both names is a duplicate. */
function applyCompatAliases(document: Record<string, unknown>): void {
  const compat = document.compat;
  if (typeof compat !== "object" || compat === null || Array.isArray(compat)) return;
  const table = compat as Record<string, unknown>;
  for (const [alias, name] of Object.entries(COMPAT_ALIASES)) {
    if (!(alias in table)) continue;
    if (name in table)
      throw parseError(
        `duplicate field \`compat.${name}\` (also given as \`${alias}\`)`,
        `compat.${name}`,
      );
    table[name] = table[alias];
    delete table[alias];
  }
}

/** Parses and validates skill.toml text: structure first, then every rule, first failure wins. */
export function parseManifest(text: string): SkillManifest {
  // The fast path's documents hold no floats, date-times or integers past 2^53 (its integers
  // are at most 15 digits, given as numbers): nothing for the two passes below to convert or
  // refuse.
  let document = parseTomlFast(text, { integersAsNumbers: true });
  if (document !== undefined) {
    applyCompatAliases(document);
  } else {
    try {
      // Integers as BigInt: the only way to tell `2` from `2.0`, which the reference's typed
      // integer fields reject.
      document = parseToml(text, { integersAsBigInt: true }) as Record<string, unknown>;
    } catch (error) {
      const message = error instanceof TomlError ? error.message.split("\n")[0] : String(error);
      throw parseError(message ?? "invalid TOML");
    }
    applyCompatAliases(document);
    rejectFloatsInIntegerFields(document);
    document = fromToml(document, []) as Record<string, unknown>;
  }
  const validateStructure = structureValidator();
  if (!validateStructure(document)) {
    const [first] = validateStructure.errors ?? [];
    throw first ? describeStructureError(first) : parseError("invalid manifest");
  }
  const manifest = document as unknown as SkillManifest;
  validateManifest(manifest);
  return manifest;
}

// ---- grammar helpers (messages follow the reference so reports read the same) ----

const LABEL_CHARS = /^[a-z0-9._-]+$/;
const ENTRYPOINT_CHARS = /^[a-z0-9_-]+$/;
const HOST_CHARS = /^[A-Za-z0-9.-]+$/;

export function normalizeIdentifier(value: string, field: string): string {
  const trimmed = rustTrim(value);
  if (trimmed === "") throw invalid(`${field} cannot be empty`, field);
  if (!isIdentifier(trimmed)) throw invalid(`${field} must use [a-z0-9._-:]`, field);
  return trimmed;
}

function checkSkillId(value: string): void {
  const id = normalizeIdentifier(value, "skill_id");
  if (id.includes(":") || id.split(".").some((s) => s === "")) {
    throw invalid("skill_id must use non-empty dot-separated [a-z0-9_-] segments", "skill_id");
  }
}

/** Semantic version as the reference parses it (Rust u32 parts: leading `+` and zeros allowed). */
export function parseManifestSemVer(value: string, field: string): SemVer {
  const parts = rustTrim(value).split(".");
  if (parts.length !== 3)
    throw invalid(`${field} must use semantic version major.minor.patch`, field);
  const names = ["major", "minor", "patch"] as const;
  const numbers = parts.map((part, i) => {
    if (!/^\+?[0-9]+$/.test(part) || Number(part) > 4294967295) {
      throw invalid(`${field} ${names[i]} invalid`, field);
    }
    return Number(part);
  }) as [number, number, number];
  return { major: numbers[0], minor: numbers[1], patch: numbers[2] };
}

function checkCapabilityPath(path: string, wildcardAllowed: boolean, field: string): void {
  if (path.includes("*") && !wildcardAllowed) {
    throw invalid(`capability path '${path}' uses wildcard without explicit opt-in`, field);
  }
  normalizeEntryPath(path);
}

export function checkHost(host: string, wildcardAllowed: boolean, field: string): void {
  if (host.includes("*")) {
    if (wildcardAllowed) return;
    throw invalid(`host '${host}' uses wildcard without explicit opt-in`, field);
  }
  // ASCII-only lowercasing, as Rust's to_ascii_lowercase: U+212A (Kelvin) must not become "k".
  const normalized = rustTrim(host)
    .replace(/\.+$/, "")
    .replace(/[A-Z]/g, (c) => c.toLowerCase());
  const bad =
    normalized === "" ||
    normalized.includes("..") ||
    /^[.-]|[.-]$/.test(normalized) ||
    !HOST_CHARS.test(normalized);
  if (bad) throw invalid(`invalid host '${host}'`, field);
}

function checkSecretScope(scope: string, field: string): void {
  const trimmed = rustTrim(scope);
  if (trimmed === "global") return;
  for (const prefix of ["principal:", "channel:", "skill:"]) {
    if (trimmed.startsWith(prefix)) {
      normalizeIdentifier(trimmed.slice(prefix.length), "capabilities.secrets[].scope");
      return;
    }
  }
  throw invalid(`invalid secret scope '${scope}'`, field);
}

function checkIdentifierOrWildcard(value: string, field: string, allowed: boolean): void {
  if (value.includes("*")) {
    if (allowed) return;
    throw invalid(`${field} contains wildcard without explicit opt-in`, field);
  }
  normalizeIdentifier(value, field);
}

function checkLabel(value: string, field: string): void {
  const trimmed = rustTrim(value);
  if (trimmed === "" || !LABEL_CHARS.test(trimmed))
    throw invalid(`${field} entries must use [a-z0-9._-]`, field);
}

function checkConfigKey(value: string, field: string): void {
  const trimmed = rustTrim(value);
  if (trimmed === "" || !LABEL_CHARS.test(trimmed))
    throw invalid(`${field} keys must use [a-z0-9._-]`, field);
}

function checkOptionalText(value: string | undefined, field: string): void {
  if (value !== undefined && rustTrim(value) === "")
    throw invalid(`${field} cannot be empty`, field);
}

function isJsonObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isOperatorEmpty(operator: OperatorMetadata): boolean {
  const p = operator.plugin;
  const pluginEmpty =
    p.plugin_id === undefined &&
    p.abi_major === undefined &&
    p.default_tool_id === undefined &&
    p.default_module_path === undefined &&
    p.default_entrypoint === undefined &&
    p.compatibility === undefined &&
    p.risk === "internal" &&
    [
      p.contracts,
      p.required_capabilities,
      p.optional_capabilities,
      p.storage_prefixes,
      p.outbound_hosts,
      p.secret_scopes,
      p.event_subscriptions,
    ].every((list) => list.length === 0);
  return (
    operator.display_name === undefined &&
    operator.summary === undefined &&
    operator.description === undefined &&
    operator.docs_url === undefined &&
    operator.categories.length === 0 &&
    operator.tags.length === 0 &&
    operator.config === undefined &&
    pluginEmpty
  );
}

// ---- the rules, in the reference's order ----

function validateManifest(m: SkillManifest): void {
  if (m.manifest_version !== 1 && m.manifest_version !== 2) {
    throw invalid("manifest_version must equal 1 or 2", "manifest_version");
  }
  const publisher = normalizeIdentifier(m.publisher, "publisher");
  checkSkillId(m.skill_id);
  parseManifestSemVer(m.version, "version");
  const min = parseManifestSemVer(m.compat.min_palyra_version, "compat.min_palyra_version");
  if (m.compat.max_palyra_version !== undefined) {
    const max = parseManifestSemVer(m.compat.max_palyra_version, "compat.max_palyra_version");
    if (compareSemVer(max, min) < 0) {
      throw invalid(
        "compat.max_palyra_version must be greater than or equal to compat.min_palyra_version",
        "compat.max_palyra_version",
      );
    }
  }
  if (rustTrim(m.name) === "") throw invalid("name cannot be empty", "name");
  validateTools(m, publisher);
  validateCapabilities(m.capabilities);
  if (m.builder !== undefined) validateBuilder(m.builder);
  validateOperator(m, publisher);
}

function validateTools(m: SkillManifest, publisher: string): void {
  const tools = m.entrypoints.tools;
  if (tools.length === 0) throw invalid("entrypoints.tools cannot be empty", "entrypoints.tools");
  const seen = new Set<string>();
  tools.forEach((tool, i) => {
    const field = `entrypoints.tools[${i}]`;
    const id = normalizeIdentifier(tool.id, "entrypoints.tools[].id");
    if (!id.startsWith(`${publisher}.`)) {
      throw invalid(`tool id '${tool.id}' must be namespaced with '${publisher}.'`, `${field}.id`);
    }
    if (seen.has(id)) throw invalid(`duplicate tool id '${tool.id}'`, `${field}.id`);
    seen.add(id);
    if (rustTrim(tool.name) === "" || rustTrim(tool.description) === "") {
      throw invalid(`tool '${tool.id}' must include non-empty name and description`, field);
    }
    if (!isJsonObject(tool.input_schema) || !isJsonObject(tool.output_schema)) {
      throw invalid(`tool '${tool.id}' schemas must be JSON objects`, field);
    }
    for (const which of ["input_schema", "output_schema"] as const) {
      const problem = checkToolSchema(tool[which]);
      if (problem !== undefined) {
        throw invalid(
          `tool '${tool.id}' ${which} is not a valid JSON Schema: ${problem}`,
          `${field}.${which}`,
        );
      }
    }
  });
}

function validateCapabilities(c: Capabilities): void {
  const optIn = c.wildcard_opt_in;
  c.filesystem.read_roots.forEach((p, i) => {
    checkCapabilityPath(p, optIn.filesystem, `capabilities.filesystem.read_roots[${i}]`);
  });
  c.filesystem.write_roots.forEach((p, i) => {
    checkCapabilityPath(p, optIn.filesystem, `capabilities.filesystem.write_roots[${i}]`);
  });
  c.http_egress_allowlist.forEach((h, i) => {
    checkHost(h, optIn.http_egress, `capabilities.http_egress_allowlist[${i}]`);
  });
  c.secrets.forEach((secret, i) => {
    checkSecretScope(secret.scope, `capabilities.secrets[${i}].scope`);
    if (secret.key_names.length === 0) {
      throw invalid(
        `secret scope '${secret.scope}' must list key_names`,
        `capabilities.secrets[${i}].key_names`,
      );
    }
    for (const key of secret.key_names) {
      checkIdentifierOrWildcard(key, "capabilities.secrets[].key_names", optIn.secrets);
    }
  });
  for (const value of c.device_capabilities) {
    checkIdentifierOrWildcard(value, "capabilities.device_capabilities", optIn.device);
  }
  for (const value of c.node_capabilities) {
    checkIdentifierOrWildcard(value, "capabilities.node_capabilities", optIn.node);
  }
  const q = c.quotas;
  if (q.wall_clock_timeout_ms === 0 || q.max_memory_bytes < 65536 || q.fuel_budget === 0) {
    throw invalid(
      "capabilities.quotas values must be non-zero and memory >= 65536",
      "capabilities.quotas",
    );
  }
}

function validateBuilder(b: BuilderMetadata): void {
  if (!b.experimental) {
    throw invalid(
      "builder.experimental must stay true for generated builder outputs",
      "builder.experimental",
    );
  }
  for (const name of ["source_kind", "source_ref", "rollout_flag"] as const) {
    if (rustTrim(b[name]) === "")
      throw invalid(`builder.${name} cannot be empty`, `builder.${name}`);
  }
  for (const name of [
    "capability_declaration_path",
    "provenance_path",
    "test_harness_path",
  ] as const) {
    const value = b.checklist[name];
    if (rustTrim(value) === "")
      throw invalid(`builder.checklist.${name} cannot be empty`, `builder.checklist.${name}`);
    normalizeEntryPath(value);
  }
}

function validateOperator(m: SkillManifest, publisher: string): void {
  const op = m.operator;
  const empty = isOperatorEmpty(op);
  if (m.manifest_version === 1 && !empty) {
    throw invalid("operator metadata requires manifest_version 2", "operator");
  }
  if (empty) return;
  checkOptionalText(op.display_name, "operator.display_name");
  checkOptionalText(op.summary, "operator.summary");
  checkOptionalText(op.description, "operator.description");
  for (const c of op.categories) checkLabel(c, "operator.categories");
  for (const t of op.tags) checkLabel(t, "operator.tags");
  if (op.docs_url !== undefined) {
    const url = rustTrim(op.docs_url);
    if (url === "" || !url.startsWith("https://") || url.includes(" ") || url.includes("#")) {
      throw invalid(
        "operator.docs_url must be an https URL without fragments or spaces",
        "operator.docs_url",
      );
    }
  }
  validatePlugin(m, publisher);
  if (op.config !== undefined) validateConfig(op.config);
}

function validatePlugin(m: SkillManifest, publisher: string): void {
  const p = m.operator.plugin;
  if (p.default_tool_id !== undefined) {
    const id = normalizeIdentifier(p.default_tool_id, "operator.plugin.default_tool_id");
    if (!m.entrypoints.tools.some((t) => t.id === id)) {
      throw invalid(
        `operator.plugin.default_tool_id '${p.default_tool_id}' must reference an entrypoints.tools id`,
        "operator.plugin.default_tool_id",
      );
    }
    if (!id.startsWith(`${publisher}.`)) {
      throw invalid(
        `operator.plugin.default_tool_id '${p.default_tool_id}' must be namespaced with '${publisher}.'`,
        "operator.plugin.default_tool_id",
      );
    }
  }
  if (p.default_module_path !== undefined) {
    const path = p.default_module_path;
    if (
      path.includes("\0") ||
      path.includes("..") ||
      !path.startsWith("modules/") ||
      !path.endsWith(".wasm")
    ) {
      throw invalid(
        "operator.plugin.default_module_path must reference a modules/*.wasm entry",
        "operator.plugin.default_module_path",
      );
    }
    normalizeEntryPath(path);
  }
  if (p.default_entrypoint !== undefined) {
    const entry = rustTrim(p.default_entrypoint);
    if (entry === "" || !ENTRYPOINT_CHARS.test(entry)) {
      throw invalid(
        "operator.plugin.default_entrypoint must use [a-z0-9_-]",
        "operator.plugin.default_entrypoint",
      );
    }
  }
  if (p.plugin_id !== undefined) {
    const id = normalizeIdentifier(p.plugin_id, "operator.plugin.plugin_id");
    if (!id.startsWith(`${publisher}.`)) {
      throw invalid(
        `operator.plugin.plugin_id '${p.plugin_id}' must be namespaced with '${publisher}.'`,
        "operator.plugin.plugin_id",
      );
    }
  }
  if (p.abi_major !== undefined && p.abi_major !== 1) {
    throw invalid(
      `operator.plugin.abi_major ${p.abi_major} is not supported by this host SDK ABI range 1..=1`,
      "operator.plugin.abi_major",
    );
  }
  for (const list of [p.required_capabilities, p.optional_capabilities]) {
    const seen = new Set<string>();
    for (const requirement of list) {
      const value = rustTrim(requirement.value);
      const field = "operator.plugin capability requirement";
      if (value === "")
        throw invalid("operator.plugin capability requirement values cannot be empty", field);
      if (requirement.class === "http_host") checkHost(requirement.value, false, field);
      else if (requirement.class === "secret") checkSecretScope(requirement.value, field);
      else if (requirement.class === "storage_prefix")
        checkCapabilityPath(requirement.value, false, field);
      else checkConfigKey(requirement.value, field);
      const key = `${requirement.class}\0${value}`;
      if (seen.has(key))
        throw invalid("operator.plugin capability requirements must be unique", field);
      seen.add(key);
    }
  }
  const optIn = m.capabilities.wildcard_opt_in;
  for (const prefix of p.storage_prefixes) {
    checkCapabilityPath(prefix, optIn.filesystem, "operator.plugin.storage_prefixes");
  }
  for (const host of p.outbound_hosts)
    checkHost(host, optIn.http_egress, "operator.plugin.outbound_hosts");
  for (const scope of p.secret_scopes) checkSecretScope(scope, "operator.plugin.secret_scopes");
  for (const event of p.event_subscriptions)
    checkConfigKey(event, "operator.plugin.event_subscriptions");
  if (p.compatibility !== undefined) {
    const c = p.compatibility;
    const field = "operator.plugin.compatibility";
    if (c.min_abi_major === 0 || c.max_abi_major === 0)
      throw invalid(`${field} ABI bounds must be non-zero`, field);
    if (c.min_abi_major > c.max_abi_major)
      throw invalid(`${field} min_abi_major must not exceed max_abi_major`, field);
    for (const v of c.host_versions) checkOptionalText(v, `${field}.host_versions`);
  }
  const kinds = new Set<string>();
  for (const contract of p.contracts) {
    const field = "operator.plugin.contracts";
    if (contract.version === 0)
      throw invalid(`${field} '${contract.kind}' must use a non-zero version`, field);
    if (contract.version !== 1) {
      throw invalid(
        `${field} '${contract.kind}' version ${contract.version} is not supported by this SDK ABI`,
        field,
      );
    }
    if (kinds.has(contract.kind))
      throw invalid(`${field} contains duplicate kind '${contract.kind}'`, field);
    kinds.add(contract.kind);
  }
}

const RUST_TYPE_NAMES = {
  string: "String",
  integer: "Integer",
  number: "Number",
  boolean: "Boolean",
  string_list: "StringList",
} as const;

function defaultMatches(property: ConfigProperty, value: JsonValue): boolean {
  switch (property.type) {
    case "string":
      return typeof value === "string";
    case "integer":
      return typeof value === "number" && Number.isInteger(value) && !floatDefaults.has(property);
    case "number":
      return typeof value === "number";
    case "boolean":
      return typeof value === "boolean";
    case "string_list":
      return Array.isArray(value) && value.every((v) => typeof v === "string");
  }
}

function validateConfig(config: NonNullable<OperatorMetadata["config"]>): void {
  if (config.schema_version === 0) {
    throw invalid(
      "operator.config.schema_version must be non-zero",
      "operator.config.schema_version",
    );
  }
  for (const name of config.required) {
    checkConfigKey(name, "operator.config.required");
    if (!Object.hasOwn(config.properties, name)) {
      throw invalid(
        `operator.config.required references unknown property '${name}'`,
        "operator.config.required",
      );
    }
  }
  for (const name of Object.keys(config.properties).sort(compareUtf8)) {
    const property = config.properties[name] as ConfigProperty;
    const field = `operator.config.properties.${name}`;
    checkConfigKey(name, "operator.config.properties");
    checkOptionalText(property.title, "operator.config.properties[].title");
    checkOptionalText(property.description, "operator.config.properties[].description");
    if (property.enum_values.length > 0) {
      if (property.type !== "string") {
        throw invalid(
          `operator.config property '${name}' enum_values require type='string'`,
          field,
        );
      }
      if (property.enum_values.some((v) => rustTrim(v) === "")) {
        throw invalid(
          `operator.config property '${name}' enum_values cannot contain empty strings`,
          field,
        );
      }
      if (new Set(property.enum_values.map(rustTrim)).size !== property.enum_values.length) {
        throw invalid(`operator.config property '${name}' enum_values must be unique`, field);
      }
    }
    if (property.default !== undefined) {
      if (!defaultMatches(property, property.default)) {
        throw invalid(
          `operator.config property '${name}' default does not match declared type '${RUST_TYPE_NAMES[property.type]}'`,
          field,
        );
      }
      if (
        property.enum_values.length > 0 &&
        !property.enum_values.includes(property.default as string)
      ) {
        throw invalid(
          `operator.config property '${name}' default must be one of enum_values`,
          field,
        );
      }
    }
  }
}

// ---- compat and warnings ----

let lastTarget: { readonly text: string; readonly version: SemVer | undefined } | undefined;

/** The target runtime's version (one per process, in practice), parsed once. */
function targetVersion(text: string): SemVer | undefined {
  if (lastTarget?.text !== text) lastTarget = { text, version: parseSemVer(text) };
  return lastTarget.version;
}

/** The reference's runtime compatibility check, against a configurable target runtime. */
export function checkRuntimeCompatibility(
  m: SkillManifest,
  target: RuntimeTarget = DEFAULT_RUNTIME_TARGET,
): void {
  const current = targetVersion(target.version);
  if (current === undefined)
    throw new Error(`runtime target version ${target.version} is not MAJOR.MINOR.PATCH`);
  if (m.compat.required_protocol_major > target.protocolMajor) {
    throw new SkillError(
      "MANIFEST_INCOMPATIBLE",
      `requested min protocol major ${m.compat.required_protocol_major} is higher than current ${target.protocolMajor}`,
      "compat.required_protocol_major",
    );
  }
  const min = parseManifestSemVer(m.compat.min_palyra_version, "compat.min_palyra_version");
  if (compareSemVer(min, current) > 0) {
    throw new SkillError(
      "MANIFEST_INCOMPATIBLE",
      `requested min runtime version ${m.compat.min_palyra_version} is higher than current ${target.version}`,
      "compat.min_palyra_version",
    );
  }
  if (m.compat.max_palyra_version !== undefined) {
    const max = parseManifestSemVer(m.compat.max_palyra_version, "compat.max_palyra_version");
    if (compareSemVer(current, max) > 0) {
      throw new SkillError(
        "MANIFEST_INCOMPATIBLE",
        `current runtime version ${target.version} is higher than supported maximum ${m.compat.max_palyra_version}`,
        "compat.max_palyra_version",
      );
    }
  }
}

const SECRET_LIKE = ["secret", "token", "password", "api_key", "client_key"];

export function collectManifestWarnings(m: SkillManifest): ManifestWarning[] {
  const warnings: ManifestWarning[] = [];
  const warn = (code: string, message: string) =>
    warnings.push({ code, severity: "warning", message });
  if (m.manifest_version === 1) {
    warn(
      "legacy_manifest_version",
      "manifest_version 1 is still supported for compatibility, but 2 is now recommended",
    );
  }
  if (isOperatorEmpty(m.operator)) {
    warn(
      "missing_operator_metadata",
      "operator-facing metadata is missing; inventory and doctor output will be degraded",
    );
    return warnings;
  }
  if (m.operator.display_name === undefined)
    warn("missing_operator_display_name", "operator.display_name is missing");
  const config = m.operator.config;
  if (config !== undefined) {
    const names = Object.keys(config.properties).sort(compareUtf8);
    if (names.length === 0) {
      warn(
        "empty_operator_config_contract",
        "operator.config is present but does not declare any properties",
      );
    }
    for (const name of names) {
      const lower = name.toLowerCase();
      if (!config.properties[name]?.redacted && SECRET_LIKE.some((word) => lower.includes(word))) {
        warn(
          "operator_config_redaction_recommended",
          `operator.config property '${name}' looks secret-like but is not marked redacted`,
        );
      }
    }
  }
  return warnings;
}
