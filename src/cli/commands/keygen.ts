import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { keyIdFor, signingKeyFromSeed } from "../../artifact/ed25519.ts";
import { UsageError } from "../cli-error.ts";
import { EXIT } from "../exit-codes.ts";
import { kv, printJson, printLine } from "../output.ts";

export function keygen(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      output: { type: "string" },
      force: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  if (!values.output) throw new UsageError("keygen requires --output KEYFILE");
  const key = signingKeyFromSeed(randomBytes(32));
  try {
    // 0600 and exclusive create: a signing seed must never be world-readable or silently replaced.
    writeFileSync(values.output, `${key.seed.toString("hex")}\n`, {
      mode: 0o600,
      flag: values.force ? "w" : "wx",
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST")
      throw new UsageError(`${values.output} exists; pass --force to replace it`, "IO_ERROR");
    throw new UsageError(
      `cannot write ${values.output}: ${code ?? (error as Error).message}`,
      "IO_ERROR",
    );
  }
  const publicKey = key.publicKey.toString("hex");
  const keyId = keyIdFor(key.publicKey);
  // The public half beside it, for trust stores and CI configuration.
  writeFileSync(`${values.output}.pub`, `${publicKey}\n`, { mode: 0o644 });
  if (values.json)
    printJson({
      key_file: values.output,
      public_key_file: `${values.output}.pub`,
      public_key_hex: publicKey,
      key_id: keyId,
    });
  else
    printLine(
      kv("skills.keygen", { key_file: values.output, public_key_hex: publicKey, key_id: keyId }),
    );
  return EXIT.OK;
}
