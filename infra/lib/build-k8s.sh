#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and kubelet from the
# k8s.io/kubernetes Go module (see infra/k8s/go.mod) and kwok from its
# module, into the tools cache. Idempotent: a cached build
# is reused.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

export GOFLAGS=-buildvcs=false CGO_ENABLED=0
K8S_BIN="$TOOLS_DIR/k8s-v$K8S_VERSION/bin"
KWOK_BIN="$TOOLS_DIR/kwok-v$KWOK_VERSION/bin"

build_k8s() {
  local v=$K8S_VERSION major minor
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  local pkg=k8s.io/component-base/version
  local ld="-s -w -X $pkg.gitVersion=v$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  mkdir -p "$K8S_BIN.tmp"
  (cd "$REPO_ROOT/infra/k8s" && go build -trimpath -ldflags "$ld" -o "$K8S_BIN.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubelet)
  rm -rf "$K8S_BIN" && mv "$K8S_BIN.tmp" "$K8S_BIN"
}

build_kwok() {
  mkdir -p "$KWOK_BIN"
  GOBIN="$KWOK_BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
}

main() {
  command -v go >/dev/null || die "Go is required to build the control plane (apt-get install golang, or a Go toolchain on PATH)"
  if [ ! -x "$KWOK_BIN/kwok" ]; then log "building kwok v$KWOK_VERSION"; quietly build-kwok build_kwok; fi
  if [ ! -x "$K8S_BIN/kubelet" ]; then
    log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubelet v$K8S_VERSION (cold: about 15-25 min on 2 cores)"
    quietly build-k8s build_k8s
  fi
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
