#!/usr/bin/env bash
# Builds helm from its Go module (helm.sh/helm/v3/cmd/helm) into the tools
# cache, for the chart's tests. Idempotent: a cached build of the pinned
# version is reused. Prints nothing on success when cached; `--print-path`
# prints the binary's path (for tests and scripts).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HELM_VERSION=${SPOT_RESCUE_HELM_VERSION:-3.22.0}
# The Kubernetes minor helm reports as its default capabilities; the version of
# client-go that helm v$HELM_VERSION is built with (go.mod: k8s.io/client-go v0.37.x).
HELM_K8S_MAJOR=1
HELM_K8S_MINOR=37
HELM_BIN="$TOOLS_DIR/helm-v$HELM_VERSION/bin"

build_helm() {
  local ld="-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  ld+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$HELM_K8S_MAJOR -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR"
  ld+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$HELM_K8S_MAJOR -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR"
  rm -rf "$HELM_BIN.tmp" && mkdir -p "$HELM_BIN.tmp"
  GOBIN="$HELM_BIN.tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  rm -rf "$HELM_BIN" && mv "$HELM_BIN.tmp" "$HELM_BIN"
}

main() {
  if [ ! -x "$HELM_BIN/helm" ]; then
    command -v go >/dev/null || die "Go is required to build helm (a Go toolchain on PATH)"
    log "building helm v$HELM_VERSION (cold: a few minutes on 2 cores)"
    quietly build-helm build_helm
  fi
  if [ "${1:-}" = --print-path ]; then echo "$HELM_BIN/helm"; fi
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
