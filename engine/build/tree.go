package build

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"helm.sh/helm/v3/pkg/chart"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/manifest"
)

// SourceResolver returns the folder holding the files of the source a Kustomization refers to.
// declared holds the Flux source objects the tree itself defines (typed, storage version), keyed by
// "Kind/namespace/name", so a resolver can fetch sources that exist only in the change being built.
type SourceResolver interface {
	ResolveSource(ctx context.Context, kind, namespace, name string, declared map[string]runtime.Object) (dir string, err error)
}

// ChartResolver loads the chart a HelmRelease installs. declared holds the tree's Flux source objects,
// as for SourceResolver.
type ChartResolver interface {
	// ResolveChart returns the chart and the digest of the OCI artifact it came from ("" if none), which
	// the release records.
	ResolveChart(ctx context.Context, hr *helmv2.HelmRelease, declared map[string]runtime.Object) (chrt *chart.Chart, ociDigest string, err error)
}

// DefaultRootSource is the source a tree built from a path belongs to: the GitRepository bootstrap creates.
const DefaultRootSource = "GitRepository/flux-system/flux-system"

// Node kinds.
const (
	KindKustomization = "Kustomization"
	KindHelmRelease   = "HelmRelease"
)

// Node is one built Kustomization, or one rendered HelmRelease, of a tree.
type Node struct {
	// Kind is KindKustomization or KindHelmRelease.
	Kind string
	// Kustomization is "namespace/name"; the root of a tree built from a path is named after the
	// Kustomization that points at that path when the tree declares one, else TreeOptions.RootName.
	Kustomization string
	// Parent is the Kustomization whose build produced this one, empty for the root.
	Parent  string
	Objects []*unstructured.Unstructured
	// Chart is the chart a HelmRelease node installs; nil when it could not be resolved (Err says why).
	Chart *chart.Chart
	// ChartDigest is the digest of the OCI artifact Chart came from (spec.chartRef), if any.
	ChartDigest string
	Err         error
	// Warnings are things the build did not stop for but a user must hear: unsupported fields in use,
	// objects accepted although converge cannot validate them as the cluster will.
	Warnings []string
}

// TreeOptions configure a tree build.
type TreeOptions struct {
	// Root is the folder of the source the path belongs to (the repository's work tree).
	Root string
	// Path is the folder, relative to Root, whose objects start the tree (e.g. clusters/production).
	Path string
	// RootSource names the source Root is, as "Kind/namespace/name" (default GitRepository/flux-system/flux-system).
	RootSource string
	// RootName names the root when no Kustomization of the tree points at Path, as "namespace/name"
	// (default flux-system/flux-system, the Kustomization bootstrap creates).
	RootName string
	// Sources resolves every other source.
	Sources SourceResolver
	// Charts loads HelmRelease charts; HelmReleases are rendered when it and Builder.Helm are set.
	Charts ChartResolver
	// Concurrency bounds parallel builds (default 4).
	Concurrency int
}

// Tree is the result of a tree build, in a stable order (parents before children, then by name).
type Tree struct {
	Nodes []*Node
	// Sources says what stood in for each source the build resolved (see SourceUse).
	Sources []SourceUse
}

// Err joins the errors of every failed node.
func (t *Tree) Err() error {
	var errs []error
	for _, n := range t.Nodes {
		if n.Err != nil {
			errs = append(errs, n.Err)
		}
	}
	return errors.Join(errs...)
}

