/** The Grafana dashboard and the chart's alerts query only metrics the operator exports. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { createMetrics } from "../../src/operator/metrics.ts";

const exported = async (): Promise<Set<string>> => {
  const text = await createMetrics().registry.metrics();
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));
};

/** Metric names in PromQL, with histogram series mapped to their family. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b(palyra_[a-z0-9_]+)/g)].map((m) =>
    (m[1] as string).replace(/_(bucket|sum|count)$/, ""),
  );
}

test("every metric the Grafana dashboard queries is exported", async () => {
  const names = await exported();
  const dashboard = JSON.parse(
    readFileSync(new URL("../../docs/grafana-dashboard.json", import.meta.url), "utf8"),
  ) as { panels: { title: string; targets: { expr: string }[] }[] };
  assert.ok(dashboard.panels.length >= 10);
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      const used = metricsIn(target.expr);
      assert.ok(used.length > 0, `${panel.title}: ${target.expr} queries no palyra metric`);
      for (const name of used)
        assert.ok(names.has(name), `${panel.title}: ${name} is not exported`);
    }
  }
});

test("every metric the chart's alerts query is exported", async () => {
  const names = await exported();
  const rules = readFileSync(
    new URL("../../charts/palyra-skills-operator/templates/prometheusrule.yaml", import.meta.url),
    "utf8",
  );
  const exprs = [...rules.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1] as string);
  assert.ok(exprs.length >= 6);
  for (const expr of exprs) {
    for (const name of metricsIn(expr))
      assert.ok(names.has(name), `alert uses ${name}, not exported`);
  }
});
