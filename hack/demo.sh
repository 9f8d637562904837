#!/usr/bin/env bash
# Starts the local control plane in the background (or reuses the running one) and runs converge against it.
# `hack/demo.sh stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${DEMO_DIR:-$PWD/.cache/demo}
converge=${CONVERGE:-$PWD/bin/converge}
kubeconfig=$dir/kubeconfig
pidfile=$dir/localcluster.pid
mkdir -p "$dir"

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

if [ "${1:-}" = stop ]; then
  if running; then kill "$(cat "$pidfile")"; echo "stopped the local control plane"; fi
  rm -f "$pidfile"
  exit 0
fi

if running && [ -f "$kubeconfig" ] && "$converge" check --pre --kubeconfig "$kubeconfig" --timeout 5s >/dev/null 2>&1; then
  echo "► reusing the local control plane (kubeconfig $kubeconfig)"
else
  if running; then kill "$(cat "$pidfile")" || true; sleep 1; fi
  echo "► starting a local control plane (log $dir/localcluster.log)"
  go build -o "$dir/localcluster" ./hack/localcluster
  nohup "$dir/localcluster" --kubeconfig "$kubeconfig" > "$dir/localcluster.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  for _ in $(seq 1 240); do
    [ -f "$kubeconfig" ] && break
    if ! running; then echo "✗ the local control plane failed to start:"; tail -n 30 "$dir/localcluster.log"; exit 1; fi
    sleep 0.5
  done
  [ -f "$kubeconfig" ] || { echo "✗ the local control plane did not become ready in 120s"; exit 1; }
fi

echo "► export KUBECONFIG=$kubeconfig   # to use it yourself; 'make demo-stop' stops it"
"$converge" check --pre --kubeconfig "$kubeconfig"

example=testdata/example
echo
echo "► converge apply $example/clusters/demo (three Kustomizations: flux-system, infrastructure, apps dependsOn infrastructure; a HelmRelease with a chart from the same repository)"
"$converge" apply "$example/clusters/demo" --root "$example" --install-crds --kubeconfig "$kubeconfig"
echo
echo "► converge diff: the cluster matches the repository now"
"$converge" diff "$example/clusters/demo" --root "$example" --kubeconfig "$kubeconfig"
echo
echo "► converge get all -A: the status converge wrote where Flux keeps it"
"$converge" get all -A --kubeconfig "$kubeconfig"
