import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import {
  decodeStrictBase64,
  ED25519_BACKEND,
  keyIdFor,
  parseSigningKey,
  signingKeyFromSeed,
  signMessage,
  verifyStrict,
} from "../../src/artifact/ed25519.ts";
import { assertSkillError } from "../support/assert-error.ts";

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function scalarBytes(value: bigint): Buffer {
  const out = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

function readScalar(bytes: Uint8Array): bigint {
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(bytes[i] ?? 0);
  return s;
}

// The reference's own test key (32 x 0x05) and a signature its implementation produces.
const REFERENCE_SEED = Buffer.alloc(32, 5);
const REFERENCE_PAYLOAD = "7f58111b921b881dddff1e2fa4702a58882b47538b42975ea82539ed752157a2";

test("keys, key ids and signatures match the reference implementation's test key", () => {
  const key = signingKeyFromSeed(REFERENCE_SEED);
  assert.equal(key.publicKey.toString("base64"), "bnoc3Smwt4/ROvTFWY/v9O8qlxZuPKby5Pv8zYBQW/E=");
  assert.equal(keyIdFor(key.publicKey), "ed25519:7599776c3085e3f9");
  const signature = signMessage(key, Buffer.from(REFERENCE_PAYLOAD, "ascii"));
  assert.equal(
    signature.toString("base64"),
    "0l85mG2/DfDnp/3ruajwHlMpYxV+1/M3434k4pNAdEk4plvEDkkxPLsoze532rsoLAS2nofz7m36YDX0RRpXCQ==",
  );
  verifyStrict(key.publicKey, Buffer.from(REFERENCE_PAYLOAD, "ascii"), signature);
});

test("a signature over another message, or by another key, is rejected", () => {
  const key = signingKeyFromSeed(REFERENCE_SEED);
  const message = Buffer.from(REFERENCE_PAYLOAD, "ascii");
  const signature = signMessage(key, message);
  assertSkillError(
    () => verifyStrict(key.publicKey, Buffer.from("x".repeat(64)), signature),
    "SIGNATURE_INVALID",
  );
  const other = signingKeyFromSeed(Buffer.alloc(32, 6));
  assertSkillError(() => verifyStrict(other.publicKey, message, signature), "SIGNATURE_INVALID");
  for (let i = 0; i < 64; i += 7) {
    const flipped = Buffer.from(signature);
    flipped[i] = (flipped[i] as number) ^ 1;
    assert.throws(() => verifyStrict(key.publicKey, message, flipped));
  }
});

test("a non-canonical signature (S + L) is rejected even though S + L = S mod L", () => {
  const key = signingKeyFromSeed(REFERENCE_SEED);
  const message = Buffer.from(REFERENCE_PAYLOAD, "ascii");
  const signature = signMessage(key, message);
  const s = readScalar(signature.subarray(32));
  const malleable = Buffer.concat([signature.subarray(0, 32), scalarBytes(s + L)]);
  assert.ok(s + L < 2n ** 256n);
  assertSkillError(
    () => verifyStrict(key.publicKey, message, malleable),
    "SIGNATURE_INVALID",
    "not canonical",
  );
});

test("weak (small-order) and non-canonical public keys are rejected", () => {
  const message = Buffer.from(REFERENCE_PAYLOAD, "ascii");
  const signature = Buffer.alloc(64);
  const weak = [
    "0000000000000000000000000000000000000000000000000000000000000000", // order 4
    "0100000000000000000000000000000000000000000000000000000000000000", // identity
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
  ];
  for (const hex of weak) {
    assertSkillError(
      () => verifyStrict(Buffer.from(hex, "hex"), message, signature),
      "PUBLIC_KEY_INVALID",
    );
  }
  // y = p (non-canonical encoding of y = 0)
  const nonCanonical = "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";
  assertSkillError(
    () => verifyStrict(Buffer.from(nonCanonical, "hex"), message, signature),
    "PUBLIC_KEY_INVALID",
  );
  assertSkillError(
    () => verifyStrict(Buffer.alloc(31, 1), message, signature),
    "PUBLIC_KEY_INVALID",
  );
});

test("signing keys are accepted as 32 raw bytes, hex or base64, and nothing else", () => {
  const seed = Buffer.alloc(32, 0x41); // raw bytes that are also printable
  const expected = signingKeyFromSeed(seed).publicKey;
  assert.deepEqual(parseSigningKey(seed).publicKey, expected);
  assert.deepEqual(parseSigningKey(Buffer.from(`${seed.toString("hex")}\n`)).publicKey, expected);
  assert.deepEqual(
    parseSigningKey(Buffer.from(`  ${seed.toString("hex").toUpperCase()}  `)).publicKey,
    expected,
  );
  assert.deepEqual(parseSigningKey(Buffer.from(seed.toString("base64"))).publicKey, expected);
  assertSkillError(() => parseSigningKey(Buffer.alloc(31)), "SIGNING_KEY_INVALID");
  assertSkillError(() => parseSigningKey(Buffer.from("zz".repeat(32))), "SIGNING_KEY_INVALID");
  assertSkillError(
    () => parseSigningKey(Buffer.from(Buffer.alloc(33).toString("base64"))),
    "SIGNING_KEY_INVALID",
  );
});

test("strict base64 rejects missing padding and non-canonical trailing bits", () => {
  assert.deepEqual(decodeStrictBase64("AAE="), Buffer.from([0, 1]));
  assert.equal(decodeStrictBase64("AAE"), undefined);
  assert.equal(decodeStrictBase64("AAF="), undefined);
  assert.equal(decodeStrictBase64("AA E="), undefined);
  assert.equal(decodeStrictBase64("AAE=\n"), undefined);
});

/**
 * In a process with PALYRA_ED25519_BACKEND=`backend`: the backend it reports, --version's probe,
 * and whether a bit-flipped signature was rejected (a good one must pass).
 */
function withForcedBackend(backend: string): string {
  const script = `
    import { verifyStrict, ED25519_BACKEND, signingKeyFromSeed, signMessage } from "./src/artifact/ed25519.ts";
    import { ed25519Backend } from "./src/cli/backends.ts";
    const key = signingKeyFromSeed(Buffer.alloc(32, 5));
    const message = Buffer.from("${REFERENCE_PAYLOAD}", "ascii");
    const signature = signMessage(key, message);
    verifyStrict(key.publicKey, message, signature);
    const bad = Buffer.from(signature); bad[3] ^= 1;
    let rejected = false; try { verifyStrict(key.publicKey, message, bad); } catch { rejected = true; }
    console.log(ED25519_BACKEND, ed25519Backend(), rejected);`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: new URL("../../", import.meta.url),
    env: { ...process.env, PALYRA_ED25519_BACKEND: backend },
    encoding: "utf8",
  });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

test("the OpenSSL fallback backend gives the same verdicts", () => {
  assert.equal(withForcedBackend("openssl"), "openssl openssl true");
  assert.equal(ED25519_BACKEND, "ed25519-dalek", "the test process itself uses the addon");
});

test("PALYRA_ED25519_BACKEND=libsodium forces the libsodium fallback, and --version's probe agrees", () => {
  assert.equal(withForcedBackend("libsodium"), "libsodium libsodium true");
});
