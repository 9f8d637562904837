#!/usr/bin/env bash
# Builds what a real worker node in the tests needs into $TESTBIN (cached like hack/testbin.sh):
# kubelet, kube-proxy and kube-scheduler at the Kubernetes version of hack/testbin.sh, CoreDNS with the
# three plugins the cluster DNS uses (hack/testbin-node/coredns, pinned there), and the pause binary from Kubernetes' own build/pause/linux/pause.c (the sandbox image;
# registry.k8s.io is not reachable from the tests). A second run with the pins unchanged does nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${TESTBIN:-${XDG_CACHE_HOME:-$HOME/.cache}/converge/testbin}
k8s_version=$(sed -n 's/^k8s_version=//p' "$here/testbin.sh")
stamp="$k8s_version $(cat "$here/testbin-node/go.mod" "$here/testbin-node/go.sum" "$here/testbin-node/coredns/go.mod" \
  "$here/testbin-node/coredns/go.sum" "$here/testbin-node/coredns/main.go" "$0" | sha256sum | cut -c1-16)"
bins=(kubelet kube-proxy kube-scheduler coredns pause)

ok=1
for b in "${bins[@]}"; do [ -x "$out/$b" ] || ok=0; done
if [ "$ok" = 1 ] && [ "$(cat "$out/.stamp-node" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

mkdir -p "$out"
cd "$here/testbin-node"
minor=${k8s_version#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
echo "building Kubernetes $k8s_version node binaries, CoreDNS and pause into $out (first time: several minutes)" >&2
start=$SECONDS
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/" \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy \
  k8s.io/kubernetes/cmd/kube-scheduler
(cd coredns && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/coredns" .)
pause_c="$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
gcc -Os -static -Wall -Werror -DVERSION="$k8s_version" -o "$out/pause" "$pause_c"
strip "$out/pause" 2>/dev/null || true
echo "built in $((SECONDS - start))s" >&2
echo "$stamp" > "$out/.stamp-node"
