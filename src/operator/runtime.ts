/**
 * Node flags the operator runs with, measured with bench:scale at 10,000 Skills (README,
 * "Scale"): a 4 MiB young-generation semi-space and V8's optimize-for-size heap policy keep the
 * resident set at about 160 MB instead of 316 MB (V8 otherwise grows its heap to twice the live
 * set during the convergence burst and keeps it), for about 10% more convergence time, since the
 * API server, not the operator, is what limits it.
 * Everything that starts the operator (bin, make dev, tests, benches, the image) passes these.
 */
export const OPERATOR_NODE_FLAGS = ["--max-semi-space-size=4", "--optimize-for-size"] as const;
