/**
 * Runs the adversarial corpus through the library (inspectArtifactAsync) and the CLI
 * (`palyra-skill verify FILE --json`, in-process) and prints one JSON summary line. Meant to be
 * started under a memory cap (node --max-old-space-size=...) with a time limit, as
 * test/unit/corpus.test.ts does (once per inflate library); each case is also timed.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INFLATE_BACKEND } from "../../src/artifact/inflate.ts";
import { inspectArtifactAsync } from "../../src/artifact/verify.ts";
import { main } from "../../src/cli/main.ts";
import { generateCorpus } from "./generate.ts";

export interface Outcome {
  name: string;
  expected: string;
  library: string;
  cli: string;
  cliExit: number;
  ms: number;
}

async function cliCode(file: string): Promise<{ code: string; exit: number }> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const ewrite = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  let exit: number;
  try {
    exit = await main(["verify", file, "--json"]);
  } finally {
    process.stdout.write = write;
    process.stderr.write = ewrite;
  }
  let code = "NO_JSON";
  try {
    const out = JSON.parse(chunks.join("")) as { error?: { code?: string }; code?: string };
    code = out.error?.code ?? out.code ?? "NO_CODE";
  } catch {
    // leave NO_JSON
  }
  return { code, exit };
}

const dir = mkdtempSync(join(tmpdir(), "palyra-corpus-"));
const outcomes: Outcome[] = [];
try {
  for (const c of generateCorpus()) {
    const started = performance.now();
    let library = "ACCEPTED";
    try {
      await inspectArtifactAsync(c.bytes);
    } catch (error) {
      library = (error as { code?: string }).code ?? `CRASH:${(error as Error).name}`;
    }
    const file = join(dir, `${c.name}.palyra-skill`);
    writeFileSync(file, c.bytes);
    const cli = await cliCode(file);
    outcomes.push({
      name: c.name,
      expected: c.expected,
      library,
      cli: cli.code,
      cliExit: cli.exit,
      ms: performance.now() - started,
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(
  `${JSON.stringify({ inflateBackend: INFLATE_BACKEND, outcomes, heapUsed: process.memoryUsage().heapUsed })}\n`,
);
