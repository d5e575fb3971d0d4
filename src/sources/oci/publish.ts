/**
 * Publishing a skill to an OCI registry and fetching it back (the CLI's push and pull), in the
 * layout media-types.ts describes: the empty config, the artifact as the one layer, a manifest
 * of artifact type application/vnd.palyra.skill.v1 with informational annotations. Blobs are
 * uploaded monolithically (POST, then PUT with the digest), skipped when the registry has them.
 */

import { createHash } from "node:crypto";
import { SourceError } from "../errors.ts";
import {
  checked,
  fetchOciLayer,
  type OciClientOptions,
  registryRequest,
  resolveOci,
  TokenCache,
} from "./client.ts";
import {
  ANNOTATIONS,
  EMPTY_CONFIG_BYTES,
  EMPTY_CONFIG_DIGEST,
  EMPTY_CONFIG_MEDIA_TYPE,
  MANIFEST_MEDIA_TYPE,
  SKILL_ARTIFACT_TYPE,
  SKILL_LAYER_MEDIA_TYPE,
} from "./media-types.ts";
import { formatOciReference, type OciReference } from "./reference.ts";

export interface SkillFacts {
  skillId: string;
  version: string;
  publisher: string;
  keyId: string;
  payloadSha256: string;
}

export interface Pushed {
  /** sha256:<hex> of the manifest. */
  manifestDigest: string;
  /** sha256:<hex> of the artifact (the layer). */
  layerDigest: string;
  /** registry/repository@manifest digest. */
  pinned: string;
  /** Blobs the registry had already (not uploaded again). */
  skipped: number;
}

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** The manifest bytes for an artifact (deterministic but for the creation time). */
export function skillManifest(
  artifact: Buffer,
  facts: SkillFacts,
  title: string,
  created: string,
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_MEDIA_TYPE,
      artifactType: SKILL_ARTIFACT_TYPE,
      config: {
        mediaType: EMPTY_CONFIG_MEDIA_TYPE,
        digest: EMPTY_CONFIG_DIGEST,
        size: EMPTY_CONFIG_BYTES.length,
        data: EMPTY_CONFIG_BYTES.toString("base64"),
      },
      layers: [
        {
          mediaType: SKILL_LAYER_MEDIA_TYPE,
          digest: sha(artifact),
          size: artifact.length,
          annotations: { [ANNOTATIONS.title]: title },
        },
      ],
      annotations: {
        [ANNOTATIONS.created]: created,
        [ANNOTATIONS.skillId]: facts.skillId,
        [ANNOTATIONS.version]: facts.version,
        [ANNOTATIONS.publisher]: facts.publisher,
        [ANNOTATIONS.keyId]: facts.keyId,
        [ANNOTATIONS.payloadSha256]: facts.payloadSha256,
      },
    }),
  );
}

export async function pushSkill(
  ref: OciReference,
  artifact: Buffer,
  facts: SkillFacts,
  given: OciClientOptions & { title: string; created?: string },
): Promise<Pushed> {
  // One token (or Basic answer) for every request of the push.
  const opts = { ...given, tokens: given.tokens ?? new TokenCache(8) };
  if (ref.tag === undefined) {
    throw new SourceError(
      "SOURCE_URL_INVALID",
      `${formatOciReference(ref)}: push needs a tag to name what it pushes`,
      false,
    );
  }
  const base = `https://${ref.registry}/v2/${ref.repository}`;
  let skipped = 0;
  for (const blob of [EMPTY_CONFIG_BYTES, artifact]) {
    if (await uploadBlob(ref, base, blob, opts)) skipped++;
  }
  const manifest = skillManifest(
    artifact,
    facts,
    opts.title,
    opts.created ?? new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  );
  const res = checked(
    ref,
    await registryRequest(
      ref,
      `${base}/manifests/${ref.tag}`,
      opts,
      {
        method: "PUT",
        headers: { "Content-Type": MANIFEST_MEDIA_TYPE },
        body: manifest,
        maxBytes: 64 * 1024,
      },
      "pull,push",
    ),
  );
  const manifestDigest = sha(manifest);
  const told = res.headers["docker-content-digest"];
  if (typeof told === "string" && told !== manifestDigest) {
    throw new SourceError(
      "SOURCE_DIGEST_MISMATCH",
      `${formatOciReference(ref)}: the registry stored the manifest as ${told}, not ${manifestDigest}`,
      false,
    );
  }
  return {
    manifestDigest,
    layerDigest: sha(artifact),
    pinned: formatOciReference({
      registry: ref.registry,
      repository: ref.repository,
      digest: manifestDigest,
    }),
    skipped,
  };
}

/** Uploads a blob unless the registry has it; true when it was there already. */
async function uploadBlob(
  ref: OciReference,
  base: string,
  blob: Buffer,
  opts: OciClientOptions,
): Promise<boolean> {
  const digest = sha(blob);
  const head = await registryRequest(
    ref,
    `${base}/blobs/${digest}`,
    opts,
    { method: "HEAD", maxBytes: 0 },
    "pull,push",
  );
  if (head.status === 200) return true;
  const started = checked(
    ref,
    await registryRequest(
      ref,
      `${base}/blobs/uploads/`,
      opts,
      { method: "POST", headers: { "Content-Length": "0" }, maxBytes: 64 * 1024 },
      "pull,push",
    ),
  );
  const location = started.headers.location;
  if (typeof location !== "string") {
    throw new SourceError(
      "SOURCE_HTTP_ERROR",
      `${ref.registry}/${ref.repository}: the registry started an upload without a Location`,
      false,
    );
  }
  const target = new URL(location, `https://${ref.registry}/`);
  if (target.protocol !== "https:" || target.host !== new URL(base).host) {
    throw new SourceError(
      "SOURCE_REDIRECT_REFUSED",
      `${ref.registry}/${ref.repository}: the upload location is not on the registry itself (${target.origin})`,
      false,
    );
  }
  target.searchParams.set("digest", digest);
  checked(
    ref,
    await registryRequest(
      ref,
      target.toString(),
      opts,
      {
        method: "PUT",
        headers: { "Content-Type": "application/octet-stream" },
        body: blob,
        maxBytes: 64 * 1024,
      },
      "pull,push",
    ),
  );
  return false;
}

/** The artifact a reference names, its layer verified by size and digest. */
export async function pullSkill(
  ref: OciReference,
  given: OciClientOptions & { maxArtifactBytes: number },
): Promise<{ bytes: Buffer; layerDigest: string; pinned: string }> {
  const opts = { ...given, tokens: given.tokens ?? new TokenCache(8) };
  const resolved = await resolveOci(ref, opts);
  const layer = await fetchOciLayer(ref, resolved.manifest.layer, opts);
  return { bytes: layer.bytes, layerDigest: `sha256:${layer.sha256}`, pinned: resolved.pinned };
}
