#!/usr/bin/env bash
# Write .build/containers/storage.conf: Podman storage (images, layers, containers) of this checkout only,
# so nothing from another checkout, an earlier run or the machine's default storage is ever used.
# CONTAINERS_STORAGE_CONF points here (Makefile, build.sh, molecule.sh, tests/conftest.py, lab/prereq.py).
# Prints the file's path.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$PWD/.build/containers
conf=$dir/storage.conf
mkdir -p "$dir"
# Native overlay on the checkout's ext4, as Podman uses by default on this machine.
want=$(printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/storage"\nrunroot = "%s/run"\n' "$dir" "$dir")
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  printf '%s\n' "$want" > "$conf.tmp" && mv "$conf.tmp" "$conf"
fi
echo "$conf"
