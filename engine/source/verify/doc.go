// Package verify checks the signatures Flux's spec.verify fields ask for, with trusted keys from a Secret:
// OpenPGP and SSH signatures of Git commits and tags (GitRepository), and cosign signatures of OCI
// artifacts and charts (OCIRepository, HelmChart, HelmRelease spec.chart.spec.verify). Push mode and the
// agent call the same functions; a source that fails verification yields no new artifact.
package verify
