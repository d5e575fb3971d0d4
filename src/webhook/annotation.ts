/**
 * The workload annotation that names the skills a workload runs:
 *
 *   skills.palyra.dev/skills: "acme.echo_http@1.0.0, acme.notes@sha256:<64 hex>, acme.other"
 *
 * Each entry is a skill id, optionally pinned to a manifest version (`@MAJOR.MINOR.PATCH`) or to
 * a signed payload hash (`@sha256:<hex>`). Parsing is strict: a malformed entry is an error the
 * webhook reports, never an entry it skips.
 */

export const SKILLS_ANNOTATION = "skills.palyra.dev/skills";

export type SkillReference =
  | { skillId: string; pin: "none" }
  | { skillId: string; pin: "version"; version: string }
  | { skillId: string; pin: "payload"; payloadSha256: string };

const SKILL_ID = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;
const VERSION = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/;
const PAYLOAD = /^sha256:([0-9a-f]{64})$/;
const MAX_ENTRIES = 64;

export function formatReference(ref: SkillReference): string {
  return ref.pin === "none"
    ? ref.skillId
    : ref.pin === "version"
      ? `${ref.skillId}@${ref.version}`
      : `${ref.skillId}@sha256:${ref.payloadSha256}`;
}

/** Parses the annotation value; throws an Error whose message says which entry is wrong. */
export function parseSkillReferences(value: string): SkillReference[] {
  const entries = value
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
  if (entries.length > MAX_ENTRIES) {
    throw new Error(
      `${SKILLS_ANNOTATION} names ${entries.length} skills; at most ${MAX_ENTRIES} are allowed`,
    );
  }
  return entries.map((entry) => {
    const at = entry.indexOf("@");
    const skillId = at < 0 ? entry : entry.slice(0, at);
    if (!SKILL_ID.test(skillId)) {
      throw new Error(
        `${SKILLS_ANNOTATION}: ${JSON.stringify(entry)} does not start with a valid skill id`,
      );
    }
    if (at < 0) return { skillId, pin: "none" };
    const pin = entry.slice(at + 1);
    if (VERSION.test(pin)) return { skillId, pin: "version", version: pin };
    const payload = PAYLOAD.exec(pin);
    if (payload) return { skillId, pin: "payload", payloadSha256: payload[1] as string };
    throw new Error(
      `${SKILLS_ANNOTATION}: ${JSON.stringify(entry)} pins neither a version (MAJOR.MINOR.PATCH) nor a payload (sha256:<64 lower-case hex>)`,
    );
  });
}
