import assert from "node:assert/strict";
import { test } from "node:test";
import { SkillChangeLog, type WatchedSkill } from "../../hack/dev/skill-changes.ts";

const at = new Date("2026-12-06T10:00:00Z");
const skill = (name: string, state?: string, reason = "", message = ""): WatchedSkill => ({
  metadata: { namespace: "demo", name },
  ...(state ? { status: { state, conditions: [{ type: "Ready", reason, message }] } } : {}),
});

test("make dev's change log: one line per Skill that changed, none while nothing changes", () => {
  const log = new SkillChangeLog();
  assert.deepEqual(log.update([skill("a"), skill("b", "Enabled", "Enabled", "ok")], at), [
    "10:00:00  demo/a                               Pending",
    "10:00:00  demo/b                               Enabled: ok",
  ]);
  // The same observations again (what an AGE column would have reprinted): nothing.
  assert.deepEqual(log.update([skill("a"), skill("b", "Enabled", "Enabled", "ok")], at), []);
  // State, reason and message each count; only the Skill that changed is printed.
  assert.deepEqual(
    log.update(
      [
        skill("a", "Quarantined", "AuditFailed", "wildcard"),
        skill("b", "Enabled", "Enabled", "ok"),
      ],
      at,
    ),
    ["10:00:00  demo/a                               Quarantined (AuditFailed): wildcard"],
  );
  assert.deepEqual(
    log.update(
      [skill("a", "Quarantined", "Approved", "wildcard"), skill("b", "Enabled", "Enabled", "ok")],
      at,
    ),
    ["10:00:00  demo/a                               Quarantined (Approved): wildcard"],
  );
  assert.deepEqual(
    log.update(
      [skill("a", "Quarantined", "Approved", "other"), skill("b", "Enabled", "Enabled", "ok")],
      at,
    ),
    ["10:00:00  demo/a                               Quarantined (Approved): other"],
  );
  // A Skill gone is a change, once.
  assert.deepEqual(log.update([skill("a", "Quarantined", "Approved", "other")], at), [
    "10:00:00  demo/b                               deleted",
  ]);
  assert.deepEqual(log.update([skill("a", "Quarantined", "Approved", "other")], at), []);
});
