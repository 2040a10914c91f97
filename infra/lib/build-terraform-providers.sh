#!/usr/bin/env bash
# Builds the Terraform providers the module under terraform/ uses from their
# Go modules into a filesystem mirror in the tools cache, so `terraform init
# -plugin-dir` works where the Terraform registry is unreachable and
# `terraform validate` checks the module against the providers' real schemas.
# Idempotent: a cached build is reused. `--print-path` prints the mirror.
#
# The AWS provider registers ~260 service packages and its full build is too
# heavy for CI on 2 cores (see terraform/README.md for the measured figures),
# so it is built from its own source with only the service packages the module
# uses registered, and only the AWS SDK clients those call
# (infra/lib/narrow-aws-provider.py): registering fewer service packages alone
# still compiled all 860 SDK packages, 41 min of a cold test run.
# The schemas of those resources and data sources are the real ones; any other
# resource type makes `terraform validate` fail with "provider does not
# support resource type", so the list below must grow with the module.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The Go proxy serves no tagged v6 release of terraform-provider-aws (its
# module path has no /v6 suffix), only pseudo-versions of commits. This is the
# main branch commit of 2026-06-02, whose version/VERSION reads 6.47.1 (the
# last release before it): it is mirrored as 6.47.1.
AWS_PROVIDER_MODULE_VERSION=v1.60.1-0.20260602190131-5f2286d6d836
AWS_PROVIDER_VERSION=6.47.1
AWS_SERVICE_PACKAGES=(autoscaling cloudwatch ec2 eks elasticache events iam kms meta s3 sns sqs sts)

# Likewise for terraform-provider-helm: a main branch commit of 2026-06-29 (v3 series).
HELM_PROVIDER_MODULE_VERSION=v1.3.3-0.20260629194918-a4f1c1d8b008
HELM_PROVIDER_VERSION=${SPOT_RESCUE_HELM_PROVIDER_VERSION:-}

MIRROR_DIR="$TOOLS_DIR/terraform-providers"
PLATFORM=linux_amd64

fetch_module_source() { # module version dest
  local dir
  dir=$(cd "$WORK" && go mod download -json "$1@$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || die "could not download $1@$2"
  rm -rf "$3" && cp -r "$dir" "$3" && chmod -R u+w "$3"
}

build_aws() {
  local src="$WORK/terraform-provider-aws" out
  fetch_module_source github.com/hashicorp/terraform-provider-aws "$AWS_PROVIDER_MODULE_VERSION" "$src"
  python3 "$(dirname "${BASH_SOURCE[0]}")/narrow-aws-provider.py" "$src" "${AWS_SERVICE_PACKAGES[@]}"
  out="$MIRROR_DIR/registry.terraform.io/hashicorp/aws/$AWS_PROVIDER_VERSION/$PLATFORM"
  mkdir -p "$out.tmp"
  (cd "$src" && go build -trimpath \
    -ldflags "-s -w -X github.com/hashicorp/terraform-provider-aws/version.ProviderVersion=$AWS_PROVIDER_VERSION" \
    -o "$out.tmp/terraform-provider-aws_v$AWS_PROVIDER_VERSION" .)
  rm -rf "$out" && mv "$out.tmp" "$out"
  rm -rf "$src"
}

helm_provider_version() {
  # The version the source declares for itself (top CHANGELOG entry, "Unreleased" or not).
  sed -n 's/^## \([0-9][0-9.]*\).*/\1/p' "$1/CHANGELOG.md" | head -n 1
}

build_helm_provider() {
  local src="$WORK/terraform-provider-helm" v out
  fetch_module_source github.com/hashicorp/terraform-provider-helm "$HELM_PROVIDER_MODULE_VERSION" "$src"
  v=${HELM_PROVIDER_VERSION:-$(helm_provider_version "$src")}
  [ -n "$v" ] || die "cannot tell the helm provider's version"
  out="$MIRROR_DIR/registry.terraform.io/hashicorp/helm/$v/$PLATFORM"
  mkdir -p "$out.tmp"
  (cd "$src" && go build -trimpath -ldflags "-s -w -X main.version=$v" -o "$out.tmp/terraform-provider-helm_v$v" .)
  rm -rf "$out" && mv "$out.tmp" "$out"
  rm -rf "$src"
}

have() { compgen -G "$MIRROR_DIR/registry.terraform.io/hashicorp/$1/*/$PLATFORM/terraform-provider-$1_v*" >/dev/null; }

main() {
  export GOFLAGS=-buildvcs=false CGO_ENABLED=0
  if ! have aws || ! have helm; then
    command -v go >/dev/null || die "Go is required to build the Terraform providers (a Go toolchain on PATH)"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/spot-rescue-tfp.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    (cd "$WORK" && go mod init spot-rescue.local/providers >/dev/null 2>&1)
    if ! have aws; then
      log "building terraform-provider-aws $AWS_PROVIDER_VERSION (${#AWS_SERVICE_PACKAGES[@]} service packages; cold: many minutes on 2 cores)"
      quietly build-terraform-provider-aws build_aws
    fi
    if ! have helm; then
      log "building terraform-provider-helm (cold: a few minutes on 2 cores)"
      quietly build-terraform-provider-helm build_helm_provider
    fi
  fi
  if [ "${1:-}" = --print-path ]; then echo "$MIRROR_DIR"; fi
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