// BuildTree builds the Kustomization tree rooted at opts.Path: the path itself, then every Kustomization
// its output declares, recursively, each from its own source. Independent builds run concurrently; a
// failing node does not stop the others. A Kustomization that (through its children) builds itself is an
// error naming the chain.
func (b *Builder) BuildTree(ctx context.Context, dec *manifest.Decoder, opts TreeOptions) (*Tree, error) {
	if opts.RootSource == "" {
		opts.RootSource = DefaultRootSource
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.RootName == "" {
		opts.RootName = "flux-system/flux-system"
	}
	rootNs, rootName, ok := strings.Cut(opts.RootName, "/")
	if !ok {
		return nil, fmt.Errorf("root name %q: want namespace/name", opts.RootName)
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, err
	}
	tb := &treeBuild{b: b, dec: dec, opts: opts, root: root, declared: map[string]runtime.Object{}, seen: map[string]bool{}}
	rootKs := &kustomizev1.Kustomization{}
	rootKs.Name, rootKs.Namespace = rootName, rootNs
	rootKs.Spec.Path = opts.Path
	rootKs.Spec.Prune = true
	tb.depth = map[*Node]int{}

	// Tasks schedule their children from inside the group, so the group itself is unbounded (a limited
	// errgroup would deadlock once every slot waits to schedule); sem bounds the work instead.
	g, gctx := errgroup.WithContext(ctx)
	tb.g, tb.ctx, tb.sem = g, gctx, make(chan struct{}, opts.Concurrency)
	defer tb.removeGenerated()
	tb.schedule(rootKs, root, nil)
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(tb.nodes, func(i, j int) bool {
		if di, dj := tb.depth[tb.nodes[i]], tb.depth[tb.nodes[j]]; di != dj {
			return di < dj
		}
		return tb.nodes[i].Kustomization < tb.nodes[j].Kustomization
	})
	checkObjects(tb, tb.nodes)
	return &Tree{Nodes: tb.nodes, Sources: UsedSources(opts.Sources)}, nil
}

type treeBuild struct {
	b    *Builder
	dec  *manifest.Decoder
	opts TreeOptions
	root string
	g    *errgroup.Group
	ctx  context.Context
	sem  chan struct{}

	mu       sync.Mutex
	declared map[string]runtime.Object
	seen     map[string]bool
	// seenReleases are the HelmReleases already scheduled.
	seenReleases map[string]bool
	nodes        []*Node
	depth        map[*Node]int
	// generated holds the ArtifactGenerators of the tree run so far, by "namespace/name".
	generated map[string]*generatedSet
	genDir    string
}

// acquire waits for one of opts.Concurrency work slots. A task holds its slot while it works, never
// while it schedules other tasks.
func (t *treeBuild) acquire() (release func(), err error) {
	select {
	case t.sem <- struct{}{}:
		return func() { <-t.sem }, nil
	case <-t.ctx.Done():
		return nil, t.ctx.Err()
	}
}

// schedule builds ks from dir in the background; chain holds the Kustomizations above it.
func (t *treeBuild) schedule(ks *kustomizev1.Kustomization, dir string, chain []string) {
	id := ks.Namespace + "/" + ks.Name
	node := &Node{Kind: KindKustomization, Kustomization: id}
	if len(chain) > 0 {
		node.Parent = chain[len(chain)-1]
	}
	t.mu.Lock()
	t.nodes = append(t.nodes, node)
	if t.depth == nil {
		t.depth = map[*Node]int{}
	}
	t.depth[node] = len(chain)
	t.mu.Unlock()
	chain = append(append([]string{}, chain...), id)

	t.g.Go(func() error {
		done, err := t.acquire()
		if err != nil {
			node.Err = err
			return nil
		}
		res, err := t.b.Build(t.ctx, ks, dir)
		if err != nil {
			done()
			node.Err = err
			return nil
		}
		node.Objects = res.Objects
		children, releases, err := t.collect(res.Objects, "build output of Kustomization "+id)
		done()
		if err != nil {
			node.Err = err
			return nil
		}
		for _, hr := range releases {
			t.release(hr, chain)
		}
		if len(chain) == 1 {
			// The Kustomization that points at the tree's own path (flux-system) is the root itself.
			for i, child := range children {
				if t.isRoot(child) {
					node.Kustomization = child.Namespace + "/" + child.Name
					chain = []string{node.Kustomization}
					for _, o := range node.Objects {
						manifest.MergeLabels(o, map[string]string{NameLabel: child.Name, NamespaceLabel: child.Namespace})
					}
					t.mu.Lock()
					t.seen[node.Kustomization] = true
					t.mu.Unlock()
					children = append(children[:i:i], children[i+1:]...)
					break
				}
			}
		}
		for _, child := range children {
			t.child(child, chain, node)
		}
		return nil
	})
}

// collect decodes the Flux objects of a build output, records the sources it declares and returns the
// Kustomizations to build next.
func (t *treeBuild) collect(objs []*unstructured.Unstructured, file string) ([]*kustomizev1.Kustomization, []*helmv2.HelmRelease, error) {
	var out []*kustomizev1.Kustomization
	var releases []*helmv2.HelmRelease
	for _, o := range objs {
		if !t.dec.IsFluxKind(o.GroupVersionKind()) || manifest.IsPassThrough(o.GroupVersionKind()) {
			continue // pass-through kinds are validated once the tree is built (checkObjects)
		}
		typed, err := t.dec.DecodeObject(t.ctx, file, o)
		if err != nil {
			return nil, nil, err
		}
		switch v := typed.(type) {
		case *kustomizev1.Kustomization:
			out = append(out, v)
		case *helmv2.HelmRelease:
			releases = append(releases, v)
		default:
			gvk := typed.GetObjectKind().GroupVersionKind()
			if strings.HasPrefix(gvk.Group, "source.") {
				t.mu.Lock()
				t.declared[gvk.Kind+"/"+o.GetNamespace()+"/"+o.GetName()] = typed
				t.mu.Unlock()
			}
		}
	}
	return out, releases, nil
}

// release renders hr in the background, as a node under the Kustomization that declares it.
func (t *treeBuild) release(hr *helmv2.HelmRelease, chain []string) {
	id := hr.Namespace + "/" + hr.Name
	t.mu.Lock()
	if t.seenReleases == nil {
		t.seenReleases = map[string]bool{}
	}
	dup := t.seenReleases[id]
	t.seenReleases[id] = true
	t.mu.Unlock()
	if dup || t.b.Helm == nil || t.opts.Charts == nil {
		return
	}
	node := &Node{Kind: KindHelmRelease, Kustomization: id, Parent: chain[len(chain)-1]}
	t.mu.Lock()
	t.nodes = append(t.nodes, node)
	t.depth[node] = len(chain)
	t.mu.Unlock()
	declared := t.declaredCopy()
	t.g.Go(func() error {
		done, err := t.acquire()
		if err != nil {
			node.Err = err
			return nil
		}
		defer done()
		chrt, digest, err := t.generatedChart(hr)
		if chrt == nil && err == nil {
			chrt, digest, err = t.opts.Charts.ResolveChart(t.ctx, hr, declared)
		}
		if err != nil {
			node.Err = fmt.Errorf("HelmRelease %s: chart: %w", id, err)
			return nil
		}
		node.Chart, node.ChartDigest = chrt, digest
		res, err := t.b.Helm.Render(t.ctx, hr, chrt)
		if err != nil {
			node.Err = err
			return nil
		}
		node.Objects = res.Objects
		return nil
	})
}

func (t *treeBuild) child(ks *kustomizev1.Kustomization, chain []string, parent *Node) {
	id := ks.Namespace + "/" + ks.Name
	for i, c := range chain {
		if c == id {
			parent.Err = errors.Join(parent.Err, fmt.Errorf("Kustomization %s: dependency cycle: %s", id, strings.Join(append(chain[i:], id), " -> ")))
			return
		}
	}
	srcNs := ks.Spec.SourceRef.Namespace
	if srcNs == "" {
		srcNs = ks.Namespace
	}
	srcID := sourceID(ks)
	var dir string
	if srcID == t.opts.RootSource && !t.declaresIncludes(srcID) {
		dir = t.root
	}
	t.mu.Lock()
	if t.seen[id] {
		t.mu.Unlock()
		return
	}
	t.seen[id] = true
	t.mu.Unlock()
	if dir == "" && ks.Spec.SourceRef.Kind == sourcev1.ExternalArtifactKind {
		if gen := t.generatorOf(srcNs, ks.Spec.SourceRef.Name); gen != nil {
			art, err := t.generate(gen, ks.Spec.SourceRef.Name)
			if err != nil {
				t.fail(id, chain, fmt.Errorf("Kustomization %s: source %s: %w", id, srcID, err))
				return
			}
			dir = art.Dir
		}
	}
	if dir == "" {
		if t.opts.Sources == nil {
			t.fail(id, chain, fmt.Errorf("Kustomization %s: source %s: no way to fetch sources was given", id, srcID))
			return
		}
		declared := t.declaredCopy()
		done, err := t.acquire()
		if err != nil {
			t.fail(id, chain, err)
			return
		}
		dir, err = t.opts.Sources.ResolveSource(t.ctx, ks.Spec.SourceRef.Kind, srcNs, ks.Spec.SourceRef.Name, declared)
		done()
		if err != nil {
			t.fail(id, chain, fmt.Errorf("Kustomization %s: source %s: %w", id, srcID, err))
			return
		}
	}
	t.schedule(ks, dir, chain)
}

func (t *treeBuild) declaredCopy() map[string]runtime.Object {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.declared)
}

