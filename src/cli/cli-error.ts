/** A failure of the command line itself (flags, unreadable files): exit code 2. */
export class UsageError extends Error {
  readonly code: "USAGE" | "IO_ERROR";

  constructor(message: string, code: "USAGE" | "IO_ERROR" = "USAGE") {
    super(message);
    this.name = "UsageError";
    this.code = code;
  }
}

/**
 * A cluster command's failure that is not the user's command line: the API server refused
 * (not found, forbidden, denied by admission), or could not be reached. Exit code 1.
 */
export class ClusterError extends Error {
  readonly code:
    | "NOT_FOUND"
    | "FORBIDDEN"
    | "DENIED"
    | "CONFLICT"
    | "KUBE_API_ERROR"
    | "UNREACHABLE"
    | "NOTHING_TO_APPROVE";

  constructor(message: string, code: ClusterError["code"]) {
    super(message);
    this.name = "ClusterError";
    this.code = code;
  }
}
