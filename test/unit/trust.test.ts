import assert from "node:assert/strict";
import { test } from "node:test";
import { decideTrust } from "../../src/trust/decision.ts";
import {
  namespaceOfPinsKey,
  namespacePinsKey,
  pinsFor,
  pinsOfScope,
  pinUseOf,
  readScopedTrustStore,
} from "../../src/trust/pin-scope.ts";
import {
  addTrustedKey,
  EMPTY_TRUST_STORE,
  parseTrustStore,
  pinTofuKey,
  removeTrust,
  serializeTrustStore,
} from "../../src/trust/store.ts";
import { assertSkillError } from "../support/assert-error.ts";

const K1 = "d54207da194977dcf46adbfec2bc2e75b52d5a8a42184fedfdc00024f0e3e8da";
const K2 = "31debe55d37c722768b137131caa6087080b2e0b60b94bd785d14575cfa498bc";
const K3 = "6e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1";

test("allowlisted publisher: any of its keys is accepted; another key is rejected even with TOFU", () => {
  const store = addTrustedKey(addTrustedKey(EMPTY_TRUST_STORE, "acme", K1), "acme", K2);
  assert.equal(decideTrust(store, "acme", K1, false).decision, "allowlisted");
  assert.equal(decideTrust(store, "acme", K2, false).decision, "allowlisted");
  assertSkillError(
    () => decideTrust(store, "acme", K3, true),
    "TRUSTED_KEY_MISMATCH",
    "trusted publisher key mismatch",
  );
});

test("the allowlist wins over a TOFU pin for the same publisher", () => {
  const store = pinTofuKey(addTrustedKey(EMPTY_TRUST_STORE, "acme", K1), "acme", K2);
  assert.equal(decideTrust(store, "acme", K1, false).decision, "allowlisted");
  assertSkillError(() => decideTrust(store, "acme", K2, false), "TRUSTED_KEY_MISMATCH");
});

test("TOFU: pinned key accepted, other key rejected, new publisher pinned only when allowed", () => {
  const pinned = pinTofuKey(EMPTY_TRUST_STORE, "zeta", K1);
  assert.equal(decideTrust(pinned, "zeta", K1, false).decision, "tofu_pinned");
  assertSkillError(
    () => decideTrust(pinned, "zeta", K2, true),
    "TOFU_KEY_MISMATCH",
    "TOFU pinned key mismatch",
  );
  assertSkillError(
    () => decideTrust(EMPTY_TRUST_STORE, "new", K1, false),
    "UNTRUSTED_PUBLISHER",
    "untrusted publisher",
  );
  const outcome = decideTrust(EMPTY_TRUST_STORE, "new", K1, true);
  assert.equal(outcome.decision, "tofu_newly_pinned");
  assert.equal(outcome.store.tofuPublishers.get("new"), K1);
  assert.equal(EMPTY_TRUST_STORE.tofuPublishers.size, 0, "the input store is not mutated");
});

test("a TOFU pin is never overwritten by another key", () => {
  const pinned = pinTofuKey(EMPTY_TRUST_STORE, "zeta", K1);
  assertSkillError(() => pinTofuKey(pinned, "zeta", K2), "TOFU_KEY_MISMATCH");
  assert.equal(pinTofuKey(pinned, "zeta", K1).tofuPublishers.get("zeta"), K1);
});

test("the trust-store document round-trips in the reference's format", () => {
  const text = JSON.stringify({
    trusted_publishers: { zeta: [K2, K1.toUpperCase(), K2], acme: [` ${K3} `] },
    tofu_publishers: { other: K1 },
  });
  const store = parseTrustStore(text);
  assert.deepEqual(store.trustedPublishers.get("zeta"), [K2, K1].sort());
  assert.deepEqual(store.trustedPublishers.get("acme"), [K3]);
  const written = serializeTrustStore(store);
  assert.equal(
    written,
    JSON.stringify(
      { trusted_publishers: { acme: [K3], zeta: [K2, K1].sort() }, tofu_publishers: { other: K1 } },
      null,
      2,
    ),
  );
  assert.deepEqual(parseTrustStore(written), store);
});

test("empty and blank files are empty stores", () => {
  for (const text of ["", "  \n"]) {
    const store = parseTrustStore(text);
    assert.equal(store.trustedPublishers.size + store.tofuPublishers.size, 0);
  }
  assert.equal(
    serializeTrustStore(parseTrustStore("{}")),
    '{\n  "trusted_publishers": {},\n  "tofu_publishers": {}\n}',
  );
});

