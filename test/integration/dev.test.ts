/**
 * make dev, end to end, as a user runs it (until Ctrl-C): its own control plane, CRDs, HTTPS
 * artifact server, OCI registry, operator and eight example Skills; every Skill reaches its
 * expected state, the approval, webhook and pod delivery demonstrations go as expected, then the
 * screen stays still until a Skill changes, and Ctrl-C stops it all.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import { runProcess } from "../../hack/dev/run-process.ts";

const DEV = new URL("../../hack/dev/dev.ts", import.meta.url).pathname;

// make dev's artifacts are deterministic: echo-http's, and what the artifact server swaps it for.
const VERIFIED = skillArtifact({ keySeed: 7 }).payloadSha256;
const SWAPPED = skillArtifact({ keySeed: 7, version: "6.6.6" }).payloadSha256;

/** make dev's output as it comes, and a way to wait for a line with a deadline. */
class Screen {
  text = "";
  errors = "";
  async waitFor(pattern: RegExp, from: number, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.text.slice(from));
      if (match) return match;
      if (Date.now() > deadline)
        throw new Error(
          `make dev did not print ${pattern} within ${timeoutMs} ms:\n${this.text}\n${this.errors}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test("make dev brings up the operator, the examples reach Enabled and Quarantined with their reasons, the webhook admits one Deployment and denies another, a pod gets the verified payload even after the source swapped its bytes; then the screen stays still until a Skill changes", async () => {
  const dev = spawn(process.execPath, [DEV], { stdio: ["ignore", "pipe", "pipe"] });
  const screen = new Screen();
  dev.stdout.on("data", (chunk: Buffer) => {
    screen.text += chunk.toString("utf8");
  });
  dev.stderr.on("data", (chunk: Buffer) => {
    screen.errors += chunk.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve) => dev.once("exit", resolve));
  try {
    await screen.waitFor(/Ctrl-C stops the operator/, 0, 240_000);
  } catch (error) {
    dev.kill("SIGINT");
    await exited;
    throw error;
  }
  const out = screen.text;
  try {
    assertDemo(out);
    await assertQuiet(screen, out);
  } finally {
    dev.kill("SIGINT");
  }
  assert.equal(await exited, 0, screen.errors);
  assert.match(
    screen.text,
    /dev: stopping the operator, the artifact server and the control plane/,
  );
});

/** Nothing is printed while nothing changes; a change is one line, never a table. */
async function assertQuiet(screen: Screen, out: string): Promise<void> {
  const kubeconfig = /export KUBECONFIG=(\S+) PATH=(\S+):\$PATH/.exec(out);
  assert.ok(kubeconfig, "the summary says how to reach the cluster");
  const [, config = "", bin = ""] = kubeconfig;
  assert.match(out, /kubectl palyra-skill status fetch-anything -n skills-demo/);
  assert.match(out, /kubectl palyra-skill approve fetch-anything -n skills-demo/);
  const quietFrom = screen.text.length;
  // Five polls of make dev's loop (one a second) with nothing changing.
  await new Promise((r) => setTimeout(r, 5000));
  assert.equal(screen.text.slice(quietFrom), "", "nothing printed while nothing changed");

  // The summary's own commands work: the plugin through kubectl, from the linked directory.
  const env = { KUBECONFIG: config, PATH: `${bin}:${process.env.PATH}` };
  const status = await runProcess(
    "kubectl",
    ["palyra-skill", "status", "fetch-anything", "-n", "skills-demo"],
    { env },
  );
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /Quarantined/);
  const patch = await runProcess(
    "kubectl",
    [
      "patch",
      "skill",
      "echo-http",
      "-n",
      "skills-demo",
      "--type",
      "merge",
      "-p",
      '{"spec":{"desiredState":"Quarantined"}}',
    ],
    { env },
  );
  assert.equal(patch.status, 0, patch.stderr);
  await screen.waitFor(
    /skills-demo\/echo-http +Quarantined \(ManuallyQuarantined\)/,
    quietFrom,
    30_000,
  );
  const printed = screen.text.slice(quietFrom);
  for (const line of printed.split("\n").filter(Boolean)) {
    assert.match(
      line,
      /^ {2}\d\d:\d\d:\d\d {2}skills-demo\/\S+ +\w+/,
      "one line per changed Skill",
    );
  }
  assert.doesNotMatch(printed, /NAMESPACE|kubectl get skills/, "no table is reprinted");
}

function assertDemo(out: string): void {
  assert.match(out, /every Skill reached its expected state/);
  for (const [name, state] of [
    ["echo-http", "Enabled"],
    ["globex-echo", "Enabled"],
    ["initech-echo", "Quarantined"],
    ["fetch-anything ", "Quarantined"],
    ["fetch-anything-approved", "Enabled"],
    ["echo-airgapped", "Enabled"],
    ["apiserver-probe", "Failed"],
    ["registry-echo", "Enabled"],
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
  // Pod delivery: the pod comes back bound to the verified payload, with the installer.
  const delivery = out.slice(out.indexOf("dev: pod delivery"));
  assert.match(delivery, /^dev: pod delivery/, out);
  assert.match(
    delivery,
    new RegExp(
      `annotation skills\\.palyra\\.dev/resolved: acme\\.echo_http@1\\.0\\.0=sha256:${VERIFIED}\n`,
    ),
  );
  assert.match(
    delivery,
    /initContainers\[0\] palyra-skills-install {2}image palyra\/palyra-skills-operator:\S+\n {6}command node \/app\/bin\/palyra-skill\.mjs\n {6}args {4}install --from https:\/\/127\.0\.0\.1:\d+ --token-file \S+ --ca-env PALYRA_OPERATOR_CA --dir \S+ --expect acme\.echo_http,/,
  );
  assert.match(
    delivery,
    /containers agent: palyra-skills at \/var\/run\/palyra\/skills \(read-only\)/,
  );
  // Its init container's command, run by make dev: the tree, with the payload it was checked against.
  assert.match(
    delivery,
    /\$ PALYRA_OPERATOR_CA=.* node bin\/palyra-skill\.mjs install --from https:\/\/127\.0\.0\.1:\d+ /,
  );
  assert.match(
    delivery,
    /skills\.package\.install skill_id=acme\.echo_http version=1\.0\.0 .*\n {2}exit 0\n/,
  );
  for (const file of ["skill.toml", "modules/echo.wasm", "artifact.palyra-skill", "verdict.json"]) {
    assert.match(
      delivery,
      new RegExp(`\\d+ {2}acme\\.echo_http/${file.replace(".", "\\.")}\n`),
      file,
    );
  }
  assert.match(
    delivery,
    new RegExp(
      `verdict\\.json: version 1\\.0\\.0, payloadSha256 ${VERIFIED} \\(the payload the operator verified\\)`,
    ),
  );
  // The source swaps its bytes: the install yields the verified payload or refuses, never the
  // swapped bytes; the swapped bytes themselves are refused against the pod's resolution.
  assert.match(delivery, /artifact server now swaps echo-http\.palyra-skill/);
  assert.match(delivery, /pod agent-2, created after the swap: +resolved to the same payload/);
  assert.match(
    delivery,
    new RegExp(
      `its init container's command: +(installed the verified payload sha256 ${VERIFIED}|refused, nothing written)`,
    ),
  );
  assert.match(
    delivery,
    /the new bytes, installed against it: +refused, nothing written: error\[INSTALL_PAYLOAD_MISMATCH\]/,
  );
  assert.ok(!out.includes(SWAPPED), "the swapped payload was never installed");
  assert.doesNotMatch(delivery, /INSTALLED|WROTE FILES|RESOLVED/);
}
