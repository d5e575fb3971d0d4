import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, redact } from "../../src/operator/log.ts";

test("log lines are JSON with the object's fields; credentials and key material never appear", () => {
  const lines: string[] = [];
  const log = createLogger("info", (l) => lines.push(l));
  log.info("skill status written", {
    namespace: "team-a",
    name: "echo",
    token: "abc123",
    privateKey: "00ff",
    error: new Error(
      "GET https://alice:hunter2@example.test/x: Authorization: Bearer eyJhbGciOi.x.y",
    ),
    pem: "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
  });
  log.debug("dropped below the level");
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0] ?? "{}");
  assert.equal(record.namespace, "team-a");
  assert.equal(record.name, "echo");
  assert.equal(record.token, "[redacted]");
  assert.equal(record.privateKey, "[redacted]");
  for (const secret of ["abc123", "00ff", "hunter2", "eyJhbGciOi", "MIIB"]) {
    assert.ok(!lines[0]?.includes(secret), `${secret} leaked: ${lines[0]}`);
  }
  assert.match(record.error.message, /https:\/\/\[redacted\]@example\.test\/x/);
});

test("redact leaves ordinary text alone", () => {
  const text = "pinned publisher acme to key 5f2a (ab12cd) on first use by Skill ns/echo";
  assert.equal(redact(text), text);
});

test("the operator bin re-executes itself with the same Node flags as everything else that starts it", async () => {
  const { readFileSync } = await import("node:fs");
  const { OPERATOR_NODE_FLAGS } = await import("../../src/operator/runtime.ts");
  const bin = readFileSync(
    new URL("../../bin/palyra-skills-operator.mjs", import.meta.url),
    "utf8",
  );
  const declared = /const FLAGS = (\[.*\]);/.exec(bin)?.[1];
  assert.deepEqual(JSON.parse(declared ?? "null"), [...OPERATOR_NODE_FLAGS]);
});
