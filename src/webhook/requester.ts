/**
 * Who last changed a Skill's spec, recorded at admission in one annotation so that approvals
 * can be four-eyes: the approver may not be that person. The mutating webhook writes it from
 * the request's own user, and the validating webhook refuses any object whose annotation is not
 * what the mutating webhook would have written (a forged, edited or skipped record). Approving
 * and quarantining do not make the requester the author; every other spec change does. Pure.
 */

import type { Skill } from "../api/v1alpha1/types.generated.ts";
import { deepEqual, pointerSegment } from "../kube/patch.ts";
import { type AdmissionRequest, type AdmissionVerdict, allow } from "./review.ts";

export const REQUESTED_BY_ANNOTATION = "skills.palyra.dev/requested-by";

type SkillLike = Pick<Skill, "spec"> & { metadata?: Skill["metadata"] };

function authored(spec: Skill["spec"] | undefined): Partial<Skill["spec"]> {
  if (!spec) return {};
  const { approval: _approval, desiredState: _desiredState, ...rest } = spec;
  return rest;
}

/** The spec changed in a way that makes the requester its author. */
export function authorChanged(old: SkillLike | undefined, next: SkillLike): boolean {
  return old === undefined || !deepEqual(authored(old.spec), authored(next.spec));
}

/**
 * The annotation value the new object must carry: the requester on create and on an authoring
 * change; on other updates the old value, except that a Skill without a record (made before
 * this version) takes its first non-operator writer's name.
 */
export function expectedRequester(
  req: Pick<AdmissionRequest, "operation" | "userInfo" | "object" | "oldObject">,
  operatorUser: string,
): string | undefined {
  const next = req.object as unknown as SkillLike | undefined;
  const old = (req.oldObject ?? undefined) as unknown as SkillLike | undefined;
  const user = req.userInfo.username ?? "";
  if (!next?.spec) return undefined;
  if (req.operation === "CREATE" || authorChanged(old, next)) return user;
  const recorded = old?.metadata?.annotations?.[REQUESTED_BY_ANNOTATION];
  if (recorded === undefined && user !== operatorUser) return user;
  return recorded;
}

/** The JSON patch (RFC 6902) that makes the object carry the expected annotation, if any. */
export function requesterPatch(
  req: Pick<AdmissionRequest, "operation" | "userInfo" | "object" | "oldObject">,
  operatorUser: string,
): { op: string; path: string; value?: unknown }[] {
  const next = req.object as unknown as SkillLike | undefined;
  const want = expectedRequester(req, operatorUser);
  const annotations = next?.metadata?.annotations;
  const have = annotations?.[REQUESTED_BY_ANNOTATION];
  if (want === have) return [];
  const path = `/metadata/annotations/${pointerSegment(REQUESTED_BY_ANNOTATION)}`;
  if (want === undefined) return [{ op: "remove", path }];
  if (annotations === undefined) {
    return [
      { op: "add", path: "/metadata/annotations", value: { [REQUESTED_BY_ANNOTATION]: want } },
    ];
  }
  return [{ op: have === undefined ? "add" : "replace", path, value: want }];
}

/** The mutating webhook for Skills: record the requester (main resource, create and update). */
export function mutateSkill(req: AdmissionRequest, operatorUser: string): AdmissionVerdict {
  if (req.subResource || (req.operation !== "CREATE" && req.operation !== "UPDATE")) return allow();
  const patch = requesterPatch(req, operatorUser);
  return patch.length > 0 ? { allowed: true, patch } : allow();
}
