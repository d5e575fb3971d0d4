/**
 * Every row of every vectors README table under test/vectors/<folder>/ must behave as the table
 * says: verify outcome, trust decision, payload hash, audit outcome, and a new TOFU pin.
 * test/vectors is the repository's copy of the shared vectors; where ../shared/vectors exists
 * beside the clone, the copy must equal it byte for byte (so the two stay in step).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { auditArtifact } from "../../src/artifact/audit.ts";
import { SkillError } from "../../src/artifact/errors.ts";
import { verifyArtifact } from "../../src/artifact/verify.ts";
import { parseTrustStore } from "../../src/trust/store.ts";

// The repository's own copy; PALYRA_VECTORS_DIR points the test at another folder.
const VECTORS = process.env.PALYRA_VECTORS_DIR
  ? new URL(`file://${process.env.PALYRA_VECTORS_DIR.replace(/\/?$/, "/")}`)
  : new URL("../vectors/", import.meta.url);
const SHARED = new URL("../../../shared/vectors/", import.meta.url);

function filesUnder(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  return out;
}

test("test/vectors equals ../shared/vectors, file for file and byte for byte (when it exists)", (t) => {
  if (!existsSync(SHARED)) {
    t.skip("no ../shared/vectors beside this clone: nothing to compare");
    return;
  }
  const ours = filesUnder(fileURLToPath(new URL("../vectors/", import.meta.url)));
  const theirs = filesUnder(fileURLToPath(SHARED));
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), "the same files");
  for (const [name, bytes] of theirs) {
    assert.ok(
      ours.get(name)?.equals(bytes),
      `test/vectors/${name} differs from ../shared/vectors/${name}; copy it over`,
    );
  }
});

interface Row {
  artifact: string;
  store: string;
  allowTofu: boolean;
  verify: string;
  decision: string;
  audit: string;
  payload: string;
}

function rowsOf(readme: string): Row[] {
  const lines = readme.split("\n").filter((l) => l.trim().startsWith("|"));
  const header = (lines[0] ?? "").split("|").map((c) => c.trim().toLowerCase());
  const col = (name: string) => header.findIndex((h) => h.startsWith(name));
  const [a, s, v, d, au, p] = [
    "artifact",
    "trust store",
    "verify",
    "trust decision",
    "audit",
    "payload",
  ].map(col);
  return lines.slice(2).map((line) => {
    const cells = line.split("|").map((c) => c.trim());
    const cell = (i: number | undefined) => (i === undefined || i < 0 ? "" : (cells[i] ?? ""));
    const store = cell(s);
    return {
      artifact: cell(a).replaceAll("`", ""),
      store: /`([^`]+)`/.exec(store)?.[1] ?? "",
      allowTofu: /allow TOFU/i.test(store),
      verify: cell(v).toLowerCase(),
      decision: cell(d),
      audit: cell(au),
      payload: cell(p),
    };
  });
}

/** Why each independent vector must be rejected (the README describes it in words). */
const EXPECTED_REJECTIONS: Record<string, Record<string, string>> = {
  independent: {
    "untrusted.palyra-skill": "UNTRUSTED_PUBLISHER",
    "wrong-key.palyra-skill": "TRUSTED_KEY_MISMATCH",
    "tofu-mismatch.palyra-skill": "TOFU_KEY_MISMATCH",
    "tampered-asset.palyra-skill": "PAYLOAD_HASH_MISMATCH",
    "bad-keyid.palyra-skill": "KEY_ID_MISMATCH",
    "publisher-mismatch.palyra-skill": "PUBLISHER_MISMATCH",
    "integrity-missing.palyra-skill": "INTEGRITY_MISMATCH",
    "unknown-key.palyra-skill": "MANIFEST_PARSE_ERROR",
    "tool-not-namespaced.palyra-skill": "MANIFEST_INVALID",
  },
};

const folders = existsSync(VECTORS)
  ? readdirSync(VECTORS, { withFileTypes: true }).filter(
      (e) => e.isDirectory() && existsSync(new URL(`${e.name}/README.md`, VECTORS)),
    )
  : [];

test("the shared vectors are present", () => {
  assert.ok(folders.length > 0, `no vector folders under ${VECTORS.pathname}`);
});

for (const folder of folders) {
  const base = new URL(`${folder.name}/`, VECTORS);
  const rows = rowsOf(readFileSync(new URL("README.md", base), "utf8"));
  describe(`vectors/${folder.name}`, () => {
    test("the README table has rows", () => assert.ok(rows.length > 0));
    for (const row of rows) {
      test(`${row.artifact}: verify ${row.verify}${row.decision !== "-" ? ` (${row.decision})` : ""}`, () => {
        const bytes = readFileSync(new URL(row.artifact, base));
        const trustStore = parseTrustStore(readFileSync(new URL(row.store, base), "utf8"));
        const run = () => verifyArtifact(bytes, { trustStore, allowTofu: row.allowTofu });
        if (row.verify === "reject") {
          const code = EXPECTED_REJECTIONS[folder.name]?.[row.artifact];
          assert.throws(
            run,
            (error: unknown) =>
              error instanceof SkillError && (code === undefined || error.code === code),
          );
          return;
        }
        assert.equal(row.verify, "accept");
        const verified = run();
        assert.equal(verified.trustDecision, row.decision);
        assert.equal(verified.payloadSha256, row.payload);
        if (row.decision === "tofu_newly_pinned") {
          assert.equal(
            verified.trustStore.tofuPublishers.get(verified.manifest.publisher),
            verified.publicKeyHex,
          );
          assert.equal(
            trustStore.tofuPublishers.has(verified.manifest.publisher),
            false,
            "input store untouched",
          );
        }
        if (row.audit !== "-" && row.audit !== "") {
          const report = auditArtifact(verified);
          if (row.audit === "pass") {
            assert.equal(report.passed, true, report.quarantine_reasons.join("; "));
          } else {
            const failing = /^fail:\s*(.+)$/.exec(row.audit)?.[1]?.split(/,\s*/) ?? [];
            assert.ok(failing.length > 0, `unrecognised audit cell ${row.audit}`);
            assert.equal(report.should_quarantine, true);
            const failed = report.checks.filter((c) => c.status === "fail").map((c) => c.check_id);
            assert.deepEqual(failed.sort(), [...failing].sort());
          }
        }
      });
    }
  });
}
