#!/usr/bin/env bash
# Builds what a real node runs beside the kubelet (built by build-k8s.sh), from
# the Go modules, into the tools cache: containerd 2.2 and its runc shim (the
# AL2023 line), runc 1.3 with seccomp, the CNI plugins the nodes' bridge
# network needs and crictl. Idempotent: each part is cached in its own
# versioned directory; `--print-path` prints the bin directory.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CONTAINERD_VERSION=2.2.4
RUNC_VERSION=1.3.5
CNI_PLUGINS_VERSION=1.9.1
CRICTL_VERSION=1.34.0
NODE_RUNTIME_BIN="$TOOLS_DIR/node-runtime/bin"
CONTAINERD_DIR="$TOOLS_DIR/containerd-v$CONTAINERD_VERSION"
RUNC_DIR="$TOOLS_DIR/runc-v$RUNC_VERSION"
CNI_DIR="$TOOLS_DIR/cni-plugins-v$CNI_PLUGINS_VERSION"
CRICTL_DIR="$TOOLS_DIR/crictl-v$CRICTL_VERSION"
# runc is linked against libseccomp: without the seccomp tag it refuses every
# pod's default seccomp profile.
NODE_APT_PACKAGES=(libseccomp-dev pkg-config)

export GOFLAGS=-buildvcs=false

# go install into a fresh dir, renamed into place only when complete.
go_install_into() {
  local dir=$1; shift
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/bin"
  GOBIN="$dir.tmp/bin" go install -trimpath "$@"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_containerd() {
  local m=github.com/containerd/containerd/v2 v=v$CONTAINERD_VERSION
  CGO_ENABLED=0 go_install_into "$CONTAINERD_DIR" \
    -ldflags "-s -w -X $m/version.Version=$v -X $m/version.Revision=$v" \
    "$m/cmd/containerd@$v" "$m/cmd/containerd-shim-runc-v2@$v" "$m/cmd/ctr@$v"
}

build_runc() {
  CGO_ENABLED=1 go_install_into "$RUNC_DIR" -tags seccomp \
    -ldflags "-s -w -X main.version=$RUNC_VERSION" "github.com/opencontainers/runc@v$RUNC_VERSION"
}

build_cni() {
  local m=github.com/containernetworking/plugins/plugins v=v$CNI_PLUGINS_VERSION
  CGO_ENABLED=0 go_install_into "$CNI_DIR" -ldflags "-s -w" \
    "$m/main/bridge@$v" "$m/ipam/host-local@$v" "$m/main/loopback@$v" "$m/meta/portmap@$v"
}

build_crictl() {
  local v=v$CRICTL_VERSION
  CGO_ENABLED=0 go_install_into "$CRICTL_DIR" \
    -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$v" "sigs.k8s.io/cri-tools/cmd/crictl@$v"
}

install_node_apt_packages() {
  local missing=() p
  for p in "${NODE_APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  quietly node-apt-update apt-get update
  DEBIAN_FRONTEND=noninteractive quietly node-apt-install apt-get install -y --no-install-recommends "${missing[@]}"
}

# One bin dir with every node binary: containerd's PATH (the shim finds runc,
# runc finds criu there) and the env's.
link_bin() {
  mkdir -p "$NODE_RUNTIME_BIN"
  local f
  for f in "$CONTAINERD_DIR"/bin/* "$RUNC_DIR"/bin/* "$CRICTL_DIR"/bin/*; do
    ln -sfn "$f" "$NODE_RUNTIME_BIN/$(basename "$f")"
  done
}

main() {
  command -v go >/dev/null || die "Go is required to build the node runtime (a Go toolchain on PATH)"
  if [ ! -x "$CONTAINERD_DIR/bin/containerd" ]; then
    log "building containerd v$CONTAINERD_VERSION (cold: about 3-5 min on 2 cores)"
    quietly build-containerd build_containerd
  fi
  if [ ! -x "$RUNC_DIR/bin/runc" ]; then
    install_node_apt_packages
    log "building runc v$RUNC_VERSION with seccomp (cold: about 1 min)"
    quietly build-runc build_runc
  fi
  if [ ! -x "$CNI_DIR/bin/portmap" ]; then
    log "building the CNI plugins v$CNI_PLUGINS_VERSION (cold: about 1-2 min)"
    quietly build-cni build_cni
  fi
  if [ ! -x "$CRICTL_DIR/bin/crictl" ]; then
    log "building crictl v$CRICTL_VERSION (cold: about 1-2 min)"
    quietly build-crictl build_crictl
  fi
  link_bin
  if [ "${1:-}" = --print-path ]; then echo "$NODE_RUNTIME_BIN"; fi
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
