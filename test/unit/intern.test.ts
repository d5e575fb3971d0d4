import assert from "node:assert/strict";
import { test } from "node:test";
import { StringPool } from "../../src/kube/intern.ts";

test("equal strings in separately parsed objects end up as one value; structure is unchanged", () => {
  const pool = new StringPool();
  const text = JSON.stringify({ spec: { url: "https://example.test/a", tags: ["x", "y"] }, n: 1 });
  const a = pool.deep(JSON.parse(text));
  const b = pool.deep(JSON.parse(text));
  assert.deepEqual(a, JSON.parse(text));
  assert.deepEqual(b, a);
  assert.equal(pool.size, 3);
});

test("the pool is bounded: past its size it starts over", () => {
  const pool = new StringPool(10);
  for (let i = 0; i < 25; i++) pool.string(`s${i}`);
  assert.ok(pool.size <= 10);
});
