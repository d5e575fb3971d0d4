import assert from "node:assert/strict";
import { type ErrorCode, SkillError } from "../../src/artifact/errors.ts";

/** Asserts fn throws a SkillError with the code, and (optionally) a message matching. */
export function assertSkillError(
  fn: () => unknown,
  code: ErrorCode,
  message?: RegExp | string,
): SkillError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof SkillError, `expected SkillError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    if (message !== undefined) {
      if (typeof message === "string")
        assert.ok(
          error.message.includes(message),
          `message ${JSON.stringify(error.message)} lacks ${JSON.stringify(message)}`,
        );
      else assert.match(error.message, message);
    }
    return error;
  }
  assert.fail(`expected SkillError ${code}, but nothing was thrown`);
}
