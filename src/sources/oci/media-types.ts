/**
 * How a .palyra-skill artifact is laid out in an OCI registry (ORAS-compatible, OCI image spec
 * 1.1 "artifact" guidance): an image manifest whose `artifactType` is ours, the empty config,
 * and exactly one layer holding the artifact's bytes as they are (no tar, no compression: the
 * layer digest is the artifact's sha256, the same digest `spec.sha256` and delivery use).
 * Manifest annotations name the skill, its signer and payload hash for people and tools; they
 * are informational only: trust still comes from the signature inside the artifact.
 */

export const MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";
export const INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_LIST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json";

/** The artifact type of a skill (the manifest's `artifactType`). */
export const SKILL_ARTIFACT_TYPE = "application/vnd.palyra.skill.v1";
/** The one layer: the .palyra-skill ZIP, byte for byte. */
export const SKILL_LAYER_MEDIA_TYPE = "application/vnd.palyra.skill.v1+zip";

/** The OCI empty descriptor's config (`{}`), as OCI 1.1 prescribes for artifacts. */
export const EMPTY_CONFIG_MEDIA_TYPE = "application/vnd.oci.empty.v1+json";
export const EMPTY_CONFIG_BYTES = Buffer.from("{}");
export const EMPTY_CONFIG_DIGEST =
  "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/** Manifest annotations written by `palyra-skill push` (informational). */
export const ANNOTATIONS = {
  title: "org.opencontainers.image.title",
  created: "org.opencontainers.image.created",
  skillId: "dev.palyra.skill.id",
  version: "dev.palyra.skill.version",
  publisher: "dev.palyra.skill.publisher",
  keyId: "dev.palyra.skill.key-id",
  payloadSha256: "dev.palyra.skill.payload-sha256",
} as const;

/** What the operator asks a registry for when it resolves a reference. */
export const MANIFEST_ACCEPT = [
  MANIFEST_MEDIA_TYPE,
  INDEX_MEDIA_TYPE,
  DOCKER_MANIFEST_MEDIA_TYPE,
  DOCKER_LIST_MEDIA_TYPE,
].join(", ");

/** The largest manifest read (the distribution registry's own limit is 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
