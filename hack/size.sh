#!/usr/bin/env bash
# Binary size of converge, built as the release builds it (.goreleaser.yaml: CGO_ENABLED=0, -trimpath,
# -ldflags "-s -w"), for the machine's GOOS/GOARCH.
#
#   hack/size.sh check    # fail when the binary is larger than the budget in hack/size-budget
#   hack/size.sh budget   # write the current size plus 3% headroom into hack/size-budget
#   hack/size.sh report   # symbol sizes summed by module (from a build that keeps its symbol table)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
budget_file=hack/size-budget
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

build() { CGO_ENABLED=0 $GO build -trimpath -ldflags "$1" -o "$tmp/converge" ./cmd/converge; }
size_of() { wc -c <"$1" | tr -d ' '; }
platform="$($GO env GOOS)/$($GO env GOARCH)"

case "${1:-check}" in
check)
	build "-s -w"
	size=$(size_of "$tmp/converge")
	budget=$(grep -E "^$platform " "$budget_file" | awk '{print $2}')
	if [ -z "$budget" ]; then
		echo "no size budget for $platform in $budget_file; run 'make size-budget' and commit it" >&2
		exit 1
	fi
	mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
	echo "converge ($platform, -trimpath -s -w): $size bytes ($(mib "$size")); budget $budget bytes ($(mib "$budget"))"
	if [ "$size" -gt "$budget" ]; then
		cat >&2 <<EOF
converge grew past its size budget by $((size - budget)) bytes.
If the growth is deliberate (a new dependency that earns its weight), raise the budget in the same
commit: run 'make size-budget', commit hack/size-budget, and say in the commit message what the bytes
buy. 'hack/size.sh report' shows which modules are big.
EOF
		exit 1
	fi
	if [ "$size" -lt $((budget * 90 / 100)) ]; then
		echo "note: the binary is more than 10% under its budget; 'make size-budget' tightens it"
	fi
	;;
budget)
	build "-s -w"
	size=$(size_of "$tmp/converge")
	budget=$((size * 103 / 100))
	others=$(grep -vE "^($platform |#)" "$budget_file" 2>/dev/null || true)
	{
		echo "# Largest allowed size in bytes of converge built as the release builds it (hack/size.sh),"
		echo "# by platform: the measured size plus 3%. Raise it deliberately: 'make size-budget' and say why."
		[ -n "$others" ] && echo "$others"
		echo "$platform $budget"
	} >"$budget_file"
	echo "$platform: $size bytes, budget $budget"
	;;
report)
	build ""
	echo "converge ($platform) symbol sizes by module, MiB (code and data; the stripped binary is smaller):"
	$GO tool nm -size -sort size "$tmp/converge" | awk '
		$3 ~ /^[TtDdBbRr]$/ {
			name = $4
			sub(/^(type:|go:itab\.)/, "", name); sub(/^\*/, "", name)
			n = split(name, p, "/")
			if (p[1] !~ /\./ || n == 1) { mod = "std library, runtime tables, type data" }
			else if (p[1] ~ /^(github\.com|gitlab\.com|golang\.org|cloud\.google\.com)$/ && n > 2) { x = p[3]; sub(/\..*$/, "", x); mod = p[1] "/" p[2] "/" x }
			else { x = p[2]; sub(/\..*$/, "", x); mod = p[1] "/" x }
			sizes[mod] += $2
		}
		END { for (m in sizes) printf "%8.2f  %s\n", sizes[m] / 1048576, m }' | sort -rn | head -40
	;;
*)
	echo "usage: $0 check|budget|report" >&2
	exit 2
	;;
esac
