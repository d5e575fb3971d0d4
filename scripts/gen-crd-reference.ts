/**
 * Generates docs/crd-reference.md from the CRDs in crds/ (the single source of truth): every
 * field with its type, whether it is required, its constraints and description, plus the
 * printer columns and the CEL rules. A unit test regenerates it in memory to catch drift.
 *   node scripts/gen-crd-reference.ts          write the file
 *   node scripts/gen-crd-reference.ts --check  exit 1 when the committed file is stale
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { parse } from "yaml";
import type { Schema as BaseSchema } from "./gen-api-types.ts";

/** The CRD schema fields the reference shows, beyond those the type generator reads. */
interface Schema extends BaseSchema {
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
  "x-kubernetes-validations"?: { rule: string; message?: string }[];
}

const ROOT = new URL("../", import.meta.url);
const OUTPUT = new URL("docs/crd-reference.md", ROOT);

const oneLine = (text: string | undefined) =>
  (text ?? "").replace(/\s+/g, " ").trim().replaceAll("|", "\\|");

function typeName(s: Schema): string {
  if (s.enum) return s.enum.map((v) => `\`${v}\``).join(" \\| ");
  if (s.type === "array") return `${s.items ? typeName(s.items) : "any"}[]`;
  if (s.type === "object" && s.additionalProperties && typeof s.additionalProperties === "object") {
    return `map[string]${typeName(s.additionalProperties)}`;
  }
  return s.format ? `${s.type} (${s.format})` : (s.type ?? "any");
}

function constraints(s: Schema): string {
  const out: string[] = [];
  if (s.pattern) out.push(`pattern \`${s.pattern.replaceAll("|", "\\|")}\``);
  if (s.minLength !== undefined) out.push(`min length ${s.minLength}`);
  if (s.maxLength !== undefined) out.push(`max length ${s.maxLength}`);
  if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined) out.push(`≤ ${s.maximum}`);
  if (s.minItems !== undefined) out.push(`min items ${s.minItems}`);
  if (s.maxItems !== undefined) out.push(`max items ${s.maxItems}`);
  if (s.default !== undefined) out.push(`default \`${JSON.stringify(s.default)}\``);
  return out.join(", ");
}

function rows(schema: Schema, prefix: string, out: string[], rules: string[]): void {
  for (const rule of schema["x-kubernetes-validations"] ?? []) {
    rules.push(
      `| \`${prefix || "(object)"}\` | \`${rule.rule.replaceAll("|", "\\|")}\` | ${oneLine(rule.message)} |`,
    );
  }
  const required = new Set(schema.required ?? []);
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    out.push(
      `| \`${path}\` | ${typeName(child)} | ${required.has(name) ? "yes" : ""} | ${constraints(child)} | ${oneLine(child.description)} |`,
    );
    if (child.properties) rows(child, path, out, rules);
    else if (child.items?.properties) rows(child.items, `${path}[]`, out, rules);
    else if (child["x-kubernetes-validations"]) rows(child, path, out, rules);
  }
}

export function generate(): string {
  const dir = new URL("crds/", ROOT);
  const parts = [
    "# CRD reference\n\n",
    "Generated from `crds/` by `node scripts/gen-crd-reference.ts` (a unit test fails when it is stale). ",
    "The CRDs are the source of truth; `src/api/v1alpha1/types.generated.ts` comes from them too.\n",
  ];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()) {
    const crd = parse(readFileSync(new URL(file, dir), "utf8")) as {
      spec: {
        group: string;
        scope: string;
        names: { kind: string; plural: string; shortNames?: string[] };
        versions: {
          name: string;
          additionalPrinterColumns?: { name: string; jsonPath: string; priority?: number }[];
          schema: { openAPIV3Schema: Schema };
        }[];
      };
    };
    const { group, scope, names } = crd.spec;
    for (const version of crd.spec.versions) {
      const root = version.schema.openAPIV3Schema;
      parts.push(`\n## ${names.kind} (\`${group}/${version.name}\`)\n\n`);
      parts.push(`${oneLine(root.description)}\n\n`);
      parts.push(
        `Scope: ${scope}. Plural \`${names.plural}\`${names.shortNames?.length ? `, short names ${names.shortNames.map((n) => `\`${n}\``).join(", ")}` : ""}.\n`,
      );
      const columns = version.additionalPrinterColumns ?? [];
      if (columns.length > 0) {
        parts.push(
          `\n\`kubectl get ${names.plural}\` shows ${columns
            .filter((c) => !c.priority)
            .map((c) => c.name)
            .join(", ")}; \`-o wide\` adds ${columns
            .filter((c) => c.priority)
            .map((c) => c.name)
            .join(", ")}.\n`,
        );
      }
      for (const section of ["spec", "status"] as const) {
        const schema = root.properties?.[section];
        if (!schema) continue;
        const out: string[] = [];
        const rules: string[] = [];
        rows(schema, section, out, rules);
        parts.push(
          `\n### \`${section}\`\n\n| field | type | required | constraints | description |\n|---|---|---|---|---|\n`,
        );
        parts.push(`${out.join("\n")}\n`);
        if (rules.length > 0) {
          parts.push(
            `\nValidation rules (CEL, checked by the API server):\n\n| on | rule | message |\n|---|---|---|\n${rules.join("\n")}\n`,
          );
        }
      }
    }
  }
  return parts.join("");
}

if (import.meta.main) {
  const text = generate();
  if (process.argv.includes("--check")) {
    if (readFileSync(OUTPUT, "utf8") !== text) {
      console.error("docs/crd-reference.md is stale: run node scripts/gen-crd-reference.ts");
      process.exit(1);
    }
  } else {
    writeFileSync(OUTPUT, text);
  }
}
