/**
 * make dev's delivery demonstration: a pod created in the enforced namespace comes back bound
 * to the exact payload the operator verified (resolution annotation, an installer init
 * container, volumes, read-only mounts). No kubelet runs here, so make dev runs the init
 * container's command itself, with a token for the pod's ServiceAccount, and lists the
 * installed tree. Then the artifact server swaps its bytes for another artifact signed with the
 * same key: the install still yields the verified payload (the operator serves the bytes it
 * verified), and the new bytes, installed against the pod's resolution, are refused.
 */

import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:https";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { ArtifactServer } from "./artifact-server.ts";
import type { SkillArtifact } from "./artifacts.ts";
import { runProcess } from "./run-process.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin/palyra-skill.mjs");
const NS = "skills-demo";
const SA = "agent";
const SKILL_ID = "acme.echo_http";
const AUDIENCE = "skills.palyra.dev";

type Kubectl = (args: string[], input?: string) => string;

interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Pod {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: {
    initContainers?: Container[];
    containers: Container[];
    volumes?: { name: string; emptyDir?: unknown; projected?: unknown }[];
  };
}

export interface PodDeliveryDemo {
  kubectl: Kubectl;
  /** The artifact server and the path of echo-http's artifact on it. */
  server: ArtifactServer;
  path: string;
  /** What echo-http serves (the operator verified it) and what the server swaps it for. */
  verified: SkillArtifact;
  swapped: SkillArtifact;
  /** Where the pods' token, CA and installed trees go. */
  dir: string;
}

/** True when the pod was bound, installed the verified payload, and never the swapped one. */
export async function showPodDelivery(d: PodDeliveryDemo): Promise<boolean> {
  try {
    return await demo(d);
  } catch (error) {
    const e = error as { stderr?: string; message?: string };
    console.error(`dev: pod delivery failed: ${(e.stderr || e.message || String(error)).trim()}`);
    return false;
  } finally {
    d.server.fault(d.path, undefined);
  }
}

