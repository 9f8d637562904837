// Package verify checks the signatures Flux's spec.verify fields ask for, with trust material from a
// Secret: OpenPGP and SSH signatures of Git commits and tags (GitRepository); cosign signatures of OCI
// artifacts and charts (OCIRepository, HelmChart, HelmRelease spec.chart.spec.verify) made with a key,
// or keyless and verified offline against a Sigstore trusted root; and notation JWS signatures with a
// trust policy and CA certificates. Push mode and the agent call the same functions; a source that
// fails verification yields no new artifact.
package verify
