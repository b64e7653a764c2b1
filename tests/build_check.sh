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

bad=$(tar -tzf "$tarball" | grep -E '(^|/)(\.venv|\.build|\.cache|\.pytest_cache|__pycache__)(/|$)|^(tests/output|reports|lab|bench|setup|molecule)(/|$)|^docs/generate\.py$|\.pyc$' || true)
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

# AWX execution environment: `ansible-builder create` works offline (no network namespace at all where the
# machine allows one) and puts this artifact in the context; introspecting the installed artifact yields the
# Python and system dependencies declared in meta/execution-environment.yml.
offline=(); unshare -n true 2>/dev/null && offline=(unshare -n)
rm -rf .build/ee-context
"${offline[@]}" ansible-builder create -f awx/execution-environment.yml -c .build/ee-context >/dev/null
version=$(sed -n 's/^version: *//p' galaxy.yml)
test -f ".build/ee-context/_build/collections/ainative-security-$version.tar.gz" \
  || { echo "the EE context does not hold ainative-security-$version.tar.gz" >&2; exit 1; }
grep -q "name: collections/ainative-security-$version.tar.gz" .build/ee-context/_build/requirements.yml \
  || { echo "awx/ee/requirements.yml does not install ainative-security-$version.tar.gz" >&2; exit 1; }
grep -q '^FROM .* AS final' .build/ee-context/Containerfile || { echo "no final stage in the EE Containerfile" >&2; exit 1; }
"${offline[@]}" ansible-builder introspect .build/installed --write-pip .build/ee-context/introspected-requirements.txt \
  --write-bindep .build/ee-context/introspected-bindep.txt >/dev/null
for req in boto3 hvac cryptography; do
  grep -q "^$req.*# from collection ainative.security" .build/ee-context/introspected-requirements.txt \
    || { echo "ansible-builder does not see $req in the installed collection's EE dependencies" >&2; exit 1; }
done
grep -q "# from collection ainative.security" .build/ee-context/introspected-bindep.txt \
  || { echo "ansible-builder does not see the installed collection's system dependencies" >&2; exit 1; }
echo "execution environment: ansible-builder create (offline) and introspect of the installed artifact ok"

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
