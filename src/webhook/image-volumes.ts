/**
 * Image volumes (`volumes[].image`, Kubernetes' OCI artifact mounts) that mount a skill: a pod
 * could mount a skill's artifact straight from the registry, past the operator. An image volume
 * is a skill's when its repository is one a Skill of the namespace is sourced from, or its
 * digest is one a Skill resolved; such a volume is admitted only when its reference carries the
 * manifest digest an Enabled Skill resolved (status.source.reference). Pure.
 */

import type { Skill } from "../api/v1alpha1/types.generated.ts";
import { parseOciReference } from "../sources/oci/reference.ts";

type Obj = Record<string, unknown>;

// Where each workload kind keeps its pod spec.
const POD_SPEC_PATHS: Record<string, readonly string[]> = {
  Pod: ["spec"],
  Deployment: ["spec", "template", "spec"],
  StatefulSet: ["spec", "template", "spec"],
  DaemonSet: ["spec", "template", "spec"],
  ReplicaSet: ["spec", "template", "spec"],
  Job: ["spec", "template", "spec"],
  CronJob: ["spec", "jobTemplate", "spec", "template", "spec"],
};

function imageVolumes(kind: string, object: unknown): { name: string; reference: string }[] {
  const path = POD_SPEC_PATHS[kind];
  if (!path) return [];
  let node: unknown = object;
  for (const step of path) node = (node as Obj | undefined)?.[step];
  const volumes = (node as { volumes?: unknown } | undefined)?.volumes;
  if (!Array.isArray(volumes)) return [];
  const out: { name: string; reference: string }[] = [];
  for (const v of volumes) {
    const image = (v as { image?: { reference?: unknown } } | null)?.image;
    if (image && typeof image.reference === "string") {
      out.push({ name: String((v as { name?: unknown }).name ?? ""), reference: image.reference });
    }
  }
  return out;
}

/** registry/repository of a reference, and its digest, leniently (undefined parts if unparsable). */
function parts(reference: string): { repository?: string; digest?: string } {
  try {
    const r = parseOciReference(reference);
    return {
      repository: `${r.registry}/${r.repository}`,
      ...(r.digest ? { digest: r.digest } : {}),
    };
  } catch {
    const digest = /@(sha256:[a-f0-9]{64})$/.exec(reference)?.[1];
    return digest ? { digest } : {};
  }
}

/** Why each image volume mounting a skill may not, or [] when none does. */
export function imageVolumeProblems(
  kind: string,
  object: unknown,
  skills: readonly Skill[],
): string[] {
  const volumes = imageVolumes(kind, object);
  if (volumes.length === 0) return [];
  const repositories = new Map<string, Skill>();
  const digests = new Map<string, Skill>();
  const enabled = new Set<string>();
  for (const s of skills) {
    const source = s.spec.source.oci?.reference;
    const repo = source ? parts(source).repository : undefined;
    if (repo) repositories.set(repo, s);
    const resolved = s.status?.source?.reference;
    const digest = resolved ? parts(resolved).digest : undefined;
    if (!digest) continue;
    digests.set(digest, s);
    const settled = s.status?.observedGeneration === s.metadata.generation;
    if (settled && s.status?.state === "Enabled" && !s.metadata.deletionTimestamp) {
      enabled.add(digest);
    }
  }
  const problems: string[] = [];
  for (const v of volumes) {
    const { repository, digest } = parts(v.reference);
    const skill =
      (digest ? digests.get(digest) : undefined) ??
      (repository ? repositories.get(repository) : undefined);
    if (!skill) continue;
    if (digest && enabled.has(digest)) continue;
    problems.push(
      digest
        ? `image volume ${v.name} mounts ${v.reference}, which is not the digest of an Enabled Skill (Skill ${skill.metadata.name} is ${skill.status?.state ?? "Pending"}${skill.status?.source?.reference ? ` and resolved ${skill.status.source.reference}` : ""})`
        : `image volume ${v.name} mounts ${v.reference}, a repository Skill ${skill.metadata.name} is sourced from, without a digest: name the digest an Enabled Skill resolved (status.source.reference)`,
    );
  }
  return problems;
}
