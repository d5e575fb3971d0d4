#!/usr/bin/env node
// Runs the TypeScript CLI directly: Node >= 22.18 strips types natively. Started by an older
// Node (a machine's default), it re-runs itself with the project's Node 24 from node_modules.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  const projectNode = fileURLToPath(new URL("../node_modules/node/bin/node", import.meta.url));
  if (!existsSync(projectNode)) {
    process.stderr.write(
      `palyra-skill needs Node.js >= 22.18 (this is ${process.version}); run npm ci in the project to get its Node 24\n`,
    );
    process.exit(2);
  }
  const run = spawnSync(projectNode, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  process.exit(run.status ?? 1);
}
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
