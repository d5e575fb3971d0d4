/**
 * The structural layer of skill.toml as a JSON Schema: types, required fields, defaults and
 * "unknown keys anywhere are an error" (the reference's `deny_unknown_fields`). Semantic rules
 * (identifiers, namespacing, wildcards, versions) live in manifest.ts.
 */

const str = { type: "string" } as const;
const strList = { type: "array", items: str, default: [] } as const;
const bool = { type: "boolean", default: false } as const;
const u32 = { type: "integer", minimum: 0, maximum: 4294967295 } as const;
const u64 = { type: "integer", minimum: 0 } as const;
const closed = { type: "object", additionalProperties: false } as const;

const CONTRACT_KINDS = [
  "memory_provider",
  "context_engine",
  "routing_strategy",
  "run_lifecycle_hook",
  "compaction_provider",
  "diagnostics_provider",
  "policy_signal_provider",
  "channel_binding_provider",
  "delivery_adapter",
  "scheduler_task_provider",
  "model_auth_provider",
  "connector_adapter",
  "agent_harness",
  "tool_result_middleware",
  "plugin_lifecycle_hook",
];

const capabilityRequirement = {
  ...closed,
  required: ["class", "value"],
  properties: {
    class: { enum: ["http_host", "secret", "storage_prefix", "channel", "event_subscription"] },
    value: str,
  },
};

const plugin = {
  ...closed,
  default: {},
  properties: {
    plugin_id: str,
    abi_major: u32,
    default_tool_id: str,
    default_module_path: str,
    default_entrypoint: str,
    contracts: {
      type: "array",
      default: [],
      items: {
        ...closed,
        required: ["kind"],
        properties: { kind: { enum: CONTRACT_KINDS }, version: { ...u32, default: 1 } },
      },
    },
    risk: { enum: ["internal", "public", "sensitive", "privileged"], default: "internal" },
    required_capabilities: { type: "array", items: capabilityRequirement, default: [] },
    optional_capabilities: { type: "array", items: capabilityRequirement, default: [] },
    storage_prefixes: strList,
    outbound_hosts: strList,
    secret_scopes: strList,
    event_subscriptions: strList,
    compatibility: {
      ...closed,
      required: ["min_abi_major", "max_abi_major"],
      properties: { min_abi_major: u32, max_abi_major: u32, host_versions: strList },
    },
  },
};

const config = {
  ...closed,
  properties: {
    schema_version: { ...u32, default: 1 },
    required: strList,
    properties: {
      type: "object",
      default: {},
      additionalProperties: {
        ...closed,
        required: ["type"],
        properties: {
          type: { enum: ["string", "integer", "number", "boolean", "string_list"] },
          title: str,
          description: str,
          default: {},
          redacted: bool,
          enum_values: strList,
        },
      },
    },
  },
};

export const MANIFEST_SCHEMA = {
  ...closed,
  required: ["skill_id", "name", "version", "publisher", "entrypoints", "compat"],
  properties: {
    manifest_version: { ...u32, default: 2 },
    skill_id: str,
    name: str,
    version: str,
    publisher: str,
    entrypoints: {
      ...closed,
      required: ["tools"],
      properties: {
        tools: {
          type: "array",
          items: {
            ...closed,
            required: ["id", "name", "description", "input_schema", "output_schema"],
            properties: {
              id: str,
              name: str,
              description: str,
              input_schema: {},
              output_schema: {},
              risk: {
                ...closed,
                default: {},
                properties: { default_sensitive: bool, requires_approval: bool },
              },
            },
          },
        },
      },
    },
    capabilities: {
      ...closed,
      default: {},
      properties: {
        filesystem: {
          ...closed,
          default: {},
          properties: { read_roots: strList, write_roots: strList },
        },
        http_egress_allowlist: strList,
        secrets: {
          type: "array",
          default: [],
          items: { ...closed, required: ["scope"], properties: { scope: str, key_names: strList } },
        },
        device_capabilities: strList,
        node_capabilities: strList,
        quotas: {
          ...closed,
          default: {},
          properties: {
            wall_clock_timeout_ms: { ...u64, default: 30000 },
            fuel_budget: { ...u64, default: 10000000 },
            max_memory_bytes: { ...u64, default: 67108864 },
          },
        },
        wildcard_opt_in: {
          ...closed,
          default: {},
          properties: {
            filesystem: bool,
            http_egress: bool,
            secrets: bool,
            device: bool,
            node: bool,
          },
        },
      },
    },
    compat: {
      ...closed,
      required: ["required_protocol_major", "min_palyra_version"],
      properties: {
        required_protocol_major: u32,
        min_palyra_version: str,
        max_palyra_version: str,
      },
    },
    integrity: {
      ...closed,
      default: {},
      properties: {
        files: {
          type: "array",
          default: [],
          items: {
            ...closed,
            required: ["path", "sha256"],
            properties: { path: str, sha256: str },
          },
        },
      },
    },
    builder: {
      ...closed,
      required: ["experimental", "source_kind", "source_ref", "rollout_flag", "checklist"],
      properties: {
        experimental: { type: "boolean" },
        source_kind: str,
        source_ref: str,
        rollout_flag: str,
        review_status: { ...str, default: "" },
        checklist: {
          ...closed,
          required: ["capability_declaration_path", "provenance_path", "test_harness_path"],
          properties: {
            capability_declaration_path: str,
            provenance_path: str,
            test_harness_path: str,
            review_notes: { ...str, default: "" },
          },
        },
      },
    },
    operator: {
      ...closed,
      default: {},
      properties: {
        display_name: str,
        summary: str,
        description: str,
        categories: strList,
        tags: strList,
        docs_url: str,
        plugin,
        config,
      },
    },
  },
} as const;
