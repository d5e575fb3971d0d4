import { readFileSync } from "node:fs";
import { buildArtifact } from "./src/artifact/build.ts";
import { signingKeyFromSeed } from "./src/artifact/ed25519.ts";
import { verifyArtifact } from "./src/artifact/verify.ts";
import { addTrustedKey, EMPTY_TRUST_STORE } from "./src/trust/store.ts";

const key = signingKeyFromSeed(Buffer.alloc(32, 7));
const read = (p: string) => readFileSync(`examples/echo-http/${p}`);
const a = buildArtifact({
  manifestToml: read("skill.toml").toString("utf8"),
  modules: [{ path: "echo.wasm", data: read("modules/echo.wasm") }],
  assets: [{ path: "blob.bin", data: Buffer.alloc(10000, 7) }],
  sbom: read("sbom.cdx.json"),
  provenance: read("provenance.json"),
  signingKey: key,
  signedAtUnixMs: 0,
}).artifact;
const trustStore = addTrustedKey(
  EMPTY_TRUST_STORE,
  "acme",
  key.publicKeyHex ?? Buffer.from(key.publicKey).toString("hex"),
);
for (let i = 0; i < 30000; i++) verifyArtifact(a, { trustStore });
