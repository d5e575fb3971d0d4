#!/usr/bin/env bash
# Builds helm from the module pinned beside this script into a git-ignored cache, keyed by the
# pins and this script: a rebuild happens only when one of them changes. Prints the binary's
# path. helm is a test tool here (lint, render, server-side dry-run of the chart), never needed
# to run the operator.
set -euo pipefail

main() {
  local here root key out start
  here=$(cd "$(dirname "$0")" && pwd)
  root=$(cd "$here/../.." && pwd)
  key=$(cat "$0" "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-16)
  out="${PALYRA_HELM_CACHE:-$root/.cache/helm}/$key"
  if [[ -x "$out/helm" ]]; then
    echo "$out/helm"
    return 0
  fi
  if ! command -v go >/dev/null; then
    echo "build.sh: Go is needed to build helm (the module pins go 1.26)" >&2
    return 2
  fi
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  start=$(date +%s)
  # -trimpath and no debug info: a smaller binary, reproducible paths; GOFLAGS=-mod=mod: the
  # modules resolve from go.sum, nothing is vendored.
  (cd "$here" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$(awk '$1 == "helm.sh/helm/v3" { print $2 }' "$here/go.mod")" -o "$out.partial/helm" \
    helm.sh/helm/v3/cmd/helm) >&2
  rm -rf "$out" && mv "$out.partial" "$out"
  echo "build.sh: helm built in $(($(date +%s) - start)) s" >&2
  echo "$out/helm"
}

main "$@"
