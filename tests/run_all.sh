#!/usr/bin/env bash
# Every test layer, in order; keeps going after a failure and exits non-zero if any layer failed.
set -uo pipefail
cd "$(dirname "$0")/.."
layers=(sanity lint units integration molecule build)
passed=0; failed=0; failed_names=()
for layer in "${layers[@]}"; do
  start=$SECONDS
  printf '\n==== %s ====\n' "$layer"
  if make --no-print-directory "$layer"; then
    passed=$((passed + 1)); printf '==== %s: ok (%ss)\n' "$layer" $((SECONDS - start))
  else
    failed=$((failed + 1)); failed_names+=("$layer"); printf '==== %s: FAILED (%ss)\n' "$layer" $((SECONDS - start))
  fi
done
echo
[ "$failed" -gt 0 ] && echo "failed layers: ${failed_names[*]}"
echo "layers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
