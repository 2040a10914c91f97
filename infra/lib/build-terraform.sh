#!/usr/bin/env bash
# Builds terraform from its Go module (github.com/hashicorp/terraform) into
# the tools cache, for the Terraform module's fmt/validate checks. Idempotent:
# a cached build of the pinned version is reused. `--print-path` prints the
# binary's path.
#
# terraform's go.mod points its nested modules (remote-state backends,
# internal/legacy) at local directories, which a module download does not
# contain; a small builder module pins them to the pseudo-versions of the
# release's own commit instead.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TERRAFORM_VERSION=${SPOT_RESCUE_TERRAFORM_VERSION:-1.11.4}
# The commit of v1.11.4 (2025-04-09T13:10:05Z) as the Go proxy names it for the nested modules.
TERRAFORM_NESTED_VERSION=v0.0.0-20250409131005-35645b8fca68
TERRAFORM_NESTED=(
  internal/backend/remote-state/azure internal/backend/remote-state/consul internal/backend/remote-state/cos
  internal/backend/remote-state/gcs internal/backend/remote-state/kubernetes internal/backend/remote-state/oss
  internal/backend/remote-state/pg internal/backend/remote-state/s3 internal/legacy
)
TERRAFORM_BIN="$TOOLS_DIR/terraform-v$TERRAFORM_VERSION/bin"

build_terraform() {
  local work="$TOOLS_DIR/terraform-v$TERRAFORM_VERSION/builder" m
  rm -rf "$work" "$TERRAFORM_BIN.tmp" && mkdir -p "$work" "$TERRAFORM_BIN.tmp"
  {
    echo "module spot-rescue.local/terraform-builder"
    echo
    echo "go 1.24"
    echo
    echo "require github.com/hashicorp/terraform v$TERRAFORM_VERSION"
    for m in "${TERRAFORM_NESTED[@]}"; do
      echo "replace github.com/hashicorp/terraform/$m => github.com/hashicorp/terraform/$m $TERRAFORM_NESTED_VERSION"
    done
  } >"$work/go.mod"
  (
    cd "$work"
    export GOFLAGS=-buildvcs=false CGO_ENABLED=0
    go get "github.com/hashicorp/terraform@v$TERRAFORM_VERSION"
    # Release builds say dev=no; otherwise terraform reports itself as v<version>-dev.
    go build -trimpath -ldflags "-s -w -X github.com/hashicorp/terraform/version.dev=no" -o "$TERRAFORM_BIN.tmp/terraform" github.com/hashicorp/terraform
  )
  local reported
  reported=$(CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null "$TERRAFORM_BIN.tmp/terraform" version 2>/dev/null | head -n 1)
  [ "$reported" = "Terraform v$TERRAFORM_VERSION" ] || die "the built terraform reports '$reported', not v$TERRAFORM_VERSION"
  rm -rf "$TERRAFORM_BIN" "$work" && mv "$TERRAFORM_BIN.tmp" "$TERRAFORM_BIN"
}

main() {
  if [ ! -x "$TERRAFORM_BIN/terraform" ]; then
    command -v go >/dev/null || die "Go is required to build terraform (a Go toolchain on PATH)"
    log "building terraform v$TERRAFORM_VERSION (cold: a few minutes on 2 cores)"
    quietly build-terraform build_terraform
  fi
  if [ "${1:-}" = --print-path ]; then echo "$TERRAFORM_BIN/terraform"; fi
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
