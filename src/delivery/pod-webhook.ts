/**
 * The Pod side of delivery at admission: the mutating handler binds a new pod to the exact
 * payloads its skills resolve to (pod-mutation.ts), and the validating check refuses a pod whose
 * resolution or installer is not what the operator would write now (a later mutating webhook,
 * or a pod that skipped ours). Pure over the admission snapshot.
 */

import { parseSkillReferences, SKILLS_ANNOTATION } from "../webhook/annotation.ts";
import { type AdmissionSnapshot, resolveReference } from "../webhook/handlers.ts";
import {
  type AdmissionRequest,
  type AdmissionVerdict,
  allow,
  deny,
  describeObject,
} from "../webhook/review.ts";
import {
  DELIVERED_LABEL,
  type DeliveryConfig,
  formatResolution,
  INIT_CONTAINER,
  installArgs,
  podPatch,
  RESOLVED_ANNOTATION,
  type ResolvedSkill,
  resolvedFrom,
} from "./pod-mutation.ts";

type Pod = {
  metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: { initContainers?: { name?: string; image?: string; args?: string[] }[] };
};

/** The skills a pod names, resolved to exact payloads; or why not. */
export function resolvePod(
  req: AdmissionRequest,
  snap: AdmissionSnapshot,
): { skills: ResolvedSkill[] } | { problem: string; code: number } | undefined {
  const pod = (req.object ?? {}) as Pod;
  const value = pod.metadata?.annotations?.[SKILLS_ANNOTATION];
  if (value === undefined) return undefined;
  let refs: ReturnType<typeof parseSkillReferences>;
  try {
    refs = parseSkillReferences(value);
  } catch (error) {
    return { problem: (error as Error).message, code: 400 };
  }
  const skills = new Map<string, ResolvedSkill>();
  const problems: string[] = [];
  for (const ref of refs) {
    const resolved = resolveReference(snap, req.namespace ?? "", ref);
    if ("problem" in resolved) {
      problems.push(resolved.problem);
      continue;
    }
    const entry = resolvedFrom(resolved.skill);
    if (!entry) {
      problems.push(
        `skill ${ref.skillId}: Skill ${resolved.skill.metadata.name}'s status does not carry its signing key yet (written by an older operator); it is re-written on its next reconcile`,
      );
      continue;
    }
    const seen = skills.get(entry.skillId);
    if (seen && seen.payloadSha256 !== entry.payloadSha256) {
      problems.push(`skill ${entry.skillId} is named twice with different payloads`);
    }
    skills.set(entry.skillId, entry);
  }
  if (problems.length > 0) return { problem: problems.join("; "), code: 403 };
  return { skills: [...skills.values()] };
}

function isPodUpdate(req: AdmissionRequest): boolean {
  return req.operation === "UPDATE" && !req.subResource && req.kind.kind === "Pod";
}

/**
 * A running pod keeps the resolution and label it was admitted with: they are how the operator
 * finds the pods a disabled Skill reaches, and removing them would hide a pod from eviction.
 */
function checkDeliveryKept(req: AdmissionRequest): AdmissionVerdict {
  const before = (req.oldObject ?? {}) as Pod;
  const after = (req.object ?? {}) as Pod;
  const changed = [
    before.metadata?.annotations?.[RESOLVED_ANNOTATION] !==
    after.metadata?.annotations?.[RESOLVED_ANNOTATION]
      ? `annotation ${RESOLVED_ANNOTATION}`
      : "",
    before.metadata?.labels?.[DELIVERED_LABEL] !== after.metadata?.labels?.[DELIVERED_LABEL]
      ? `label ${DELIVERED_LABEL}`
      : "",
  ].filter(Boolean);
  return changed.length === 0
    ? allow()
    : deny(
        `${describeObject(req)} is denied: ${changed.join(" and ")} record${changed.length > 1 ? "" : "s"} what the pod was installed with and cannot change after it is created`,
      );
}

/** Delivery concerns new pods only (not their subresources, not templates). */
function isPodCreate(req: AdmissionRequest): boolean {
  return req.operation === "CREATE" && !req.subResource && req.kind.kind === "Pod";
}

