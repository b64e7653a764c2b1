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

# The artifact's contents: what a user installs must be there, what only runs in a checkout must not.
listing=.build/dist/contents.txt
tar -tzf "$tarball" | sed 's#/$##' | sort >"$listing"
must_have=(MANIFEST.json FILES.json README.md COPYING meta/runtime.yml meta/execution-environment.yml
  meta/ee-requirements.txt meta/ee-bindep.txt awx/execution-environment.yml awx/ee/requirements.yml
  playbooks/site.yml playbooks/tasks/control_failed.yml changelogs/changelog.yaml)
# Every tracked file of the shipped folders (a build_ignore pattern that catches too much fails here).
mapfile -t shipped < <(git ls-files -co --exclude-standard -- plugins roles playbooks meta awx extensions rules docs \
  | grep -vE '^roles/[^/]+/molecule/|^docs/generate\.py$|(^|/)__pycache__/|\.pyc$')
missing=$(printf '%s\n' "${must_have[@]}" "${shipped[@]}" | sort -u | comm -23 - "$listing")
if [ -n "$missing" ]; then
  echo "the artifact lacks files it must ship:" >&2; echo "$missing" | head -20 >&2; exit 1
fi
bad=$(grep -E '(^|/)(\.venv|\.build|\.cache|\.git|\.ci|\.pytest_cache|__pycache__|molecule)(/|$)|^(tests|lab|bench|setup|reports|changelogs/fragments)(/|$)|^(ansible\.cfg|pytest\.ini|\.ansible-lint|\.gitignore|Makefile|galaxy\.yml|docs/generate\.py)$|\.(pyc|tar\.gz|retry)$' "$listing" || true)
if [ -n "$bad" ]; then
  echo "the artifact holds files it must not ship:" >&2; echo "$bad" | head -20 >&2; exit 1
fi
if grep -rl 'example\.invalid' galaxy.yml >/dev/null; then
  echo "galaxy.yml links to example.invalid: give a real address or leave the key out" >&2; exit 1
fi
echo "artifact contents: $(wc -l <"$listing") entries, the ${#must_have[@]} required paths and all ${#shipped[@]} shipped sources there, no checkout-only files"
# --force: the working tree is linked into the configured path, which galaxy would call "already installed".
ansible-galaxy collection install --offline --no-deps --force -p .build/installed "$tarball" >/dev/null 2>&1
export ANSIBLE_COLLECTIONS_PATH=$PWD/.build/installed ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
installed_root=.build/installed/ansible_collections/ainative/security
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

# ansible-test sanity on the INSTALLED artifact, the tests whose result depends on what is shipped: a file that
# build_ignore drops (imports, docs, routing), the version in MANIFEST.json (validate-modules' version_added),
# modes and links. The per-file tests (pep8, pylint, yamllint, compile ...) see the same bytes in the sanity
# layer, which also covers tests/ (not shipped). The copy is outside this checkout (ansible-test would list only
# the files git tracks, and .build is ignored); amazon.aws sits next to ours, as in tests/sanity.sh.
started=$SECONDS; sanity_log=$PWD/.build/sanity-installed.log
sanity_path=$(mktemp -d); trap 'rm -rf "$sanity_path"' EXIT
ansible-galaxy collection install --offline --no-deps --force -p "$sanity_path" "$tarball" >/dev/null 2>&1
site_collections=$(python -c 'import ansible, os; print(os.path.join(os.path.dirname(os.path.dirname(ansible.__file__)), "ansible_collections"))')
mkdir -p "$sanity_path/ansible_collections/amazon"
ln -sfn "$site_collections/amazon/aws" "$sanity_path/ansible_collections/amazon/aws"
(cd "$sanity_path/ansible_collections/ainative/security" && ansible-test sanity --venv --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  --color no --test validate-modules --test import --test ansible-doc --test runtime-metadata --test action-plugin-docs \
  --test shebang --test symlinks --test empty-init --test no-illegal-filenames >"$sanity_log" 2>&1) \
  || { grep -E '^(ERROR|FATAL)' "$sanity_log" >&2; echo "ansible-test sanity fails on the installed artifact" >&2; exit 1; }
if grep -q 'All targets skipped' "$sanity_log" || ! grep -q 'Running sanity test "validate-modules"' "$sanity_log"; then
  echo "ansible-test sanity did not test the installed artifact: see $sanity_log" >&2; exit 1
fi
echo "installed artifact: ansible-test sanity (validate-modules, import, ansible-doc, runtime-metadata and 5 more) ok in $((SECONDS - started))s"

# AWX execution environment, from the INSTALLED collection: `ansible-builder create` works offline (no
# network namespace at all where the machine allows one) with the definition inside the installed copy, and
# its context holds that copy, which the EE's galaxy step installs (here: only ours, offline) at the version
# installed; introspecting it yields the Python and system dependencies of meta/execution-environment.yml.
offline=(); unshare -n true 2>/dev/null && offline=(unshare -n)
installed=$installed_root
context=.build/ee-context
rm -rf "$context"
"${offline[@]}" ansible-builder create -f "$installed/awx/execution-environment.yml" -c "$context" >/dev/null
grep -q '^FROM .* AS final' "$context/Containerfile" || { echo "no final stage in the EE Containerfile" >&2; exit 1; }
for path in MANIFEST.json meta/execution-environment.yml meta/ee-requirements.txt meta/ee-bindep.txt plugins/modules/findings_report.py; do
  cmp -s "$installed/$path" "$context/_build/collections/ainative.security/$path" \
    || { echo "the EE context's collection lacks the installed $path" >&2; exit 1; }
