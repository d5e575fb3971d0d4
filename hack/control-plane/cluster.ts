/**
 * make cluster-up / make cluster-down: a local control plane that outlives this command.
 *   node hack/control-plane/cluster.ts up     start it, print the kubeconfig path
 *   node hack/control-plane/cluster.ts down   stop it and remove its files
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startControlPlane, terminate } from "./launcher.ts";

const STATE_DIR = fileURLToPath(new URL("../../.cache/cluster/", import.meta.url));
const STATE = `${STATE_DIR}state.json`;

interface State {
  dir: string;
  kubeconfig: string;
  server: string;
  pids: { etcd: number; apiserver: number };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function down(): Promise<void> {
  if (!existsSync(STATE)) {
    console.log("cluster-down: no local control plane is recorded");
    return;
  }
  const state = JSON.parse(readFileSync(STATE, "utf8")) as State;
  await terminate(state.pids.apiserver);
  await terminate(state.pids.etcd);
  rmSync(state.dir, { recursive: true, force: true });
  rmSync(STATE, { force: true });
  console.log(`cluster-down: stopped the control plane at ${state.server}`);
}

async function up(): Promise<void> {
  if (existsSync(STATE)) {
    const state = JSON.parse(readFileSync(STATE, "utf8")) as State;
    if (alive(state.pids.apiserver) && alive(state.pids.etcd)) {
      console.log(state.kubeconfig);
      console.error(`cluster-up: already running at ${state.server}`);
      return;
    }
    await down();
  }
  const started = Date.now();
  const plane = await startControlPlane({ detached: true });
  mkdirSync(STATE_DIR, { recursive: true });
  const state: State = {
    dir: plane.dir,
    kubeconfig: plane.kubeconfig,
    server: plane.server,
    pids: plane.pids,
  };
  writeFileSync(STATE, JSON.stringify(state, null, 2));
  console.error(
    `cluster-up: kube-apiserver ready at ${plane.server} in ${((Date.now() - started) / 1000).toFixed(1)}s`,
  );
  console.error(
    `cluster-up: contexts "admin" (system:masters) and "alice" (no RBAC grants); stop with make cluster-down`,
  );
  console.log(plane.kubeconfig);
}

const command = process.argv[2];
if (command === "up") await up();
else if (command === "down") await down();
else {
  console.error("usage: node hack/control-plane/cluster.ts up|down");
  process.exitCode = 2;
}
