#!/usr/bin/env bash
# Installs what the local stack needs on a Debian 12 machine, as root.
# Idempotent: each step checks for its result first; downloads and builds are
# cached in the tools dir, keyed by version.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# iproute2 and util-linux's nsenter: the runc hook that brings up a restored container's loopback.
APT_PACKAGES=(redis-server runc iptables busybox-static zstd patchelf openssl python3-venv gcc libc6-dev curl
  ca-certificates iproute2 util-linux)

# CRIU 4.2 comes from Debian forky: from Linux 6.16 on, CRIU before 4.2 cannot
# dump any TCP or UDP socket ("Can't get 1:16 opt"), so tcp-close needs it.
# Its libraries come from trixie. All are unpacked into the tools dir and criu
# is patched to use that loader and those libraries, so the system's own libc
# is never touched.
CRIU_FORKY_PACKAGES=(criu libcompel1 libnet9 libnl-3-200)
CRIU_PACKAGES=(libc6 libgnutls30t64 libnftables1 libprotobuf-c1 libuuid1 libbsd0
  libmd0 libp11-kit0 libidn2-0 libunistring5 libtasn1-6 libnettle8t64 libhogweed6t64 libgmp10
  libjansson4 libmnl0 libnftnl11 libxtables12 libffi8 libedit2 libtinfo6 libzstd1)

CRIU_DIR="$TOOLS_DIR/criu-$CRIU_VERSION"
ETCD_DIR="$TOOLS_DIR/etcd-v$ETCD_VERSION"
MOTO_DIR="$TOOLS_DIR/moto-v$MOTO_VERSION"
ROOTFS_DIR="$TOOLS_DIR/rootfs"

require_root() { [ "$(id -u)" = 0 ] || die "the local stack installs system packages and runs runc: run as root"; }

# Adds a newer Debian suite as an apt source pinned at priority 50: its
# packages are never chosen unless asked for by name (package/suite), so the
# system is never upgraded from it.
add_debian_suite() {
  local suite=$1
  local src=/etc/apt/sources.list.d/spot-rescue-$suite.sources pref=/etc/apt/preferences.d/spot-rescue-$suite
  if [ ! -f "$src" ]; then
    cat >"$src" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    rm -f "$STATE_DIR/.apt-updated"
  fi
  [ -f "$pref" ] || printf 'Package: *\nPin: release n=%s\nPin-Priority: 50\n' "$suite" >"$pref"
}

apt_update_once() {
  mkdir -p "$STATE_DIR"
  if [ ! -f "$STATE_DIR/.apt-updated" ]; then
    quietly apt-update apt-get update
    touch "$STATE_DIR/.apt-updated"
  fi
}

install_apt_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  apt_update_once
  DEBIAN_FRONTEND=noninteractive quietly apt-install apt-get install -y --no-install-recommends "${missing[@]}"
  # The package starts no server here; the stack runs its own on its own port.
}

download_from() {
  local suite=$1 dest=$2; shift 2
  mkdir -p "$dest"
  local pkgs=() p
  for p in "$@"; do pkgs+=("$p/$suite"); done
  (cd "$dest" && apt-get download -q "${pkgs[@]}")
}

install_criu() {
  [ -x "$CRIU_DIR/bin/criu" ] && "$CRIU_DIR/bin/criu" --version >/dev/null 2>&1 && return 0
  log "installing CRIU $CRIU_VERSION from Debian forky (libraries from trixie) into the tools dir"
  apt_update_once
  rm -rf "$CRIU_DIR.tmp" && mkdir -p "$CRIU_DIR.tmp/debs" "$CRIU_DIR.tmp/root" "$CRIU_DIR.tmp/bin"
  quietly criu-download download_from trixie "$CRIU_DIR.tmp/debs" "${CRIU_PACKAGES[@]}"
  quietly criu-download-forky download_from forky "$CRIU_DIR.tmp/debs" "${CRIU_FORKY_PACKAGES[@]}"
  local deb
  for deb in "$CRIU_DIR.tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$CRIU_DIR.tmp/root"; done
  local lib="$CRIU_DIR/root/usr/lib/x86_64-linux-gnu"
  cp "$CRIU_DIR.tmp/root/usr/sbin/criu" "$CRIU_DIR.tmp/bin/criu"
  # Paths point at the final location; the tmp dir is renamed into place below.
  patchelf --set-interpreter "$lib/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$lib" "$CRIU_DIR.tmp/bin/criu"
  rm -rf "$CRIU_DIR.tmp/debs" "$CRIU_DIR" && mv "$CRIU_DIR.tmp" "$CRIU_DIR"
  "$CRIU_DIR/bin/criu" --version | grep -q "Version: $CRIU_VERSION" || die "criu from forky is not $CRIU_VERSION"
}

