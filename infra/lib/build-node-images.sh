#!/usr/bin/env bash
# Builds the images the real nodes run, with no registry: the pod sandbox's
# pause image and the workload image (the busybox + counter root filesystem
# that the simulated nodes' containers use, see install_rootfs), each as an
# OCI image layout in a tar (one uncompressed layer) for
# `ctr -n k8s.io images import --local`. Cached in the tools dir, keyed by
# content. Sourced for the image names; run to build.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The one place the image names are set; `infra/stack env` exports them.
PAUSE_IMAGE=localhost/spot-rescue/pause:local
WORKLOAD_IMAGE=localhost/spot-rescue/counter:local
NODE_IMAGES_DIR="$TOOLS_DIR/node-images"
PAUSE_IMAGE_TAR="$NODE_IMAGES_DIR/pause.tar"
WORKLOAD_IMAGE_TAR="$NODE_IMAGES_DIR/workload.tar"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Moves a file into the layout's blob store; prints "<digest> <size>".
add_blob() {
  local layout=$1 file=$2 digest size
  digest=$(sha256_of "$file"); size=$(stat -c %s "$file")
  mv "$file" "$layout/blobs/sha256/$digest"
  echo "$digest $size"
}

# oci_archive <rootfs dir> <image ref> <out tar> <config's "config" object as JSON>
oci_archive() {
  local rootfs=$1 ref=$2 out=$3 runconfig=$4 arch layout layer config manifest
  arch=$(dpkg --print-architecture)
  layout=$(mktemp -d)
  mkdir -p "$layout/blobs/sha256"
  # Reproducible: the same files give the same digest, so a re-import is a no-op.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --exclude=./.stamp \
    -C "$rootfs" -cf "$layout/layer.tar" .
  read -r layer_digest layer_size < <(add_blob "$layout" "$layout/layer.tar")
  printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$arch" "$runconfig" "$layer_digest" >"$layout/config.json"
  read -r config_digest config_size < <(add_blob "$layout" "$layout/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$layout/manifest.json"
  read -r manifest_digest manifest_size < <(add_blob "$layout" "$layout/manifest.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest_digest" "$manifest_size" "$arch" "$ref" "$ref" >"$layout/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  tar --owner=0 --group=0 --numeric-owner -C "$layout" -cf "$out" oci-layout index.json blobs
  rm -rf "$layout"
}

build_images() {
  local tmp=$1 pause_root
  pause_root=$(mktemp -d) && chmod 755 "$pause_root"
  gcc -static -O2 -Wall -o "$pause_root/pause" "$REPO_ROOT/infra/node/pause.c"
  oci_archive "$pause_root" "$PAUSE_IMAGE" "$tmp/pause.tar" '{"Entrypoint":["/pause"]}'
  rm -rf "$pause_root"
  oci_archive "$TOOLS_DIR/rootfs" "$WORKLOAD_IMAGE" "$tmp/workload.tar" \
    '{"Env":["PATH=/usr/local/bin:/bin"],"Cmd":["/usr/local/bin/counter","16"],"WorkingDir":"/"}'
}

main() {
  [ -f "$TOOLS_DIR/rootfs/.stamp" ] || die "the workload root filesystem is missing: run infra/stack install"
  local stamp
  # Content only (not paths): the pause source, the rootfs, this script.
  stamp=$(cat "$REPO_ROOT/infra/node/pause.c" "$TOOLS_DIR/rootfs/.stamp" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
  if [ "$(cat "$NODE_IMAGES_DIR/.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "building the pause and workload images for the real nodes (a few seconds)"
    rm -rf "$NODE_IMAGES_DIR.tmp" && mkdir -p "$NODE_IMAGES_DIR.tmp"
    quietly build-node-images build_images "$NODE_IMAGES_DIR.tmp"
    echo "$stamp" >"$NODE_IMAGES_DIR.tmp/.stamp"
    rm -rf "$NODE_IMAGES_DIR" && mv "$NODE_IMAGES_DIR.tmp" "$NODE_IMAGES_DIR"
  fi
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
