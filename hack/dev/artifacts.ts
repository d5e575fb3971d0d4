/**
 * Signed .palyra-skill artifacts for the local quick start and the integration tests, built with
 * the project's own library from the echo-http example: any skill id, publisher, version,
 * signing key, provenance builder, and optionally a wildcard-egress manifest the audit fails.
 */

import { createCipheriv } from "node:crypto";
import { readFileSync } from "node:fs";
import { buildArtifact } from "../../src/artifact/build.ts";
import { type SigningKey, signingKeyFromSeed } from "../../src/artifact/ed25519.ts";

const EXAMPLE = new URL("../../examples/echo-http/", import.meta.url);
const file = (name: string) => readFileSync(new URL(name, EXAMPLE));

export interface SkillArtifactOptions {
  skillId?: string;
  publisher?: string;
  version?: string;
  /** A seed byte for a deterministic Ed25519 key (default 7). */
  keySeed?: number;
  /** Ask for wildcard HTTP egress, which the default audit policy rejects. */
  wildcardEgress?: boolean;
  builderId?: string;
  /**
   * Bulk for size benchmarks: this many extra asset bytes, deterministic but incompressible
   * (AES-CTR keystream), as assets/pad-<i>.bin entries of at most 16 MiB each (the format's
   * entry limit), so the artifact grows by about this much. Absent or 0: no extra asset.
   */
  padBytes?: number;
}

/** The format's per-entry limit (DEFAULT_ARCHIVE_LIMITS.maxEntryBytes). */
const PAD_ENTRY_BYTES = 16 * 1024 * 1024;

function padAssets(total: number, seed: number): { path: string; data: Buffer }[] {
  const cipher = createCipheriv("aes-256-ctr", Buffer.alloc(32, seed), Buffer.alloc(16));
  const assets: { path: string; data: Buffer }[] = [];
  for (let left = total; left > 0; left -= PAD_ENTRY_BYTES) {
    const n = Math.min(left, PAD_ENTRY_BYTES);
    assets.push({ path: `pad-${assets.length}.bin`, data: cipher.update(Buffer.alloc(n)) });
  }
  return assets;
}

export interface SkillArtifact {
  bytes: Buffer;
  payloadSha256: string;
  publicKeyHex: string;
  key: SigningKey;
}

export function keyFromSeed(seed: number): SigningKey {
  return signingKeyFromSeed(Buffer.alloc(32, seed));
}

export function skillArtifact(opts: SkillArtifactOptions = {}): SkillArtifact {
  const key = keyFromSeed(opts.keySeed ?? 7);
  let toml = file("skill.toml").toString("utf8");
  const set = (field: string, value: string | undefined) => {
    if (value === undefined) return;
    const edited = toml.replace(
      new RegExp(`^${field} = ".*"$`, "m"),
      `${field} = ${JSON.stringify(value)}`,
    );
    if (edited === toml && !toml.includes(`${field} = ${JSON.stringify(value)}`)) {
      throw new Error(`cannot set ${field}`);
    }
    toml = edited;
  };
  set("skill_id", opts.skillId);
  set("publisher", opts.publisher);
  // Tool ids are namespaced by the publisher.
  if (opts.publisher !== undefined)
    toml = toml.replace('id = "acme.echo"', `id = "${opts.publisher}.echo"`);
  set("version", opts.version);
  if (opts.wildcardEgress) {
    toml = toml.replace(
      'http_egress_allowlist = ["echo.acme.example"]',
      'http_egress_allowlist = ["*"]',
    );
    toml += "\n[capabilities.wildcard_opt_in]\nhttp_egress = true\n";
  }
  const provenance = JSON.parse(file("provenance.json").toString("utf8")) as {
    builder: { id: string };
  };
  if (opts.builderId !== undefined) provenance.builder.id = opts.builderId;
  const built = buildArtifact({
    manifestToml: toml,
    modules: [{ path: "echo.wasm", data: file("modules/echo.wasm") }],
    assets: [
      { path: "prompt.txt", data: file("assets/prompt.txt") },
      ...padAssets(opts.padBytes ?? 0, opts.keySeed ?? 7),
    ],
    sbom: file("sbom.cdx.json"),
    provenance: Buffer.from(JSON.stringify(provenance, null, 2)),
    signingKey: key,
    signedAtUnixMs: 1_764_000_000_000,
  });
  return {
    bytes: built.artifact,
    payloadSha256: built.payloadSha256,
    publicKeyHex: key.publicKey.toString("hex"),
    key,
  };
}
