/** A small client for integration tests: raw HTTPS to the real API server, as one identity. */

import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import type { ControlPlane } from "../../hack/control-plane/launcher.ts";

export interface TestCluster {
  server: string;
  caFile: string;
  kubeconfig: string;
  kubectl: string;
  admin: { name: string; token: string };
  user: { name: string; token: string };
}

/** What test files need of a control plane, as PALYRA_TEST_CLUSTER carries it. */
export function clusterOf(plane: ControlPlane, binDir: string): TestCluster {
  return {
    server: plane.server,
    caFile: plane.caFile,
    kubeconfig: plane.kubeconfig,
    kubectl: join(binDir, "kubectl"),
    admin: plane.admin,
    user: plane.user,
  };
}

/** The control plane the global setup started (test/integration/global-setup.ts). */
export function testCluster(): TestCluster {
  const raw = process.env.PALYRA_TEST_CLUSTER;
  if (!raw)
    throw new Error(
      "PALYRA_TEST_CLUSTER is not set: run integration tests with npm run test:integration",
    );
  return JSON.parse(raw) as TestCluster;
}

export interface KubeResponse {
  status: number;
  /** Warning headers (admission warnings arrive here). */
  warnings: string[];
  body: Record<string, unknown> & { message?: string; metadata?: Record<string, unknown> };
}

export interface RequestOptions {
  token?: string;
  contentType?: string;
  impersonate?: string;
}

export function kube(
  method: string,
  path: string,
  body?: unknown,
  options: RequestOptions = {},
): Promise<KubeResponse> {
  const cluster = testCluster();
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = {
    Authorization: `Bearer ${options.token ?? cluster.admin.token}`,
    Accept: "application/json",
  };
  if (payload) {
    headers["Content-Type"] = options.contentType ?? "application/json";
    headers["Content-Length"] = String(payload.length);
  }
  if (options.impersonate) headers["Impersonate-User"] = options.impersonate;
  return new Promise((resolve, reject) => {
    const req = request(
      `${cluster.server}${path}`,
      { method, headers, ca: readFileSync(cluster.caFile) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: KubeResponse["body"];
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            parsed = { message: text };
          }
          const w = res.headers.warning;
          const warnings = w === undefined ? [] : Array.isArray(w) ? w : [w];
          resolve({ status: res.statusCode ?? 0, warnings, body: parsed });
        });
      },
    );
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
