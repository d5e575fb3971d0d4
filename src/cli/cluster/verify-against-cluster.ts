/**
 * `verify FILE --cluster`: a local artifact judged exactly as the operator would judge it in a
 * namespace, before it is published: the governing policy (or --policy), its trust store read
 * from the cluster, and the operator's own pure verdict (revocations, provenance builders,
 * allowlist, pins, audit settings). Nothing is written: a first-use pin is reported, not made.
 */

import { createHash } from "node:crypto";
import type { SkillTrustPolicy } from "../../api/v1alpha1/types.generated.ts";
import { DEFAULT_ARCHIVE_LIMITS } from "../../artifact/limits.ts";
import { inspectArtifactAsync } from "../../artifact/verify.ts";
import { trustStoreConflict } from "../../controller/policy/conflicts.ts";
import { TRUST_STORE_LABEL, trustStoreRefOf } from "../../controller/policy/trust-store.ts";
import { computeVerdict, type Verdict } from "../../controller/skill/verdict.ts";
import type { KubeClient } from "../../kube/client.ts";
import { provenanceBuilderId } from "../../sources/artifact-loader.ts";
import { readScopedTrustStore, type ScopedTrustStore } from "../../trust/pin-scope.ts";
import { EMPTY_TRUST_STORE } from "../../trust/store.ts";
import { ClusterError, UsageError } from "../cli-error.ts";
import { readInput } from "../io.ts";
import { getTrustStoreConfigMap, listPolicies, resolveInNamespace } from "./skills.ts";

export interface ClusterVerification {
  artifact: string;
  namespace: string;
  policy: string;
  trustStore: string | null;
  skillId: string;
  publisher: string;
  version: string;
  payloadSha256: string;
  keyId: string;
  trust: Verdict["trust"];
  audit: Verdict["audit"];
  /** What the operator would make of a Skill with this artifact. */
  outcome: "Enabled" | "Quarantined";
}

async function choosePolicy(
  client: KubeClient,
  namespace: string,
  name: string | undefined,
): Promise<SkillTrustPolicy> {
  const policies = await listPolicies(client);
  if (name !== undefined) {
    const policy = policies.find((p) => p.metadata.name === name);
    if (!policy)
      throw new ClusterError(`no SkillTrustPolicy named ${JSON.stringify(name)}`, "NOT_FOUND");
    return policy;
  }
  const resolution = await resolveInNamespace(client, namespace, undefined, policies);
  if (resolution.kind === "found") return resolution.policy;
  throw new UsageError(
    resolution.kind === "ambiguous"
      ? `several default policies govern namespace ${namespace} (${resolution.names.join(", ")}); choose one with --policy`
      : `no default SkillTrustPolicy governs namespace ${namespace}; choose one with --policy or -n`,
  );
}

async function readStore(
  client: KubeClient,
  policy: SkillTrustPolicy,
): Promise<[ScopedTrustStore, string | null]> {
  const ref = trustStoreRefOf(policy);
  if (!ref) return [{ store: EMPTY_TRUST_STORE, namespacePins: new Map() }, null];
  const cm = await getTrustStoreConfigMap(client, ref);
  const where = `${ref.namespace}/${ref.name}`;
  if (cm.metadata.labels?.[TRUST_STORE_LABEL] !== "true") {
    throw new ClusterError(
      `trust store ${where} is not labelled ${TRUST_STORE_LABEL}=true; the operator uses no unguarded store`,
      "KUBE_API_ERROR",
    );
  }
  // A missing key is an empty store, as the operator reads it.
  return [readScopedTrustStore(cm.data, ref.key), where];
}

export async function verifyAgainstCluster(
  client: KubeClient,
  path: string,
  namespace: string,
  policyName: string | undefined,
): Promise<ClusterVerification> {
  const bytes = readInput(path, "artifact", {
    bytes: DEFAULT_ARCHIVE_LIMITS.maxArtifactBytes,
    code: "ARTIFACT_TOO_LARGE",
  });
  const inspected = await inspectArtifactAsync(bytes);
  const policy = await choosePolicy(client, namespace, policyName);
  const [scoped, where] = await readStore(client, policy);
  const conflict = trustStoreConflict(policy, await listPolicies(client));
  const verdict = computeVerdict(
    {
      digest: createHash("sha256").update(bytes).digest("hex"),
      inspected,
      builderId: provenanceBuilderId(inspected),
    },
    policy,
    {
      store: scoped.store,
      namespacePins: scoped.namespacePins,
      namespace,
      storeAvailable: where !== null,
      ...(conflict ? { conflict } : {}),
    },
  );
  const m = inspected.manifest;
  return {
    artifact: path,
    namespace,
    policy: policy.metadata.name ?? "",
    trustStore: where,
    skillId: m.skill_id,
    publisher: m.publisher,
    version: m.version,
    payloadSha256: inspected.payloadSha256,
    keyId: inspected.keyId,
    trust: verdict.trust,
    audit: verdict.audit,
    outcome: verdict.trust.ok && verdict.audit.passed ? "Enabled" : "Quarantined",
  };
}
