/** metav1.Condition bookkeeping: transition times, generations, removal, ordering, timestamps. */

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type Condition,
  type DesiredCondition,
  findCondition,
  isTrue,
  rfc3339,
  setConditions,
} from "../../src/kube/conditions.ts";

const T0 = new Date("2026-01-01T00:00:00.123Z");
const T1 = new Date("2026-01-02T00:00:00Z");
const T2 = new Date("2026-01-03T08:09:10.999Z");

const ready = (status: Condition["status"], reason = "R", message = "m"): DesiredCondition => ({
  type: "Ready",
  status,
  reason,
  message,
});

test("rfc3339 has seconds precision and ends with Z", () => {
  assert.equal(rfc3339(T0), "2026-01-01T00:00:00Z");
  assert.equal(rfc3339(T2), "2026-01-03T08:09:10Z", "fractions are truncated, not rounded");
  assert.match(rfc3339(new Date()), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  // Non-UTC input still comes out in UTC.
  assert.equal(rfc3339(new Date("2026-06-01T12:30:45+02:00")), "2026-06-01T10:30:45Z");
});

test("a new condition gets now as lastTransitionTime and the generation", () => {
  const [c] = setConditions(undefined, [ready("True")], { generation: 3, now: T0 });
  assert.deepEqual(c, {
    type: "Ready",
    status: "True",
    reason: "R",
    message: "m",
    observedGeneration: 3,
    lastTransitionTime: "2026-01-01T00:00:00Z",
  });
});

test("lastTransitionTime is kept while the status is unchanged, even if reason and message change", () => {
  const first = setConditions(undefined, [ready("False", "Pending", "waiting")], {
    generation: 1,
    now: T0,
  });
  const second = setConditions(first, [ready("False", "Fetching", "downloading")], {
    generation: 2,
    now: T1,
  });
  assert.deepEqual(second, [
    {
      type: "Ready",
      status: "False",
      reason: "Fetching",
      message: "downloading",
      observedGeneration: 2,
      lastTransitionTime: "2026-01-01T00:00:00Z",
    },
  ]);
});

test("lastTransitionTime moves to now when the status changes", () => {
  const first = setConditions(undefined, [ready("False")], { generation: 1, now: T0 });
  const second = setConditions(first, [ready("True")], { generation: 1, now: T1 });
  assert.equal(second[0]?.lastTransitionTime, "2026-01-02T00:00:00Z");
  const third = setConditions(second, [ready("Unknown")], { generation: 1, now: T2 });
  assert.equal(third[0]?.lastTransitionTime, "2026-01-03T08:09:10Z");
  const fourth = setConditions(third, [ready("Unknown", "Other")], { generation: 1, now: T1 });
  assert.equal(fourth[0]?.lastTransitionTime, "2026-01-03T08:09:10Z");
});

test("observedGeneration is stamped on every condition, replacing the old one", () => {
  const previous: Condition[] = [
    {
      type: "Ready",
      status: "True",
      reason: "R",
      message: "m",
      observedGeneration: 1,
      lastTransitionTime: "2025-12-31T00:00:00Z",
    },
  ];
  const out = setConditions(
    previous,
    [ready("True"), { type: "Stalled", status: "True", reason: "S", message: "s" }],
    { generation: 7, now: T1 },
  );
  assert.deepEqual(
    out.map((c) => [c.type, c.observedGeneration, c.lastTransitionTime]),
    [
      ["Ready", 7, "2025-12-31T00:00:00Z"],
      ["Stalled", 7, "2026-01-02T00:00:00Z"],
    ],
  );
  // The input is not mutated.
  assert.equal(previous[0]?.observedGeneration, 1);
});

test("conditions absent from desired are removed; a re-added one starts a new transition", () => {
  const first = setConditions(
    undefined,
    [ready("False"), { type: "Reconciling", status: "True", reason: "P", message: "p" }],
    { generation: 1, now: T0 },
  );
  assert.equal(first.length, 2);
  const second = setConditions(first, [ready("True")], { generation: 1, now: T1 });
  assert.deepEqual(
    second.map((c) => c.type),
    ["Ready"],
  );
  assert.equal(findCondition(second, "Reconciling"), undefined);
  const third = setConditions(
    second,
    [ready("True"), { type: "Reconciling", status: "True", reason: "P", message: "p" }],
    { generation: 1, now: T2 },
  );
  assert.equal(findCondition(third, "Reconciling")?.lastTransitionTime, "2026-01-03T08:09:10Z");
  assert.deepEqual(setConditions(third, [], { generation: 1, now: T2 }), []);
});

test("ordering: types listed in order come first, in that order, then the rest alphabetically", () => {
  const desired: DesiredCondition[] = ["Zeta", "Stalled", "Alpha", "Ready", "Reconciling"].map(
    (type) => ({ type, status: "True", reason: "X", message: "x" }),
  );
  const ordered = setConditions(undefined, desired, {
    generation: 1,
    now: T0,
    order: ["Ready", "Reconciling", "Missing"],
  });
  assert.deepEqual(
    ordered.map((c) => c.type),
    ["Ready", "Reconciling", "Alpha", "Stalled", "Zeta"],
  );
  const alphabetical = setConditions(undefined, desired, { generation: 1, now: T0 });
  assert.deepEqual(
    alphabetical.map((c) => c.type),
    ["Alpha", "Ready", "Reconciling", "Stalled", "Zeta"],
  );
  // The same output whatever order the desired list comes in.
  const reversed = setConditions(undefined, [...desired].reverse(), {
    generation: 1,
    now: T0,
    order: ["Ready", "Reconciling", "Missing"],
  });
  assert.deepEqual(reversed, ordered);
});

test("the earlier combined scenario: transitions, removal and order together", () => {
  const first = setConditions(
    undefined,
    [
      { type: "Zeta", status: "True", reason: "A", message: "a" },
      { type: "Ready", status: "False", reason: "B", message: "b" },
      { type: "Stalled", status: "True", reason: "B", message: "b" },
    ],
    { generation: 1, now: T0, order: ["Ready"] },
  );
  assert.deepEqual(
    first.map((c) => c.type),
    ["Ready", "Stalled", "Zeta"],
  );
  assert.equal(first[0]?.lastTransitionTime, "2026-01-01T00:00:00Z");
  const second = setConditions(
    first,
    [
      { type: "Ready", status: "False", reason: "C", message: "changed reason" },
      { type: "Zeta", status: "False", reason: "A", message: "a" },
    ],
    { generation: 2, now: T1, order: ["Ready"] },
  );
  assert.deepEqual(
    second.map((c) => [c.type, c.lastTransitionTime, c.observedGeneration]),
    [
      ["Ready", "2026-01-01T00:00:00Z", 2],
      ["Zeta", "2026-01-02T00:00:00Z", 2],
    ],
  );
});

test("findCondition and isTrue", () => {
  const cs = setConditions(
    undefined,
    [ready("True"), { type: "Stalled", status: "False", reason: "S", message: "s" }],
    { generation: 1, now: T0 },
  );
  assert.equal(findCondition(cs, "Ready")?.status, "True");
  assert.equal(findCondition(cs, "Nope"), undefined);
  assert.equal(findCondition(undefined, "Ready"), undefined);
  assert.equal(isTrue(cs, "Ready"), true);
  assert.equal(isTrue(cs, "Stalled"), false);
  assert.equal(isTrue(cs, "Nope"), false);
  assert.equal(isTrue(undefined, "Ready"), false);
});
