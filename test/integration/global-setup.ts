/**
 * One real control plane per test run (node --test --test-global-setup): started before the
 * first test file, always stopped after the last, pass or fail. Test files find it through
 * PALYRA_TEST_CLUSTER.
 */
import {
  type ControlPlane,
  ensureBinaries,
  startControlPlane,
} from "../../hack/control-plane/launcher.ts";
import { ensureRegistryBinaries } from "../../hack/registry/launcher.ts";
import { clusterOf } from "../support/kube.ts";

let plane: ControlPlane | undefined;

export async function globalSetup(): Promise<void> {
  const started = Date.now();
  const bin = ensureBinaries();
  // Built once (and cached) before any test file needs them: registry, oras, htpasswd.
  ensureRegistryBinaries();
  plane = await startControlPlane();
  process.env.PALYRA_TEST_CLUSTER = JSON.stringify(clusterOf(plane, bin));
  console.log(
    `# control plane ready at ${plane.server} in ${((Date.now() - started) / 1000).toFixed(1)}s`,
  );
}

export async function globalTeardown(): Promise<void> {
  await plane?.stop();
}
