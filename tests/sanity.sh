#!/usr/bin/env bash
# ansible-test sanity from a copy of the tree at ansible_collections/ainative/security (no ignore file).
set -euo pipefail
cd "$(dirname "$0")/.."
if ls tests/sanity/ignore-*.txt >/dev/null 2>&1; then
  echo "sanity ignore files are not allowed: fix the findings instead" >&2; exit 1
fi
dest=${SANITY_DIR:-.build/sanity}/ansible_collections/ainative/security
mkdir -p "$dest"
# Only what is tracked or new-and-not-ignored: the same files a clean clone has.
git ls-files -co --exclude-standard -z | rsync -a --delete --from0 --files-from=- ./ "$dest/"
cd "$dest"
# ansible-test lists files with git; give the copy a repository of its own (the tree around it ignores .build).
[ -d .git ] || git init -q
git add -A . >/dev/null
ansible-test sanity --venv --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  --color no --exclude lab/ --exclude bench/ --exclude setup/ "$@"
