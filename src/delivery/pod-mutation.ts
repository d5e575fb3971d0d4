/**
 * Binding a pod to exact payloads (issue 18, the pure part): from the skills a pod names and
 * the Skills they resolve to, the pod's resolution annotation and the JSON patch that adds an
 * init container installing exactly those payloads into an emptyDir, mounted read-only into the
 * pod's containers. Pure: the webhook wires it.
 */

import type { Skill } from "../api/v1alpha1/types.generated.ts";
import { pointerSegment } from "../kube/patch.ts";
import { DELIVERY_AUDIENCE } from "./artifact-endpoint.ts";

export const RESOLVED_ANNOTATION = "skills.palyra.dev/resolved";
/** Selects delivered pods for the operator's metadata-only pod cache. */
export const DELIVERED_LABEL = "skills.palyra.dev/delivered";

/** One skill a pod runs, as the operator verified it. */
export interface ResolvedSkill {
  readonly skillId: string;
  readonly version: string;
  readonly payloadSha256: string;
  readonly artifactSha256: string;
  readonly publicKeyHex: string;
}

export interface DeliveryConfig {
  /** The operator's image (it carries the palyra-skill CLI). */
  readonly image: string;
  /** The operator's Service, as the init container reaches it. */
  readonly operatorUrl: string;
  /** PEM of the CA that signed the operator's serving certificate (public). */
  readonly caPem: string;
  /** Where the skills appear in the pod's containers. */
  readonly mountPath: string;
  readonly resources?: Record<string, Record<string, string>>;
}

export const VOLUME = "palyra-skills";
export const TOKEN_VOLUME = "palyra-skills-token";
export const INIT_CONTAINER = "palyra-skills-install";
const TOKEN_DIR = "/var/run/secrets/skills.palyra.dev";
const WRITABLE_DIR = "/var/run/palyra/install";

/** The resolution annotation: `id@version=sha256:<payload>`, comma-separated, sorted by id. */
export function formatResolution(skills: readonly ResolvedSkill[]): string {
  return [...skills]
    .sort((a, b) => (a.skillId < b.skillId ? -1 : a.skillId > b.skillId ? 1 : 0))
    .map((s) => `${s.skillId}@${s.version}=sha256:${s.payloadSha256}`)
    .join(",");
}

/**
 * The resolution annotation read back: undefined when it is not one the operator wrote (a pod
 * cannot carry a forged one past admission, but the index must not trust the shape either).
 */
export function parseResolution(
  value: string,
): { skillId: string; version: string; payloadSha256: string }[] | undefined {
  if (value === "" || value.length > 16 * 1024) return undefined;
  const out: { skillId: string; version: string; payloadSha256: string }[] = [];
  for (const entry of value.split(",")) {
    const m = /^([^@=,\s]+)@([^@=,\s]+)=sha256:([0-9a-f]{64})$/.exec(entry);
    if (!m) return undefined;
    out.push({ skillId: m[1] as string, version: m[2] as string, payloadSha256: m[3] as string });
  }
  return out;
}

/**
 * What an Enabled Skill's status says was verified, as a resolution entry; undefined when the
 * status lacks a part (written by an older operator): such a Skill cannot be delivered yet.
 */
export function resolvedFrom(skill: Skill): ResolvedSkill | undefined {
  const s = skill.status;
  if (!s?.manifest?.version || !s.payloadSha256 || !s.artifactSha256 || !s.publicKey) {
    return undefined;
  }
  return {
    skillId: skill.spec.skillId,
    version: s.manifest.version,
    payloadSha256: s.payloadSha256,
    artifactSha256: s.artifactSha256,
    publicKeyHex: s.publicKey,
  };
}

