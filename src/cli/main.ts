/**
 * The palyra-skill command line. Only what the command being run needs is loaded: each
 * command's module is imported when it runs (its usage line comes from usage.ts), so
 * `--help` loads no command, and `--version` only what finds the backends it names (backends.ts).
 */
import { ClusterError, UsageError } from "./cli-error.ts";
import { EXIT } from "./exit-codes.ts";
import { type CommandName, USAGE } from "./usage.ts";

type Run = (args: string[]) => number | Promise<number>;

/** Each command's entry point, imported on first use. */
const COMMANDS: Record<CommandName, () => Promise<Run>> = {
  keygen: async () => (await import("./commands/keygen.ts")).keygen,
  build: async () => (await import("./commands/build.ts")).build,
  verify: async () => (await import("./commands/verify.ts")).verify,
  audit: async () => (await import("./commands/audit.ts")).audit,
  inspect: async () => (await import("./commands/inspect.ts")).inspect,
  trust: async () => (await import("./commands/trust.ts")).trust,
  install: async () => (await import("./commands/install.ts")).install,
  push: async () => (await import("./commands/registry.ts")).push,
  pull: async () => (await import("./commands/registry.ts")).pull,
  // On a cluster (also as `kubectl palyra-skill ...`):
  status: async () => (await import("./commands/status.ts")).status,
  approve: async () => (await import("./commands/approve.ts")).approve,
  quarantine: async () => (await import("./commands/desired-state.ts")).quarantine,
  enable: async () => (await import("./commands/desired-state.ts")).enable,
  pins: async () => (await import("./commands/pins.ts")).pins,
};

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

const HELP = `palyra-skill: build, sign, verify and audit .palyra-skill artifacts, and look at and
approve Skills on a cluster (as a kubectl plugin: kubectl palyra-skill ...)

Usage:
${Object.values(USAGE)
  .map((usage) => `  ${usage}`)
  .join("\n")}

  palyra-skill --version

Exit codes: 0 ok, 1 rejected or failed, 2 usage or input error, 3 audit requires quarantine.
`;

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

/** Prints a failure as one line (or the JSON error document) and returns its exit code. */
async function report(error: unknown, json: boolean): Promise<number> {
  // The library's error classes, loaded here (on the failure path) rather than up front; a
  // command that threw one has loaded its module already.
  const [{ SkillError }, { InstallError }, { SourceError }] = await Promise.all([
    import("../artifact/errors.ts"),
    import("../delivery/errors.ts"),
    import("../sources/errors.ts"),
  ]);
  let code: string;
  let message: string;
  let exit: number;
  if (error instanceof SkillError) {
    [code, message, exit] = [error.code, error.message, EXIT.REJECTED];
  } else if (error instanceof UsageError) {
    [code, message, exit] = [error.code, error.message, EXIT.USAGE];
  } else if (error instanceof InstallError) {
    [code, message, exit] = [error.code, error.message, EXIT.REJECTED];
  } else if (error instanceof SourceError) {
    [code, message, exit] = [error.code, error.message, EXIT.REJECTED];
  } else if (error instanceof ClusterError) {
    [code, message, exit] = [error.code, error.message, EXIT.REJECTED];
  } else if (isParseArgsError(error)) {
    [code, message, exit] = ["USAGE", (error as Error).message, EXIT.USAGE];
  } else {
    [code, message, exit] = [
      "INTERNAL",
      `internal error: ${(error as Error)?.message ?? String(error)}`,
      EXIT.REJECTED,
    ];
    if (process.env.PALYRA_DEBUG) console.error(error);
  }
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } }, null, 2)}\n`);
  else process.stderr.write(`error[${code}]: ${message.replaceAll("\n", " ")}\n`);
  return exit;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(HELP);
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === "--version" || name === "version") {
    // Not an import of node:fs at the top: that evaluates all of its exports, milliseconds that
    // --help and --version need not pay (a command that reads files loads it anyway).
    const { readFileSync } = process.getBuiltinModule("node:fs");
    const pkg = JSON.parse(
      readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
    ) as { version: string };
    const { ed25519Backend, inflateBackend } = await import("./backends.ts");
    process.stdout.write(
      `palyra-skill ${pkg.version} (ed25519: ${ed25519Backend()}, inflate: ${inflateBackend()}, node ${process.version})\n`,
    );
    return EXIT.OK;
  }
  const json = args.includes("--json");
  if (!isCommand(name))
    return report(
      new UsageError(`unknown command ${JSON.stringify(name)}; see palyra-skill --help`),
      json,
    );
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`Usage: ${USAGE[name]}\n`);
    return EXIT.OK;
  }
  try {
    const run = await COMMANDS[name]();
    return await run(args);
  } catch (error) {
    return report(error, json);
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
