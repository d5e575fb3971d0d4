/** Identifier: non-empty, only `[a-z0-9._:-]` (publishers, tool ids, key names, capabilities). */
const IDENTIFIER = /^[a-z0-9._:-]+$/;
const SEMVER = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/;
export const SHA256_HEX = /^[0-9a-f]{64}$/;

export function isIdentifier(value: string): boolean {
  return IDENTIFIER.test(value);
}

export interface SemVer {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/** Strict `MAJOR.MINOR.PATCH`, numbers only. */
export function parseSemVer(value: string): SemVer | undefined {
  const match = SEMVER.exec(value);
  if (!match) return undefined;
  const [major, minor, patch] = [match[1], match[2], match[3]].map(Number) as [
    number,
    number,
    number,
  ];
  if (![major, minor, patch].every(Number.isSafeInteger)) return undefined;
  return { major, minor, patch };
}

export function compareSemVer(a: SemVer, b: SemVer): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}
