#!/usr/bin/env bash
# Build the Molecule and lab base images localhost/ainative-debian12 (bookworm) and
# localhost/ainative-debian13 (trixie) with debootstrap from the apt mirror this machine is configured with,
# into this checkout's own Podman storage (storage-conf.sh). Both debootstraps run at once (they mostly wait
# on the mirror). Each rootfs tarball is cached in .cache/, so a rebuild takes seconds; an image already in
# our storage is skipped, and when both are there the script exits at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=.cache/images
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/lab/images/containers.conf}
storage_conf=$(./lab/images/storage-conf.sh)
export CONTAINERS_STORAGE_CONF=${CONTAINERS_STORAGE_CONF:-$storage_conf}

# debian<version> <codename>
RELEASES=("12 bookworm" "13 trixie")

missing=()
for release in "${RELEASES[@]}"; do
  read -r version codename <<<"$release"
  podman image exists "localhost/ainative-debian$version:latest" || missing+=("$release")
done
[ "${#missing[@]}" -gt 0 ] || exit 0

mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "no apt mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list" >&2; exit 1; }
mkdir -p "$CACHE"

unmount_below() { findmnt -rn -o TARGET | { grep "^$1/" || true; } | sort -r | xargs -r -n1 umount -l; }

build_tarball() {  # version codename: write $CACHE/debian<version>-rootfs.tar; runs in its own subshell
  # Not local: the EXIT trap runs after the function has returned.
  version=$1 codename=$2 tarball=$CACHE/debian$1-rootfs.tar log=$CACHE/debootstrap-$2.log
  # The rootfs is built outside the checkout: tools that walk the tree (grep -r, rsync, git) must never
  # enter it, and debootstrap leaves its /proc mounted when something holds it busy.
  rootfs=$(mktemp -d "${TMPDIR:-/tmp}/ainative-rootfs-$codename.XXXXXX")
  trap 'unmount_below "$rootfs"; rm -rf --one-file-system "$rootfs" "$tarball.tmp"' EXIT
  echo "[image] debootstrap $codename from $mirror" >&2
  debootstrap --variant=minbase --include=python3,python3-apt,sudo,procps,gnupg "$codename" "$rootfs" "$mirror" \
    > "$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
  # Keep the image's apt pointed at the same mirror, and small. Trixie's apt reads deb822 .sources files
  # (one-line sources.list is deprecated there); bookworm keeps the classic file.
  if [ "$version" -ge 13 ]; then
    rm -f "$rootfs/etc/apt/sources.list"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$codename" > "$rootfs/etc/apt/sources.list.d/debian.sources"
  else
    printf 'deb %s %s main\n' "$mirror" "$codename" > "$rootfs/etc/apt/sources.list"
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  unmount_below "$rootfs"
  tar --one-file-system -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
}

pids=()
for release in "${missing[@]}"; do
  read -r version codename <<<"$release"
  if [ ! -s "$CACHE/debian$version-rootfs.tar" ]; then
    (build_tarball "$version" "$codename") &
    pids+=($!)
  fi
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
[ "$status" -eq 0 ] || exit 1

for release in "${missing[@]}"; do
  read -r version codename <<<"$release"
  image=localhost/ainative-debian$version:latest
  podman import -q --change 'CMD ["/bin/sleep","infinity"]' "$CACHE/debian$version-rootfs.tar" "$image" >/dev/null
  echo "[image] built $image" >&2
done
