import { SkillError } from "../artifact/errors.ts";
import { pinTofuKey, type TrustStore } from "./store.ts";

export type TrustDecision = "allowlisted" | "tofu_pinned" | "tofu_newly_pinned";

export interface TrustOutcome {
  readonly decision: TrustDecision;
  /** The store to persist when the decision pinned a new key; otherwise the input store. */
  readonly store: TrustStore;
}

/**
 * The trust decision for a verified (publisher, key): allowlist first, then an existing TOFU
 * pin, then a new pin when TOFU is allowed. Pure: persisting a new pin is the caller's job.
 */
export function decideTrust(
  store: TrustStore,
  publisher: string,
  publicKeyHex: string,
  allowTofu: boolean,
): TrustOutcome {
  const allowlisted = store.trustedPublishers.get(publisher);
  if (allowlisted !== undefined) {
    if (allowlisted.includes(publicKeyHex)) return { decision: "allowlisted", store };
    throw new SkillError(
      "TRUSTED_KEY_MISMATCH",
      `trusted publisher key mismatch: publisher ${JSON.stringify(publisher)} does not list key ${publicKeyHex}`,
      "publisher",
    );
  }
  const pinned = store.tofuPublishers.get(publisher);
  if (pinned !== undefined) {
    if (pinned === publicKeyHex) return { decision: "tofu_pinned", store };
    throw new SkillError(
      "TOFU_KEY_MISMATCH",
      `TOFU pinned key mismatch: publisher ${JSON.stringify(publisher)} is pinned to ${pinned}, artifact is signed by ${publicKeyHex}`,
      "publisher",
    );
  }
  if (allowTofu) {
    return { decision: "tofu_newly_pinned", store: pinTofuKey(store, publisher, publicKeyHex) };
  }
  throw new SkillError(
    "UNTRUSTED_PUBLISHER",
    `untrusted publisher ${JSON.stringify(publisher)}: not allowlisted, not pinned, and TOFU is not allowed`,
    "publisher",
  );
}
