package fetch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/generator"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/helmchart"
	"github.com/converge-gitops/converge/engine/source/oci"
)

// Charts loads HelmRelease charts the way helm-controller gets them: for spec.chart, through the
// HelmChart that Flux would create (named "<namespace>-<name>"), from a HelmRepository (HTTP index or
// OCI), or a chart folder in a GitRepository or Bucket; for spec.chartRef, from the artifact of the
// OCIRepository, HelmChart or ExternalArtifact it names.
type Charts struct {
	Sources *Resolver
	Fetcher *helmchart.Fetcher
	// Stored, when set, returns the folder of the current artifact of the HelmChart namespace/name (the
	// agent: the HelmChart objects it reconciles, including the one made from a HelmRelease's
	// spec.chart); the chart of spec.chart and of a chartRef to a HelmChart is then loaded from it
	// instead of being fetched here.
	Stored func(ctx context.Context, namespace, name string) (string, error)
}

// ResolveChart implements build.ChartResolver. It returns the chart and, when the chart comes from an
// OCIRepository (or an ExternalArtifact whose revision holds a digest), the artifact digest that
// helm-controller tracks: the chart's version then carries its first 12 hex digits as semver build
// metadata (helm.TrackSourceDigest), as helm-controller installs it, and the digest is what the release
// records (release.Request.OCIDigest). A chart from a local folder (--local-source) is not tracked.
func (c *Charts) ResolveChart(ctx context.Context, hr *helmv2.HelmRelease, declared map[string]runtime.Object) (*chart.Chart, string, error) {
	if ref := hr.Spec.ChartRef; ref != nil {
		return c.resolveChartRef(ctx, hr, ref, declared)
	}
	if hr.Spec.Chart == nil {
		return nil, "", errors.New("neither spec.chart nor spec.chartRef is set")
	}
	if c.Stored != nil {
		chrt, err := c.storedChart(ctx, hr.Spec.Chart.GetNamespace(hr.Namespace), hr.GetHelmChartName())
		return chrt, "", err
	}
	tpl := hr.Spec.Chart.Spec
	ns := tpl.SourceRef.Namespace
	if ns == "" {
		ns = hr.Namespace
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
	if v := tpl.Verify; v != nil {
		// The HelmChart verifies, as helm-controller passes the template's verify on to it; a chart
		// that does not verify is never installed.
		hc.Spec.Verify = &sourcev1.HelmChartVerification{Provider: v.Provider, SecretRef: v.SecretRef}
	}
	chrt, err := c.fetchHelmChart(ctx, hc, declared)
	var fe *source.FetchError
	if err != nil && tpl.Verify != nil && errors.As(err, &fe) && fe.Unverified {
		return nil, "", fmt.Errorf("spec.chart.spec.verify: the chart is not installed unverified: %w", err)
	}
	return chrt, "", err
}

// resolveChartRef loads the chart of spec.chartRef.
func (c *Charts) resolveChartRef(ctx context.Context, hr *helmv2.HelmRelease, ref *helmv2.CrossNamespaceSourceReference, declared map[string]runtime.Object) (*chart.Chart, string, error) {
	ns := ref.Namespace
	if ns == "" {
		ns = hr.Namespace
	}
	key := ref.Kind + "/" + ns + "/" + ref.Name
	switch ref.Kind {
	case sourcev1.HelmChartKind:
		if c.Stored != nil {
			chrt, err := c.storedChart(ctx, ns, ref.Name)
			if err != nil {
				return nil, "", fmt.Errorf("chartRef: %w", err)
			}
			return chrt, "", nil
		}
		obj, err := c.lookup(ctx, ref.Kind, ns, ref.Name, declared)
		if err != nil {
			return nil, "", fmt.Errorf("chartRef: %w", err)
		}
		hc, ok := obj.(*sourcev1.HelmChart)
		if !ok {
			return nil, "", fmt.Errorf("chartRef: %s is a %T", key, obj)
		}
		hc = hc.DeepCopy()
		hc.Namespace, hc.Name = ns, ref.Name
		chrt, err := c.fetchHelmChart(ctx, hc, declared)
		if err != nil {
			return nil, "", fmt.Errorf("chartRef %s: %w", key, err)
		}
		return chrt, "", nil
	case sourcev1.OCIRepositoryKind, sourcev1.ExternalArtifactKind:
		if c.Sources == nil {
			return nil, "", fmt.Errorf("chartRef %s: no way to resolve sources was given", key)
		}
		dir, err := c.Sources.ResolveSource(ctx, ref.Kind, ns, ref.Name, declared)
		if err != nil {
			return nil, "", fmt.Errorf("chartRef: %w", err)
		}
		chrt, err := LoadArtifactChart(dir)
		if err != nil {
			return nil, "", fmt.Errorf("chartRef %s: %w", key, err)
		}
		revision, err := c.artifactRevision(ctx, source.Ref{Kind: ref.Kind, Namespace: ns, Name: ref.Name}, dir, declared)
		if err != nil {
			return nil, "", fmt.Errorf("chartRef %s: %w", key, err)
		}
		if revision == "" {
			return chrt, "", nil
		}
		digest, err := helmrelease.TrackSourceDigest(chrt, ref.Kind, revision)
		if err != nil {
			return nil, "", fmt.Errorf("chartRef %s: %w", key, err)
		}
		return chrt, digest, nil
	}
	return nil, "", fmt.Errorf("chartRef kind %q is not one of OCIRepository, HelmChart, ExternalArtifact", ref.Kind)
}

// storedChart loads the chart of the current artifact of the HelmChart namespace/name (Stored).
func (c *Charts) storedChart(ctx context.Context, namespace, name string) (*chart.Chart, error) {
	dir, err := c.Stored(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	chrt, err := LoadArtifactChart(dir)
	if err != nil {
		return nil, fmt.Errorf("HelmChart '%s/%s': %w", namespace, name, err)
	}
	return chrt, nil
}

// artifactRevision returns the revision of the artifact whose files are dir: the stored artifact the
// fetch produced, or the revision an ExternalArtifact reports. It is empty for a local folder.
func (c *Charts) artifactRevision(ctx context.Context, ref source.Ref, dir string, declared map[string]runtime.Object) (string, error) {
	if _, local := c.Sources.Local[ref.String()]; local {
		return "", nil
	}
	if c.Fetcher != nil && c.Fetcher.Store != nil {
		art, err := c.Fetcher.Store.Current(ref)
		if err != nil {
			return "", err
		}
		if art != nil && filepath.Clean(art.Dir) == filepath.Clean(dir) {
			return art.Revision, nil
		}
	}
	if ref.Kind == sourcev1.ExternalArtifactKind {
		obj, err := c.lookup(ctx, ref.Kind, ref.Namespace, ref.Name, declared)
		if err != nil {
			return "", err
		}
		if ea, ok := obj.(*sourcev1.ExternalArtifact); ok && ea.Status.Artifact != nil {
			return ea.Status.Artifact.Revision, nil
		}
	}
	return "", nil
}

// LoadArtifactChart loads the chart an OCIRepository or ExternalArtifact artifact holds, as
// helm-controller loads such an artifact: the chart archive itself (an OCI layer kept with
// layerSelector.operation copy, or a single .tgz file), or the chart's files, in one top folder (a
// chart archive extracted, as Helm packages it) or at the top.
func LoadArtifactChart(dir string) (*chart.Chart, error) {
	if p := filepath.Join(dir, oci.CopiedLayerFile); isFile(p) {
		return helmrelease.LoadChart(p)
	}
	if isFile(filepath.Join(dir, "Chart.yaml")) {
		return helmrelease.LoadChart(dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the artifact: %w", err)
	}
	if len(entries) == 1 {
		p := filepath.Join(dir, entries[0].Name())
		switch {
		case entries[0].IsDir() && isFile(filepath.Join(p, "Chart.yaml")):
			return helmrelease.LoadChart(p)
		case entries[0].Type().IsRegular() && (filepath.Ext(p) == ".tgz" || filepath.Ext(p) == ".gz"):
			return helmrelease.LoadChart(p)
		}
	}
	return nil, errors.New("the artifact holds no Helm chart (no Chart.yaml at its top or in its one top folder, no chart archive)")
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// fetchHelmChart fetches hc's chart from its source (declared by the build, or from the cluster).
func (c *Charts) fetchHelmChart(ctx context.Context, hc *sourcev1.HelmChart, declared map[string]runtime.Object) (*chart.Chart, error) {
	ca, err := c.HelmChart(ctx, hc, declared)
	if err != nil {
		return nil, err
	}
	return helmrelease.LoadChart(ca.File)
}

// GeneratorChart returns the files of the HelmChart namespace/name as an ArtifactGenerator source, as the
// agent provides them: the folder mapped with --local-source HelmChart/namespace/name=DIR (holding the
// chart's folder, as its archive unpacks), else the chart archive fetched through the HelmChart's spec
// (the HelmChart declared by the build or looked up), with its revision.
func (c *Charts) GeneratorChart(ctx context.Context, namespace, name string, declared map[string]runtime.Object) (generator.Source, error) {
	key := sourcev1.HelmChartKind + "/" + namespace + "/" + name
	if c.Sources != nil {
		if dir, ok := c.Sources.Local[key]; ok {
			return generator.Source{Dir: dir}, nil
		}
	}
	obj, err := c.lookup(ctx, sourcev1.HelmChartKind, namespace, name, declared)
	if err != nil {
		return generator.Source{}, fmt.Errorf("%w; map the chart's files with --local-source %s=DIR", err, key)
	}
	hc, ok := obj.(*sourcev1.HelmChart)
	if !ok {
		return generator.Source{}, fmt.Errorf("%s is a %T", key, obj)
	}
	if c.Fetcher == nil {
		return generator.Source{}, fmt.Errorf("%s: charts are not fetched by this command; map the chart's files with --local-source %s=DIR", key, key)
	}
	hc = hc.DeepCopy()
	hc.Namespace, hc.Name = namespace, name
	ca, err := c.HelmChart(ctx, hc, declared)
	if err != nil {
		return generator.Source{}, fmt.Errorf("%s: fetching its chart: %w (or map the chart's files with --local-source %s=DIR)", key, err, key)
	}
	return generator.Source{Archive: ca.File, Revision: ca.Revision}, nil
}

// HelmChart fetches the chart of a HelmChart object from its source (declared by the build, or looked
// up) and stores it as the HelmChart's artifact: the chart archive (ChartArtifact.File).
func (c *Charts) HelmChart(ctx context.Context, hc *sourcev1.HelmChart, declared map[string]runtime.Object) (*helmchart.ChartArtifact, error) {
	src := hc.Spec.SourceRef
	ns := hc.Namespace
	hf := *c.Fetcher
	switch src.Kind {
	case sourcev1.HelmRepositoryKind:
		obj, err := c.lookup(ctx, src.Kind, ns, src.Name, declared)
		if err != nil {
			return nil, err
		}
		repo, ok := obj.(*sourcev1.HelmRepository)
		if !ok {
			return nil, fmt.Errorf("%s/%s/%s is a %T", src.Kind, ns, src.Name, obj)
		}
		if repo.Spec.Type != sourcev1.HelmRepositoryTypeOCI {
			if _, err := hf.FetchRepository(ctx, repo); err != nil {
				return nil, err
			}
		}
		hf.HelmRepository = func(context.Context, string, string) (*sourcev1.HelmRepository, error) { return repo, nil }
	case sourcev1.GitRepositoryKind, sourcev1.BucketKind:
		if c.Sources == nil {
			return nil, fmt.Errorf("%s/%s/%s: no way to resolve sources was given", src.Kind, ns, src.Name)
		}
		dir, err := c.Sources.ResolveSource(ctx, src.Kind, ns, src.Name, declared)
		if err != nil {
			return nil, err
		}
		hf.SourceArtifact = func(context.Context, string, string, string) (*source.Artifact, error) {
			return &source.Artifact{Dir: dir, Revision: "local", Source: source.Ref{Kind: src.Kind, Namespace: ns, Name: src.Name}}, nil
		}
	default:
		return nil, fmt.Errorf("chart sourceRef kind %q is not one of HelmRepository, GitRepository, Bucket", src.Kind)
	}
	if hc.Spec.Version == "" {
		hc.Spec.Version = "*"
	}
	return hf.FetchChart(ctx, hc)
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
