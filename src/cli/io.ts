import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type ErrorCode, SkillError } from "../artifact/errors.ts";
import { UsageError } from "./cli-error.ts";

/** A size limit for an input file, and the error code for a file past it (none: usage error). */
export interface InputLimit {
  readonly bytes: number;
  readonly code?: ErrorCode;
}

/**
 * Reads an input file. With a limit, a larger file is refused before it is read, so a
 * multi-gigabyte input costs a stat, not the memory to hold it.
 */
export function readInput(path: string, what: string, limit?: InputLimit): Buffer {
  try {
    if (limit !== undefined) {
      const size = statSync(path).size;
      if (size > limit.bytes) {
        const message = `${what} ${path} is ${size} bytes; the limit is ${limit.bytes}`;
        throw limit.code === undefined
          ? new UsageError(message)
          : new SkillError(limit.code, message);
      }
    }
    return readFileSync(path);
  } catch (error) {
    if (error instanceof SkillError || error instanceof UsageError) throw error;
    throw new UsageError(
      `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      "IO_ERROR",
    );
  }
}

/** Reads a file that may not exist yet (a trust store about to be created). */
export function readOptional(path: string, what: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UsageError(
      `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      "IO_ERROR",
    );
  }
}

/** Writes through a temporary file and a rename, so a reader never sees half a file. */
export function writeAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  let targetMode = mode;
  try {
    targetMode = statSync(path).mode & 0o777;
  } catch {
    // new file: use the requested mode
  }
  const temporary = join(dirname(path), `.${randomBytes(6).toString("hex")}.tmp`);
  try {
    writeFileSync(temporary, data, { mode: targetMode, flag: "wx" });
    chmodSync(temporary, targetMode);
    renameSync(temporary, path);
  } catch (error) {
    throw new UsageError(
      `cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      "IO_ERROR",
    );
  }
}

/** Reads standard input, refusing more than maxBytes (a signing key is a few dozen bytes). */
export async function readStdin(maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) throw new UsageError(`standard input is longer than ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
