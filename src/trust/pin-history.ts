/**
 * Who pinned what, and when: the trust-store document (the reference's format) holds only the
 * pinned keys, so the operator records each first-use pin in one annotation on the same
 * ConfigMap, written in the same compare-and-swap patch as the pin itself. Pins are never
 * overwritten, so neither are their records. Read by `kubectl palyra-skill pins`.
 */

export const PIN_HISTORY_ANNOTATION = "skills.palyra.dev/tofu-pins";

export interface PinRecord {
  /** The pinned key, 64 hex characters. */
  readonly key: string;
  readonly keyId?: string;
  /** The Skill whose artifact was first verified with this key: namespace/name. */
  readonly skill: string;
  /** RFC 3339. */
  readonly pinnedAt: string;
}

/** The records in an annotation value; anything unreadable is an empty history, never an error. */
export function parsePinHistory(value: string | undefined): Record<string, PinRecord> {
  if (!value) return {};
  try {
    const parsed = JSON.parse(value) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
    const out: Record<string, PinRecord> = {};
    for (const [publisher, record] of Object.entries(parsed)) {
      const r = record as Partial<PinRecord>;
      if (
        typeof r?.key === "string" &&
        typeof r.skill === "string" &&
        typeof r.pinnedAt === "string"
      ) {
        out[publisher] = {
          key: r.key,
          skill: r.skill,
          pinnedAt: r.pinnedAt,
          ...(typeof r.keyId === "string" ? { keyId: r.keyId } : {}),
        };
      }
    }
    return out;
  } catch {
    return {};
  }
}

/** The annotation value with one more record (an existing record for the publisher is kept). */
export function withPinRecord(
  value: string | undefined,
  publisher: string,
  record: PinRecord,
): string {
  const history = parsePinHistory(value);
  if (history[publisher] === undefined) history[publisher] = record;
  const sorted = Object.fromEntries(
    Object.keys(history)
      .sort()
      .map((p) => [p, history[p]]),
  );
  return JSON.stringify(sorted);
}
