/**
 * The webhook's decisions, one pure function per kind, over a read-only snapshot of the
 * operator's caches (no network on the admission path; the one exception, the approval
 * right, is a SubjectAccessReview passed in as `authorize`).
 */

import type { Skill, SkillTrustPolicy } from "../api/v1alpha1/types.generated.ts";
import { resolvePolicy } from "../controller/policy/select.ts";
import { deepEqual } from "../kube/patch.ts";
import type { TrustStore } from "../trust/store.ts";
import {
  formatReference,
  parseSkillReferences,
  SKILLS_ANNOTATION,
  type SkillReference,
} from "./annotation.ts";
import {
  type AdmissionRequest,
  type AdmissionVerdict,
  allow,
  deny,
  describeObject,
} from "./review.ts";

/** The label a namespace carries to have its workloads checked. */
export const ENFORCE_LABEL = "skills.palyra.dev/enforce";

export interface AdmissionSnapshot {
  skillsWithId(namespace: string, skillId: string): readonly Skill[];
  policies(): readonly SkillTrustPolicy[];
  namespaceLabels(namespace: string): Readonly<Record<string, string>>;
  /** The trust store a policy names, if the operator has read it; undefined when unknown. */
  trustStore(policy: SkillTrustPolicy): TrustStore | undefined;
  /** The signing key of an artifact the operator verified, by artifact digest. */
  signingKeyOf(artifactSha256: string): string | undefined;
}

export interface Identity {
  /** The operator's own user (its service account), always allowed to write trust stores. */
  operatorUser: string;
  /** Groups whose members may edit trust stores and exempt namespaces. */
  adminGroups: readonly string[];
}

type Obj = {
  metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
};

// Where each workload kind keeps its pod template's annotations.
const TEMPLATE_PATHS: Record<string, readonly string[]> = {
  Pod: [],
  Deployment: ["template"],
  StatefulSet: ["template"],
  DaemonSet: ["template"],
  ReplicaSet: ["template"],
  Job: ["template"],
  CronJob: ["jobTemplate", "spec", "template"],
};

export const WORKLOAD_KINDS = Object.keys(TEMPLATE_PATHS);

function podTemplateAnnotations(kind: string, object: Obj): Record<string, string> | undefined {
  const path = TEMPLATE_PATHS[kind];
  if (!path) return undefined;
  if (path.length === 0) return object.metadata?.annotations;
  let node: unknown = object.spec;
  for (const step of path) node = (node as Record<string, unknown> | undefined)?.[step];
  return (node as Obj | undefined)?.metadata?.annotations;
}

function governingPolicy(
  snap: AdmissionSnapshot,
  namespace: string,
  skill?: Pick<Skill, "spec">,
): SkillTrustPolicy | undefined {
  const resolved = resolvePolicy(
    skill ?? { spec: {} },
    snap.policies(),
    snap.namespaceLabels(namespace),
  );
  return resolved.kind === "found" ? resolved.policy : undefined;
}

function pinned(ref: SkillReference): string {
  return ref.pin === "version"
    ? `version ${ref.version}`
    : ref.pin === "payload"
      ? `payload sha256:${ref.payloadSha256}`
      : "skill";
}

function readyReason(skill: Skill): string {
  const ready = skill.status?.conditions?.find((c) => c.type === "Ready");
  return ready ? `${ready.reason}: ${ready.message}` : "not reconciled yet";
}

