/**
 * One reading for every byte: a signed JSON document that names a field twice is rejected (the
 * reference rejects it; JSON.parse would silently keep the last value).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import { findDuplicateKey } from "../../src/artifact/json-strict.ts";
import { inspectArtifactAsync } from "../../src/artifact/verify.ts";
import { readArchive } from "../../src/artifact/zip-reader.ts";
import { writeArchive } from "../../src/artifact/zip-writer.ts";

test("findDuplicateKey finds a repeated key at any depth, including escaped spellings", () => {
  assert.equal(findDuplicateKey('{"a":1,"b":{"c":[{"d":1},{"d":2}]}}'), undefined);
  assert.deepEqual(findDuplicateKey('{"publisher":"evil","publisher":"zeta"}'), {
    path: "$",
    key: "publisher",
  });
  assert.deepEqual(findDuplicateKey('{"builder":{"id":"x","id":"y"}}'), {
    path: "$.builder",
    key: "id",
  });
  assert.deepEqual(findDuplicateKey('{"s":[{"k":1,"\\u006b":2}]}'), { path: "$.s[]", key: "k" });
  // Keys that only look alike in a value are not keys.
  assert.equal(findDuplicateKey('{"a":"\\"a\\":1","b":["a","a"]}'), undefined);
});

function withEntry(bytes: Buffer, path: string, rewrite: (text: string) => string): Buffer {
  const entries = readArchive(bytes).map((e) =>
    e.path === path ? { path: e.path, data: Buffer.from(rewrite(e.data.toString("utf8"))) } : e,
  );
  return writeArchive(entries);
}

for (const [entry, code] of [
  ["signature.json", "SIGNATURE_MALFORMED"],
  ["sbom.cdx.json", "SBOM_INVALID"],
  ["provenance.json", "PROVENANCE_INVALID"],
] as const) {
  test(`${entry} naming a field twice is rejected with ${code}`, async () => {
    const ok = skillArtifact({ keySeed: 7 });
    await inspectArtifactAsync(ok.bytes);
    const field =
      entry === "signature.json"
        ? "publisher"
        : entry === "sbom.cdx.json"
          ? "bomFormat"
          : "builder";
    const evil = withEntry(ok.bytes, entry, (text) => text.replace(/^\{/, `{"${field}":"evil",`));
    await assert.rejects(
      inspectArtifactAsync(evil),
      (error: { code?: string; message?: string }) => {
        assert.equal(error.code, code);
        assert.match(String(error.message), new RegExp(`duplicate field "${field}"`));
        return true;
      },
    );
  });
}

test("a trust store naming a publisher twice is invalid, not silently the last one", async () => {
  const { parseTrustStore } = await import("../../src/trust/store.ts");
  const key = "a".repeat(64);
  assert.throws(
    () => parseTrustStore(`{"tofu_publishers":{"acme":"${key}","acme":"${"b".repeat(64)}"}}`),
    (error: { code?: string; message?: string }) =>
      error.code === "TRUST_STORE_INVALID" && /"acme" twice/.test(String(error.message)),
  );
});
