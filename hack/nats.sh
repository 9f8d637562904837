#!/usr/bin/env bash
# Builds the NATS server (Apache-2.0) at the version pinned in hack/nats/go.mod into $NATS_DIR: the
# engine/notify tests run it on loopback as the real server a "nats" Provider publishes to. A second
# run with the binary present and the pin unchanged does nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${NATS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/converge/nats}
stamp="nats $(sha256sum "$here/nats/go.mod" "$here/nats/go.sum" "$here/nats/tools.go" "$0" | sha256sum | cut -c1-16)"
if [ -x "$out/nats-server" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
mkdir -p "$out"
cd "$here/nats"
echo "building nats-server into $out" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/nats-server" github.com/nats-io/nats-server/v2
echo "$stamp" > "$out/.stamp"
