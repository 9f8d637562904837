#!/usr/bin/env bash
# Installs the Debian packages the tests run as real servers (docker-registry as the OCI registry; git for
# git-http-backend; gnupg and ssh-keygen to sign commits in the verification tests), the C compiler Gitea's
# SQLite and the pause binary need (hack/gitea.sh, hack/testbin-node.sh), and what the node tests run
# (`make test-node`: containerd, runc, the CNI plugins, iptables, conntrack, socat, ethtool, iproute2), when
# they are missing.
set -euo pipefail
need=()
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
[ -x /usr/lib/git-core/git-http-backend ] || need+=(git)
command -v gpg >/dev/null || need+=(gnupg)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
[ -x /usr/bin/containerd ] || need+=(containerd)
[ -x /usr/sbin/runc ] || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || [ -x /usr/sbin/iptables ] || need+=(iptables)
command -v conntrack >/dev/null || [ -x /usr/sbin/conntrack ] || need+=(conntrack)
command -v socat >/dev/null || need+=(socat)
command -v ethtool >/dev/null || [ -x /usr/sbin/ethtool ] || need+=(ethtool)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || need+=(iproute2)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing ${need[*]} for the tests" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
