package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/apimachinery/pkg/runtime"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/crds/sourceext/v1beta1"
	"github.com/converge-gitops/converge/engine/fetch"
	"github.com/converge-gitops/converge/engine/generator"
	"github.com/converge-gitops/converge/engine/helmrelease"
)

// generatedSet is the output of one ArtifactGenerator of the tree, produced once.
type generatedSet struct {
	once      sync.Once
	artifacts map[string]generator.Artifact
	err       error
}

// generatorOf returns the ArtifactGenerator the tree declares in namespace that produces the
// ExternalArtifact name (the first by name when several claim it), or nil.
func (t *treeBuild) generatorOf(namespace, name string) *v1beta1.ArtifactGenerator {
	return generatorIn(t.declaredCopy(), namespace, name)
}

// generatorIn is generatorOf among the declared objects.
func generatorIn(declared map[string]runtime.Object, namespace, name string) *v1beta1.ArtifactGenerator {
	keys := make([]string, 0, len(declared))
	prefix := v1beta1.ArtifactGeneratorKind + "/" + namespace + "/"
	for k := range declared {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		gen, ok := declared[k].(*v1beta1.ArtifactGenerator)
		if !ok {
			continue
		}
		for _, a := range gen.Spec.OutputArtifacts {
			if a.Name == name || gen.Spec.PathPattern != "" && templateMatches(a.Name, name) {
				return gen
			}
		}
	}
	return nil
}

// templateMatches reports whether name could be rendered from the pathPattern artifact name template
// tmpl (each "{capture}" standing for a lowercased folder name).
func templateMatches(tmpl, name string) bool {
	var re strings.Builder
	re.WriteString("^")
	for tmpl != "" {
		open := strings.IndexByte(tmpl, '{')
		end := strings.IndexByte(tmpl, '}')
		if open < 0 || end < open {
			re.WriteString(regexp.QuoteMeta(tmpl))
			break
		}
		re.WriteString(regexp.QuoteMeta(tmpl[:open]))
		re.WriteString(`[a-z0-9]([-a-z0-9_.]*[a-z0-9])?`)
		tmpl = tmpl[end+1:]
	}
	re.WriteString("$")
	ok, err := regexp.MatchString(re.String(), name)
	return err == nil && ok
}

// generate runs gen (once per tree) from its sources, resolved like a Kustomization's (the tree's own
// folder for the root source, the work tree for a GitRepository it stands for), and returns its
// artifact name.
func (t *treeBuild) generate(gen *v1beta1.ArtifactGenerator, name string) (generator.Artifact, error) {
	id := gen.Namespace + "/" + gen.Name
	t.mu.Lock()
	if t.generated == nil {
		t.generated = map[string]*generatedSet{}
	}
	set, ok := t.generated[id]
	if !ok {
		set = &generatedSet{}
		t.generated[id] = set
	}
	t.mu.Unlock()
	set.once.Do(func() { set.artifacts, set.err = t.runGenerator(gen) })
	if set.err != nil {
		return generator.Artifact{}, set.err
	}
	art, ok := set.artifacts[name]
	if !ok {
		return generator.Artifact{}, fmt.Errorf("ArtifactGenerator %s does not generate ExternalArtifact %s (no folder matching its pathPattern %q renders it)", id, name, gen.Spec.PathPattern)
	}
	return art, nil
}

