/** Structured JSON logs, one object per line, the shape log pipelines (and klog's JSON) expect. */

export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  with(fields: Record<string, unknown>): Logger;
}

export function isLogLevel(value: string): value is LogLevel {
  return Object.hasOwn(RANK, value);
}

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stdout.write(line),
  base: Record<string, unknown> = {},
): Logger {
  const emit = (at: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[at] < RANK[level]) return;
    const record: Record<string, unknown> = {
      ts: new Date().toISOString(),
      level: at,
      msg,
      ...base,
    };
    for (const [k, v] of Object.entries(fields ?? {})) {
      record[k] = SECRET_FIELD.test(k) ? REDACTED : v instanceof Error ? errorFields(v) : v;
    }
    write(`${JSON.stringify(record, (_k, v) => (typeof v === "string" ? redact(v) : v))}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    with: (fields) => createLogger(level, write, { ...base, ...fields }),
  };
}

const REDACTED = "[redacted]";
// Field names that hold credentials or key material are never written, whatever their value.
const SECRET_FIELD = /token|password|passwd|secret|private|authorization|signingkey|seed|tls\.key/i;

/** A last line of defence in every string: bearer tokens, URL passwords, PEM private keys. */
export function redact(text: string): string {
  return text
    .replace(/(bearer\s+)[A-Za-z0-9._~+/=-]+/gi, `$1${REDACTED}`)
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, `$1${REDACTED}@`)
    .replace(
      /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?(-----END \1PRIVATE KEY-----|$)/g,
      REDACTED,
    );
}

function errorFields(error: Error): Record<string, unknown> {
  const code = (error as { code?: unknown }).code;
  return code === undefined ? { message: error.message } : { code, message: error.message };
}
