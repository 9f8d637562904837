package build

import (
	"context"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
)

// Vars returns the variables ks's postBuild substitutes, read through b's ConfigMaps and Secrets:
// spec.postBuild.substituteFrom in order (optional ones skipped when missing), then
// spec.postBuild.substitute, newlines removed from the values; nil without a postBuild.
func (b *Builder) Vars(ctx context.Context, ks *kustomizev1.Kustomization) (map[string]string, error) {
	return b.loadVars(ctx, ks, inputs{configMaps: b.ConfigMaps, secrets: b.Secrets})
}
