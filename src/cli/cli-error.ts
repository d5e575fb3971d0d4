/** A failure of the command line itself (flags, unreadable files): exit code 2. */
export class UsageError extends Error {
  readonly code: "USAGE" | "IO_ERROR";

  constructor(message: string, code: "USAGE" | "IO_ERROR" = "USAGE") {
    super(message);
    this.name = "UsageError";
    this.code = code;
  }
}
