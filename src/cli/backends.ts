/**
 * The Ed25519 and inflate backends that `--version` names, found without loading the
 * verification code: node:crypto, node:zlib, @noble/ed25519 and sodium-native's JavaScript
 * together cost about as much as starting Node does. Each mirrors the library's own choice, and
 * test/unit/cli-startup.test.ts holds the two to agree:
 *
 * - src/artifact/ed25519.ts verifies with ed25519-dalek when the addon native/palyra-native.node
 *   loads and has ed25519Verify, unless PALYRA_ED25519_BACKEND is libsodium or openssl; else
 *   with libsodium when the sodium-native package loads, unless PALYRA_ED25519_BACKEND=openssl.
 *   The package loads when its native binding does (the rest is JavaScript wrappers), so
 *   loading the binding alone answers in about half the time.
 * - src/artifact/inflate.ts inflates with zlib-rs when the addon native/palyra-native.node
 *   loads, unless PALYRA_INFLATE_BACKEND=zlib. This module sits as deep below the repository as
 *   that one (and so does the bundle), so the same relative path names the same file.
 */
import { createRequire } from "node:module";

function load(specifier: string): Record<string, unknown> | undefined {
  try {
    return createRequire(import.meta.url)(specifier) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function loads(specifier: string): boolean {
  return load(specifier) !== undefined;
}

export function ed25519Backend(): "ed25519-dalek" | "libsodium" | "openssl" {
  const forced = process.env.PALYRA_ED25519_BACKEND;
  if (forced === "openssl") return "openssl";
  if (
    forced !== "libsodium" &&
    typeof load("../../native/palyra-native.node")?.ed25519Verify === "function"
  ) {
    return "ed25519-dalek";
  }
  return loads("sodium-native/binding.js") ? "libsodium" : "openssl";
}

export function inflateBackend(): "zlib-rs" | "node:zlib" {
  if (process.env.PALYRA_INFLATE_BACKEND === "zlib") return "node:zlib";
  return loads("../../native/palyra-native.node") ? "zlib-rs" : "node:zlib";
}
