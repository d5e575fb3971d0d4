/**
 * What make dev prints while it watches Skills: one line per Skill whose state, Ready reason or
 * message changed since the last look, and nothing otherwise (a table with an AGE column
 * changes every second; the screen should not).
 */

export interface WatchedSkill {
  metadata: { namespace?: string; name?: string };
  status?: {
    state?: string;
    conditions?: { type: string; reason?: string; message?: string }[];
  };
}

interface Seen {
  state: string;
  reason: string;
  message: string;
}

export class SkillChangeLog {
  #seen = new Map<string, Seen>();

  /** The lines for what changed since the previous call (a Skill gone is a change too). */
  update(skills: readonly WatchedSkill[], at = new Date()): string[] {
    const time = at.toISOString().slice(11, 19);
    const lines: string[] = [];
    const present = new Set<string>();
    for (const skill of skills) {
      const key = `${skill.metadata.namespace ?? ""}/${skill.metadata.name ?? ""}`;
      present.add(key);
      const ready = skill.status?.conditions?.find((c) => c.type === "Ready");
      const now: Seen = {
        state: skill.status?.state ?? "Pending",
        reason: ready?.reason ?? "",
        message: ready?.message ?? "",
      };
      const before = this.#seen.get(key);
      if (
        before &&
        before.state === now.state &&
        before.reason === now.reason &&
        before.message === now.message
      )
        continue;
      this.#seen.set(key, now);
      const why = now.reason && now.reason !== now.state ? ` (${now.reason})` : "";
      lines.push(
        `${time}  ${key.padEnd(36)} ${now.state}${why}${now.message ? `: ${now.message}` : ""}`,
      );
    }
    for (const key of [...this.#seen.keys()]) {
      if (present.has(key)) continue;
      this.#seen.delete(key);
      lines.push(`${time}  ${key.padEnd(36)} deleted`);
    }
    return lines;
  }
}
