/** `kubectl palyra-skill`: the CLI found by kubectl's plugin mechanism on PATH. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { testCluster } from "../support/kube.ts";

test("kubectl runs the CLI as the palyra-skill plugin", () => {
  const dir = mkdtempSync(join(tmpdir(), "palyra-plugin-"));
  try {
    symlinkSync(
      fileURLToPath(new URL("../../bin/palyra-skill.mjs", import.meta.url)),
      join(dir, "kubectl-palyra_skill"),
    );
    const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
    const out = execFileSync(testCluster().kubectl, ["palyra-skill", "--version"], {
      env,
      encoding: "utf8",
    });
    assert.match(out, /^palyra-skill \d+\.\d+\.\d+ \(ed25519: /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
