// Package helmchart fetches Flux's Helm sources: HelmRepository (an HTTP(S) chart repository's index, or an
// OCI registry that only stands for credentials) and HelmChart (a chart pulled from a HelmRepository or
// packaged from a folder of a GitRepository or Bucket artifact), with Flux's revisions, credentials and
// condition reasons.
//
// This is the chart source side; not here: rendering charts (engine/helmrelease) and installing
// releases (engine/helmrelease/release).
package helmchart
