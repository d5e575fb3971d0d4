/**
 * Installing a verified skill into a directory: the last link of delivery (issue 18), shared
 * by the init container the operator adds to pods and by `palyra-skill install`.
 *
 * The bytes are checked against what the operator resolved for the pod — the artifact's digest
 * (when known), the signed payload hash and the signing key — and verified again in full by the
 * library (signature, payload hash, integrity, contents) before a single file is written. The
 * tree `<dir>/<skillId>/` (skill.toml, modules/, assets/, the artifact itself and verdict.json)
 * is written into a temporary directory beside it and renamed into place, so a reader never
 * sees a partial tree. Entry paths were already checked by the archive reader (no absolute
 * paths, no `..`, no duplicates); every write is checked again to stay under the tree.
 */

import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { inspectArtifactAsync } from "../artifact/verify.ts";
import { InstallError } from "./errors.ts";

/** What the resolution says the bytes must be. */
export interface InstallExpectation {
  readonly skillId: string;
  /** The signed payload hash (64 hex). */
  readonly payloadSha256: string;
  /** The signing key the operator trusted (64 hex). */
  readonly publicKeyHex: string;
  /** The artifact's SHA-256 (64 hex), when the bytes are fetched by digest. */
  readonly artifactSha256?: string;
}

/** verdict.json: what was installed and what it was checked against. */
export interface InstallVerdict {
  readonly skillId: string;
  readonly name: string;
  readonly version: string;
  readonly publisher: string;
  readonly artifactSha256: string;
  readonly payloadSha256: string;
  readonly keyId: string;
  readonly publicKey: string;
  /** The files of the tree, relative to it (verdict.json aside). */
  readonly files: readonly string[];
}

export const ARTIFACT_FILE = "artifact.palyra-skill";
export const VERDICT_FILE = "verdict.json";

const HEX64 = /^[0-9a-f]{64}$/;

/** Checks the expectation's own shape (a resolution is input too). */
export function checkExpectation(e: InstallExpectation): void {
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(e.skillId)) {
    throw new InstallError("INSTALL_INPUT_INVALID", e.skillId, "the skill id is not valid");
  }
  for (const [name, value] of [
    ["payload sha256", e.payloadSha256],
    ["public key", e.publicKeyHex],
    ...(e.artifactSha256 === undefined ? [] : [["artifact sha256", e.artifactSha256]]),
  ] as const) {
    if (!HEX64.test(value)) {
      throw new InstallError(
        "INSTALL_INPUT_INVALID",
        e.skillId,
        `the expected ${name} is not 64 lower-case hex characters`,
      );
    }
  }
}

/**
 * Verifies `bytes` for installation: the expectation first (cheap, before parsing), then the
 * library's full verification, then the verified facts against the expectation.
 */
export async function verifyForInstall(
  bytes: Buffer,
  e: InstallExpectation,
): Promise<{ verdict: InstallVerdict; files: { path: string; data: Buffer }[] }> {
  checkExpectation(e);
  const digest = createHash("sha256").update(bytes).digest("hex");
  if (e.artifactSha256 !== undefined && digest !== e.artifactSha256) {
    throw new InstallError(
      "INSTALL_DIGEST_MISMATCH",
      e.skillId,
      `the artifact's sha256 is ${digest}, not the resolved ${e.artifactSha256}`,
    );
  }
  const inspected = await inspectArtifactAsync(bytes).catch((error: unknown) => {
    const code = (error as { code?: string }).code ?? "INTERNAL";
    throw new InstallError(
      "INSTALL_VERIFICATION_FAILED",
      e.skillId,
      `${code}: ${(error as Error).message}`,
    );
  });
  const m = inspected.manifest;
  if (m.skill_id !== e.skillId) {
    throw new InstallError(
      "INSTALL_SKILL_MISMATCH",
      e.skillId,
      `the artifact is skill ${m.skill_id}, not ${e.skillId}`,
    );
  }
  if (inspected.payloadSha256 !== e.payloadSha256) {
    throw new InstallError(
      "INSTALL_PAYLOAD_MISMATCH",
      e.skillId,
      `the artifact's payload is ${inspected.payloadSha256}, not the resolved ${e.payloadSha256}`,
    );
  }
  if (inspected.publicKeyHex !== e.publicKeyHex) {
    throw new InstallError(
      "INSTALL_KEY_MISMATCH",
      e.skillId,
      `the artifact is signed by ${inspected.keyId}, not by the key the operator trusted`,
    );
  }
  const files = [
    ...inspected.entries.map((entry) => ({ path: entry.path, data: entry.data })),
    { path: ARTIFACT_FILE, data: bytes },
  ];
  return {
    verdict: {
      skillId: m.skill_id,
      name: m.name,
      version: m.version,
      publisher: m.publisher,
      artifactSha256: digest,
      payloadSha256: inspected.payloadSha256,
      keyId: inspected.keyId,
      publicKey: inspected.publicKeyHex,
      files: files.map((f) => f.path).sort(),
    },
    files,
  };
}

