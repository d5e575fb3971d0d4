/**
 * The webhook's decisions, one pure function per kind, over a read-only snapshot of the
 * operator's caches (no network on the admission path; the one exception, the approval
 * right, is a SubjectAccessReview passed in as `authorize`).
 */

import type { Skill, SkillTrustPolicy } from "../api/v1alpha1/types.generated.ts";
import { resolvePolicy } from "../controller/policy/select.ts";
import { TRUST_STORE_LABEL } from "../controller/policy/trust-store.ts";
import { deepEqual } from "../kube/patch.ts";
import { pinsFor, pinUseOf, type ScopedTrustStore } from "../trust/pin-scope.ts";
import {
  formatReference,
  parseSkillReferences,
  SKILLS_ANNOTATION,
  type SkillReference,
} from "./annotation.ts";
import { imageVolumeProblems } from "./image-volumes.ts";
import { authorChanged, expectedRequester, REQUESTED_BY_ANNOTATION } from "./requester.ts";
import {
  type AdmissionRequest,
  type AdmissionVerdict,
  allow,
  deny,
  describeObject,
} from "./review.ts";

/** The label a namespace carries to have its workloads checked. */
export const ENFORCE_LABEL = "skills.palyra.dev/enforce";

/** Every annotation and label of this project starts with it. */
export const ANNOTATION_PREFIX = "skills.palyra.dev/";

export interface AdmissionSnapshot {
  skillsWithId(namespace: string, skillId: string): readonly Skill[];
  policies(): readonly SkillTrustPolicy[];
  namespaceLabels(namespace: string): Readonly<Record<string, string>>;
  /** The trust store a policy names, if the operator has read it; undefined when unknown. */
  trustStore(policy: SkillTrustPolicy): ScopedTrustStore | undefined;
  /** The signing key of an artifact the operator verified, by artifact digest. */
  signingKeyOf(artifactSha256: string): string | undefined;
  /** Every Skill of a namespace (image volumes are checked against their OCI sources). */
  skillsInNamespace?(namespace: string): readonly Skill[];
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

/**
 * A skill id resolves to every live Skill in the namespace that carries it: the reference holds
 * only when each of them is Enabled for its current generation (so a quarantine of one, manual
 * or not, cannot be bypassed by a twin), and the Enabled ones that satisfy the pin agree on one
 * signed payload (so the id names exactly one artifact).
 */
export function resolveReference(
  snap: AdmissionSnapshot,
  namespace: string,
  ref: SkillReference,
): { problem: string } | { skill: Skill } {
  const candidates = snap
    .skillsWithId(namespace, ref.skillId)
    .filter((s) => !s.metadata.deletionTimestamp)
    .sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1));
  const wanted = formatReference(ref);
  if (candidates.length === 0)
    return {
      problem: `skill ${wanted}: no Skill in namespace ${namespace} provides ${ref.skillId}`,
    };
  const current = (s: Skill) => s.status?.observedGeneration === s.metadata.generation;
  const held = candidates.filter((s) => !(s.status?.state === "Enabled" && current(s)));
  if (held.length > 0) {
    const s = held[0] as Skill;
    const state = current(s) ? (s.status?.state ?? "Pending") : "Pending";
    const twins =
      candidates.length > 1
        ? ` (${candidates.length} Skills in ${namespace} carry ${ref.skillId}; every one must be Enabled)`
        : "";
    return {
      problem: `skill ${wanted}: Skill ${namespace}/${s.metadata.name} is ${state} (${readyReason(s)})${twins}`,
    };
  }
  const matches = candidates.filter((s) =>
    ref.pin === "version"
      ? s.status?.manifest?.version === ref.version
      : ref.pin === "payload"
        ? s.status?.payloadSha256 === ref.payloadSha256
        : true,
  );
  if (matches.length === 0) {
    const s = candidates[0] as Skill;
    const has =
      ref.pin === "version"
        ? `version ${s.status?.manifest?.version}`
        : `payload sha256:${s.status?.payloadSha256}`;
    return {
      problem: `skill ${wanted}: Skill ${namespace}/${s.metadata.name} is Enabled with ${has}, not the pinned ${pinned(ref)}`,
    };
  }
  const payloads = [...new Set(matches.map((s) => s.status?.payloadSha256 ?? ""))];
  if (payloads.length > 1) {
    return {
      problem: `skill ${wanted} is ambiguous in namespace ${namespace}: ${matches
        .map((s) => `Skill ${s.metadata.name} has payload sha256:${s.status?.payloadSha256}`)
        .join(", ")}; pin a version or payload that names one of them`,
    };
  }
  return { skill: matches[0] as Skill };
}

