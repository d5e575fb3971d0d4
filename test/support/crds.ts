import { readdirSync, readFileSync } from "node:fs";
import { parse } from "yaml";
import { kube, waitFor } from "./kube.ts";

const CRD_DIR = new URL("../../crds/", import.meta.url);
const CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

export function crdDocuments(): Record<string, unknown>[] {
  return readdirSync(CRD_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => parse(readFileSync(new URL(f, CRD_DIR), "utf8")));
}

type Condition = { type: string; status: string; reason?: string; message?: string };

/** Creates (or replaces) every CRD and waits until the API server reports it Established. */
export function installCrds(): Promise<void> {
  return installCrdDocuments(crdDocuments());
}

/** The OpenReports Report CRD the tests use (test/fixtures/openreports-report-crd.yaml). */
export function installOpenReportsCrd(): Promise<void> {
  const file = new URL("../fixtures/openreports-report-crd.yaml", import.meta.url);
  return installCrdDocuments([parse(readFileSync(file, "utf8"))]);
}

export async function installCrdDocuments(documents: Record<string, unknown>[]): Promise<void> {
  for (const crd of documents) {
    const name = (crd.metadata as { name: string }).name;
    const created = await kube("POST", CRD_PATH, crd);
    if (created.status === 409) {
      const current = await kube("GET", `${CRD_PATH}/${name}`);
      const replaced = await kube("PUT", `${CRD_PATH}/${name}`, {
        ...crd,
        metadata: {
          ...(crd.metadata as object),
          resourceVersion: current.body.metadata?.resourceVersion,
        },
      });
      if (replaced.status !== 200)
        throw new Error(`replacing ${name}: ${replaced.status} ${replaced.body.message}`);
    } else if (created.status !== 201) {
      throw new Error(`creating ${name}: ${created.status} ${created.body.message}`);
    }
    await waitFor(`${name} Established`, async () => {
      const current = await kube("GET", `${CRD_PATH}/${name}`);
      const conditions = ((current.body.status as { conditions?: Condition[] })?.conditions ??
        []) as Condition[];
      const established = conditions.find((c) => c.type === "Established");
      const rejected = conditions.find((c) => c.type === "NamesAccepted" && c.status === "False");
      if (rejected) throw new Error(`${name}: ${rejected.reason}: ${rejected.message}`);
      return established?.status === "True" ? true : undefined;
    });
  }
}
