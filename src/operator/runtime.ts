/**
 * Node flags the operator runs with. A 4 MiB young-generation semi-space keeps the resident set
 * about 40 MB smaller after a burst of reconciles (V8 otherwise grows it to 16-32 MiB and keeps
 * it), for no measurable cost in convergence time (bench:scale, README "Scale").
 * Everything that starts the operator (bin, make dev, tests, benches, the image) passes these.
 */
export const OPERATOR_NODE_FLAGS = ["--max-semi-space-size=4"] as const;
