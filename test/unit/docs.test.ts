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
