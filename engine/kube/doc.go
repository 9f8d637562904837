// Package kube builds the Kubernetes clients the engine uses from one rest.Config, and reads the
// ConfigMaps and Secrets that builds need.
//
// Not here: which objects to read or write; kube only builds clients and reads what builds reference.
package kube
