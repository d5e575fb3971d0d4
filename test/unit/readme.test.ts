/**
 * The README's commands must not reach a package registry by accident: `npx NAME` outside this
 * repository resolves NAME on the public registry, where this project's names are unclaimed.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

test("no README command runs npx or npm exec without --offline", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const blocks = [...readme.matchAll(/```(?:sh|bash|console)?\n([\s\S]*?)```/g)].map(
    (m) => m[1] ?? "",
  );
  const lines = blocks.flatMap((b) => b.split("\n")).map((l) => l.trim());
  const risky = lines.filter(
    (l) => /(^|[;&|]\s*)npx\s/.test(l) || (/\bnpm exec\b/.test(l) && !l.includes("--offline")),
  );
  assert.deepEqual(risky, []);
  assert.ok(
    lines.some((l) => l.includes("bin/palyra-skill.mjs")),
    "the CLI is run from the repository's own entry point",
  );
});