/** The skill references a workload's annotations carry (the object's and its pod template's). */
function workloadReferences(req: AdmissionRequest): SkillReference[] {
  const object = (req.object ?? {}) as Obj;
  const values = [
    object.metadata?.annotations?.[SKILLS_ANNOTATION],
    podTemplateAnnotations(req.kind.kind, object)?.[SKILLS_ANNOTATION],
  ];
  const refs: SkillReference[] = [];
  for (const v of values) if (v !== undefined) refs.push(...parseSkillReferences(v));
  return refs.filter(
    (r, i) => refs.findIndex((o) => formatReference(o) === formatReference(r)) === i,
  );
}

/** The annotations of ours (skills.palyra.dev/...) on an object, as one comparable record. */
function ourAnnotations(object: unknown): Record<string, string> {
  const all = (object as Obj | null | undefined)?.metadata?.annotations ?? {};
  return Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith(ANNOTATION_PREFIX)));
}

// Pod subresources that can change a pod's metadata (status, resize) or add code to it
// (ephemeralcontainers); binding copies its own annotations onto the pod.
const POD_SUBRESOURCES = new Set(["status", "ephemeralcontainers", "resize", "binding"]);

/**
 * Pods and pod templates: every referenced skill must resolve (resolveReference). Subresource
 * writes may not add, change or remove a skills.palyra.dev/ annotation except by the operator
 * and the admin groups; adding an ephemeral container re-checks the pod's references.
 */
export function reviewWorkload(
  req: AdmissionRequest,
  snap: AdmissionSnapshot,
  id: Identity,
): AdmissionVerdict {
  if (req.operation === "DELETE") return allow();
  const what = describeObject(req);
  if (req.subResource) {
    if (req.kind.kind !== "Pod" && req.kind.kind !== "Binding") return allow();
    if (!POD_SUBRESOURCES.has(req.subResource)) return allow();
    const before = req.subResource === "binding" ? {} : ourAnnotations(req.oldObject);
    const after = ourAnnotations(req.object);
    if (!deepEqual(before, after) && !privileged(req, id)) {
      return deny(
        `pods/${req.subResource} of ${req.namespace}/${req.name}: ${req.userInfo.username} may not add, change or remove ${ANNOTATION_PREFIX} annotations through a subresource (only the operator and members of ${id.adminGroups.join(", ")} may)`,
      );
    }
    if (req.subResource !== "ephemeralcontainers") return allow();
  }
  let refs: SkillReference[];
  try {
    refs = workloadReferences(req);
  } catch (error) {
    return deny(`${what}: ${(error as Error).message}`, 400);
  }
  // An image volume can mount a skill from its registry, past the operator.
  const volumes = snap.skillsInNamespace
    ? imageVolumeProblems(req.kind.kind, req.object, snap.skillsInNamespace(req.namespace ?? ""))
    : [];
  if (refs.length === 0 && volumes.length === 0) return allow();
  const denials: string[] = [...volumes];
  for (const ref of refs) {
    const resolved = resolveReference(snap, req.namespace ?? "", ref);
    if ("problem" in resolved) denials.push(resolved.problem);
  }
  if (denials.length > 0) return deny(`${what} is denied: ${denials.join("; ")}`);
  return allow();
}

/** A SubjectAccessReview for the requesting user, in the request's namespace. */
export type Authorize = (
  req: AdmissionRequest,
  attributes: { verb: string; resource: "skills" | "skilltrustpolicies"; name?: string },
) => Promise<boolean>;

/**
 * Skills: only the operator (and the admin groups) write status; the requester record is what
 * the mutating webhook writes; approvals are four-eyes and need the approve verb; choosing a
 * policy other than the namespace's default needs the use verb on it; then what the governing
 * Enforce policy can never admit (a source kind it forbids, a publisher it can never trust, an
 * artifact pinned by digest whose signing key it revoked).
 */
