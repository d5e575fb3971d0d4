#!/usr/bin/env bash
# End to end on kind (hosts with a Docker engine): a kind cluster, the image built and loaded,
# the chart installed with it, then the e2e scenarios against that cluster. Cleans up after
# itself unless KEEP_CLUSTER=1. Needs: docker, kind, IMAGE and HELM (the Makefile passes them).
set -euo pipefail

main() {
  local root cluster kubeconfig
  root=$(cd "$(dirname "$0")/../.." && pwd)
  cluster=${KIND_CLUSTER:-palyra-e2e}
  kubeconfig=$(mktemp)
  trap 'cleanup' EXIT
  cleanup() {
    if [[ "${KEEP_CLUSTER:-0}" != 1 ]]; then kind delete cluster --name "$cluster" >/dev/null 2>&1 || true; fi
    rm -f "$kubeconfig"
  }
  docker build -t "$IMAGE" "$root"
  kind create cluster --name "$cluster" --kubeconfig "$kubeconfig" --wait 120s
  kind load docker-image "$IMAGE" --name "$cluster"
  "$HELM" --kubeconfig "$kubeconfig" install palyra "$root/charts/palyra-skills-operator" \
    --namespace palyra-system --create-namespace --wait --timeout 5m \
    --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never
  KUBECONFIG="$kubeconfig" "$root/node_modules/.bin/node" --test --test-reporter=spec \
    "$root/test/e2e/"*.test.ts
}

main "$@"
