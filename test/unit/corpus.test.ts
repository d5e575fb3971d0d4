/**
 * The adversarial corpus (hack/corpus/generate.ts): every hostile artifact is rejected with its
 * expected error code by the library and by the CLI, in a child process under a 256 MiB heap
 * cap and a time cap (zip bombs, deep nesting and huge strings must not get near either).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import type { Outcome } from "../../hack/corpus/run.ts";
import { INFLATE_BACKEND } from "../../src/artifact/inflate.ts";

const RUNNER = new URL("../../hack/corpus/run.ts", import.meta.url).pathname;
const HEAP_CAP_MIB = 256;
const TIME_CAP_MS = 120_000;
const PER_CASE_CAP_MS = 2_000;

// Once on the library that ships (zlib-rs, when native/ is built) and once on node:zlib, the
// fallback: the two must reject every case with the same code.
for (const backend of ["default", "zlib"] as const) {
  test(`the adversarial corpus (${backend} inflate): every case rejected as expected, by the library and the CLI, under a memory and a time cap`, () => {
    const run = spawnSync(process.execPath, [`--max-old-space-size=${HEAP_CAP_MIB}`, RUNNER], {
      encoding: "utf8",
      timeout: TIME_CAP_MS,
      maxBuffer: 16 * 1024 * 1024,
      env: {
        ...process.env,
        PALYRA_INFLATE_BACKEND: backend === "zlib" ? "zlib" : undefined,
      },
    });
    assert.equal(run.error, undefined, `runner did not finish in ${TIME_CAP_MS} ms`);
    assert.equal(run.status, 0, run.stderr);
    const { inflateBackend, outcomes } = JSON.parse(
      run.stdout.trim().split("\n").pop() ?? "{}",
    ) as { inflateBackend: string; outcomes: Outcome[] };
    assert.equal(inflateBackend, backend === "zlib" ? "node:zlib" : INFLATE_BACKEND);
    assert.ok(outcomes.length >= 100, `at least 100 hostile artifacts (${outcomes.length})`);
    const wrong = outcomes.filter(
      (o) =>
        o.library !== o.expected ||
        o.cli !== o.expected ||
        o.cliExit === 0 ||
        o.ms > PER_CASE_CAP_MS,
    );
    const rejected = outcomes.length - wrong.length;
    console.log(
      `# corpus (${inflateBackend}): ${outcomes.length} tried, ${rejected} rejected as expected`,
    );
    assert.deepEqual(wrong, [], "cases not rejected as expected (or too slow)");
  });
}