func (t *treeBuild) runGenerator(gen *v1beta1.ArtifactGenerator) (map[string]generator.Artifact, error) {
	id := gen.Namespace + "/" + gen.Name
	if err := generator.Validate(gen); err != nil {
		return nil, err
	}
	declared := t.declaredCopy()
	inputs := map[string]generator.Source{}
	for i, s := range gen.Spec.Sources {
		ns := s.Namespace
		if ns == "" {
			ns = gen.Namespace
		}
		srcID := s.Kind + "/" + ns + "/" + s.Name
		if srcID == t.opts.RootSource {
			inputs[s.Alias] = generator.Source{Dir: t.root}
			continue
		}
		if s.Kind == sourcev1.HelmChartKind {
			in, err := t.generatorChart(ns, s.Name, declared)
			if err != nil {
				return nil, fmt.Errorf("ArtifactGenerator %s: sources[%d] (%s): %w", id, i, s.Alias, err)
			}
			inputs[s.Alias] = in
			continue
		}
		if t.opts.Sources == nil {
			return nil, fmt.Errorf("ArtifactGenerator %s: sources[%d] (%s): %s: no way to fetch sources was given", id, i, s.Alias, srcID)
		}
		dir, err := t.opts.Sources.ResolveSource(t.ctx, s.Kind, ns, s.Name, declared)
		if err != nil {
			return nil, fmt.Errorf("ArtifactGenerator %s: sources[%d] (%s): %w", id, i, s.Alias, err)
		}
		inputs[s.Alias] = generator.Source{Dir: dir}
	}
	t.mu.Lock()
	if t.genDir == "" {
		dir, err := os.MkdirTemp("", "converge-generated-")
		if err != nil {
			t.mu.Unlock()
			return nil, fmt.Errorf("ArtifactGenerator %s: %w", id, err)
		}
		t.genDir = dir
	}
	work := filepath.Join(t.genDir, gen.Namespace, gen.Name)
	t.mu.Unlock()
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, fmt.Errorf("ArtifactGenerator %s: %w", id, err)
	}
	arts, err := generator.Generate(t.ctx, gen, inputs, work)
	if err != nil {
		return nil, err
	}
	out := make(map[string]generator.Artifact, len(arts))
	for _, a := range arts {
		out[a.Name] = a
	}
	return out, nil
}

// GeneratorChartResolver is a ChartResolver that also provides HelmCharts as ArtifactGenerator sources
// (fetch.Charts): the chart archive, or a folder mapped with --local-source.
type GeneratorChartResolver interface {
	GeneratorChart(ctx context.Context, namespace, name string, declared map[string]runtime.Object) (generator.Source, error)
}

// generatorChart returns the files of a generator's HelmChart source: through the chart resolver when it
// fetches HelmCharts, else only a folder the source resolver maps.
func (t *treeBuild) generatorChart(namespace, name string, declared map[string]runtime.Object) (generator.Source, error) {
	if gc, ok := t.opts.Charts.(GeneratorChartResolver); ok {
		return gc.GeneratorChart(t.ctx, namespace, name, declared)
	}
	key := sourcev1.HelmChartKind + "/" + namespace + "/" + name
	if t.opts.Sources != nil {
		if dir, err := t.opts.Sources.ResolveSource(t.ctx, sourcev1.HelmChartKind, namespace, name, declared); err == nil {
			return generator.Source{Dir: dir}, nil
		}
	}
	return generator.Source{}, fmt.Errorf("%s: this build does not fetch charts; map the chart's files with --local-source %s=DIR", key, key)
}

// generatedChart loads the chart of a HelmRelease whose chartRef names an ExternalArtifact a generator
// of the tree produces; nil without error when it names none.
func (t *treeBuild) generatedChart(hr *helmv2.HelmRelease) (*chart.Chart, string, error) {
	ref := hr.Spec.ChartRef
	if ref == nil || ref.Kind != sourcev1.ExternalArtifactKind {
		return nil, "", nil
	}
	ns := ref.Namespace
	if ns == "" {
		ns = hr.Namespace
	}
	gen := t.generatorOf(ns, ref.Name)
	if gen == nil {
		return nil, "", nil
	}
	key := ref.Kind + "/" + ns + "/" + ref.Name
	art, err := t.generate(gen, ref.Name)
	if err != nil {
		return nil, "", fmt.Errorf("chartRef %s: %w", key, err)
	}
	chrt, err := fetch.LoadArtifactChart(art.Dir)
	if err != nil {
		return nil, "", fmt.Errorf("chartRef %s: %w", key, err)
	}
	digest, err := helmrelease.TrackSourceDigest(chrt, ref.Kind, art.Revision)
	if err != nil {
		return nil, "", fmt.Errorf("chartRef %s: %w", key, err)
	}
	return chrt, digest, nil
}

// removeGenerated deletes the generated artifacts once the tree is built (builds keep what they read).
func (t *treeBuild) removeGenerated() {
	t.mu.Lock()
	dir := t.genDir
	t.mu.Unlock()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}
