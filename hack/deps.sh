#!/usr/bin/env bash
# Installs the Debian packages the tests run as real servers (docker-registry as the OCI registry; git for
# git-http-backend) and the C compiler Gitea's SQLite needs (hack/gitea.sh), when they are missing.
set -euo pipefail
need=()
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
[ -x /usr/lib/git-core/git-http-backend ] || need+=(git)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing ${need[*]} for the tests" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
