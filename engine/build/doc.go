// Package build renders Flux Kustomizations (and, through engine/helmrelease, HelmReleases) into the objects
// Flux would apply: kustomize with Flux's generated overlay, postBuild substitution, common metadata and
// owner labels.
//
// Not here: fetching sources (engine/fetch), rendering charts (engine/helmrelease), applying (engine/apply);
// build turns files into objects and reports each Kustomization's result.
package build