export async function reviewSkill(
  req: AdmissionRequest,
  snap: AdmissionSnapshot,
  authorize: Authorize,
  id: Identity,
): Promise<AdmissionVerdict> {
  if (req.operation === "DELETE") return allow();
  const what = describeObject(req);
  if (req.subResource === "status") {
    if (privileged(req, id)) return allow();
    return deny(
      `${what}: only the operator (${id.operatorUser}) writes a Skill's status (members of ${id.adminGroups.join(", ")} may, to repair); ${req.userInfo.username} may not`,
    );
  }
  if (req.subResource) return allow();
  const skill = req.object as unknown as Skill | undefined;
  if (!skill?.spec) return allow();
  const old = (req.oldObject ?? undefined) as unknown as Skill | undefined;
  const namespace = req.namespace ?? "";
  const user = req.userInfo.username ?? "";

  const recorded = skill.metadata?.annotations?.[REQUESTED_BY_ANNOTATION];
  const expected = expectedRequester(req, id.operatorUser);
  if (recorded !== expected) {
    return deny(
      `${what}: annotation ${REQUESTED_BY_ANNOTATION} records who last changed the spec and is written by the operator's mutating webhook; it must be ${expected === undefined ? "absent" : JSON.stringify(expected)}, not ${recorded === undefined ? "absent" : JSON.stringify(recorded)}`,
    );
  }
  // Metadata-only updates (finalizers, labels) are never blocked: deletion must not hang.
  if (old && deepEqual(old.spec, skill.spec)) return allow();

  const approval = skill.spec.approval;
  const approvalChanged = approval !== undefined && !deepEqual(old?.spec.approval, approval);
  const reenabled =
    old !== undefined &&
    old.spec.desiredState === "Quarantined" &&
    skill.spec.desiredState !== "Quarantined";
  if (approvalChanged && approval.approvedBy !== user) {
    return deny(
      `${what}: spec.approval.approvedBy must name the approving user (${user}), not ${JSON.stringify(approval.approvedBy)}`,
    );
  }
  if (approvalChanged || reenabled) {
    if (!(await authorize(req, { verb: "approve", resource: "skills", name: req.name ?? "" }))) {
      return deny(
        `${what}: ${user} may not ${approvalChanged ? "approve skills" : "re-enable a quarantined skill"} in namespace ${namespace} (needs the "approve" verb on skills.skills.palyra.dev)`,
      );
    }
  }
  if (approvalChanged) {
    const author = old?.metadata.annotations?.[REQUESTED_BY_ANNOTATION];
    if (old === undefined || authorChanged(old, skill)) {
      return deny(
        `${what}: an approval cannot come with the change it approves; ${user} is changing the spec, so someone else must approve it afterwards (four-eyes)`,
      );
    }
    if (author === undefined) {
      return deny(
        `${what}: the Skill records no author (${REQUESTED_BY_ANNOTATION}; it predates four-eyes approvals); any update by its author records one, then someone else may approve`,
      );
    }
    if (author === user) {
      return deny(
        `${what}: ${user} last changed this Skill's spec and may not approve it too (four-eyes: another reviewer must approve)`,
      );
    }
  }

  const ref = skill.spec.policyRef?.name;
  if (ref !== undefined && ref !== old?.spec.policyRef?.name) {
    const fallback = governingPolicy(snap, namespace);
    if (
      fallback?.metadata.name !== ref &&
      !(await authorize(req, { verb: "use", resource: "skilltrustpolicies", name: ref }))
    ) {
      return deny(
        `${what}: ${user} may not choose SkillTrustPolicy ${ref} in namespace ${namespace} (spec.policyRef naming a policy other than the namespace's default${fallback ? ` ${fallback.metadata.name}` : ""} needs the "use" verb on skilltrustpolicies.skills.palyra.dev ${ref})`,
      );
    }
  }

  const policy = governingPolicy(snap, namespace, skill);
  if (!policy) return allow();
  const findings = neverAdmitted(skill, policy, snap, namespace);
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

function neverAdmitted(
  skill: Skill,
  policy: SkillTrustPolicy,
  snap: AdmissionSnapshot,
  namespace: string,
): string[] {
  const findings: string[] = [];
  const allowed = policy.spec.allowedSourceKinds;
  if (allowed && !allowed.includes(sourceKind(skill) as (typeof allowed)[number])) {
    findings.push(
      `source kind ${sourceKind(skill)} is not one of the policy's allowedSourceKinds (${allowed.join(", ")})`,
    );
  }
  const publisher = skill.spec.publisher;
  const allowlisted = (policy.spec.publishers ?? []).some((p) => p.name === publisher);
  const use = pinUseOf(policy.spec);
  if (!allowlisted && !use.create) {
    const scoped: ScopedTrustStore | undefined = policy.spec.trustStore
      ? snap.trustStore(policy)
      : {
          store: { trustedPublishers: new Map(), tofuPublishers: new Map() },
          namespacePins: new Map(),
        };
    // Without a read of the trust store the webhook cannot know; the controller will decide.
    if (
      scoped &&
      !scoped.store.trustedPublishers.has(publisher) &&
      !pinsFor(scoped, use, namespace).has(publisher)
    ) {
      findings.push(
        use.honour
          ? `publisher ${publisher} is neither allowlisted nor pinned, and the policy does not allow TOFU`
          : `publisher ${publisher} is not allowlisted, and the policy trusts only allowlisted keys (no TOFU, no existing pins)`,
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

/**
 * Trust-store ConfigMaps (labelled skills.palyra.dev/trust-store): only the operator and the
 * admin groups may create, change, relabel or delete them. The webhook sees every ConfigMap that
 * carries the label before or after the write, and the operator reads no store without it.
 */
export function reviewConfigMap(req: AdmissionRequest, id: Identity): AdmissionVerdict {
  const labelled = (o: unknown) =>
    (o as Obj | null | undefined)?.metadata?.labels?.[TRUST_STORE_LABEL] !== undefined;
  if (!labelled(req.object) && !labelled(req.oldObject)) return allow();
  if (privileged(req, id)) return allow();
  const namespace = req.namespace ?? "";
  const name =
    req.name ||
    ((req.object ?? req.oldObject) as { metadata?: { name?: string } } | null)?.metadata?.name;
  return deny(
    `ConfigMap ${namespace}/${name} is a trust store (label ${TRUST_STORE_LABEL}); only the operator (${id.operatorUser}) and members of ${id.adminGroups.join(", ")} may ${req.operation.toLowerCase()} it, so allowlists and TOFU pins cannot be edited around the operator`,
  );
}

/** The namespace label keys that decide which policy governs a namespace, plus the enforce label. */
export function guardedNamespaceLabels(policies: readonly SkillTrustPolicy[]): string[] {
  const keys = new Set<string>([ENFORCE_LABEL]);
  for (const p of policies) {
    const selector = p.spec.namespaceSelector;
    for (const key of Object.keys(selector?.matchLabels ?? {})) keys.add(key);
    for (const req of selector?.matchExpressions ?? []) keys.add(req.key);
  }
  return [...keys].sort();
}

/**
 * Namespaces: the labels policies select by, and the enforce label, are reserved to the operator
 * and the admin groups on every path that writes them (create, update, status, finalize);
 * opting in to enforcement (adding the enforce label) is free.
 */
export function reviewNamespace(
  req: AdmissionRequest,
  id: Identity,
  guarded: readonly string[],
): AdmissionVerdict {
  if (req.operation !== "UPDATE" && req.operation !== "CREATE") return allow();
  const before = (req.oldObject as Obj | null)?.metadata?.labels ?? {};
  const after = (req.object as Obj | null)?.metadata?.labels ?? {};
  const changed = guarded.filter((key) => {
    if (before[key] === after[key]) return false;
    // Opting in is free; changing or removing the opt-in is not.
    return !(key === ENFORCE_LABEL && before[key] === undefined);
  });
  if (changed.length === 0 || privileged(req, id)) return allow();
  const via = req.subResource ? ` (through namespaces/${req.subResource})` : "";
  return deny(
    `Namespace ${req.name}: only the operator and members of ${id.adminGroups.join(", ")} may set, change or remove the label${changed.length > 1 ? "s" : ""} ${changed.join(", ")}${via}: ${changed.includes(ENFORCE_LABEL) ? `${ENFORCE_LABEL} exempts the namespace's workloads from skill checks, and ` : ""}SkillTrustPolicies choose the namespaces they govern by these labels`,
  );
}