done
version=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' "$installed/MANIFEST.json")
(cd "$context/_build" && python - <<'PY'
import yaml
wanted = [c for c in yaml.safe_load(open("requirements.yml"))["collections"] if c["name"].startswith("collections/")]
assert wanted == [{"name": "collections/ainative.security", "type": "dir"}], wanted
yaml.safe_dump({"collections": wanted}, open("ours.yml", "w"))
PY
ANSIBLE_COLLECTIONS_PATH=$PWD/ee-proof "${offline[@]}" ansible-galaxy collection install --offline --no-deps -r ours.yml -p ee-proof >/dev/null)
got=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
  "$context/_build/ee-proof/ansible_collections/ainative/security/MANIFEST.json")
[ "$got" = "$version" ] || { echo "the EE installs ainative.security $got, the installed collection is $version" >&2; exit 1; }
"${offline[@]}" ansible-builder introspect "$context/_build/ee-proof" --write-pip "$context/introspected-requirements.txt" \
  --write-bindep "$context/introspected-bindep.txt" >/dev/null
rm -rf "$context/_build/ee-proof" "$context/_build/ours.yml"
for req in boto3 hvac cryptography; do
  grep -q "^$req.*# from collection ainative.security" "$context/introspected-requirements.txt" \
    || { echo "ansible-builder does not see $req in the installed collection's EE dependencies" >&2; exit 1; }
done
grep -q "# from collection ainative.security" "$context/introspected-bindep.txt" \
  || { echo "ansible-builder does not see the installed collection's system dependencies" >&2; exit 1; }
echo "execution environment: ansible-builder create (offline) from the installed $version, its galaxy step and introspect ok"

# Run lab playbooks from the INSTALLED collection (ansible-playbook ainative.security.<name>): only the artifact
# and the venv's bundled collections are on the path, never the working tree.
proof=.build/installed-proof
rm -rf "$proof" && mkdir -p "$proof/reports"
site_packages=$(python -c 'import ansible, os; print(os.path.dirname(os.path.dirname(ansible.__file__)))')
export ANSIBLE_COLLECTIONS_PATH=$PWD/.build/installed:$site_packages ANSIBLE_CONFIG=$PWD/ansible.cfg
python - "$proof" <<'PY'
import os, sys
sys.path.insert(0, os.getcwd())
from lab import datasets, image_scan_fixtures, trivydb
proof = sys.argv[1]
datasets.make_tree(os.path.join(proof, "train"), files=30, min_size=256, max_size=4096, per_dir=10, seed="artifact")
datasets.tamper(os.path.join(proof, "train"), os.path.join(proof, "train-tampered"))
trivydb.build(os.path.join(proof, "trivy-cache"))
os.makedirs(os.path.join(proof, "iac"))
with open(os.path.join(proof, "iac", "main.tf"), "w") as handle:
    handle.write(image_scan_fixtures.TF_GOOD)
PY
where=$(ansible-playbook --list-tasks ainative.security.dataset_integrity 2>&1 | sed -n 's/^playbook: //p')
case "$where" in
  "$PWD/.build/installed/ansible_collections/ainative/security/playbooks/"*) ;;
  *) echo "ainative.security.dataset_integrity does not resolve to the installed artifact: $where" >&2; exit 1 ;;
esac
run() { ansible-playbook -i localhost, -c local -e ansible_python_interpreter="$(command -v python)" "$@"; }
data="[{\"name\": \"train\", \"path\": \"$PWD/$proof/train\", \"manifest\": \"$PWD/$proof/train.json\""
run ainative.security.dataset_integrity -e "{\"dataset_integrity_datasets\": $data, \"pin\": true}]}" \
  > "$proof/pin.log" 2>&1 || { cat "$proof/pin.log" >&2; echo "pinning from the installed artifact failed" >&2; exit 1; }
gate_vars=$(cat <<JSON
{"ai_pipeline_gate_hosts": "localhost", "ainative_report_dir": "$PWD/$proof/reports",
 "ai_pipeline_gate_scan_targets": [{"type": "iac", "ref": "$PWD/$proof/iac", "name": "terraform"}],
 "scan_gate_scanner_path": "$(command -v trivy)", "scan_gate_cache_dir": "$PWD/$proof/trivy-cache",
 "scan_gate_report_dir": "$PWD/$proof/scan", "ai_pipeline_gate_datasets": $data}]}
JSON
)
run ainative.security.ai_pipeline_gate -e "$gate_vars" > "$proof/gate.log" 2>&1 \
  || { cat "$proof/gate.log" >&2; echo "ai_pipeline_gate from the installed artifact failed" >&2; exit 1; }
python - "$proof/reports/ai_pipeline_gate.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
assert report["verdict"] == "pass", report
assert "datasets: train: verified=True" in report["notes"], report["notes"]
assert any(note.startswith("scan: gate passed") for note in report["notes"]), report["notes"]
PY
tampered="[{\"name\": \"train\", \"path\": \"$PWD/$proof/train-tampered\", \"manifest\": \"$PWD/$proof/train.json\"}]"
if run ainative.security.dataset_integrity -e "{\"dataset_integrity_datasets\": $tampered}" > "$proof/tampered.log" 2>&1; then
  echo "the installed dataset_integrity playbook passed a tampered dataset" >&2; exit 1
fi
grep -q "failed verification" "$proof/tampered.log" || { cat "$proof/tampered.log" >&2; exit 1; }
echo "installed artifact: playbooks dataset_integrity (pin, verify, tampered copy refused) and ai_pipeline_gate run from it"
