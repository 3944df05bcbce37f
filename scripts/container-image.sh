#!/usr/bin/env bash
# Build (as root, once; cached) a Debian 12 root filesystem for the container tests:
# debootstrap from the apt mirror this host uses, packed as a tar that `podman import` takes.
# Prints the tar's path. Rebuilt when the package list below changes.
# Used by scripts/test-in-podman.sh and .ci/run; see docs/containers.md.
set -euo pipefail
# shellcheck source=scripts/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

packages=bubblewrap,python3,python3-venv,nftables,libnftables1,iproute2,ca-certificates,git,procps,curl,openssh-client
cache=${BWSBX_CONTAINER_CACHE:-/var/cache/bwsandbox/container}
stamp=$(printf '%s\n' "$packages" | sha256sum | cut -c1-16)
tar=$cache/debian12-$stamp.tar
if [[ -s $tar ]]; then
    printf '%s\n' "$tar"
    exit 0
fi
((EUID == 0)) || die "building the container image needs root (debootstrap); run: sudo bash $0"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install -y debootstrap"
mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
    head -n1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf --one-file-system "$work"' EXIT
say "debootstrap bookworm ($mirror) into $work: about 2 minutes"
debootstrap --variant=minbase --include="$packages" bookworm "$work/rootfs" "$mirror" >"$work/log" 2>&1 ||
    { tail -n 20 "$work/log" >&2; die "debootstrap failed"; }
tar -C "$work/rootfs" -cf "$work/image.tar" .
chmod 0644 "$work/image.tar"
mv "$work/image.tar" "$tar"
printf '%s\n' "$tar"
