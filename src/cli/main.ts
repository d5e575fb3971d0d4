import { readFileSync } from "node:fs";
import { ED25519_BACKEND } from "../artifact/ed25519.ts";
import { SkillError } from "../artifact/errors.ts";
import { INFLATE_BACKEND } from "../artifact/inflate.ts";
import { InstallError } from "../delivery/errors.ts";
import { SourceError } from "../sources/errors.ts";
import { ClusterError, UsageError } from "./cli-error.ts";
import * as approveCommand from "./commands/approve.ts";
import * as auditCommand from "./commands/audit.ts";
import * as buildCommand from "./commands/build.ts";
import * as desiredStateCommand from "./commands/desired-state.ts";
import * as inspectCommand from "./commands/inspect.ts";
import * as installCommand from "./commands/install.ts";
import * as keygenCommand from "./commands/keygen.ts";
import * as pinsCommand from "./commands/pins.ts";
import * as registryCommand from "./commands/registry.ts";
import * as statusCommand from "./commands/status.ts";
import * as trustCommand from "./commands/trust.ts";
import * as verifyCommand from "./commands/verify.ts";
import { EXIT } from "./exit-codes.ts";

type Command = { usage: string; run: (args: string[]) => number | Promise<number> };

const COMMANDS: Record<string, Command> = {
  keygen: { usage: keygenCommand.usage, run: keygenCommand.keygen },
  build: { usage: buildCommand.usage, run: buildCommand.build },
  verify: { usage: verifyCommand.usage, run: verifyCommand.verify },
  audit: { usage: auditCommand.usage, run: auditCommand.audit },
  inspect: { usage: inspectCommand.usage, run: inspectCommand.inspect },
  trust: { usage: trustCommand.usage, run: trustCommand.trust },
  install: { usage: installCommand.usage, run: installCommand.install },
  push: { usage: registryCommand.pushUsage, run: registryCommand.push },
  pull: { usage: registryCommand.pullUsage, run: registryCommand.pull },
  // On a cluster (also as `kubectl palyra-skill ...`):
  status: { usage: statusCommand.usage, run: statusCommand.status },
  approve: { usage: approveCommand.usage, run: approveCommand.approve },
  quarantine: { usage: desiredStateCommand.quarantineUsage, run: desiredStateCommand.quarantine },
  enable: { usage: desiredStateCommand.enableUsage, run: desiredStateCommand.enable },
  pins: { usage: pinsCommand.usage, run: pinsCommand.pins },
};

const HELP = `palyra-skill: build, sign, verify and audit .palyra-skill artifacts, and look at and
approve Skills on a cluster (as a kubectl plugin: kubectl palyra-skill ...)

Usage:
${Object.values(COMMANDS)
  .map((c) => `  ${c.usage}`)
  .join("\n")}

  palyra-skill --version

Exit codes: 0 ok, 1 rejected or failed, 2 usage or input error, 3 audit requires quarantine.
`;

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

/** Prints a failure as one line (or the JSON error document) and returns its exit code. */
function report(error: unknown, json: boolean): number {
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
    const pkg = JSON.parse(
      readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
    ) as { version: string };
    process.stdout.write(
      `palyra-skill ${pkg.version} (ed25519: ${ED25519_BACKEND}, inflate: ${INFLATE_BACKEND}, node ${process.version})\n`,
    );
    return EXIT.OK;
  }
  const command = COMMANDS[name];
  const json = args.includes("--json");
  if (command === undefined)
    return report(
      new UsageError(`unknown command ${JSON.stringify(name)}; see palyra-skill --help`),
      json,
    );
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`Usage: ${command.usage}\n`);
    return EXIT.OK;
  }
  try {
    return await command.run(args);
  } catch (error) {
    return report(error, json);
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