async function demo(d: PodDeliveryDemo): Promise<boolean> {
  const { kubectl } = d;
  rmSync(d.dir, { recursive: true, force: true });
  mkdirSync(d.dir, { recursive: true });
  const want = `${SKILL_ID}@1.0.0=sha256:${d.verified.payloadSha256}`;
  console.log(`dev: pod delivery, with the annotation skills.palyra.dev/skills: ${SKILL_ID}`);
  // No ServiceAccount admission plugin or controller-manager here: the pod names its own.
  kubectl(["create", "serviceaccount", SA, "-n", NS]);
  const pod = await createBound(kubectl, "agent");
  if (!pod) {
    console.error("dev: the pod came back without the installer (the pod webhook did not act)");
    return false;
  }
  showPod(pod);
  const init = pod.spec.initContainers?.[0];
  const resolvedOk = pod.metadata.annotations?.["skills.palyra.dev/resolved"] === want;

  // A token for the pod's ServiceAccount, as the projected volume would hold it.
  const tokenFile = join(d.dir, "token");
  writeFileSync(
    tokenFile,
    kubectl(["create", "token", SA, "-n", NS, "--audience", AUDIENCE, "--duration", "10m"]).trim(),
  );
  const ca = init?.env?.find((e) => e.name === "PALYRA_OPERATOR_CA")?.value ?? "";
  writeFileSync(join(d.dir, "operator-ca.crt"), ca);
  const first = await runInit(init, tokenFile, join(d.dir, "agent"), ca, true);
  const installedOk =
    first.status === 0 && first.verdict?.payloadSha256 === d.verified.payloadSha256;
  if (first.status === 0) showTree(join(d.dir, "agent"), first.verdict, d.verified.payloadSha256);

  // The release bucket is compromised: another artifact, signed with acme's key too.
  const before = await httpsGet(d.server.url(d.path), d.server.ca.certPem);
  d.server.fault(d.path, { kind: "swap", bytes: d.swapped.bytes, after: 0 });
  const now = await httpsGet(d.server.url(d.path), d.server.ca.certPem);
  console.log(
    `dev: the artifact server now swaps ${d.path} for other bytes, signed with acme's key too:\n` +
      `  it served sha256 ${short(sha256(before))} (the digest the pod expects), now sha256 ${short(sha256(now))} (payload ${short(d.swapped.payloadSha256)}, version 6.6.6)`,
  );
  const hitsBefore = d.server.hits(d.path);
  // A pod created now still resolves to the verified payload; its installer gets those bytes.
  const later = await createBound(kubectl, "agent-2");
  const laterResolved = later?.metadata.annotations?.["skills.palyra.dev/resolved"];
  console.log(
    `  pod agent-2, created after the swap:  ${laterResolved === want ? "resolved to the same payload" : `RESOLVED ${laterResolved}`}`,
  );
  const again = await runInit(
    later?.spec.initContainers?.[0],
    tokenFile,
    join(d.dir, "agent-2"),
    ca,
    false,
  );
  const sourceHits = d.server.hits(d.path) - hitsBefore;
  const afterPayload = again.verdict?.payloadSha256;
  let afterOk = false;
  if (again.status === 0 && afterPayload === d.verified.payloadSha256) {
    afterOk = true;
    console.log(
      `  its init container's command:         installed the verified payload sha256 ${afterPayload} (the operator served the bytes it verified${sourceHits === 0 ? ", without asking the artifact server" : `; ${sourceHits} request(s) to the artifact server`})`,
    );
  } else if (again.status === 0) {
    console.log(`  its init container's command:         INSTALLED payload sha256 ${afterPayload}`);
  } else {
    const target = join(d.dir, "agent-2", "skills");
    const written = existsSync(target) ? readdirSync(target) : [];
    afterOk = later !== undefined && written.length === 0;
    console.log(
      `  its init container's command:         refused, ${written.length === 0 ? "nothing written" : "WROTE FILES"}: ${lastLine(again.stderr)}`,
    );
  }
  // The swapped bytes themselves, installed against the pod's resolution (skill, payload, key).
  const fileDir = join(d.dir, "swapped");
  mkdirSync(join(fileDir, "skills"), { recursive: true });
  writeFileSync(join(fileDir, "artifact.palyra-skill"), now);
  const direct = await runProcess(process.execPath, [
    BIN,
    "install",
    "--file",
    join(fileDir, "artifact.palyra-skill"),
    "--skill-id",
    SKILL_ID,
    "--payload-sha256",
    d.verified.payloadSha256,
    "--key",
    d.verified.publicKeyHex,
    "--dir",
    join(fileDir, "skills"),
  ]);
  const directWritten = readdirSync(join(fileDir, "skills"));
  const refusedOk = direct.status !== 0 && directWritten.length === 0;
  console.log(
    `  the new bytes, installed against it:  ${direct.status === 0 ? "INSTALLED" : `refused, ${directWritten.length === 0 ? "nothing written" : "WROTE FILES"}`}: ${lastLine(direct.status === 0 ? direct.stdout : direct.stderr)}`,
  );
  d.server.fault(d.path, undefined); // (and in showPodDelivery, whatever happened)
  console.log(`  (the artifact server serves ${d.path} as before again)\n`);
  return resolvedOk && installedOk && afterOk && refusedOk;
}

/** Creates the pod, retrying while the API server has not yet loaded the pod webhook. */
async function createBound(kubectl: Kubectl, name: string): Promise<Pod | undefined> {
  const body = JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS, annotations: { "skills.palyra.dev/skills": SKILL_ID } },
    spec: {
      serviceAccountName: SA,
      containers: [{ name: "agent", image: "registry.example/agent:1" }],
    },
  });
  for (let i = 0; i < 40; i++) {
    const probe = JSON.parse(
      kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], body),
    ) as Pod;
    if (probe.spec.initContainers?.length) {
      return JSON.parse(kubectl(["create", "-o", "json", "-f", "-"], body)) as Pod;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return undefined;
}

function showPod(pod: Pod): void {
  const init = pod.spec.initContainers?.[0];
  const ours = (m?: Record<string, string>) =>
    Object.entries(m ?? {}).filter(([k]) => k.startsWith("skills.palyra.dev/"));
  console.log(`  kubectl create pod ${pod.metadata.name} -n ${NS}: as the webhook returned it`);
  for (const [k, v] of ours(pod.metadata.annotations)) console.log(`    annotation ${k}: ${v}`);
  for (const [k, v] of ours(pod.metadata.labels)) console.log(`    label      ${k}: ${v}`);
  if (!init) return;
  console.log(`    initContainers[0] ${init.name}  image ${init.image}`);
  console.log(`      command ${(init.command ?? []).join(" ")}`);
  console.log(`      args    ${trimArgs(init.args ?? []).join(" ")}`);
  for (const e of init.env ?? []) {
    const lines = (e.value ?? "").trim().split("\n");
    console.log(`      env     ${e.name}: ${lines[0]} ... (${lines.length} lines)`);
  }
  const volumes = (pod.spec.volumes ?? [])
    .filter((v) => v.name.startsWith("palyra-skills"))
    .map((v) => `${v.name} (${v.emptyDir ? "emptyDir" : v.projected ? "projected token" : "?"})`);
  console.log(`    volumes ${volumes.join(", ")}`);
  for (const c of pod.spec.containers) {
    const m = c.volumeMounts?.find((v) => v.name === "palyra-skills");
    if (m) {
      console.log(
        `    containers ${c.name}: ${m.name} at ${m.mountPath}${m.readOnly ? " (read-only)" : ""}`,
      );
    }
  }
}

