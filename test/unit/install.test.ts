/**
 * Installing a verified skill into a directory (delivery's last link): every check before a
 * byte is written, the tree whole or not at all, and one-line failures that name the skill.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { skillArtifact } from "../../hack/dev/artifacts.ts";
import { InstallError } from "../../src/delivery/errors.ts";
import { type InstallExpectation, installSkill } from "../../src/delivery/install.ts";

const BIN = fileURLToPath(new URL("../../bin/palyra-skill.mjs", import.meta.url));
const ECHO = skillArtifact({ keySeed: 7 });
const ECHO_V2 = skillArtifact({ keySeed: 7, version: "1.1.0" });
const OTHER_KEY = skillArtifact({ keySeed: 9 });
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

const expect = (a = ECHO, extra: Partial<InstallExpectation> = {}): InstallExpectation => ({
  skillId: "acme.echo_http",
  payloadSha256: a.payloadSha256,
  publicKeyHex: a.publicKeyHex,
  artifactSha256: sha(a.bytes),
  ...extra,
});

const scratchDirs: string[] = [];
/** A temporary directory, removed after the file's tests. */
const scratch = () => {
  const dir = mkdtempSync(join(tmpdir(), "palyra-install-"));
  scratchDirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

async function refused(work: Promise<unknown>): Promise<InstallError> {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof InstallError, String(error));
    return error;
  }
  assert.fail("expected the install to be refused");
}

test("a verified artifact is installed as <dir>/<skill id>/: manifest, modules, assets, the artifact and verdict.json, read-only", async () => {
  const dir = scratch();
  const r = await installSkill(dir, ECHO.bytes, expect());
  assert.equal(r.path, join(dir, "acme.echo_http"));
  assert.equal(r.unchanged, false);
  const files = readdirSync(r.path, { recursive: true }).map(String).sort();
  for (const f of [
    "artifact.palyra-skill",
    "assets/prompt.txt",
    "modules/echo.wasm",
    "provenance.json",
    "sbom.cdx.json",
    "signature.json",
    "skill.toml",
    "verdict.json",
  ]) {
    assert.ok(files.includes(f), `${f} in ${files.join(", ")}`);
  }
  assert.deepEqual(readFileSync(join(r.path, "artifact.palyra-skill")), ECHO.bytes);
  const verdict = JSON.parse(readFileSync(join(r.path, "verdict.json"), "utf8"));
  assert.equal(verdict.payloadSha256, ECHO.payloadSha256);
  assert.equal(verdict.artifactSha256, sha(ECHO.bytes));
  assert.equal(verdict.publicKey, ECHO.publicKeyHex);
  assert.equal(statSync(join(r.path, "skill.toml")).mode & 0o777, 0o444);
  // Only the tree: no staging directory left behind.
  assert.deepEqual(readdirSync(dir), ["acme.echo_http"]);
  // The same payload again: nothing written.
  const again = await installSkill(dir, ECHO.bytes, expect());
  assert.equal(again.unchanged, true);
});

test("a different payload replaces the tree whole (a pod restarted with a new resolution)", async () => {
  const dir = scratch();
  await installSkill(dir, ECHO.bytes, expect());
  const r = await installSkill(dir, ECHO_V2.bytes, expect(ECHO_V2));
  assert.equal(r.unchanged, false);
  assert.equal(r.verdict.version, "1.1.0");
  assert.deepEqual(readdirSync(dir), ["acme.echo_http"]);
  assert.deepEqual(readFileSync(join(r.path, "artifact.palyra-skill")), ECHO_V2.bytes);
});

