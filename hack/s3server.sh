#!/usr/bin/env bash
# Builds versitygw (an S3-compatible server; Apache-2.0) at the version pinned in hack/s3server/go.mod into
# $TESTBIN. The Bucket tests run it on loopback with its posix backend. A second run with the binary present
# and the pin unchanged does nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${TESTBIN:-${XDG_CACHE_HOME:-$HOME/.cache}/converge/testbin}
stamp="versitygw $(sha256sum "$here/s3server/go.mod" "$here/s3server/go.sum" "$here/s3server/tools.go" | sha256sum | cut -c1-16)"

if [ -x "$out/versitygw" ] && [ "$(cat "$out/.stamp-versitygw" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

mkdir -p "$out"
cd "$here/s3server"
echo "building versitygw into $out (first time: a few minutes)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/versitygw" github.com/versity/versitygw/cmd/versitygw
echo "$stamp" > "$out/.stamp-versitygw"
