#!/usr/bin/env bash
# Fails when a commit subject since the rule took effect is longer than 72 characters (detail goes in the
# body). Commits before SINCE landed earlier and are left as they are: main's history is not rewritten.
set -euo pipefail
SINCE=${SINCE:-772b15d}
if ! git rev-parse -q --verify "$SINCE^{commit}" >/dev/null; then
	echo "check-subjects: $SINCE is not in this clone's history (a shallow clone?)" >&2
	exit 1
fi
long=$(git log --format='%h %s' "$SINCE..HEAD" | awk '{ s = substr($0, index($0, " ") + 1); if (length(s) > 72) print length(s) ": " $0 }')
if [ -n "$long" ]; then
	echo "commit subjects longer than 72 characters (put the detail in the body):" >&2
	echo "$long" >&2
	exit 1
fi
echo "commit subjects since $SINCE: all within 72 characters"
