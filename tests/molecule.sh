#!/usr/bin/env bash
# Every Molecule scenario of every role (roles/<role>/molecule/<scenario>/), on the local Podman images
# (Debian 12 and Debian 13, one instance of each per scenario; lab/images/build.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
./lab/images/build.sh || exit 1
# Run directly or from make: this checkout's container storage and Ansible home (Molecule's state, and the
# collection copy it installs, live there; without VIRTUAL_ENV it does not pick .venv/.ansible instead).
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/lab/images/containers.conf}
CONTAINERS_STORAGE_CONF=${CONTAINERS_STORAGE_CONF:-$(./lab/images/storage-conf.sh)}
export CONTAINERS_STORAGE_CONF ANSIBLE_HOME=${ANSIBLE_HOME:-$PWD/.build/ansible}
unset VIRTUAL_ENV
export MOLECULE_NO_LOG=false ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
# ansible-lint and ansible-playbook would later prefer Molecule's (soon stale) development copy of the
# collection over the working tree. Remove what it installs.
dev_copy=$ANSIBLE_HOME/collections/ansible_collections/ainative/security
trap 'rm -rf "$dev_copy"' EXIT
passed=0; failed=0; failed_names=()
for scenario_dir in roles/*/molecule/*/; do
  [ -f "$scenario_dir/molecule.yml" ] || continue
  role_dir=${scenario_dir%/molecule/*}
  scenario=$(basename "$scenario_dir")
  echo "---- molecule: $(basename "$role_dir") / $scenario"
  if (cd "$role_dir" && molecule test -s "$scenario"); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failed_names+=("$(basename "$role_dir")/$scenario")
  fi
done
[ "$failed" -gt 0 ] && echo "failed scenarios: ${failed_names[*]}"
echo "molecule: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
