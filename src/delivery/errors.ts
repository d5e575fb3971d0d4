/**
 * Why a skill could not be delivered into a pod or a directory. Every message names the skill,
 * so the init container's one-line failure says which skill and why.
 */

export const INSTALL_ERROR_CODES = {
  INSTALL_INPUT_INVALID: "the resolution or the command line is not valid",
  INSTALL_DIGEST_MISMATCH: "the bytes do not have the resolved artifact digest",
  INSTALL_VERIFICATION_FAILED: "the artifact does not verify",
  INSTALL_SKILL_MISMATCH: "the artifact is another skill",
  INSTALL_PAYLOAD_MISMATCH: "the artifact's signed payload is not the resolved one",
  INSTALL_KEY_MISMATCH: "the artifact is signed by another key than the resolved one",
  INSTALL_FETCH_FAILED: "the artifact could not be fetched",
  INSTALL_WRITE_FAILED: "the skill's directory could not be written",
} as const;

export type InstallErrorCode = keyof typeof INSTALL_ERROR_CODES;

export class InstallError extends Error {
  readonly code: InstallErrorCode;
  readonly skillId: string;

  constructor(code: InstallErrorCode, skillId: string, detail: string) {
    super(`skill ${skillId}: ${detail}`);
    this.name = "InstallError";
    this.code = code;
    this.skillId = skillId;
  }
}
