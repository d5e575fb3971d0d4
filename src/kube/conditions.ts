/** metav1.Condition helpers: lastTransitionTime moves only when a condition's status changes. */

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export type DesiredCondition = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

/** RFC 3339 with seconds precision, as metav1.Time serialises. */
export function rfc3339(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/**
 * Exactly the desired conditions (a type left out is removed: Reconciling/Stalled exist only
 * while true), each stamped with the generation, sorted by `order` then by type.
 */
export function setConditions(
  previous: readonly Condition[] | undefined,
  desired: readonly DesiredCondition[],
  opts: { generation: number; now: Date; order?: readonly string[] },
): Condition[] {
  const now = rfc3339(opts.now);
  const out = desired.map((d): Condition => {
    const prev = previous?.find((c) => c.type === d.type);
    return {
      type: d.type,
      status: d.status,
      observedGeneration: opts.generation,
      lastTransitionTime: prev && prev.status === d.status ? prev.lastTransitionTime : now,
      reason: d.reason,
      message: d.message,
    };
  });
  const order = opts.order ?? [];
  const rank = (type: string) => {
    const i = order.indexOf(type);
    return i < 0 ? order.length : i;
  };
  return out.sort(
    (a, b) => rank(a.type) - rank(b.type) || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0),
  );
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}
