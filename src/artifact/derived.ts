import type { SkillManifest } from "./manifest.ts";
import { rustTrim } from "./manifest.ts";
import { compareUtf8 } from "./paths.ts";

/** What a verified skill is granted, in the reference's snapshot shape. */
export interface CapabilityGrants {
  http_hosts: string[];
  secret_keys: string[];
  storage_prefixes: string[];
  channels: string[];
}

export interface PolicyBinding {
  action: string;
  resource: string;
  requires_approval: boolean;
}

/** `values` (an array this module made) sorted, each value once. */
function sortedUnique(values: string[]): string[] {
  values.sort(compareUtf8);
  return values.filter((v, i) => i === 0 || v !== values[i - 1]);
}

export function capabilityGrants(m: SkillManifest): CapabilityGrants {
  const trimmedNonBlank = (values: string[]) => values.map(rustTrim).filter((v) => v !== "");
  return {
    http_hosts: sortedUnique(trimmedNonBlank(m.capabilities.http_egress_allowlist)),
    secret_keys: sortedUnique(
      m.capabilities.secrets.flatMap((s) => s.key_names.map((k) => `${s.scope}/${k}`)),
    ),
    storage_prefixes: sortedUnique(trimmedNonBlank(m.capabilities.filesystem.write_roots)),
    channels: [],
  };
}

export function policyBindings(m: SkillManifest): PolicyBinding[] {
  const bindings: PolicyBinding[] = m.entrypoints.tools.map((tool) => ({
    action: "tool.execute",
    resource: `tool:${tool.id}`,
    requires_approval: tool.risk.default_sensitive || tool.risk.requires_approval,
  }));
  const skill = `skill:${m.skill_id}`;
  const c = m.capabilities;
  const capability = (present: boolean, action: string) => {
    if (present) bindings.push({ action, resource: skill, requires_approval: true });
  };
  capability(c.http_egress_allowlist.length > 0, "skill.capability.http.egress");
  capability(c.filesystem.write_roots.length > 0, "skill.capability.filesystem.write");
  capability(c.secrets.length > 0, "skill.capability.vault.read");
  capability(
    c.device_capabilities.length > 0 || c.node_capabilities.length > 0,
    "skill.capability.device.use",
  );
  // Sorted, equal bindings (a tool listed twice) are neighbours: one of each is kept.
  bindings.sort(compareBindings);
  return bindings.filter(
    (b, i) => i === 0 || compareBindings(bindings[i - 1] as PolicyBinding, b) !== 0,
  );
}

function compareBindings(a: PolicyBinding, b: PolicyBinding): number {
  return (
    compareUtf8(a.action, b.action) ||
    compareUtf8(a.resource, b.resource) ||
    Number(a.requires_approval) - Number(b.requires_approval)
  );
}