/** The verdict of what is installed at `<dir>/<skillId>`, if a readable one is there. */
async function installedVerdict(tree: string): Promise<InstallVerdict | undefined> {
  try {
    return JSON.parse(await readFile(join(tree, VERDICT_FILE), "utf8")) as InstallVerdict;
  } catch {
    return undefined;
  }
}

export interface InstallResult {
  readonly path: string;
  readonly verdict: InstallVerdict;
  /** The same payload was installed there already: nothing was written. */
  readonly unchanged: boolean;
}

/** Verifies, then writes `<dir>/<skillId>/` so that nothing partial is ever visible there. */
export async function installSkill(
  dir: string,
  bytes: Buffer,
  e: InstallExpectation,
): Promise<InstallResult> {
  const { verdict, files } = await verifyForInstall(bytes, e);
  const root = resolve(dir);
  const tree = join(root, e.skillId);
  const existing = await installedVerdict(tree);
  if (
    existing?.payloadSha256 === verdict.payloadSha256 &&
    existing.artifactSha256 === verdict.artifactSha256
  ) {
    return { path: tree, verdict: existing, unchanged: true };
  }
  const suffix = randomBytes(6).toString("hex");
  const staging = join(root, `.${e.skillId}.${suffix}.tmp`);
  const write = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (error) {
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      const code = (error as NodeJS.ErrnoException).code ?? "EIO";
      throw new InstallError(
        "INSTALL_WRITE_FAILED",
        e.skillId,
        `cannot ${what} under ${root} (${code})`,
      );
    }
  };
  await write("create the staging directory", () => mkdir(staging, { recursive: true }));
  for (const file of files) {
    const target = resolve(staging, file.path);
    // The archive reader refused escaping paths already; refuse them here too.
    if (!target.startsWith(staging + sep)) {
      await rm(staging, { recursive: true, force: true });
      throw new InstallError(
        "INSTALL_VERIFICATION_FAILED",
        e.skillId,
        `entry ${JSON.stringify(file.path)} would be written outside the skill's directory`,
      );
    }
    await write(`write ${file.path}`, async () => {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, file.data, { mode: 0o444, flag: "wx" });
    });
  }
  await write("write the verdict", () =>
    writeFile(join(staging, VERDICT_FILE), `${JSON.stringify(verdict, null, 2)}\n`, {
      mode: 0o444,
      flag: "wx",
    }),
  );
  // Into place: a rename, so readers see the old tree or the new one, never a partial one. A
  // different tree already there (a pod restarted with a new resolution) is moved aside first.
  const aside = join(root, `.${e.skillId}.${suffix}.old`);
  let moved = false;
  await write("move the previous tree aside", async () => {
    try {
      await rename(tree, aside);
      moved = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  });
  await write("rename the tree into place", async () => {
    try {
      await rename(staging, tree);
    } catch (error) {
      // Put the previous tree back rather than leave none.
      if (moved) await rename(aside, tree).catch(() => undefined);
      throw error;
    }
  });
  if (moved) await rm(aside, { recursive: true, force: true }).catch(() => undefined);
  return { path: tree, verdict, unchanged: false };
}
