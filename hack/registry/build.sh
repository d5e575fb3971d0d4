#!/usr/bin/env bash
# Builds the CNCF distribution registry, the oras CLI and our htpasswd helper from the pinned Go
# modules beside this script into a git-ignored cache, keyed by the pins and this script: a
# rebuild happens only when one of them changes. Prints the directory holding the binaries.
# They are test tools (an OCI registry on 127.0.0.1 for the integration suite and make dev),
# never needed to run the operator.
# Everything is inside main(), so editing this file while a build runs cannot derail it.
set -euo pipefail

main() {
  local here root key out
  here=$(cd "$(dirname "$0")" && pwd)
  root=$(cd "$here/../.." && pwd)
  key=$(cat "$0" "$here"/registry/go.mod "$here"/registry/go.sum "$here"/oras/go.mod \
    "$here"/oras/go.sum "$here"/htpasswd/go.mod "$here"/htpasswd/go.sum "$here"/htpasswd/main.go |
    sha256sum | cut -c1-16)
  out="${PALYRA_REGISTRY_CACHE:-$root/.cache/registry}/$key"
  if [[ -x "$out/registry" && -x "$out/oras" && -x "$out/htpasswd" ]]; then
    echo "$out"
    return 0
  fi
  if ! command -v go >/dev/null; then
    echo "build.sh: Go is needed to build the registry and oras (the modules pin go 1.26)" >&2
    return 2
  fi
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  local start registry oras
  start=$(date +%s)
  # Stamp the releases into the binaries, as their own builds do (registry --version, oras version).
  registry=$(awk '$1 == "github.com/distribution/distribution/v3" { print $2 }' "$here/registry/go.mod")
  oras=$(awk '$1 == "oras.land/oras" { print $2 }' "$here/oras/go.mod")
  # -trimpath and no debug info: smaller binaries, reproducible paths. GOFLAGS=-mod=mod: the
  # modules resolve from go.sum, nothing is vendored.
  (cd "$here/htpasswd" && go build -trimpath -ldflags "-s -w" -o "$out.partial/htpasswd" .) >&2
  (cd "$here/registry" && GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$registry" \
    -o "$out.partial/registry" github.com/distribution/distribution/v3/cmd/registry) >&2
  (cd "$here/oras" && GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X oras.land/oras/internal/version.Version=${oras#v} -X oras.land/oras/internal/version.GitTreeState=clean" \
    -o "$out.partial/oras" oras.land/oras/cmd/oras) >&2
  rm -rf "$out" && mv "$out.partial" "$out"
  echo "build.sh: built registry $registry, oras $oras and htpasswd in $(($(date +%s) - start))s into $out" >&2
  echo "$out"
}

main "$@"
