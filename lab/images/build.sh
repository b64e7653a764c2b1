#!/usr/bin/env bash
# Build the Molecule and lab base image localhost/ainative-debian12 with debootstrap from the apt mirror
# this machine is configured with, into this checkout's own Podman storage (storage-conf.sh). The rootfs
# tarball is cached in .cache/, so a rebuild takes seconds; an image already in our storage exits at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE=localhost/ainative-debian12:latest
CACHE=.cache/images
TARBALL=$CACHE/debian12-rootfs.tar
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/lab/images/containers.conf}
storage_conf=$(./lab/images/storage-conf.sh)
export CONTAINERS_STORAGE_CONF=${CONTAINERS_STORAGE_CONF:-$storage_conf}

if podman image exists "$IMAGE"; then
  exit 0
fi
mkdir -p "$CACHE"
if [ ! -s "$TARBALL" ]; then
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || { echo "no apt mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list" >&2; exit 1; }
  # The rootfs is built outside the checkout: tools that walk the tree (grep -r, rsync, git) must never
  # enter it, and debootstrap leaves its /proc mounted when something holds it busy.
  rootfs=$(mktemp -d "${TMPDIR:-/tmp}/ainative-rootfs.XXXXXX")
  unmount_below() { findmnt -rn -o TARGET | { grep "^$1/" || true; } | sort -r | xargs -r -n1 umount -l; }
  trap 'unmount_below "$rootfs"; rm -rf --one-file-system "$rootfs" "$TARBALL.tmp"' EXIT
  echo "[image] debootstrap bookworm from $mirror" >&2
  debootstrap --variant=minbase --include=python3,python3-apt,sudo,procps,gnupg bookworm "$rootfs" "$mirror" \
    > "$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  # Keep the image's apt pointed at the same mirror, and small.
  printf 'deb %s bookworm main\n' "$mirror" > "$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  unmount_below "$rootfs"
  tar --one-file-system -C "$rootfs" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
fi
podman import -q --change 'CMD ["/bin/sleep","infinity"]' "$TARBALL" "$IMAGE" >/dev/null
echo "[image] built $IMAGE" >&2
