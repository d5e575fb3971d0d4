/** The cluster commands' pure parts, and their failures as a user meets them (real CLI process). */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Skill } from "../../src/api/v1alpha1/types.generated.ts";
import type { ClusterError } from "../../src/cli/cli-error.ts";
import { asClusterError, table } from "../../src/cli/cluster/connection.ts";
import { explain } from "../../src/cli/commands/status.ts";
import { KubeApiError } from "../../src/kube/client.ts";

const BIN = fileURLToPath(new URL("../../bin/palyra-skill.mjs", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "palyra-cluster-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("table pads columns kubectl-style", () => {
  assert.equal(
    table(
      ["A", "LONGER"],
      [
        ["x", "1"],
        ["wider", "2"],
      ],
    ),
    "A      LONGER\nx      1\nwider  2",
  );
});

test("API failures become typed one-line errors: not found, forbidden, denied, conflict, unreachable", () => {
  const api = (status: number, message: string) =>
    asClusterError(new KubeApiError(status, "Reason", message, "PATCH", "/apis/x")) as ClusterError;
  assert.equal(api(404, 'skills "x" not found').code, "NOT_FOUND");
  assert.equal(api(404, 'skills "x" not found').message, 'skills "x" not found');
  assert.equal(api(403, "user cannot patch").code, "FORBIDDEN");
  assert.equal(api(403, 'admission webhook "skills" denied the request: no').code, "DENIED");
  assert.equal(api(409, "conflict").code, "CONFLICT");
  assert.equal(api(500, "boom").code, "KUBE_API_ERROR");
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
    code: "ECONNREFUSED",
  });
  assert.equal((asClusterError(refused) as ClusterError).code, "UNREACHABLE");
  const other = new Error("x");
  assert.equal(asClusterError(other), other, "anything else is left alone");
});

function skill(status: Skill["status"], spec: Partial<Skill["spec"]> = {}, generation = 1): Skill {
  return {
    apiVersion: "skills.palyra.dev/v1alpha1",
    kind: "Skill",
    metadata: { name: "wild", namespace: "team", generation },
    spec: { skillId: "acme.x", publisher: "acme", source: { url: "https://x" }, ...spec },
    status: { observedGeneration: 1, ...status },
  };
}

test("status explains, in plain words, what holds a Skill back and the command that helps", () => {
  const flagged = explain(
    skill({
      state: "Quarantined",
      payloadSha256: "ab".repeat(32),
      audit: { passed: false, failedChecks: ["forbidden_wildcard_capabilities"] },
      quarantineReasons: ["wildcard capabilities are forbidden"],
    }),
    "default",
  );
  assert.deepEqual(flagged, [
    "quarantined: wildcard capabilities are forbidden",
    `a reviewer can approve these audit findings for payload ${"ab".repeat(32)}: kubectl palyra-skill approve wild -n team`,
  ]);
  const stale = explain(
    skill(
      { state: "Quarantined", payloadSha256: "cd".repeat(32), audit: { passed: false } },
      { approval: { payloadSha256: "ab".repeat(32), approvedBy: "rita" } },
    ),
    undefined,
  );
  assert.ok(stale.some((l) => l.includes("approval exists for another payload")));
  const manual = explain(
    skill({ state: "Quarantined" }, { desiredState: "Quarantined" }),
    undefined,
  );
  assert.ok(
    manual.some(
      (l) => l === "quarantined by hand; to release it: kubectl palyra-skill enable wild -n team",
    ),
  );
  const mismatch = explain(
    skill({
      state: "Quarantined",
      conditions: [
        {
          type: "Trusted",
          status: "False",
          reason: "TofuKeyMismatch",
          message: "m",
          lastTransitionTime: "t",
        },
      ],
    }),
    undefined,
  );
  assert.ok(mismatch.some((l) => l.includes("key compromise")));
  const lagging = explain(skill({ state: "Enabled" }, {}, 3), undefined);
  assert.match(lagging[0] ?? "", /has not yet processed the latest change .*generation 1.* 3/);
});

test("a cluster command without a usable cluster fails in one line with its exit code", () => {
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, [BIN, "status", "x"], {
      encoding: "utf8",
      env: { ...process.env, HOME: dir, KUBERNETES_SERVICE_HOST: "", ...env },
    });
  const missing = run({ KUBECONFIG: join(dir, "nope") });
  assert.equal(missing.status, 2, missing.stderr);
  assert.match(missing.stderr, /^error\[(IO_ERROR|USAGE)\]: /);
  const config = join(dir, "unreachable.kubeconfig");
  writeFileSync(
    config,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
      "current-context": "c",
    }),
  );
  const down = run({ KUBECONFIG: config });
  assert.equal(down.status, 1, down.stderr);
  assert.match(down.stderr, /^error\[UNREACHABLE\]: cannot reach the API server/);
  assert.equal(down.stderr.trim().split("\n").length, 1);
  const badOutput = spawnSync(process.execPath, [BIN, "status", "x", "-o", "xml"], {
    encoding: "utf8",
    env: { ...process.env, KUBECONFIG: config },
  });
  assert.equal(badOutput.status, 2);
  assert.match(badOutput.stderr, /-o must be table, json or yaml/);
});