test("invalid trust-store documents are rejected with the field named", () => {
  const cases: [string, string][] = [
    ["not json", "not valid JSON"],
    ["[]", "must be a JSON object"],
    [JSON.stringify({ trusted_publishers: {}, extra: 1 }), "unknown field"],
    [JSON.stringify({ trusted_publishers: { acme: [] } }), "at least one key"],
    [JSON.stringify({ trusted_publishers: { acme: ["xyz"] } }), "must be hex"],
    [JSON.stringify({ trusted_publishers: { acme: ["abcd"] } }), "32 bytes"],
    [JSON.stringify({ trusted_publishers: { Acme: [K1] } }), "trusted_publishers.Acme"],
    [JSON.stringify({ tofu_publishers: { "a b": K1 } }), "tofu_publishers.a b"],
    [JSON.stringify({ tofu_publishers: { zeta: K1, " zeta": K2 } }), "conflicting TOFU keys"],
    [JSON.stringify({ trusted_publishers: [] }), "trusted_publishers must be an object"],
  ];
  for (const [text, message] of cases)
    assertSkillError(() => parseTrustStore(text), "TRUST_STORE_INVALID", message);
});

test("removing a key, a publisher, or a pin", () => {
  let store = addTrustedKey(addTrustedKey(EMPTY_TRUST_STORE, "acme", K1), "acme", K2);
  store = pinTofuKey(store, "zeta", K3);
  store = removeTrust(store, "acme", K1);
  assert.deepEqual(store.trustedPublishers.get("acme"), [K2]);
  store = removeTrust(store, "acme", K2);
  assert.equal(store.trustedPublishers.has("acme"), false, "no key left removes the publisher");
  store = removeTrust(store, "zeta");
  assert.equal(store.tofuPublishers.has("zeta"), false);
});

test("scoped trust stores: namespace pin documents sit beside the store under tofu.<namespace>.<key>, each in the reference's format", () => {
  const key = "trust-store.json";
  assert.equal(namespacePinsKey(key, "team-a"), "tofu.team-a.trust-store.json");
  assert.equal(namespaceOfPinsKey("tofu.team-a.trust-store.json", key), "team-a");
  assert.equal(namespaceOfPinsKey("tofu.team.a.trust-store.json", key), undefined);
  assert.equal(namespaceOfPinsKey("tofu.team-a.other.json", key), undefined);
  assert.equal(namespaceOfPinsKey(key, key), undefined);
  const k1 = "ab".repeat(32);
  const k2 = "cd".repeat(32);
  const scoped = readScopedTrustStore(
    {
      [key]: JSON.stringify({
        trusted_publishers: { acme: [k1] },
        tofu_publishers: { globex: k2 },
      }),
      "tofu.team-a.trust-store.json": JSON.stringify({ tofu_publishers: { initech: k1 } }),
      "tofu.team-b.other.json": "not json, and not ours",
    },
    key,
  );
  assert.deepEqual([...scoped.store.tofuPublishers], [["globex", k2]]);
  assert.deepEqual([...(scoped.namespacePins.get("team-a") ?? [])], [["initech", k1]]);
  const honour = { scope: "Namespace", create: false, honour: true } as const;
  assert.equal(pinsFor(scoped, honour, "team-a").get("initech"), k1);
  assert.equal(pinsFor(scoped, honour, "team-b").size, 0);
  assert.equal(pinsFor(scoped, { ...honour, honour: false }, "team-a").size, 0);
  assert.equal(pinsFor(scoped, { ...honour, scope: "Cluster" }, "team-a").get("globex"), k2);
  assert.deepEqual(pinsOfScope(scoped, "Namespace"), [
    { publisher: "initech", key: k1, namespace: "team-a" },
  ]);
  // Fail closed: an unreadable namespace document, or one that tries to allowlist, invalidates the store.
  assert.throws(
    () => readScopedTrustStore({ [key]: "{}", "tofu.x.trust-store.json": "{" }, key),
    /tofu\.x\.trust-store\.json/,
  );
  assert.throws(
    () =>
      readScopedTrustStore(
        {
          [key]: "{}",
          "tofu.x.trust-store.json": JSON.stringify({ trusted_publishers: { evil: [k1] } }),
        },
        key,
      ),
    /must not allowlist/,
  );
  assert.deepEqual(pinUseOf({}), { scope: "Namespace", create: false, honour: false });
  assert.deepEqual(pinUseOf({ allowTofu: true, tofuScope: "Cluster" }), {
    scope: "Cluster",
    create: true,
    honour: true,
  });
});
