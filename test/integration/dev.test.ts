/**
 * make dev, end to end: its own control plane, CRDs, HTTPS artifact server, operator and seven
 * example Skills, run with --once so it exits when every Skill reached its expected state and
 * the approval and webhook demonstrations went as expected.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const DEV = new URL("../../hack/dev/dev.ts", import.meta.url).pathname;

test("make dev brings up the operator, the examples reach Enabled and Quarantined with their reasons, and the webhook admits one Deployment and denies another", () => {
  const run = spawnSync(process.execPath, [DEV, "--once"], { encoding: "utf8", timeout: 240_000 });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  const out = run.stdout;
  assert.match(out, /every Skill reached its expected state/);
  for (const [name, state] of [
    ["echo-http", "Enabled"],
    ["globex-echo", "Enabled"],
    ["initech-echo", "Quarantined"],
    ["fetch-anything ", "Quarantined"],
    ["fetch-anything-approved", "Enabled"],
    ["echo-airgapped", "Enabled"],
    ["apiserver-probe", "Failed"],
  ] as const) {
    assert.match(
      out,
      // PUBLISHER, then VERSION (empty when nothing was verified), then STATE.
      new RegExp(`skills-demo\\s+${name.trim()}\\s+\\S+(\\s+\\S+)?\\s+${state}`),
      name,
    );
  }
  assert.match(out, /tofu_newly_pinned/);
  assert.match(out, /UntrustedPublisher/);
  assert.match(out, /AuditFailed/);
  assert.match(out, /Approved/);
  assert.match(out, /SourceAddressBlocked/);
  // Four-eyes: the author is refused, a reviewer approves.
  assert.match(out, /by its author \(admin\): +refused: .*may not approve it too \(four-eyes/);
  assert.match(
    out,
    /by rita@example\.com \(reviewer\): +approved skills-demo\/fetch-anything-approved/,
  );
  // The admission webhook: one Deployment admitted, one denied with the reason, one Skill refused.
  assert.match(out, /agent-echo {4}\(acme\.echo_http@1\.0\.0\): admitted/);
  assert.match(
    out,
    /agent-initech \(initech\.echo\): +denied: .*Skill skills-demo\/initech-echo is Quarantined \(UntrustedPublisher/,
  );
  assert.match(
    out,
    /agent-fetch +\(acme\.fetch_anything\): +denied: .*Skill skills-demo\/fetch-anything is Quarantined .*every one must be Enabled/,
  );
  assert.match(
    out,
    /Skill initech-echo-2 \(strict policy\): +denied: .*can never be admitted by policy strict/,
  );
});
