/** Shared test fixtures: the echo-http example's files and a deterministic signing key. */
import { readFileSync } from "node:fs";
import { type BuildRequest, buildArtifact } from "../../src/artifact/build.ts";
import { signingKeyFromSeed } from "../../src/artifact/ed25519.ts";
import { addTrustedKey, EMPTY_TRUST_STORE, type TrustStore } from "../../src/trust/store.ts";

export const EXAMPLES = new URL("../../examples/", import.meta.url);

export function exampleFile(example: string, name: string): Buffer {
  return readFileSync(new URL(`${example}/${name}`, EXAMPLES));
}

export const TEST_KEY = signingKeyFromSeed(Buffer.alloc(32, 7));
export const TEST_KEY_HEX = TEST_KEY.publicKey.toString("hex");

export function trustStoreFor(publisher = "acme", key = TEST_KEY_HEX): TrustStore {
  return addTrustedKey(EMPTY_TRUST_STORE, publisher, key);
}

/** The echo-http example as a build request; override any part. */
export function echoRequest(overrides: Partial<BuildRequest> = {}): BuildRequest {
  return {
    manifestToml: exampleFile("echo-http", "skill.toml").toString("utf8"),
    modules: [{ path: "echo.wasm", data: exampleFile("echo-http", "modules/echo.wasm") }],
    assets: [{ path: "prompt.txt", data: exampleFile("echo-http", "assets/prompt.txt") }],
    sbom: exampleFile("echo-http", "sbom.cdx.json"),
    provenance: exampleFile("echo-http", "provenance.json"),
    signingKey: TEST_KEY,
    signedAtUnixMs: 1_764_000_000_000,
    ...overrides,
  };
}

export function buildEcho(overrides: Partial<BuildRequest> = {}): Buffer {
  return buildArtifact(echoRequest(overrides)).artifact;
}

/** Replaces manifest text (a simple string substitution that must apply). */
export function editManifest(from: string | RegExp, to: string): string {
  const text = exampleFile("echo-http", "skill.toml").toString("utf8");
  const edited = text.replace(from, to);
  if (edited === text) throw new Error(`fixture edit did not apply: ${String(from)}`);
  return edited;
}

/** The entries of an artifact built from the echo-http example, in payload (byte-wise) order. */
export const ECHO_ENTRY_PATHS = [
  "assets/prompt.txt",
  "modules/echo.wasm",
  "provenance.json",
  "sbom.cdx.json",
  "signature.json",
  "skill.toml",
];
