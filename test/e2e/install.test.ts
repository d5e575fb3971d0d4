/**
 * End to end on a real cluster where the chart is installed with the image (make e2e-kind, on
 * hosts with Docker and kind): the Deployment is available with a leader, an air-gapped Skill
 * is Enabled, a wildcard one Quarantined, and the webhook, reached through its Service by the
 * API server, admits and denies workloads. KUBECONFIG names the cluster; never run in CI here.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import { KubeApiError, KubeClient } from "../../src/kube/client.ts";
import { KubeConfig } from "../../src/kube/kubeconfig.ts";
import { waitFor } from "../support/kube.ts";

const NS = "palyra-system";
const RELEASE = "palyra-skills-operator";
const ACME = skillArtifact({ keySeed: 7 });
const WILD = skillArtifact({ keySeed: 7, skillId: "acme.fetch_anything", wildcardEgress: true });
let client: KubeClient;
const tenant = `e2e-${Date.now().toString(36)}`;

/** A probe retried until it answers (errors count as "not yet": the cluster is still settling). */
function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  return waitFor(what, () => probe().catch(() => undefined), 120_000);
}

before(async () => {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  client = await KubeClient.fromKubeConfig(kc);
  await client.request("/api/v1/namespaces", {
    method: "POST",
    body: {
      metadata: { name: tenant, labels: { "skills.palyra.dev/enforce": "true" } },
    },
  });
  await client.request("/apis/skills.palyra.dev/v1alpha1/skilltrustpolicies/default", {
    method: "PATCH",
    contentType: "application/merge-patch+json",
    body: { spec: { publishers: [{ name: "acme", keys: [ACME.publicKeyHex] }] } },
  });
});

after(async () => {
  await client.request(`/api/v1/namespaces/${tenant}`, { method: "DELETE" }).catch(() => {});
  client.close();
});

test("the Deployment is available and one replica holds the Lease", async () => {
  await until("two available replicas", async () => {
    const d = await client.request<{ status?: { availableReplicas?: number } }>(
      `/apis/apps/v1/namespaces/${NS}/deployments/${RELEASE}`,
    );
    return (d.status?.availableReplicas ?? 0) >= 2 ? true : undefined;
  });
  const lease = await client.request<{ spec?: { holderIdentity?: string } }>(
    `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${RELEASE}`,
  );
  assert.ok(lease.spec?.holderIdentity, "a leader holds the lease");
});

test("air-gapped Skills reach Enabled and Quarantined; the webhook admits and denies through its Service", async () => {
  for (const [name, artifact, skillId] of [
    ["echo", ACME, "acme.echo_http"],
    ["wild", WILD, "acme.fetch_anything"],
  ] as const) {
    await client.request(`/api/v1/namespaces/${tenant}/configmaps`, {
      method: "POST",
      body: {
        metadata: { name },
        binaryData: { "artifact.palyra-skill": artifact.bytes.toString("base64") },
      },
    });
    await client.request(`/apis/skills.palyra.dev/v1alpha1/namespaces/${tenant}/skills`, {
      method: "POST",
      body: {
        apiVersion: "skills.palyra.dev/v1alpha1",
        kind: "Skill",
        metadata: { name },
        spec: { skillId, publisher: "acme", source: { configMapRef: { name } } },
      },
    });
  }
  const state = (name: string) =>
    client
      .request<{ status?: { state?: string } }>(
        `/apis/skills.palyra.dev/v1alpha1/namespaces/${tenant}/skills/${name}`,
      )
      .then((s) => s.status?.state);
  await until("echo Enabled", async () => ((await state("echo")) === "Enabled" ? true : undefined));
  await until("wild Quarantined", async () =>
    (await state("wild")) === "Quarantined" ? true : undefined,
  );
  const deployment = (name: string, skill: string) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations: { "skills.palyra.dev/skills": skill } },
        spec: { containers: [{ name: "agent", image: "agent:e2e" }] },
      },
    },
  });
  const path = `/apis/apps/v1/namespaces/${tenant}/deployments`;
  await client.request(path, { method: "POST", body: deployment("ok", "acme.echo_http") });
  await assert.rejects(
    client.request(path, { method: "POST", body: deployment("bad", "acme.fetch_anything") }),
    (error: unknown) => error instanceof KubeApiError && /denied/.test(error.message),
  );
});
