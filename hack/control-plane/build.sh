#!/usr/bin/env bash
# Builds kube-apiserver, kubectl (Kubernetes), etcd and the PKI helper from the pinned Go modules
# beside this script into a git-ignored cache, keyed by the pins and this script: a rebuild
# happens only when one of them changes. Prints the directory holding the binaries.
# Everything is inside main(), so editing this file while a build runs cannot derail it.
set -euo pipefail

main() {
  local here root key out
  here=$(cd "$(dirname "$0")" && pwd)
  root=$(cd "$here/../.." && pwd)
  key=$(cat "$0" "$here"/kube-apiserver/go.mod "$here"/kube-apiserver/go.sum "$here"/etcd/go.mod \
    "$here"/etcd/go.sum "$here"/pki/go.mod "$here"/pki/main.go | sha256sum | cut -c1-16)
  out="${PALYRA_CONTROL_PLANE_CACHE:-$root/.cache/control-plane}/$key"
  if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" && -x "$out/pki" ]]; then
    echo "$out"
    return 0
  fi
  if ! command -v go >/dev/null; then
    echo "build.sh: Go is needed to build the control plane (the modules pin go 1.26)" >&2
    return 2
  fi
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  local start k8s minor stamp="" pkg
  start=$(date +%s)
  # Stamp the release into the binaries, as Kubernetes' own build does (kubectl version reads it).
  k8s=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$here/kube-apiserver/go.mod")
  minor=$(echo "$k8s" | cut -d. -f2)
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  # -trimpath and no debug info: smaller binaries, reproducible paths. GOFLAGS=-mod=mod: the
  # modules resolve from go.sum, nothing is vendored.
  (cd "$here/pki" && go build -trimpath -ldflags "-s -w" -o "$out.partial/pki" .) >&2
  (cd "$here/etcd" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$out.partial/etcd" go.etcd.io/etcd/server/v3) >&2
  (cd "$here/kube-apiserver" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w$stamp" \
    -o "$out.partial/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver) >&2
  # kubectl from the same release, so tests never depend on whichever kubectl a machine has.
  (cd "$here/kube-apiserver" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w$stamp" \
    -o "$out.partial/kubectl" k8s.io/kubernetes/cmd/kubectl) >&2
  rm -rf "$out" && mv "$out.partial" "$out"
  echo "build.sh: built kube-apiserver, kubectl, etcd and pki in $(($(date +%s) - start))s into $out" >&2
  echo "$out"
}

main "$@"
