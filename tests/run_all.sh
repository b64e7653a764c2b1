#!/usr/bin/env bash
# Every test layer; keeps going after a failure and exits non-zero if any layer failed.
# sanity, lint and units run one after another (each keeps both cores busy). integration and molecule run
# side by side: both mostly wait on services, containers and Ansible forks, and together they take about
# 60% of the time they take in a row (issue 11: the whole CI run under 30 minutes on 2 cores). Each writes
# its own log under .build/test-logs/, printed whole when the layer ends. build runs last.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=.build/test-logs
mkdir -p "$logs"
passed=0; failed=0; failed_names=()

record() {  # layer, status, seconds
  if [ "$2" -eq 0 ]; then
    passed=$((passed + 1)); printf '==== %s: ok (%ss)\n' "$1" "$3"
  else
    failed=$((failed + 1)); failed_names+=("$1"); printf '==== %s: FAILED (%ss)\n' "$1" "$3"
  fi
}

in_row() {
  local layer start
  for layer in "$@"; do
    start=$SECONDS
    printf '\n==== %s ====\n' "$layer"
    make --no-print-directory "$layer"
    record "$layer" $? $((SECONDS - start))
  done
}

side_by_side() {
  local layer pids=() status
  for layer in "$@"; do
    printf '\n==== %s (log: %s/%s.log) ====\n' "$layer" "$logs" "$layer"
    (begin=$SECONDS; make --no-print-directory "$layer" >"$logs/$layer.log" 2>&1; rc=$?
     echo $((SECONDS - begin)) >"$logs/$layer.seconds"; exit $rc) &
    pids+=($!)
  done
  local i=0
  for layer in "$@"; do
    wait "${pids[$i]}"; status=$?
    printf '\n==== %s output ====\n' "$layer"
    cat "$logs/$layer.log"
    record "$layer" "$status" "$(cat "$logs/$layer.seconds")"
    i=$((i + 1))
  done
}

in_row sanity lint units
# The image is built once, before the two layers that use it start.
make --no-print-directory image || { failed=$((failed + 1)); failed_names+=(image); }
side_by_side integration molecule
in_row build
echo
[ "$failed" -gt 0 ] && echo "failed layers: ${failed_names[*]}"
echo "layers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