/**
 * Runs an init container's command as a process (no kubelet runs here): its own arguments,
 * with the token file and the install directory made local; --from is the operator's local
 * webhook address already, and its certificate names 127.0.0.1.
 */
async function runInit(
  init: Container | undefined,
  tokenFile: string,
  dir: string,
  ca: string,
  show: boolean,
): Promise<{
  status: number | null;
  stdout: string;
  stderr: string;
  verdict?: { payloadSha256?: string; version?: string };
}> {
  if (!init?.args) return { status: null, stdout: "", stderr: "no init container" };
  const installDir = join(dir, "skills");
  mkdirSync(installDir, { recursive: true });
  const args = [...init.args];
  args[args.indexOf("--token-file") + 1] = tokenFile;
  args[args.indexOf("--dir") + 1] = installDir;
  if (show) {
    const shown = [...args];
    shown[shown.indexOf("--token-file") + 1] = rel(tokenFile);
    shown[shown.indexOf("--dir") + 1] = rel(installDir);
    console.log(
      "dev: no kubelet runs here: make dev runs the init container's command, its token file and directory made local:",
    );
    console.log(
      `  $ PALYRA_OPERATOR_CA="$(cat ${rel(join(dir, "..", "operator-ca.crt"))})" node ${rel(BIN)} ${trimArgs(shown).join(" ")}`,
    );
  }
  // Not spawnSync: the operator this process started must keep draining its logs meanwhile.
  const run = await runProcess(process.execPath, [BIN, ...args], {
    env: { PALYRA_OPERATOR_CA: ca },
  });
  if (show) {
    const out = run.status === 0 ? run.stdout : run.stderr;
    for (const line of out.trim().split("\n")) console.log(`  ${shortenHex(line)}`);
    console.log(`  exit ${run.status}`);
  }
  let verdict: { payloadSha256?: string; version?: string } | undefined;
  try {
    verdict = JSON.parse(readFileSync(join(installDir, SKILL_ID, "verdict.json"), "utf8"));
  } catch {
    verdict = undefined;
  }
  return { ...run, ...(verdict ? { verdict } : {}) };
}

function showTree(
  dir: string,
  verdict: { payloadSha256?: string; version?: string } | undefined,
  verified: string,
): void {
  const root = join(dir, "skills");
  console.log(`dev: the installed tree (${rel(root)}):`);
  const files = (readdirSync(root, { recursive: true }) as string[])
    .filter((f) => statSync(join(root, f)).isFile())
    .sort();
  for (const f of files) {
    console.log(`  ${String(statSync(join(root, f)).size).padStart(8)}  ${f}`);
  }
  const p = verdict?.payloadSha256;
  console.log(
    `  ${SKILL_ID}/verdict.json: version ${verdict?.version}, payloadSha256 ${p} (${p === verified ? "the payload the operator verified" : "NOT THE VERIFIED PAYLOAD"})\n`,
  );
}

/** The installer's arguments, digests and keys cut short to read. */
function trimArgs(args: string[]): string[] {
  return args.map((a, i) =>
    args[i - 1] === "--expect"
      ? a
          .split(",")
          .map((part) => (/^[0-9a-f]{64}$/.test(part) ? short(part) : part))
          .join(",")
      : a,
  );
}

function shortenHex(line: string): string {
  return line.replace(/\b([0-9a-f]{12})[0-9a-f]{52}\b/g, "$1...");
}

function short(hex: string): string {
  return `${hex.slice(0, 12)}...`;
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function lastLine(text: string): string {
  return shortenHex(text.trim().split("\n").pop() ?? "");
}

function rel(path: string): string {
  const r = relative(process.cwd(), path);
  return r.startsWith("..") ? path : r;
}

function httpsGet(url: string, ca: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        res.statusCode === 200
          ? resolve(Buffer.concat(chunks))
          : reject(new Error(`${url}: HTTP ${res.statusCode}`)),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer in time`)));
    req.on("error", reject);
    req.end();
  });
}
