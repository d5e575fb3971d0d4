#!/usr/bin/env bash
# Builds the project's Node-API addon (native/: raw DEFLATE on zlib-rs) with cargo, from the
# crates pinned in native/Cargo.lock, and installs it as native/palyra-native.node, where
# src/artifact/inflate.ts loads it. Without it the library falls back to node:zlib (correct,
# slower); `make` builds it before anything runs, so tests and benchmarks use what ships.
set -euo pipefail

main() {
  local root start
  root=$(cd "$(dirname "$0")/../.." && pwd)
  if ! command -v cargo >/dev/null; then
    echo "build.sh: cargo (Rust) is needed to build native/ (the zlib-rs inflate addon)" >&2
    return 2
  fi
  start=$(date +%s)
  # --locked: exactly the crates and checksums in Cargo.lock. The target directory is the
  # git-ignored cache, so a rebuild after a source change is incremental.
  CARGO_TARGET_DIR="$root/.cache/native" cargo build --release --locked --quiet \
    --manifest-path "$root/native/Cargo.toml"
  cp "$root/.cache/native/release/libpalyra_native.so" "$root/native/palyra-native.node.partial"
  mv "$root/native/palyra-native.node.partial" "$root/native/palyra-native.node"
  echo "build.sh: native/palyra-native.node built in $(($(date +%s) - start)) s" >&2
}

main "$@"
