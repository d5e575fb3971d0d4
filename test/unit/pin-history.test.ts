import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePinHistory, withPinRecord } from "../../src/trust/pin-history.ts";

const record = { key: "ab".repeat(32), skill: "team/echo", pinnedAt: "2026-12-01T00:00:00.000Z" };

test("a pin record is added once per publisher and never replaced", () => {
  const one = withPinRecord(undefined, "newco", record);
  assert.deepEqual(parsePinHistory(one), { newco: record });
  const again = withPinRecord(one, "newco", { ...record, skill: "evil/x" });
  assert.deepEqual(parsePinHistory(again).newco, record, "the first record stays");
  const two = withPinRecord(again, "acme", { ...record, skill: "team/other" });
  assert.deepEqual(Object.keys(parsePinHistory(two)), ["acme", "newco"]);
});

test("an unreadable annotation is an empty history, never an error", () => {
  for (const bad of ["", "not json", "[]", "null", '{"x": {"key": 1}}']) {
    assert.deepEqual(parsePinHistory(bad), {}, bad);
  }
});