function checkReference(
  snap: AdmissionSnapshot,
  namespace: string,
  ref: SkillReference,
): { problem?: string; skill?: Skill } {
  const candidates = snap
    .skillsWithId(namespace, ref.skillId)
    .filter((s) => !s.metadata.deletionTimestamp);
  const wanted = formatReference(ref);
  if (candidates.length === 0)
    return {
      problem: `skill ${wanted}: no Skill in namespace ${namespace} provides ${ref.skillId}`,
    };
  const current = (s: Skill) => s.status?.observedGeneration === s.metadata.generation;
  const enabled = candidates.filter((s) => s.status?.state === "Enabled" && current(s));
  const matches = enabled.filter((s) =>
    ref.pin === "version"
      ? s.status?.manifest?.version === ref.version
      : ref.pin === "payload"
        ? s.status?.payloadSha256 === ref.payloadSha256
        : true,
  );
  if (matches.length > 0) return { skill: matches[0] as Skill };
  if (enabled.length > 0) {
    const s = enabled[0] as Skill;
    const has =
      ref.pin === "version"
        ? `version ${s.status?.manifest?.version}`
        : `payload sha256:${s.status?.payloadSha256}`;
    return {
      skill: s,
      problem: `skill ${wanted}: Skill ${namespace}/${s.metadata.name} is Enabled with ${has}, not the pinned ${pinned(ref)}`,
    };
  }
  const s = candidates[0] as Skill;
  const state = current(s) ? (s.status?.state ?? "Pending") : "Pending";
  return {
    skill: s,
    problem: `skill ${wanted}: Skill ${namespace}/${s.metadata.name} is ${state} (${readyReason(s)})`,
  };
}

/** Pods and pod templates: every referenced skill must be Enabled here and match its pin. */
export function reviewWorkload(req: AdmissionRequest, snap: AdmissionSnapshot): AdmissionVerdict {
  if (req.operation === "DELETE" || req.subResource) return allow();
  const object = (req.object ?? {}) as Obj;
  const namespace = req.namespace ?? "";
  const values = [
    object.metadata?.annotations?.[SKILLS_ANNOTATION],
    podTemplateAnnotations(req.kind.kind, object)?.[SKILLS_ANNOTATION],
  ];
  const what = describeObject(req);
  let refs: SkillReference[] = [];
  try {
    for (const v of values) if (v !== undefined) refs.push(...parseSkillReferences(v));
  } catch (error) {
    return deny(`${what}: ${(error as Error).message}`, 400);
  }
  refs = refs.filter(
    (r, i) => refs.findIndex((o) => formatReference(o) === formatReference(r)) === i,
  );
  if (refs.length === 0) return allow();
  const denials: string[] = [];
  const warnings: string[] = [];
  for (const ref of refs) {
    const { problem, skill } = checkReference(snap, namespace, ref);
    if (!problem) continue;
    const policy = governingPolicy(snap, namespace, skill);
    if (policy?.spec.mode === "Audit")
      warnings.push(`${problem} (allowed: policy ${policy.metadata.name} is in Audit mode)`);
    else denials.push(problem);
  }
  if (denials.length > 0) return deny(`${what} is denied: ${denials.join("; ")}`);
  return allow(warnings);
}

export type Authorize = (req: AdmissionRequest, verb: string) => Promise<boolean>;

/**
 * Skills: segregation of duties for approvals and re-enabling, then what the governing Enforce
 * policy can never admit (a source kind it forbids, a publisher it can never trust, an artifact
 * pinned by digest whose signing key it revoked).
 */
export async function reviewSkill(
  req: AdmissionRequest,
  snap: AdmissionSnapshot,
  authorize: Authorize,
): Promise<AdmissionVerdict> {
  if (req.operation === "DELETE" || req.subResource) return allow();
  const skill = req.object as unknown as Skill | undefined;
  if (!skill?.spec) return allow();
  const old = (req.oldObject ?? undefined) as unknown as Skill | undefined;
  const what = describeObject(req);
  const namespace = req.namespace ?? "";
  // Metadata-only updates (finalizers, labels) are never blocked: deletion must not hang.
  if (old && deepEqual(old.spec, skill.spec)) return allow();

  const approval = skill.spec.approval;
  const approvalChanged = approval !== undefined && !deepEqual(old?.spec.approval, approval);
  const reenabled =
    old !== undefined &&
    old.spec.desiredState === "Quarantined" &&
    skill.spec.desiredState !== "Quarantined";
  if (approvalChanged || reenabled) {
    const user = req.userInfo.username ?? "";
    if (approvalChanged && approval.approvedBy !== user) {
      return deny(
        `${what}: spec.approval.approvedBy must name the approving user (${user}), not ${JSON.stringify(approval.approvedBy)}`,
      );
    }
    if (!(await authorize(req, "approve"))) {
      return deny(
        `${what}: ${user} may not ${approvalChanged ? "approve skills" : "re-enable a quarantined skill"} in namespace ${namespace} (needs the "approve" verb on skills.skills.palyra.dev)`,
      );
    }
  }

  const policy = governingPolicy(snap, namespace, skill);
  if (!policy) return allow();
  const findings = neverAdmitted(skill, policy, snap);
  if (findings.length === 0) return allow();
  const message = `${what} can never be admitted by policy ${policy.metadata.name}: ${findings.join("; ")}`;
  return policy.spec.mode === "Audit" ? allow([message]) : deny(message);
}

