/**
 * A child process run to its end with its output collected, without blocking the event loop:
 * the operators (or servers) a caller started keep draining their logs and answering meanwhile
 * (spawnSync would stall them on a full pipe).
 */

import { spawn } from "node:child_process";

export interface RunOptions {
  /** Added to the caller's environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** Written to the child's stdin, then closed (default: no stdin). */
  input?: string;
}

export function runProcess(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
    });
    child.stderr?.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}
