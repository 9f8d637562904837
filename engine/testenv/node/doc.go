// Package node runs a real Kubernetes node on this machine for tests: a control plane a node can join,
// a loopback registry holding the pause image, containerd, kubelet, kube-proxy and a cluster DNS that answers
// only the cluster domain, so no traffic leaves the machine. hack/testbin-node.sh builds its binaries and
// hack/deps.sh installs the Debian packages it runs. It needs root and changes host state (a bridge,
// iptables rules, sysctls, cgroups, a few folders under /var and /run), all of which Stop puts back.
package node
