// Rust's str::trim uses the Unicode White_Space property; JS String#trim differs (it strips
// U+FEFF, keeps U+0085), which would let a name through that the reference rejects.
const RUST_TRIM = /^\p{White_Space}+|\p{White_Space}+$/gu;

/** Trims as Rust's str::trim does. */
export function rustTrim(value: string): string {
  // Fast path: nothing to trim when both ends are printable ASCII (the common case).
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  if (first > 0x20 && first < 0x7f && last > 0x20 && last < 0x7f) return value;
  return value.replace(RUST_TRIM, "");
}
