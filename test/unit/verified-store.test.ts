/** The verified-bytes store: bounded in bytes, least recently used first, purged by reference. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { VerifiedStore } from "../../src/delivery/verified-store.ts";

test("keeps bytes within its budget, evicting the least recently used; purges what nothing references", () => {
  const store = new VerifiedStore(10);
  store.put("a", Buffer.alloc(4));
  store.put("b", Buffer.alloc(4));
  assert.ok(store.get("a"), "a is now the most recently used");
  store.put("c", Buffer.alloc(4));
  assert.equal(store.get("b"), undefined, "b was the least recently used");
  assert.deepEqual([store.size, store.bytes], [2, 8]);
  store.put("huge", Buffer.alloc(11));
  assert.equal(store.get("huge"), undefined, "larger than the whole budget: not kept");
  assert.equal(store.bytes, 8);
  const same = store.get("a");
  assert.equal(store.get("a"), same, "handed out as the stored buffer itself (no copy)");
  assert.equal(
    store.retain((d) => d === "c"),
    1,
  );
  assert.deepEqual([store.size, store.bytes], [1, 4]);
});
