package fetch

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/chart"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/helm"
	"github.com/converge-gitops/converge/engine/source"
	srchelm "github.com/converge-gitops/converge/engine/source/helm"
)

// Charts loads HelmRelease charts the way helm-controller gets them: through the HelmChart that Flux
// would create for spec.chart (named "<namespace>-<name>"), from a HelmRepository (HTTP index or OCI),
// or a chart folder in a GitRepository or Bucket.
type Charts struct {
	Sources *Resolver
	Fetcher *srchelm.Fetcher
}

// ResolveChart implements build.ChartResolver.
func (c *Charts) ResolveChart(ctx context.Context, hr *helmv2.HelmRelease, declared map[string]runtime.Object) (*chart.Chart, error) {
	if hr.Spec.Chart == nil {
		return nil, fmt.Errorf("spec.chartRef is not supported by build yet; use spec.chart")
	}
	tpl := hr.Spec.Chart.Spec
	ns := tpl.SourceRef.Namespace
	if ns == "" {
		ns = hr.Namespace
	}
	hf := *c.Fetcher
	switch tpl.SourceRef.Kind {
	case sourcev1.HelmRepositoryKind:
		obj, err := c.lookup(ctx, tpl.SourceRef.Kind, ns, tpl.SourceRef.Name, declared)
		if err != nil {
			return nil, err
		}
		repo, ok := obj.(*sourcev1.HelmRepository)
		if !ok {
			return nil, fmt.Errorf("%s/%s/%s is a %T", tpl.SourceRef.Kind, ns, tpl.SourceRef.Name, obj)
		}
		if repo.Spec.Type != sourcev1.HelmRepositoryTypeOCI {
			if _, err := hf.FetchRepository(ctx, repo); err != nil {
				return nil, err
			}
		}
		hf.HelmRepository = func(context.Context, string, string) (*sourcev1.HelmRepository, error) { return repo, nil }
	case sourcev1.GitRepositoryKind, sourcev1.BucketKind:
		dir, err := c.Sources.ResolveSource(ctx, tpl.SourceRef.Kind, ns, tpl.SourceRef.Name, declared)
		if err != nil {
			return nil, err
		}
		hf.SourceArtifact = func(context.Context, string, string, string) (*source.Artifact, error) {
			return &source.Artifact{Dir: dir, Revision: "local", Source: source.Ref{Kind: tpl.SourceRef.Kind, Namespace: ns, Name: tpl.SourceRef.Name}}, nil
		}
	default:
		return nil, fmt.Errorf("chart sourceRef kind %q is not one of HelmRepository, GitRepository, Bucket", tpl.SourceRef.Kind)
	}
	version := tpl.Version
	if version == "" {
		version = "*"
	}
	hc := &sourcev1.HelmChart{
		ObjectMeta: metav1.ObjectMeta{Name: hr.Namespace + "-" + hr.Name, Namespace: ns, Generation: 1},
		Spec: sourcev1.HelmChartSpec{
			Chart: tpl.Chart, Version: version, ValuesFiles: tpl.ValuesFiles, IgnoreMissingValuesFiles: tpl.IgnoreMissingValuesFiles,
			ReconcileStrategy: tpl.ReconcileStrategy,
			SourceRef:         sourcev1.LocalHelmChartSourceReference{Kind: tpl.SourceRef.Kind, Name: tpl.SourceRef.Name},
		},
	}
	ca, err := hf.FetchChart(ctx, hc)
	if err != nil {
		return nil, err
	}
	return helm.LoadChart(ca.File)
}

func (c *Charts) lookup(ctx context.Context, kind, ns, name string, declared map[string]runtime.Object) (runtime.Object, error) {
	key := kind + "/" + ns + "/" + name
	if obj, ok := declared[key]; ok {
		return obj, nil
	}
	if c.Sources != nil && c.Sources.Lookup != nil {
		obj, err := c.Sources.Lookup(ctx, kind, ns, name)
		if err != nil || obj != nil {
			return obj, err
		}
	}
	return nil, fmt.Errorf("%s is not defined in the build or the cluster", key)
}
