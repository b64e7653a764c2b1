#!/usr/bin/env bash
# ansible-test sanity from a copy of the tree at ansible_collections/ainative/security (no ignore file).
set -euo pipefail
cd "$(dirname "$0")/.."
if ls tests/sanity/ignore-*.txt >/dev/null 2>&1; then
  echo "sanity ignore files are not allowed: fix the findings instead" >&2; exit 1
fi
# ansible-test downloads its pip bootstrap script from a host this machine cannot reach: seed its cache.
pip_version=$(python - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
cache=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
if ! cmp -s setup/ansible_test_get_pip.py "$cache"; then
  mkdir -p "$(dirname "$cache")" && cp setup/ansible_test_get_pip.py "$cache"
fi
dest=${SANITY_DIR:-.build/sanity}/ansible_collections/ainative/security
rm -rf "$dest"
mkdir -p "$dest"
# Only what is tracked or new-and-not-ignored: the same files a clean clone has.
git ls-files -co --exclude-standard -z | rsync -a --ignore-missing-args --from0 --files-from=- ./ "$dest/"
# Collections our plugins import (amazon.aws for the AWS controls) must sit next to ours for ansible-test.
site_collections=$(python -c 'import ansible, os; print(os.path.join(os.path.dirname(os.path.dirname(ansible.__file__)), "ansible_collections"))')
mkdir -p "$dest/../../amazon"
ln -sfn "$site_collections/amazon/aws" "$dest/../../amazon/aws"
cd "$dest"
# ansible-test lists files with git; give the copy a repository of its own (the tree around it ignores .build).
git init -q
git add -A . >/dev/null
ansible-test sanity --venv --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  --color no --exclude lab/ --exclude bench/ --exclude setup/ "$@"
