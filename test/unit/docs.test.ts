/** The README documents the public contract; these keep it from drifting from the code. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ERROR_CODES } from "../../src/artifact/errors.ts";
import { EXIT } from "../../src/cli/exit-codes.ts";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

test("every error code is documented in the README", () => {
  for (const code of Object.keys(ERROR_CODES))
    assert.ok(readme.includes(`| \`${code}\` |`), `${code} missing from README`);
});

test("every exit code is documented in the README", () => {
  for (const code of Object.values(EXIT))
    assert.match(readme, new RegExp(`^\\| ${code} \\| `, "m"));
});

test("every relative link in the README, SECURITY.md and docs/ points at a file that exists", async () => {
  const { existsSync, readdirSync } = await import("node:fs");
  const root = new URL("../../", import.meta.url);
  const files = [
    "README.md",
    "SECURITY.md",
    ...readdirSync(new URL("docs/", root))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
  let checked = 0;
  for (const file of files) {
    // Links in prose only: code blocks and inline code (regexes, YAML) are not links.
    const text = readFileSync(new URL(file, root), "utf8")
      .replace(/```[\s\S]*?```/g, "")
      .replace(/`[^`\n]*`/g, "");
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (!target || /^[a-z]+:/.test(target)) continue;
      const resolved = new URL(target, new URL(file, root));
      // ../shared is the project's sibling folder, not part of a clone.
      if (resolved.pathname.includes("/shared/")) continue;
      assert.ok(existsSync(resolved), `${file} links to ${target}, which does not exist`);
      checked++;
    }
  }
  assert.ok(checked >= 15, `only ${checked} links checked`);
});

test("every metric the operator exports is in the README's metrics table", async () => {
  const { createMetrics } = await import("../../src/operator/metrics.ts");
  const text = await createMetrics().registry.metrics();
  const ours = [...text.matchAll(/^# TYPE (palyra_[a-z0-9_]+) /gm)]
    .map((m) => m[1] as string)
    .filter((n) => !n.startsWith("palyra_operator_"));
  assert.ok(ours.length >= 20);
  const missing = ours.filter((name) => !readme.includes(`\`${name}\``));
  assert.deepEqual(missing, [], "metrics missing from the README's table");
});
