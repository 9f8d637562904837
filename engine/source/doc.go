// Package source holds what every source kind shares: the Artifact a fetch produces, the
// content-addressed Store that keeps artifacts between runs, the Secrets that credentials come from,
// the one reader of TLS and proxy Secrets (TLSConfigFromSecret, ProxyURLFromSecret) every client uses,
// safe archive handling and Flux's ignore rules. Each kind's fetcher lives in a sub-package
// (git, helm, oci, bucket); package fetch dispatches on kind.
//
// Not here: the protocols of each kind (the sub-packages) and choosing a fetcher (engine/fetch).
package source
