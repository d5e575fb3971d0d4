/** What the benchmarks share: load, scraping, CPU readings, CRDs, the trust store and policy. */

import { readdirSync, readFileSync } from "node:fs";
import { get } from "node:http";
import { parse } from "yaml";
import type { KubeClient } from "../src/kube/client.ts";

export const API = "/apis/skills.palyra.dev/v1alpha1";

/** Runs `work` over `items`, at most `width` at a time. */
export async function pool<T>(
  items: T[],
  width: number,
  work: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** The operator's /metrics text. */
export function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/metrics" }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

/** Sum of a metric's samples whose labels contain every `label="value"` given. */
export function sum(metrics: string, name: string, labels: Record<string, string> = {}): number {
  return metrics
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .reduce((n, l) => n + Number(l.split(" ").pop()), 0);
}

/** User + system CPU seconds a process has used so far (Linux /proc). */
export function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Creates the project's CRDs and waits until the Skill API answers. */
export async function installCrds(client: KubeClient): Promise<void> {
  const dir = new URL("../crds/", import.meta.url);
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    await client.request("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
      method: "POST",
      body: parse(readFileSync(new URL(file, dir), "utf8")),
    });
  }
  await untilServed(client, `${API}/skills`);
}

/** Polls until the API server serves `path` (a CRD is established a moment after creation). */
async function untilServed(client: KubeClient, path: string): Promise<void> {
  while (
    !(await client.request(path).then(
      () => true,
      () => false,
    ))
  ) {
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The OpenReports Report CRD of the tests (test/fixtures), for runs that measure reports. */
export async function installReportCrd(client: KubeClient): Promise<void> {
  const file = new URL("../test/fixtures/openreports-report-crd.yaml", import.meta.url);
  await client.request("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
    method: "POST",
    body: parse(readFileSync(file, "utf8")),
  });
  await untilServed(client, "/apis/openreports.io/v1alpha1");
}

/** The empty trust-store ConfigMap the benchmarks' policies name: palyra-system/trust-store. */
export async function createEmptyTrustStore(client: KubeClient): Promise<void> {
  await client.request("/api/v1/namespaces/palyra-system/configmaps", {
    method: "POST",
    body: {
      metadata: { name: "trust-store", labels: { "skills.palyra.dev/trust-store": "true" } },
      data: { "trust-store.json": "{}" },
    },
  });
}

/**
 * The default policy `bench` for namespaces labelled `bench: bench`: acme's key allowlisted, the
 * store above for pins.
 */
export async function createAcmePolicy(client: KubeClient, acmeKeyHex: string): Promise<void> {
  await client.request(`${API}/skilltrustpolicies`, {
    method: "POST",
    body: {
      apiVersion: "skills.palyra.dev/v1alpha1",
      kind: "SkillTrustPolicy",
      metadata: { name: "bench" },
      spec: {
        default: true,
        namespaceSelector: { matchLabels: { bench: "bench" } },
        publishers: [{ name: "acme", keys: [acmeKeyHex] }],
        trustStore: { namespace: "palyra-system", name: "trust-store" },
      },
    },
  });
}