test("every mismatch with the resolution is refused before anything is written, naming the skill", async () => {
  const cases: [string, Buffer, InstallExpectation, string][] = [
    [
      "digest",
      ECHO.bytes,
      expect(ECHO, { artifactSha256: "0".repeat(64) }),
      "INSTALL_DIGEST_MISMATCH",
    ],
    [
      "payload",
      ECHO.bytes,
      expect(ECHO, { payloadSha256: ECHO_V2.payloadSha256 }),
      "INSTALL_PAYLOAD_MISMATCH",
    ],
    [
      "key",
      OTHER_KEY.bytes,
      expect(OTHER_KEY, { publicKeyHex: ECHO.publicKeyHex }),
      "INSTALL_KEY_MISMATCH",
    ],
    ["skill", ECHO.bytes, expect(ECHO, { skillId: "acme.other" }), "INSTALL_SKILL_MISMATCH"],
    ["input", ECHO.bytes, expect(ECHO, { payloadSha256: "XYZ" }), "INSTALL_INPUT_INVALID"],
  ];
  for (const [what, bytes, e, code] of cases) {
    const dir = scratch();
    const error = await refused(installSkill(dir, bytes, e));
    assert.equal(error.code, code, what);
    assert.match(error.message, new RegExp(`^skill ${e.skillId.replace(".", "\\.")}: `), what);
    assert.deepEqual(readdirSync(dir), [], `${what}: nothing written`);
  }
});

test("tampered or hostile bytes fail verification (with the library's code), and nothing is written", async () => {
  const tampered = Buffer.from(ECHO.bytes);
  const middle = Math.floor(tampered.length / 2);
  tampered.writeUInt8(tampered.readUInt8(middle) ^ 0x40, middle);
  for (const bytes of [tampered, Buffer.from("PK\u0003\u0004 not really a zip")]) {
    const dir = scratch();
    const error = await refused(
      installSkill(dir, bytes, expect(ECHO, { artifactSha256: sha(bytes) })),
    );
    assert.equal(error.code, "INSTALL_VERIFICATION_FAILED");
    assert.match(error.message, /^skill acme\.echo_http: [A-Z_]+: /);
    assert.deepEqual(readdirSync(dir), []);
  }
});

test("an unwritable directory is INSTALL_WRITE_FAILED naming the skill, with nothing partial left", async () => {
  const dir = scratch();
  const file = join(dir, "not-a-dir");
  writeFileSync(file, "x");
  const error = await refused(installSkill(file, ECHO.bytes, expect()));
  assert.equal(error.code, "INSTALL_WRITE_FAILED");
  assert.match(error.message, /^skill acme\.echo_http: cannot .* \(E[A-Z]+\)$/);
  assert.deepEqual(readdirSync(dir), ["not-a-dir"]);
});

test("palyra-skill install: --json on success (exit 0), a one-line error naming the skill on refusal (exit 1), usage errors (exit 2)", async () => {
  const dir = scratch();
  const file = join(dir, "echo.palyra-skill");
  writeFileSync(file, ECHO.bytes);
  const cli = (args: string[]) => {
    const run = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  };
  const args = (payload: string) => [
    "install",
    "--file",
    file,
    "--skill-id",
    "acme.echo_http",
    "--payload-sha256",
    payload,
    "--key",
    ECHO.publicKeyHex,
    "--sha256",
    sha(ECHO.bytes),
    "--dir",
    join(dir, "skills"),
  ];
  const good = cli([...args(ECHO.payloadSha256), "--json"]);
  const wrong = cli(args(ECHO_V2.payloadSha256));
  const usage = cli(["install", "--file", file]).status;
  const ok = good.status;
  const bad = wrong.status;
  const out = [good.stdout];
  const err = [wrong.stderr];
  assert.equal(ok, 0);
  const doc = JSON.parse(out.join(""));
  assert.equal(doc.payloadSha256, ECHO.payloadSha256);
  assert.equal(doc.path, join(dir, "skills", "acme.echo_http"));
  assert.equal(bad, 1);
  assert.match(err[0] ?? "", /^error\[INSTALL_PAYLOAD_MISMATCH\]: skill acme\.echo_http: /);
  assert.equal(usage, 2);
});
