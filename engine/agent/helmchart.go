package agent

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/helmchart"
)

// fetchHelmChart fetches the chart of the HelmChart hc as source-controller does: from the index its
// HelmRepository's artifact holds (or its OCI registry), or from the artifact of its GitRepository or
// Bucket, both as the agent stored them. A source without an artifact yet is fetched, and wakes hc once
// it has one.
func (a *Agent) fetchHelmChart(ctx context.Context, hc *sourcev1.HelmChart) (*helmchart.ChartArtifact, error) {
	self := Key{Kind: sourcev1.HelmChartKind, Namespace: hc.Namespace, Name: hc.Name}
	f := *a.sources.Helm
	f.HelmRepository = func(ctx context.Context, namespace, name string) (*sourcev1.HelmRepository, error) {
		obj, err := a.lookupSource(ctx, sourcev1.HelmRepositoryKind, namespace, name)
		if err != nil {
			return nil, err
		}
		repo, ok := obj.(*sourcev1.HelmRepository)
		if !ok {
			return nil, fmt.Errorf("HelmRepository '%s/%s' not found", namespace, name)
		}
		return repo, nil
	}
	f.SourceArtifact = func(ctx context.Context, kind, namespace, name string) (*source.Artifact, error) {
		key := Key{Kind: kind, Namespace: namespace, Name: name}
		art, err := a.artifactOf(ctx, key)
		if errors.Is(err, errNoArtifact) {
			a.waitFor(key, self)
			return nil, nil // NoSourceArtifact
		}
		return art, err
	}
	return f.FetchChart(ctx, hc)
}

// helmChartKey names the HelmChart a HelmRelease's chart comes from: the one made from spec.chart
// (status.helmChart once ApplyHelmChart ran), or the one spec.chartRef names; false for other charts.
func helmChartKey(hr *helmv2.HelmRelease) (Key, bool) {
	if hr.Spec.Chart != nil {
		return Key{Kind: sourcev1.HelmChartKind, Namespace: hr.Spec.Chart.GetNamespace(hr.Namespace), Name: hr.GetHelmChartName()}, true
	}
	if ref := hr.Spec.ChartRef; ref != nil && ref.Kind == sourcev1.HelmChartKind {
		ns := ref.Namespace
		if ns == "" {
			ns = hr.Namespace
		}
		return Key{Kind: sourcev1.HelmChartKind, Namespace: ns, Name: ref.Name}, true
	}
	return Key{}, false
}

// storedChart returns the folder of the artifact of the HelmChart namespace/name once the HelmChart is
// ready (reconcile.HelmChartArtifact), else a *reconcile.SourceNotReadyError (the caller waits for the
// HelmChart, which wakes it). It is fetch.Charts.Stored: the chart of a HelmRelease is the one the
// agent's HelmChart reconciliation (source-controller's part) stored.
func (a *Agent) storedChart(_ context.Context, namespace, name string) (string, error) {
	key := Key{Kind: sourcev1.HelmChartKind, Namespace: namespace, Name: name}
	inf, ok := a.informers[key.Kind]
	if !ok {
		return "", fmt.Errorf("HelmCharts are not served by the cluster")
	}
	item, exists, err := inf.GetStore().GetByKey(cacheKey(key))
	if err != nil {
		return "", err
	}
	if !exists {
		// Not in the cache yet (just created from spec.chart: its reconciliation wakes the HelmRelease),
		// or not there at all.
		return "", &reconcile.SourceNotReadyError{Msg: fmt.Sprintf("HelmChart '%s/%s' not found", key.Namespace, key.Name)}
	}
	if err := reconcile.HelmChartArtifact(item.(*unstructured.Unstructured)); err != nil {
		return "", err
	}
	art, err := a.opts.Store.Current(source.Ref{Kind: key.Kind, Namespace: key.Namespace, Name: key.Name})
	if err != nil {
		return "", fmt.Errorf("HelmChart '%s/%s': reading the stored artifact: %w", key.Namespace, key.Name, err)
	}
	if art == nil || art.Dir == "" {
		a.trigger(key)
		return "", &reconcile.SourceNotReadyError{Msg: fmt.Sprintf("HelmChart '%s/%s' is not ready: artifact not found in storage", key.Namespace, key.Name)}
	}
	return art.Dir, nil
}
