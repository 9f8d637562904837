#!/usr/bin/env bash
# `make demo`: builds only what the demo runs (the Debian packages of hack/deps.sh, the Kubernetes binaries of
# hack/testbin.sh and hack/testbin-node.sh, a static converge), then runs hack/demo: a real node on this
# machine, the agent image, the example repository bootstrapped from a local Git server, a commit applied by
# the agent. The node is stopped and the host restored when it ends (DEMO_KEEP=1: after Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${DEMO_DIR:-$PWD/.cache/demo}
if [ "$(id -u)" != 0 ]; then
  cat >&2 <<'MSG'
✗ make demo runs a real Kubernetes node on this machine (containerd, kubelet and kube-proxy add a network
  bridge, iptables rules and cgroups, all removed when it stops), which needs root: run `sudo make demo`.
  (`sudo make deps` installs the Debian packages it runs: containerd, runc, the CNI plugins, docker-registry.)
MSG
  exit 1
fi
start=$SECONDS
hack/deps.sh || { echo "✗ installing the Debian packages the node runs failed (hack/deps.sh: containerd, runc, containernetworking-plugins, docker-registry, iptables, conntrack, socat, ethtool, git, gcc)" >&2; exit 1; }
hack/testbin.sh
hack/testbin-node.sh
mkdir -p "$dir"
CGO_ENABLED=0 go build -trimpath -ldflags "${LDFLAGS:--s -w}" -o "$dir/converge" ./cmd/converge
go build -o "$dir/demo" ./hack/demo
echo "► built what the demo runs in $((SECONDS - start))s"
keep=()
[ "${DEMO_KEEP:-}" = 1 ] && keep=(-keep)
exec "$dir/demo" -converge "$dir/converge" -example testdata/example "${keep[@]}"