func sourceID(ks *kustomizev1.Kustomization) string {
	ns := ks.Spec.SourceRef.Namespace
	if ns == "" {
		ns = ks.Namespace
	}
	return ks.Spec.SourceRef.Kind + "/" + ns + "/" + ks.Spec.SourceRef.Name
}

// isRoot reports whether ks is the Kustomization that builds the tree's own path from the tree's own
// source: the root source by name, or any source that resolves to the root folder (a GitRepository whose
// URL is a remote of the work tree).
func (t *treeBuild) isRoot(ks *kustomizev1.Kustomization) bool {
	if filepath.Clean("/"+ks.Spec.Path) != filepath.Clean("/"+t.opts.Path) {
		return false
	}
	if sourceID(ks) == t.opts.RootSource {
		return true
	}
	if t.opts.Sources == nil {
		return false
	}
	ns := ks.Spec.SourceRef.Namespace
	if ns == "" {
		ns = ks.Namespace
	}
	declared := t.declaredCopy()
	dir, err := t.opts.Sources.ResolveSource(t.ctx, ks.Spec.SourceRef.Kind, ns, ks.Spec.SourceRef.Name, declared)
	if err != nil {
		return false
	}
	a, errA := filepath.Abs(dir)
	b, errB := filepath.Abs(t.root)
	return errA == nil && errB == nil && a == b
}

func (t *treeBuild) fail(id string, chain []string, err error) {
	node := &Node{Kind: KindKustomization, Kustomization: id, Parent: chain[len(chain)-1], Err: err}
	t.mu.Lock()
	t.nodes = append(t.nodes, node)
	t.depth[node] = len(chain)
	t.mu.Unlock()
}
