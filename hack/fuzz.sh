#!/usr/bin/env bash
# Runs every fuzz target of the module (each `func FuzzX` in a _test.go file) for FUZZTIME (default 3s)
# each, one after the other; FUZZ_PACKAGES narrows to package patterns (./engine/build/...).
# Fails on the first target that finds a failure; its input is kept under the package's testdata/fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
go=${GO:-go}
start=$SECONDS
n=0
only=""
if [ -n "${FUZZ_PACKAGES:-}" ]; then
	only=$($go list -f '{{.Dir}}' ${FUZZ_PACKAGES})
fi
while IFS=: read -r file name; do
	pkg=./$(dirname "$file")
	if [ -n "$only" ] && ! grep -qx "$PWD/${pkg#./}" <<<"$only"; then
		continue
	fi
	echo "== $pkg $name ($fuzztime)"
	$go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg"
	n=$((n + 1))
done < <(grep -rHo --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+' . | grep -v '^./hack/' | sed -E 's|^\./||; s|:func |:|' | sort)
echo "== $n fuzz targets, ${fuzztime} each, in $((SECONDS - start))s"
