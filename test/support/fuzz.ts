/**
 * Run counts of the fast-check properties. `make fuzz` multiplies every property's run count
 * (PALYRA_FUZZ_SCALE, default 1 in CI); a counterexample it finds (fast-check prints its seed
 * and path) becomes a regression case beside the property or in the corpus
 * (hack/corpus/generate.ts).
 */
export const FUZZ_SCALE = Math.max(1, Number(process.env.PALYRA_FUZZ_SCALE ?? 1) || 1);

/** `n` runs in CI, `n` times the scale under `make fuzz`. */
export const runs = (n: number): number => Math.round(n * FUZZ_SCALE);

/** A property test's time cap, scaled with its run count: a hang fails instead of stalling. */
export const PROPERTY_TIMEOUT = { timeout: 60_000 * FUZZ_SCALE };
