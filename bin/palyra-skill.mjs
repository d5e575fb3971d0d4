#!/usr/bin/env node
// Runs the TypeScript CLI directly: Node >= 22.18 strips types natively (the project pins Node 24).
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `palyra-skill needs Node.js >= 22.18 (this is ${process.version}); run it through npm (npx palyra-skill) to use the project's Node 24\n`,
  );
  process.exit(2);
}
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
