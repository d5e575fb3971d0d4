/** Why an artifact could not be read from its source; `transient` failures are retried with backoff. */

export type SourceErrorCode =
  | "SOURCE_URL_INVALID"
  | "SOURCE_UNREACHABLE"
  | "SOURCE_CONNECT_TIMEOUT"
  | "SOURCE_READ_TIMEOUT"
  | "SOURCE_TIMEOUT"
  | "SOURCE_TLS_ERROR"
  | "SOURCE_HTTP_ERROR"
  | "SOURCE_TOO_LARGE"
  | "SOURCE_TRUNCATED"
  | "SOURCE_REDIRECT_REFUSED"
  /** The source's address is one artifact sources may not reach (see AddressPolicy). */
  | "SOURCE_ADDRESS_BLOCKED"
  /** The operator's budget for artifact bytes in flight is exhausted (transient). */
  | "SOURCE_BUSY"
  /** The source serves other bytes than the ones verified under a digest. */
  | "SOURCE_DIGEST_MISMATCH"
  | "SOURCE_ABORTED"
  | "SOURCE_NOT_FOUND"
  /** A registry refused the credentials, or has none it accepts from us (OCI). */
  | "SOURCE_AUTH_FAILED"
  /** A registry answered 429; retried after its Retry-After (OCI). */
  | "SOURCE_RATE_LIMITED"
  /** A registry's manifest is not a skill's (an index, another artifact type, two layers...). */
  | "SOURCE_MANIFEST_INVALID"
  | "SOURCE_UNSUPPORTED"
  | "SOURCE_INVALID";

const TRANSIENT: ReadonlySet<SourceErrorCode> = new Set<SourceErrorCode>([
  "SOURCE_UNREACHABLE",
  "SOURCE_CONNECT_TIMEOUT",
  "SOURCE_READ_TIMEOUT",
  "SOURCE_TIMEOUT",
  "SOURCE_TRUNCATED",
  "SOURCE_NOT_FOUND",
  "SOURCE_BUSY",
  "SOURCE_RATE_LIMITED",
]);

export class SourceError extends Error {
  declare readonly code: SourceErrorCode;
  declare readonly transient: boolean;
  /** What the message leaves out for tenants (an internal target's answer): for the log only. */
  declare readonly detail: string | undefined;
  /** The source asked to be left alone this long (a registry's Retry-After). */
  declare readonly retryAfterMs: number | undefined;

  constructor(
    code: SourceErrorCode,
    message: string,
    transient?: boolean,
    detail?: string,
    retryAfterMs?: number,
  ) {
    super(message);
    this.name = "SourceError";
    this.code = code;
    this.transient = transient ?? TRANSIENT.has(code);
    this.detail = detail;
    this.retryAfterMs = retryAfterMs;
  }
}

export function isSourceError(error: unknown): error is SourceError {
  return error instanceof SourceError;
}
