#!/usr/bin/env bash
# Builds CRIU as a self-contained bundle: bin/criu and lib/ with every library
# it loads and the loader itself, as the agent image ships it under
# /opt/spot-rescue/criu and `spot-rescue install-criu` copies it onto a node
# (EKS AL2023 has no CRIU, and its libc must not matter). The same packages as
# the local stack's CRIU (infra/lib/install.sh): CRIU 4.2 from Debian forky,
# its libraries from trixie.
#   infra/lib/criu-bundle.sh DEST
source "$(dirname "${BASH_SOURCE[0]}")/install.sh"

dest=${1:?usage: infra/lib/criu-bundle.sh DEST}
add_debian_suite trixie
add_debian_suite forky
apt_update_once
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
quietly criu-bundle-download download_from trixie "$work/debs" "${CRIU_PACKAGES[@]}"
quietly criu-bundle-download-forky download_from forky "$work/debs" "${CRIU_FORKY_PACKAGES[@]}"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
rm -rf "$dest" && mkdir -p "$dest/bin" "$dest/lib"
cp "$work/root/usr/sbin/criu" "$dest/bin/criu"
cp -a "$work/root/usr/lib/x86_64-linux-gnu/." "$dest/lib/"
version=$("$dest/lib/ld-linux-x86-64.so.2" --library-path "$dest/lib" "$dest/bin/criu" --version)
grep -q "Version: $CRIU_VERSION" <<<"$version" || die "the bundled criu is not $CRIU_VERSION: $version"
log "CRIU $CRIU_VERSION bundle in $dest"
