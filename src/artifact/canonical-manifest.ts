import type { JsonValue, SkillManifest } from "./manifest.ts";
import { compareUtf8 } from "./paths.ts";

type Ordered = { [key: string]: JsonValue };

/** JSON objects inside the manifest (schemas, config defaults) are written with sorted keys. */
function sortJson(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortJson);
  if (typeof value === "object" && value !== null) {
    const out: Ordered = {};
    for (const key of Object.keys(value).sort(compareUtf8))
      out[key] = sortJson(value[key] as JsonValue);
    return out;
  }
  return value;
}

/** Copies only the defined values, in the given key order. */
function pick(source: object, keys: readonly string[]): Ordered {
  const out: Ordered = {};
  const record = source as Record<string, JsonValue | undefined>;
  for (const key of keys) {
    const value = record[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function withoutEmptyLists(record: Ordered, keys: readonly string[]): Ordered {
  for (const key of keys) {
    const value = record[key];
    if (Array.isArray(value) && value.length === 0) delete record[key];
  }
  return record;
}

/** Plugin metadata lists, which the reference omits when empty. */
const PLUGIN_LISTS = [
  "contracts",
  "required_capabilities",
  "optional_capabilities",
  "storage_prefixes",
  "outbound_hosts",
  "secret_scopes",
  "event_subscriptions",
] as const;

/** Plugin metadata fields in the reference's struct order. */
const PLUGIN_FIELDS = [
  "plugin_id",
  "abi_major",
  "default_tool_id",
  "default_module_path",
  "default_entrypoint",
  "contracts",
  "risk",
  ...PLUGIN_LISTS.slice(1),
] as const;

/**
 * The manifest as the reference serialises it: struct field order, optional fields omitted
 * when absent, plugin lists omitted when empty. Used for the TOML written at build time and
 * for the manifest in JSON reports, so both tools print the same document.
 */
export function canonicalManifest(m: SkillManifest): Ordered {
  const c = m.capabilities;
  const op = m.operator;
  const plugin = withoutEmptyLists(pick(op.plugin, PLUGIN_FIELDS), PLUGIN_LISTS);
  if (plugin.risk === "internal") delete plugin.risk;
  for (const list of ["required_capabilities", "optional_capabilities"] as const) {
    if (op.plugin[list].length > 0)
      plugin[list] = op.plugin[list].map((r) => pick(r, ["class", "value"]));
  }
  if (op.plugin.contracts.length > 0)
    plugin.contracts = op.plugin.contracts.map((k) => pick(k, ["kind", "version"]));
  if (op.plugin.compatibility !== undefined) {
    plugin.compatibility = pick(op.plugin.compatibility, [
      "min_abi_major",
      "max_abi_major",
      "host_versions",
    ]);
  }
  const operator: Ordered = {
    ...pick(op, ["display_name", "summary", "description", "categories", "tags", "docs_url"]),
    plugin,
  };
  if (op.config !== undefined) {
    const properties: Ordered = {};
    for (const name of Object.keys(op.config.properties).sort(compareUtf8)) {
      const p = op.config.properties[name];
      if (p === undefined) continue;
      const property = pick(p, ["type", "title", "description"]);
      if (p.default !== undefined) property.default = sortJson(p.default);
      property.redacted = p.redacted;
      if (p.enum_values.length > 0) property.enum_values = p.enum_values;
      properties[name] = property;
    }
    operator.config = {
      schema_version: op.config.schema_version,
      required: op.config.required,
      properties,
    };
  }
  const out: Ordered = {
    manifest_version: m.manifest_version,
    skill_id: m.skill_id,
    name: m.name,
    version: m.version,
    publisher: m.publisher,
    entrypoints: {
      tools: m.entrypoints.tools.map((t) => ({
        id: t.id,
        name: t.name,
        description: t.description,
        input_schema: sortJson(t.input_schema),
        output_schema: sortJson(t.output_schema),
        risk: {
          default_sensitive: t.risk.default_sensitive,
          requires_approval: t.risk.requires_approval,
        },
      })),
    },
    capabilities: {
      filesystem: { read_roots: c.filesystem.read_roots, write_roots: c.filesystem.write_roots },
      http_egress_allowlist: c.http_egress_allowlist,
      secrets: c.secrets.map((s) => ({ scope: s.scope, key_names: s.key_names })),
      device_capabilities: c.device_capabilities,
      node_capabilities: c.node_capabilities,
      quotas: pick(c.quotas, ["wall_clock_timeout_ms", "fuel_budget", "max_memory_bytes"]),
      wildcard_opt_in: pick(c.wildcard_opt_in, [
        "filesystem",
        "http_egress",
        "secrets",
        "device",
        "node",
      ]),
    },
    compat: pick(m.compat, ["required_protocol_major", "min_palyra_version", "max_palyra_version"]),
    integrity: { files: m.integrity.files.map((f) => ({ path: f.path, sha256: f.sha256 })) },
  };
  if (m.builder !== undefined) {
    out.builder = {
      ...pick(m.builder, [
        "experimental",
        "source_kind",
        "source_ref",
        "rollout_flag",
        "review_status",
      ]),
      checklist: pick(m.builder.checklist, [
        "capability_declaration_path",
        "provenance_path",
        "test_harness_path",
        "review_notes",
      ]),
    };
  }
  out.operator = operator;
  return out;
}
