/**
 * Reading a registry's manifest for a skill: strict JSON, an OCI image manifest (an index or a
 * Docker list is refused, naming what it is), our artifact type, and exactly one layer of our
 * media type whose declared size fits the artifact limit. Pure.
 */

import { createHash } from "node:crypto";
import { findDuplicateKey } from "../../artifact/json-strict.ts";
import {
  DOCKER_LIST_MEDIA_TYPE,
  DOCKER_MANIFEST_MEDIA_TYPE,
  INDEX_MEDIA_TYPE,
  MANIFEST_MEDIA_TYPE,
  SKILL_ARTIFACT_TYPE,
  SKILL_LAYER_MEDIA_TYPE,
} from "./media-types.ts";

export interface SkillManifest {
  /** sha256:<hex> of the manifest bytes. */
  readonly digest: string;
  /** The layer: the artifact's own sha256 and size. */
  readonly layer: { readonly digest: string; readonly size: number };
  readonly annotations: Readonly<Record<string, string>>;
}

export class OciManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OciManifestError";
  }
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * `contentType` is the registry's Content-Type for the manifest; `bytes` its body. The digest
 * is computed here; the caller compares it with a pinned digest or the registry's
 * Docker-Content-Digest.
 */
export function readSkillManifest(
  bytes: Buffer,
  contentType: string | undefined,
  maxLayerBytes: number,
): SkillManifest {
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  const text = bytes.toString("utf8");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new OciManifestError(`the manifest is not JSON (${(error as Error).message})`);
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate) {
    throw new OciManifestError(
      `the manifest has a duplicate key ${JSON.stringify(duplicate.key)} at ${duplicate.path}`,
    );
  }
  if (!isObject(doc)) throw new OciManifestError("the manifest is not a JSON object");
  const declared = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  const type = (contentType ?? "").split(";")[0]?.trim() || declared;
  if (
    type === INDEX_MEDIA_TYPE ||
    type === DOCKER_LIST_MEDIA_TYPE ||
    declared === INDEX_MEDIA_TYPE ||
    Array.isArray(doc.manifests)
  ) {
    throw new OciManifestError(
      "the reference names an image index (several manifests), not a skill's manifest; name the skill's manifest by its digest",
    );
  }
  if (type === DOCKER_MANIFEST_MEDIA_TYPE || declared === DOCKER_MANIFEST_MEDIA_TYPE) {
    throw new OciManifestError(
      `the manifest is a Docker image manifest, not an OCI artifact of type ${SKILL_ARTIFACT_TYPE}`,
    );
  }
  if (
    type !== MANIFEST_MEDIA_TYPE ||
    (declared !== undefined && declared !== MANIFEST_MEDIA_TYPE)
  ) {
    throw new OciManifestError(
      `the manifest's media type is ${JSON.stringify(declared ?? type ?? null)}, not ${MANIFEST_MEDIA_TYPE}`,
    );
  }
  if (doc.schemaVersion !== 2) throw new OciManifestError("the manifest's schemaVersion is not 2");
  const config = isObject(doc.config) ? doc.config : undefined;
  // OCI 1.1: artifactType names the artifact; without it, the config's media type does.
  const artifactType =
    typeof doc.artifactType === "string"
      ? doc.artifactType
      : typeof config?.mediaType === "string"
        ? config.mediaType
        : undefined;
  if (artifactType !== SKILL_ARTIFACT_TYPE) {
    throw new OciManifestError(
      `the artifact type is ${JSON.stringify(artifactType ?? null)}, not ${SKILL_ARTIFACT_TYPE}: this is not a palyra skill`,
    );
  }
  const layers = Array.isArray(doc.layers) ? doc.layers : [];
  if (layers.length !== 1) {
    throw new OciManifestError(
      `a skill's manifest has exactly one layer (the .palyra-skill file); this one has ${layers.length}`,
    );
  }
  const layer = layers[0];
  if (!isObject(layer)) throw new OciManifestError("the layer descriptor is not an object");
  if (layer.mediaType !== SKILL_LAYER_MEDIA_TYPE) {
    throw new OciManifestError(
      `the layer's media type is ${JSON.stringify(layer.mediaType ?? null)}, not ${SKILL_LAYER_MEDIA_TYPE}`,
    );
  }
  if (typeof layer.digest !== "string" || !DIGEST.test(layer.digest)) {
    throw new OciManifestError(
      "the layer's digest is not sha256: and 64 lower-case hex characters",
    );
  }
  const size = layer.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw new OciManifestError("the layer's size is not a non-negative integer");
  }
  if (size > maxLayerBytes) {
    throw new OciManifestError(
      `the layer declares ${size} bytes, more than the artifact limit of ${maxLayerBytes}`,
    );
  }
  const annotations: Record<string, string> = {};
  if (isObject(doc.annotations)) {
    for (const [k, v] of Object.entries(doc.annotations)) {
      if (typeof v === "string") annotations[k] = v;
    }
  }
  return { digest, layer: { digest: layer.digest, size }, annotations };
}
