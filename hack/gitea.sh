#!/usr/bin/env bash
# Builds Gitea (MIT) at the version pinned in hack/gitea/go.mod into $GITEA_DIR, with SQLite, and links the
# module's options, templates and public folders next to the binary: the bootstrap tests run it on loopback as
# a real Git host with an API (engine/source/sourcetest.StartGitea). A second run with the binary present and
# the pin unchanged does nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${GITEA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/converge/gitea}
version=$(awk '$1 == "code.gitea.io/gitea" { print $2; exit } $2 == "code.gitea.io/gitea" { print $3; exit }' "$here/gitea/go.mod")
tags="sqlite sqlite_unlock_notify"
stamp="gitea $version $(sha256sum "$here/gitea/go.mod" "$here/gitea/go.sum" "$here/gitea/tools.go" "$0" | sha256sum | cut -c1-16)"

if [ -x "$out/gitea" ] && [ -e "$out/options" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

if ! command -v "${CC:-gcc}" >/dev/null; then
  echo "hack/gitea.sh: Gitea's SQLite driver needs a C compiler: install gcc (apt-get install gcc) or set CC" >&2
  exit 1
fi
mkdir -p "$out"
cd "$here/gitea"
echo "building Gitea $version into $out (first time: several minutes)" >&2
# CGO for SQLite (mattn/go-sqlite3), as Gitea's own sqlite build does.
CGO_ENABLED=1 go build -trimpath -tags "$tags" \
  -ldflags "-s -w -X main.Version=${version#v} -X 'main.Tags=$tags'" \
  -o "$out/gitea" code.gitea.io/gitea
# Without the bindata tag Gitea reads these folders from its work path (the module cache is read-only, which
# a running Gitea does not mind: it only reads them).
src=$(go list -m -f '{{.Dir}}' code.gitea.io/gitea)
for d in options templates public; do
  ln -sfn "$src/$d" "$out/$d"
done
echo "$stamp" > "$out/.stamp"
