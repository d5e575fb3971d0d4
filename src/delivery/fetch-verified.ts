/**
 * The install side of delivery: fetch an artifact by digest from the operator's Service with a
 * ServiceAccount token, over HTTPS with the operator's CA, under the artifact size limit. The
 * bytes are checked by installSkill (digest first); this only refuses what is not an answer.
 */

import { request } from "node:https";
import { InstallError } from "./errors.ts";

export interface FetchFromOperatorOptions {
  /** The operator's base URL, e.g. https://palyra-skills-operator-webhook.palyra-system.svc */
  baseUrl: string;
  digest: string;
  token: string;
  caPem?: string;
  maxBytes: number;
  timeoutMs?: number;
  skillId: string;
}

export function fetchFromOperator(o: FetchFromOperatorOptions): Promise<Buffer> {
  const fail = (detail: string) => new InstallError("INSTALL_FETCH_FAILED", o.skillId, detail);
  let url: URL;
  try {
    url = new URL(`${o.baseUrl.replace(/\/$/, "")}/v1/artifacts/sha256/${o.digest}`);
  } catch {
    return Promise.reject(fail(`${o.baseUrl} is not a URL`));
  }
  if (url.protocol !== "https:") return Promise.reject(fail(`${o.baseUrl} is not https`));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        headers: { Authorization: `Bearer ${o.token}`, Accept: "application/octet-stream" },
        ...(o.caPem ? { ca: o.caPem } : {}),
        timeout: o.timeoutMs ?? 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > o.maxBytes) {
            req.destroy(fail(`the answer exceeds ${o.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => {
          const body = Buffer.concat(chunks, size);
          if (res.statusCode !== 200) {
            let why = body.toString("utf8").slice(0, 500);
            try {
              const parsed = JSON.parse(why) as { error?: { code?: string; message?: string } };
              why = `${parsed.error?.code}: ${parsed.error?.message}`;
            } catch {
              // not JSON: the first bytes say enough
            }
            reject(fail(`the operator answered HTTP ${res.statusCode} (${why})`));
            return;
          }
          const declared = Number(res.headers["content-length"] ?? size);
          if (declared !== size) {
            reject(fail(`the answer ended after ${size} of ${declared} bytes`));
            return;
          }
          resolve(body);
        });
        res.on("error", (error) => reject(fail(`the answer broke off (${error.message})`)));
      },
    );
    req.on("timeout", () => req.destroy(fail("no answer in time")));
    req.on("error", (error) =>
      reject(
        error instanceof InstallError
          ? error
          : fail((error as NodeJS.ErrnoException).code ?? error.message),
      ),
    );
    req.end();
  });
}
