#!/usr/bin/env bash
# Build the collection artifact, prove it is clean, install it into an empty collections path and check
# that every module's documentation renders from the installed copy.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build/dist
rm -rf "$out" .build/installed
mkdir -p "$out"
ansible-galaxy collection build --force --output-path "$out" . >/dev/null
tarball=$(ls "$out"/ainative-security-*.tar.gz)
echo "built $tarball ($(du -h "$tarball" | cut -f1))"

bad=$(tar -tzf "$tarball" | grep -E '(^|/)(\.venv|\.build|\.cache|\.pytest_cache|__pycache__)(/|$)|^(tests/output|reports|lab|bench|setup|molecule)(/|$)|\.pyc$' || true)
if [ -n "$bad" ]; then
  echo "the artifact holds files it must not ship:" >&2; echo "$bad" | head -20 >&2; exit 1
fi
# --force: the working tree is linked into the configured path, which galaxy would call "already installed".
ansible-galaxy collection install --offline --no-deps --force -p .build/installed "$tarball" >/dev/null 2>&1
export ANSIBLE_COLLECTIONS_PATH=$PWD/.build/installed ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
modules=$(tar -tzf "$tarball" | sed -n 's#^plugins/modules/\([a-z0-9_]*\)\.py$#\1#p')
for module in $modules; do
  ansible-doc "ainative.security.$module" 2>&1 | grep -q "^> MODULE ainative.security.$module (.*/.build/installed/" \
    || { echo "ansible-doc does not render $module from the installed artifact" >&2; exit 1; }
done
count=$(echo $modules | wc -w)
for kind in filter lookup; do
  for plugin in $(tar -tzf "$tarball" | sed -n "s#^plugins/$kind/\([a-z0-9_]*\)\.py\$#\1#p"); do
    ansible-doc -t "$kind" "ainative.security.$plugin" 2>&1 | grep -q "ainative.security.$plugin (.*/.build/installed/" \
      || { echo "ansible-doc does not render $kind $plugin from the installed artifact" >&2; exit 1; }
    count=$((count + 1))
  done
done
echo "installed artifact: docs of $count modules and plugins render"
