//go:build tools

// Package testbinnode pins the Kubernetes node commands that the node tests run (kubelet, kube-proxy,
// kube-scheduler), at the same Kubernetes version as hack/testbin.
package testbinnode

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
