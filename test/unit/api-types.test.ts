import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { generate } from "../../scripts/gen-api-types.ts";

test("the TypeScript API types are generated from the CRDs and up to date", () => {
  const committed = readFileSync(
    new URL("../../src/api/v1alpha1/types.generated.ts", import.meta.url),
    "utf8",
  );
  assert.equal(committed, generate(), "run: node scripts/gen-api-types.ts");
});

test("docs/crd-reference.md is generated from the CRDs and up to date", async () => {
  const { generate: reference } = await import("../../scripts/gen-crd-reference.ts");
  const committed = readFileSync(new URL("../../docs/crd-reference.md", import.meta.url), "utf8");
  assert.equal(committed, reference(), "run: node scripts/gen-crd-reference.ts");
  assert.match(committed, /^## Skill \(`skills\.palyra\.dev\/v1alpha1`\)$/m);
  assert.match(committed, /^## SkillTrustPolicy \(`skills\.palyra\.dev\/v1alpha1`\)$/m);
});
