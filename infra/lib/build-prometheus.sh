#!/usr/bin/env bash
# Builds Prometheus from its Go module (github.com/prometheus/prometheus,
# whose Go versions are v0.<minor>.<patch> for Prometheus 3.<minor>.<patch>)
# into the tools cache, for `npm run render:dashboard`. Idempotent: a cached
# build of the pinned version is reused. `--print-path` prints the binary's path.
#
# Only static scrape targets are needed, so the service-discovery plugins (AWS,
# Azure, GCE, Kubernetes, ... SDKs) are left out with the upstream build tag
# remove_all_sd: a cold build compiles a fraction of the packages. The web UI's
# assets are not embedded either (a module build has none); the HTTP API is
# all the renderer uses. Niced: the build machine is shared.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PROMETHEUS_MODULE_VERSION=${SPOT_RESCUE_PROMETHEUS_VERSION:-v0.316.0}
PROMETHEUS_BIN="$TOOLS_DIR/prometheus-$PROMETHEUS_MODULE_VERSION/bin"
TYPICAL_DURATION[build-prometheus]="5-15 min cold, under a minute with a warm Go cache"

build_prometheus() {
  rm -rf "$PROMETHEUS_BIN.tmp" && mkdir -p "$PROMETHEUS_BIN.tmp"
  GOBIN="$PROMETHEUS_BIN.tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 nice -n 19 \
    go install -trimpath -tags remove_all_sd -ldflags "-s -w" \
    "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION"
  "$PROMETHEUS_BIN.tmp/prometheus" --version >/dev/null || die "the built prometheus does not run"
  rm -rf "$PROMETHEUS_BIN" && mv "$PROMETHEUS_BIN.tmp" "$PROMETHEUS_BIN"
}

main() {
  if [ ! -x "$PROMETHEUS_BIN/prometheus" ]; then
    command -v go >/dev/null || die "Go is required to build Prometheus (a Go toolchain on PATH)"
    log "building Prometheus from its Go module $PROMETHEUS_MODULE_VERSION (cold: several minutes on 2 cores)"
    quietly build-prometheus build_prometheus
  fi
  if [ "${1:-}" = --print-path ]; then echo "$PROMETHEUS_BIN/prometheus"; fi
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
