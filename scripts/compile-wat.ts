/**
 * Compiles an example's WebAssembly text source to a binary module:
 *   node scripts/compile-wat.ts IN.wat OUT.wasm
 * Deterministic (no names section), so the committed .wasm can be checked against its source.
 */
import { readFileSync, writeFileSync } from "node:fs";
import wabtFactory from "wabt";

export async function compileWat(source: string, filename: string): Promise<Uint8Array> {
  const wabt = await wabtFactory();
  const module = wabt.parseWat(filename, source);
  try {
    module.validate();
    return module.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    module.destroy();
  }
}

if (import.meta.main) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error("usage: node scripts/compile-wat.ts IN.wat OUT.wasm");
    process.exit(2);
  }
  writeFileSync(output, await compileWat(readFileSync(input, "utf8"), input));
}
