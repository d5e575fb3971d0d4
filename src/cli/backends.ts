/**
 * The Ed25519 and inflate backends that `--version` names, found without loading the
 * verification code (node:crypto, @noble/ed25519 and sodium-native's JavaScript together cost
 * more than starting Node does).
 *
 * src/artifact/ed25519.ts verifies with libsodium when the sodium-native package loads, unless
 * PALYRA_ED25519_BACKEND=openssl; the package loads when its native binding does (the rest is
 * JavaScript wrappers), so loading the binding alone gives the same answer in about half the
 * time. test/unit/cli-startup.test.ts holds this to agree with the library's ED25519_BACKEND.
 * The inflate backend is the library's own choice: src/artifact/inflate.ts loads nothing heavy.
 */
import { createRequire } from "node:module";

export function ed25519Backend(): "libsodium" | "openssl" {
  if (process.env.PALYRA_ED25519_BACKEND === "openssl") return "openssl";
  try {
    createRequire(import.meta.url)("sodium-native/binding.js");
    return "libsodium";
  } catch {
    return "openssl";
  }
}

export async function inflateBackend(): Promise<"zlib-rs" | "node:zlib"> {
  return (await import("../artifact/inflate.ts")).INFLATE_BACKEND;
}
