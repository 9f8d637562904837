package helmrelease

import (
	"context"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
)

// What the release actions (engine/helmrelease/release) share with Render: the values, the CRD policy and
// the post-rendering, so that an installed release is what `converge build helmrelease` shows.

// Values composes hr's release values as Render does: spec.valuesFrom in order, then spec.values.
func (r *Renderer) Values(ctx context.Context, hr *helmv2.HelmRelease) (map[string]any, error) {
	return r.composeValues(ctx, hr)
}

// CRDPolicy returns a CRD policy, Create when unset, or an error for an unknown one.
func CRDPolicy(policy helmv2.CRDsPolicy) (helmv2.CRDsPolicy, error) {
	return crdPolicyOrDefault(policy)
}

// OriginLabels are Flux's origin labels of hr's objects.
func OriginLabels(hr *helmv2.HelmRelease) map[string]string { return originLabels(hr) }

// PostRenderStream post-renders a stream of documents as Helm 4's install and upgrade hand it to their
// post-renderer (each document annotated with its template): through hr's post-renderers
// (spec.postRenderers, common metadata, origin labels), as Render does. Helm splits the result back by
// those annotations and follows spec.postRenderStrategy (see PostRenderStrategy).
func (r *Renderer) PostRenderStream(ctx context.Context, hr *helmv2.HelmRelease, stream string) (string, error) {
	return r.runPostRenderers(ctx, postRenderers(hr), stream)
}