function sourceKind(skill: Skill): string {
  const s = skill.spec.source;
  return s.url !== undefined
    ? "url"
    : s.configMapRef
      ? "configMap"
      : s.secretRef
        ? "secret"
        : "oci";
}

function neverAdmitted(skill: Skill, policy: SkillTrustPolicy, snap: AdmissionSnapshot): string[] {
  const findings: string[] = [];
  const allowed = policy.spec.allowedSourceKinds;
  if (allowed && !allowed.includes(sourceKind(skill) as (typeof allowed)[number])) {
    findings.push(
      `source kind ${sourceKind(skill)} is not one of the policy's allowedSourceKinds (${allowed.join(", ")})`,
    );
  }
  const publisher = skill.spec.publisher;
  const allowlisted = (policy.spec.publishers ?? []).some((p) => p.name === publisher);
  if (!allowlisted && policy.spec.allowTofu !== true) {
    const store = policy.spec.trustStore
      ? snap.trustStore(policy)
      : { trustedPublishers: new Map(), tofuPublishers: new Map() };
    // Without a read of the trust store the webhook cannot know; the controller will decide.
    if (store && !store.trustedPublishers.has(publisher) && !store.tofuPublishers.has(publisher)) {
      findings.push(
        `publisher ${publisher} is neither allowlisted nor pinned, and the policy does not allow TOFU`,
      );
    }
  }
  const digest = skill.spec.sha256?.toLowerCase();
  const key = digest ? snap.signingKeyOf(digest) : undefined;
  if (key && (policy.spec.revokedKeys ?? []).map((k) => k.toLowerCase()).includes(key)) {
    findings.push(`the artifact pinned by spec.sha256 is signed by revoked key ${key}`);
  }
  return findings;
}

function privileged(req: AdmissionRequest, id: Identity): boolean {
  if (req.userInfo.username === id.operatorUser) return true;
  return (req.userInfo.groups ?? []).some((g) => id.adminGroups.includes(g));
}

/** Trust-store ConfigMaps: only the operator and the admin groups may write them. */
export function reviewConfigMap(
  req: AdmissionRequest,
  snap: AdmissionSnapshot,
  id: Identity,
): AdmissionVerdict {
  const namespace = req.namespace ?? "";
  const name =
    req.name ||
    ((req.object ?? req.oldObject) as { metadata?: { name?: string } } | null)?.metadata?.name;
  const guardedBy = snap
    .policies()
    .filter((p) => p.spec.trustStore?.namespace === namespace && p.spec.trustStore.name === name)
    .map((p) => p.metadata.name);
  if (guardedBy.length === 0 || privileged(req, id)) return allow();
  return deny(
    `ConfigMap ${namespace}/${name} is the trust store of SkillTrustPolicy ${guardedBy.join(", ")}; only the operator (${id.operatorUser}) and members of ${id.adminGroups.join(", ")} may ${req.operation.toLowerCase()} it, so TOFU pins cannot be edited around the operator`,
  );
}

/** Namespaces: opting in to enforcement is free; opting out (changing the label) is privileged. */
export function reviewNamespace(req: AdmissionRequest, id: Identity): AdmissionVerdict {
  if (req.operation !== "UPDATE") return allow();
  const before = (req.oldObject as Obj | null)?.metadata?.labels?.[ENFORCE_LABEL];
  const after = (req.object as Obj | null)?.metadata?.labels?.[ENFORCE_LABEL];
  if (before === undefined || before === after || privileged(req, id)) return allow();
  return deny(
    `Namespace ${req.name}: only the operator and members of ${id.adminGroups.join(", ")} may change or remove the ${ENFORCE_LABEL} label (it exempts the namespace's workloads from skill checks)`,
  );
}