/** Mutating: Pod CREATE in an enforced namespace with the skills annotation. */
export function mutatePod(
  req: AdmissionRequest,
  snap: AdmissionSnapshot,
  cfg: DeliveryConfig,
): AdmissionVerdict {
  if (!isPodCreate(req)) return allow();
  const resolved = resolvePod(req, snap);
  if (resolved === undefined) return allow();
  if ("problem" in resolved) {
    return deny(`${describeObject(req)} is denied: ${resolved.problem}`, resolved.code);
  }
  const pod = req.object as Record<string, unknown>;
  if (!(pod as { spec?: { serviceAccountName?: string } }).spec?.serviceAccountName) {
    // The ServiceAccount admission plugin sets it in a standard cluster; without it the
    // projected token the installer authenticates with cannot be issued.
    return deny(
      `${describeObject(req)} is denied: pod delivery installs its skills with the pod's ServiceAccount token, and spec.serviceAccountName is not set (is the ServiceAccount admission plugin off?)`,
    );
  }
  // Reinvoked after another webhook's change: ours is there already and still right.
  if (delivered(pod as Pod, resolved.skills, cfg) === undefined) return allow();
  if ((pod as Pod).spec?.initContainers?.some((c) => c.name === INIT_CONTAINER)) {
    return deny(
      `${describeObject(req)} is denied: it already has an init container named ${INIT_CONTAINER}, which is the operator's`,
    );
  }
  return { allowed: true, patch: podPatch(pod, resolved.skills, cfg) };
}

/** Why the pod's delivery is not what the operator would write, or undefined when it is. */
function delivered(pod: Pod, skills: ResolvedSkill[], cfg: DeliveryConfig): string | undefined {
  const annotation = pod.metadata?.annotations?.[RESOLVED_ANNOTATION];
  if (annotation !== formatResolution(skills)) {
    return `annotation ${RESOLVED_ANNOTATION} is ${JSON.stringify(annotation ?? null)}, not the current resolution ${JSON.stringify(formatResolution(skills))}`;
  }
  if (pod.metadata?.labels?.[DELIVERED_LABEL] !== "true")
    return `label ${DELIVERED_LABEL} is not "true"`;
  const init = pod.spec?.initContainers?.[0];
  if (init?.name !== INIT_CONTAINER) return `the first init container is not ${INIT_CONTAINER}`;
  if (init.image !== cfg.image) return `the ${INIT_CONTAINER} image is not the operator's`;
  const args = JSON.stringify(init.args ?? []);
  if (args !== JSON.stringify(installArgs(skills, cfg))) {
    return `the ${INIT_CONTAINER} arguments are not the operator's for this resolution`;
  }
  return undefined;
}

/**
 * Validating: a pod that names skills must carry exactly the delivery the operator would write
 * now, so a later mutating webhook cannot swap what is installed unnoticed.
 */
export function checkPodDelivery(
  req: AdmissionRequest,
  snap: AdmissionSnapshot,
  cfg: DeliveryConfig,
): AdmissionVerdict {
  if (isPodUpdate(req)) return checkDeliveryKept(req);
  if (!isPodCreate(req)) return allow();
  const resolved = resolvePod(req, snap);
  if (resolved === undefined) {
    // Only the operator binds a pod: a resolution it did not write would misreport what runs.
    const pod = req.object as Pod;
    const forged = [
      pod.metadata?.annotations?.[RESOLVED_ANNOTATION] !== undefined
        ? `annotation ${RESOLVED_ANNOTATION}`
        : "",
      pod.metadata?.labels?.[DELIVERED_LABEL] !== undefined ? `label ${DELIVERED_LABEL}` : "",
    ].filter(Boolean);
    return forged.length === 0
      ? allow()
      : deny(
          `${describeObject(req)} is denied: ${forged.join(" and ")} ${forged.length > 1 ? "are" : "is"} written by the operator for pods that name skills (${SKILLS_ANNOTATION}), and this pod names none`,
        );
  }
  if ("problem" in resolved) return allow(); // reviewWorkload says why
  const why = delivered(req.object as Pod, resolved.skills, cfg);
  return why === undefined
    ? allow()
    : deny(
        `${describeObject(req)} is denied: its skills delivery was changed after the operator's: ${why}`,
      );
}
