#!/usr/bin/env node
// Runs the TypeScript operator directly: Node >= 22.18 strips types natively. Started by an
// older Node, it runs the project's Node 24 from node_modules and forwards signals to it, so
// SIGTERM still means a graceful drain.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

// Kept in step with OPERATOR_NODE_FLAGS in src/operator/runtime.ts (a unit test checks).
const FLAGS = ["--max-semi-space-size=4", "--optimize-for-size"];
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  const projectNode = fileURLToPath(new URL("../node_modules/node/bin/node", import.meta.url));
  if (!existsSync(projectNode)) {
    process.stderr.write(
      `palyra-skills-operator needs Node.js >= 22.18 (this is ${process.version}); run npm ci in the project to get its Node 24\n`,
    );
    process.exit(2);
  }
  const child = spawn(
    projectNode,
    [...FLAGS, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: "inherit" },
  );
  for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else if (!FLAGS.every((f) => process.execArgv.includes(f)) && process.execve) {
  // Same process, re-executed with the operator's Node flags (src/operator/runtime.ts).
  process.execve(process.execPath, [
    process.execPath,
    ...FLAGS,
    ...process.execArgv,
    fileURLToPath(import.meta.url),
    ...process.argv.slice(2),
  ]);
} else {
  await import("../src/operator/main.ts");
}
