/**
 * OpenReports: with the Report CRD absent the operator says so once and writes nothing; with it
 * installed, one Report per namespace follows the Skills (verification, trust and audit
 * results, an approval turning a failure into a warning, results gone with their Skill, the
 * Report gone with the last one), validated by the real API server against the CRD's schema.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ArtifactServer } from "../../hack/dev/artifact-server.ts";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import { installCrds, installOpenReportsCrd } from "../support/crds.ts";
import { kube, waitFor } from "../support/kube.ts";
import {
  forbiddenRequests,
  type RunningOperator,
  startChartOperator,
} from "../support/operator.ts";
import { API, createSkill, ensureNamespace, getSkill, waitForState } from "../support/resources.ts";
import { ACME, createTenant, STORE_NS, urlSkillSpec } from "../support/tenants.ts";

const server = new ArtifactServer();
const WILD = skillArtifact({ keySeed: 7, skillId: "acme.fetch_anything", wildcardEgress: true });
let operator: RunningOperator | undefined;

interface Report {
  summary: Record<string, number>;
  results: { rule: string; result: string; message: string; resources: { name: string }[] }[];
}

const reportPath = (ns: string) =>
  `/apis/openreports.io/v1alpha1/namespaces/${ns}/reports/palyra-skills`;

before(async () => {
  await installCrds();
  await ensureNamespace(STORE_NS);
  await server.start();
});

after(async () => {
  const forbidden = operator ? await forbiddenRequests(operator) : 0;
  const code = await operator?.stop();
  await server.stop();
  assert.equal(forbidden, 0, "the chart's RBAC covers the reports");
  assert.equal(code ?? 0, 0, operator?.stderr.join(""));
});

test("without the Report CRD: one log line, no reports, Skills still reconciled", async () => {
  const t = await createTenant();
  operator = await startChartOperator();
  await createSkill(
    t.ns,
    "echo",
    urlSkillSpec(server, `${t.ns}/e.palyra-skill`, ACME.bytes, t.policy),
  );
  await waitForState(t.ns, "echo", "Enabled");
  await waitFor("the operator says the CRD is missing", async () =>
    operator?.logs.some((l) =>
      /Report CRD \(reports\.openreports\.io\) is not installed/.test(String(l.msg)),
    )
      ? true
      : undefined,
  );
  assert.equal(
    operator.logs.filter((l) => /is not installed/.test(String(l.msg))).length,
    1,
    "said once",
  );
  assert.equal(await operator.stop(), 0);
  operator = undefined;
});

test("with the CRD: one Report per namespace follows its Skills, approvals, and deletions", async () => {
  await installOpenReportsCrd();
  operator = await startChartOperator();
  const t = await createTenant();
  const spec = (name: string, bytes: Buffer, skillId: string) => ({
    ...urlSkillSpec(server, `${t.ns}/${name}.palyra-skill`, bytes, t.policy),
    skillId,
  });
  await createSkill(t.ns, "echo", spec("echo", ACME.bytes, "acme.echo_http"));
  await createSkill(t.ns, "wild", spec("wild", WILD.bytes, "acme.fetch_anything"));
  await waitForState(t.ns, "echo", "Enabled");
  const wild = await waitForState(t.ns, "wild", "Quarantined");

  const report = async (predicate: (r: Report) => boolean, what: string) =>
    waitFor(what, async () => {
      const res = await kube("GET", reportPath(t.ns));
      const r = res.status === 200 ? (res.body as unknown as Report) : undefined;
      return r && predicate(r) ? r : undefined;
    });
  const of = (r: Report, skill: string, rule: string) =>
    r.results.find((x) => x.resources[0]?.name === skill && x.rule === rule)?.result;

  const first = await report((r) => r.results.length === 6, "six results for two Skills");
  const owners = (await kube("GET", reportPath(t.ns))).body.metadata as {
    ownerReferences?: { kind: string }[];
  };
  assert.equal(
    owners.ownerReferences?.[0]?.kind,
    "ClusterRole",
    "owned by the chart's ClusterRole",
  );
  assert.equal(of(first, "echo", "signature-and-integrity"), "pass");
  assert.equal(of(first, "echo", "publisher-trust"), "pass");
  assert.equal(of(first, "echo", "security-audit"), "pass");
  assert.equal(of(first, "wild", "security-audit"), "fail");
  assert.deepEqual(first.summary, { pass: 5, fail: 1, warn: 0, error: 0, skip: 0 });

  // An approval keeps the finding visible, as a warning.
  await kube(
    "PATCH",
    `${API}/namespaces/${t.ns}/skills/wild`,
    { spec: { approval: { payloadSha256: wild.status?.payloadSha256, approvedBy: "admin" } } },
    { contentType: "application/merge-patch+json" },
  );
  await waitForState(t.ns, "wild", "Enabled");
  const approved = await report(
    (r) => of(r, "wild", "security-audit") === "warn",
    "the approved finding as a warning",
  );
  assert.match(
    approved.results.find((x) => x.resources[0]?.name === "wild" && x.rule === "security-audit")
      ?.message ?? "",
    /^approved by admin: /,
  );

  await kube("DELETE", `${API}/namespaces/${t.ns}/skills/wild`);
  await waitFor("wild gone", async () => ((await getSkill(t.ns, "wild")) ? undefined : true));
  await report(
    (r) => r.results.every((x) => x.resources[0]?.name === "echo") && r.results.length === 3,
    "wild's results removed",
  );
  await kube("DELETE", `${API}/namespaces/${t.ns}/skills/echo`);
  await waitFor("the Report goes with the last Skill", async () =>
    (await kube("GET", reportPath(t.ns))).status === 404 ? true : undefined,
  );
  assert.ok((await operator.metric("palyra_report_writes_total", { result: "deleted" })) >= 1);
});
