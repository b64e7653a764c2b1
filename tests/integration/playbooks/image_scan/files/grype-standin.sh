#!/bin/sh
# Stand-in for the grype CLI where no grype binary can be installed: answers `grype version -o json`
# and prints the Grype JSON document in $GRYPE_STANDIN_DOCUMENT for any scan (`grype SOURCE -o json`).
if [ "$1" = "version" ]; then
  printf '{"application":"grype","version":"0.86.1","gitCommit":"fixture","buildDate":"2026-11-20T00:00:00Z"}\n'
  exit 0
fi
case "$1" in
  dir:*|sbom:*|docker-archive:*|oci-archive:*|oci-dir:*|registry:*) ;;
  *) echo "unexpected source $1" >&2; exit 1 ;;
esac
[ "$2" = "-o" ] && [ "$3" = "json" ] || { echo "expected -o json" >&2; exit 1; }
cat "$GRYPE_STANDIN_DOCUMENT"