check_criu() {
  local out
  if ! out=$("$CRIU_DIR/bin/criu" check 2>&1); then
    printf '%s\n' "$out" >&2
    die "criu check failed: this kernel cannot checkpoint containers"
  fi
}

install_etcd() {
  [ -x "$ETCD_DIR/bin/etcd" ] && return 0
  log "installing etcd $ETCD_VERSION from Debian trixie into the tools dir"
  apt_update_once
  rm -rf "$ETCD_DIR.tmp" && mkdir -p "$ETCD_DIR.tmp/bin"
  quietly etcd-download download_from trixie "$ETCD_DIR.tmp/debs" etcd-server
  dpkg-deb -x "$ETCD_DIR.tmp"/debs/etcd-server_*.deb "$ETCD_DIR.tmp/root"
  cp "$ETCD_DIR.tmp/root/usr/bin/etcd" "$ETCD_DIR.tmp/bin/etcd"
  rm -rf "$ETCD_DIR.tmp/debs" "$ETCD_DIR.tmp/root" "$ETCD_DIR" && mv "$ETCD_DIR.tmp" "$ETCD_DIR"
  "$ETCD_DIR/bin/etcd" --version | grep -q "etcd Version: $ETCD_VERSION" || die "unexpected etcd version"
}

install_moto() {
  [ -x "$MOTO_DIR/bin/moto_server" ] && return 0
  log "installing moto $MOTO_VERSION into a virtualenv in the tools dir"
  rm -rf "$MOTO_DIR"
  quietly moto-venv python3 -m venv "$MOTO_DIR"
  quietly moto-pip "$MOTO_DIR/bin/pip" install --disable-pip-version-check -q "moto[server]==$MOTO_VERSION"
}

# A busybox root filesystem with the counter workload, shared read-only as the
# base image of every local "pod"; each container gets its own copy.
install_rootfs() {
  local src="$REPO_ROOT/infra/workload/counter.c" stamp
  # Content only: the stamp must not depend on where the checkout lives.
  stamp=$(cat "$src" /bin/busybox | sha256sum | cut -c1-16)
  [ -f "$ROOTFS_DIR/.stamp" ] && [ "$(cat "$ROOTFS_DIR/.stamp")" = "$stamp" ] && return 0
  log "building the container root filesystem (busybox + counter workload)"
  rm -rf "$ROOTFS_DIR.tmp" && mkdir -p "$ROOTFS_DIR.tmp"/{bin,proc,sys,dev,tmp,state,etc,usr/local/bin}
  cp /bin/busybox "$ROOTFS_DIR.tmp/bin/busybox"
  local applet
  for applet in sh cat sleep ls echo ps kill true; do ln -s busybox "$ROOTFS_DIR.tmp/bin/$applet"; done
  quietly build-counter gcc -static -O2 -Wall -o "$ROOTFS_DIR.tmp/usr/local/bin/counter" "$src"
  echo 'root:x:0:0:root:/:/bin/sh' >"$ROOTFS_DIR.tmp/etc/passwd"
  echo "$stamp" >"$ROOTFS_DIR.tmp/.stamp"
  rm -rf "$ROOTFS_DIR" && mv "$ROOTFS_DIR.tmp" "$ROOTFS_DIR"
}

# What the demo and the local stack need: services, CRIU, the control plane
# and the real nodes' runtime.
install_stack() {
  require_root
  mkdir -p "$TOOLS_DIR" "$STATE_DIR"
  add_debian_suite trixie
  add_debian_suite forky
  install_apt_packages
  install_criu
  check_criu
  install_etcd
  install_moto
  install_rootfs
  "$REPO_ROOT/infra/lib/build-k8s.sh"
  [ "${SPOT_RESCUE_REAL_NODES:-1}" = 0 ] || "$REPO_ROOT/infra/lib/build-node-runtime.sh"
}

# What only the chart and Terraform tests need: helm, terraform and the
# providers the module uses, all from their Go modules (no registry is
# reachable). The demo never builds these.
install_test_tools() {
  require_root
  mkdir -p "$TOOLS_DIR" "$STATE_DIR"
  # Built side by side: the AWS provider's largest packages (ec2 above all) each
  # compile for minutes on one core, and its modules download for minutes on
  # none, so helm and terraform use the idle core meanwhile instead of adding
  # their own minutes after it (a cold run of the test command must stay
  # under an hour on 2 cores). Each builder is idempotent and logs its own
  # progress; all are waited for, and any failure fails the install.
  local builder pids=() failed=0 pid
  for builder in build-terraform-providers build-terraform build-helm; do
    "$REPO_ROOT/infra/lib/$builder.sh" &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" -eq 0 ] || die "a test tool did not build (its log is named above)"
}

install_all() {
  install_stack
  install_test_tools
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then install_all "$@"; fi
