import { parseSemVer } from "../artifact/identifiers.ts";
import { DEFAULT_RUNTIME_TARGET, type RuntimeTarget } from "../artifact/limits.ts";
import { UsageError } from "./cli-error.ts";

/** The runtime an artifact's compat block is checked against (defaults: the reference runtime's). */
export const RUNTIME_FLAGS = {
  "runtime-version": { type: "string" },
  "runtime-protocol-major": { type: "string" },
} as const;

export function runtimeFromFlags(values: {
  "runtime-version"?: string | undefined;
  "runtime-protocol-major"?: string | undefined;
}): RuntimeTarget {
  const version = values["runtime-version"] ?? DEFAULT_RUNTIME_TARGET.version;
  if (parseSemVer(version) === undefined)
    throw new UsageError("--runtime-version must be MAJOR.MINOR.PATCH");
  const major = values["runtime-protocol-major"];
  const protocolMajor = major === undefined ? DEFAULT_RUNTIME_TARGET.protocolMajor : Number(major);
  if (!Number.isSafeInteger(protocolMajor) || protocolMajor < 0) {
    throw new UsageError("--runtime-protocol-major must be a non-negative integer");
  }
  return { version, protocolMajor };
}

export function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive integer`);
  return n;
}
