// Package oci fetches OCIRepository sources from container registries (go-containerregistry), and packages
// folders as Flux OCI artifacts (Push), the format `flux push artifact` writes.
//
// Not here: the store and archive handling (engine/source), the OCIRepository's status
// (engine/reconcile).
package oci