/** The init container's arguments: one `--expect` per skill, all checked before anything is written. */
export function installArgs(skills: readonly ResolvedSkill[], cfg: DeliveryConfig): string[] {
  const args = [
    "install",
    "--from",
    cfg.operatorUrl,
    "--token-file",
    `${TOKEN_DIR}/token`,
    "--ca-env",
    "PALYRA_OPERATOR_CA",
    "--dir",
    WRITABLE_DIR,
  ];
  for (const s of [...skills].sort((a, b) => (a.skillId < b.skillId ? -1 : 1))) {
    args.push("--expect", `${s.skillId},${s.artifactSha256},${s.payloadSha256},${s.publicKeyHex}`);
  }
  return args;
}

type Json = Record<string, unknown>;
export type PatchOp = { op: "add" | "replace"; path: string; value: unknown };

/**
 * The JSON patch for a pod: the resolution annotation, the emptyDir and a projected token for
 * our audience, the init container first (so the skills exist before any other container
 * starts), and a read-only mount of the skills into every container and init container.
 */
export function podPatch(
  pod: Json,
  skills: readonly ResolvedSkill[],
  cfg: DeliveryConfig,
): PatchOp[] {
  const ops: PatchOp[] = [];
  const metadata = (pod.metadata ?? {}) as Json;
  const spec = (pod.spec ?? {}) as Json;
  const annotations = metadata.annotations as Record<string, string> | undefined;
  const labels = metadata.labels as Record<string, string> | undefined;
  const resolution = formatResolution(skills);
  ops.push(
    labels === undefined
      ? { op: "add", path: "/metadata/labels", value: { [DELIVERED_LABEL]: "true" } }
      : {
          op: labels[DELIVERED_LABEL] === undefined ? "add" : "replace",
          path: `/metadata/labels/${pointerSegment(DELIVERED_LABEL)}`,
          value: "true",
        },
  );
  if (annotations === undefined) {
    ops.push({
      op: "add",
      path: "/metadata/annotations",
      value: { [RESOLVED_ANNOTATION]: resolution },
    });
  } else {
    ops.push({
      op: annotations[RESOLVED_ANNOTATION] === undefined ? "add" : "replace",
      path: `/metadata/annotations/${pointerSegment(RESOLVED_ANNOTATION)}`,
      value: resolution,
    });
  }
  const volumes = [
    { name: VOLUME, emptyDir: { sizeLimit: "256Mi" } },
    {
      name: TOKEN_VOLUME,
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: DELIVERY_AUDIENCE,
              expirationSeconds: 600,
              path: "token",
            },
          },
        ],
      },
    },
  ];
  if (Array.isArray(spec.volumes)) {
    for (const v of volumes) ops.push({ op: "add", path: "/spec/volumes/-", value: v });
  } else ops.push({ op: "add", path: "/spec/volumes", value: volumes });
  const readOnly = { name: VOLUME, mountPath: cfg.mountPath, readOnly: true };
  for (const kind of ["containers", "initContainers"] as const) {
    const list = spec[kind];
    if (!Array.isArray(list)) continue;
    list.forEach((c: Json, i) => {
      ops.push(
        Array.isArray(c.volumeMounts)
          ? { op: "add", path: `/spec/${kind}/${i}/volumeMounts/-`, value: readOnly }
          : { op: "add", path: `/spec/${kind}/${i}/volumeMounts`, value: [readOnly] },
      );
    });
  }
  const init = {
    name: INIT_CONTAINER,
    image: cfg.image,
    command: ["node", "/app/bin/palyra-skill.mjs"],
    args: installArgs(skills, cfg),
    env: [{ name: "PALYRA_OPERATOR_CA", value: cfg.caPem }],
    volumeMounts: [
      { name: VOLUME, mountPath: WRITABLE_DIR },
      { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
    ],
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65532,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    ...(cfg.resources ? { resources: cfg.resources } : {}),
  };
  // First of the init containers: its path index is 0 once added.
  ops.push(
    Array.isArray(spec.initContainers)
      ? { op: "add", path: "/spec/initContainers/0", value: init }
      : { op: "add", path: "/spec/initContainers", value: [init] },
  );
  return ops;
}
