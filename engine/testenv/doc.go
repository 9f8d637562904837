// Package testenv runs a real local Kubernetes control plane (etcd, kube-apiserver with RBAC and
// kube-controller-manager) built from source by `make testbin`, for tests and the demo.
//
// Test and demo support only; never imported by the converge binary.
package testenv
