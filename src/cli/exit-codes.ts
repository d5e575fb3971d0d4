/** Documented exit codes of `palyra-skill` (README "CLI exit codes"). */
export const EXIT = {
  OK: 0,
  /** The artifact was rejected (format, signature, integrity or trust), or an operation failed. */
  REJECTED: 1,
  /** Bad command line, or an input file that cannot be read or parsed. */
  USAGE: 2,
  /** `audit`: the artifact verified but the audit requires quarantine. */
  QUARANTINE: 3,
} as const;
