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

	chart "helm.sh/helm/v4/pkg/chart/v2"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/source"
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
	// Name is the Kustomization's or HelmRelease's "namespace/name"; the root of a tree built from a
	// path is named after the Kustomization that points at that path when the tree declares one, else
	// TreeOptions.RootName.
	Name string
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
	// Given are the ConfigMaps and Secrets the user supplied explicitly (--local-resource); they win over
	// those the tree declares, which win over the Builder's (a cluster's): what the tree applies is what
	// the cluster holds when a later Kustomization is reconciled. May be nil.
	Given interface {
		source.ConfigMaps
		source.Secrets
	}
}

// Node statuses.
const (
	StatusBuilt   = "built"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// SkippedError is the Err of a node that was not built because something it needs failed (its parent,
// its source) or cannot be done by this build; Reason says which.
type SkippedError struct {
	// Node is "Kind namespace/name".
	Node   string
	Reason string
}

func (e *SkippedError) Error() string { return e.Node + ": skipped: " + e.Reason }

// Status is StatusBuilt, StatusFailed or StatusSkipped.
func (n *Node) Status() string {
	var skip *SkippedError
	switch {
	case n.Err == nil:
		return StatusBuilt
	case errors.As(n.Err, &skip):
		return StatusSkipped
	}
	return StatusFailed
}

// Tree is the result of a tree build, in a stable order (parents before children, then by name).
type Tree struct {
	Nodes []*Node
	// Sources says what stood in for each source the build resolved (see SourceUse).
	Sources []SourceUse
}

// Warnings returns the warnings of every node, in the tree's order.
func (t *Tree) Warnings() []string {
	var out []string
	for _, n := range t.Nodes {
		out = append(out, n.Warnings...)
	}
	return out
}

// Err joins the errors of every failed or skipped node.
func (t *Tree) Err() error {
	var errs []error
	for _, n := range t.Nodes {
		if n.Err != nil {
			errs = append(errs, n.Err)
		}
	}
	return errors.Join(errs...)
}

// Counts returns how many nodes were built, failed and skipped.
func (t *Tree) Counts() (built, failed, skipped int) {
	for _, n := range t.Nodes {
		switch n.Status() {
		case StatusBuilt:
			built++
		case StatusFailed:
			failed++
		default:
			skipped++
		}
	}
	return built, failed, skipped
}

// BuildTree builds the Kustomization tree rooted at opts.Path: the path itself, then every Kustomization
// and HelmRelease its output declares, recursively, each from its own source. Every one of them is a
// node of the result, built, failed or skipped (see Node.Status). Independent builds run concurrently;
// a failing node or object does not stop the others. A node whose source, or postBuild.substituteFrom
// input, the tree has not declared (yet) waits until no build still running could declare it, then
// falls back to the resolver (and the Builder's ConfigMaps and Secrets). A Kustomization that (through
// its children) builds itself is an error naming the chain.
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
	tb := &treeBuild{b: b, dec: dec, opts: opts, root: root, declared: map[string]runtime.Object{},
		failedSources: map[string]string{}, seen: map[string]string{}, seenReleases: map[string]string{}, depth: map[*Node]int{}}
	tb.inputs = &treeInputs{t: tb, tree: NewLocalResources(), encrypted: map[string]string{}, base: inputs{configMaps: b.ConfigMaps, secrets: b.Secrets}}
	if opts.Given != nil {
		tb.inputs.given = opts.Given
	}
	rootKs := &kustomizev1.Kustomization{}
	rootKs.Name, rootKs.Namespace = rootName, rootNs
	rootKs.Spec.Path = opts.Path
	rootKs.Spec.Prune = true

	// Tasks schedule their children from inside the group, so the group itself is unbounded (a limited
	// errgroup would deadlock once every slot waits to schedule); sem bounds the work instead, and no
	// task holds a slot while it waits for or schedules another.
	g, gctx := errgroup.WithContext(ctx)
	tb.g, tb.ctx, tb.sem = g, gctx, make(chan struct{}, opts.Concurrency)
	defer tb.removeGenerated()
	rootNode := tb.addNode(KindKustomization, rootNs+"/"+rootName, nil)
	tb.schedule(rootKs, root, nil, rootNode)
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(tb.nodes, func(i, j int) bool {
		if di, dj := tb.depth[tb.nodes[i]], tb.depth[tb.nodes[j]]; di != dj {
			return di < dj
		}
		if tb.nodes[i].Name != tb.nodes[j].Name {
			return tb.nodes[i].Name < tb.nodes[j].Name
		}
		return tb.nodes[i].Kind > tb.nodes[j].Kind
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

	inputs *treeInputs

	mu       sync.Mutex
	declared map[string]runtime.Object
	// failedSources are the sources the tree declares but that failed to decode, with the reason their
	// users are skipped.
	failedSources map[string]string
	// seen and seenReleases map the Kustomizations and HelmReleases already made nodes to the
	// Kustomization that declares them.
	seen         map[string]string
	seenReleases map[string]string
	nodes        []*Node
	depth        map[*Node]int
	// active counts the tasks that may still declare sources or inputs; gen counts declarations.
	active  int
	gen     int
	waiting []*waiter
	// generated holds the ArtifactGenerators of the tree run so far, by "namespace/name".
	generated map[string]*generatedSet
	genDir    string
}

// need is an object a node needs that the tree may declare: a source, or a ConfigMap or Secret.
type need struct {
	kind, namespace, name string
	optional              bool
}

func (n need) key() string { return n.kind + "/" + n.namespace + "/" + n.name }

// waiter is a node waiting for its needs. run proceeds; with canRetry, a failure to find what it
// needs returns retry (the node waits again, in case a build still running declares it) instead of
// failing the node.
type waiter struct {
	needs []need
	run   func(canRetry bool) (retry bool)
	// tried is the declaration generation of the last attempt (-1: none).
	tried int
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

// addNode records a node of kind id under chain.
func (t *treeBuild) addNode(kind, id string, chain []string) *Node {
	node := &Node{Kind: kind, Name: id}
	if len(chain) > 0 {
		node.Parent = chain[len(chain)-1]
	}
	t.mu.Lock()
	t.nodes = append(t.nodes, node)
	t.depth[node] = len(chain)
	t.mu.Unlock()
	return node
}

// await runs w now when the tree declares all it needs (inline: the caller is an active task), else
// parks it until a declaration or the end of every build that could declare one.
func (t *treeBuild) await(w *waiter) {
	t.mu.Lock()
	if t.satisfiedLocked(w.needs) {
		t.mu.Unlock()
		w.run(false)
		return
	}
	t.waiting = append(t.waiting, w)
	t.mu.Unlock()
}

func (t *treeBuild) satisfiedLocked(needs []need) bool {
	for _, n := range needs {
		key := n.key()
		if _, ok := t.declared[key]; ok {
			continue
		}
		if _, ok := t.failedSources[key]; ok {
			continue
		}
		switch n.kind {
		case "ConfigMap", "Secret":
			if t.inputs.declaredLocked(n.kind, n.namespace, n.name) {
				continue
			}
		case sourcev1.ExternalArtifactKind:
			if generatorIn(t.declared, n.namespace, n.name) != nil {
				continue
			}
		}
		return false
	}
	return true
}

// startLocked runs w in a task of its own, counted as active: once it found its source, its build may
// declare more.
func (t *treeBuild) startLocked(w *waiter, canRetry bool) {
	t.active++
	gen := t.gen
	t.g.Go(func() error {
		if w.run(canRetry) {
			t.mu.Lock()
			w.tried = gen
			t.waiting = append(t.waiting, w)
			t.mu.Unlock()
		}
		t.finish()
		return nil
	})
}

// declare records that the tree declares key (already stored by the caller, under t.mu) and starts the
// waiters that now have all they need.
func (t *treeBuild) declareLocked() {
	t.gen++
	kept := t.waiting[:0]
	var ready []*waiter
	for _, w := range t.waiting {
		if t.satisfiedLocked(w.needs) {
			ready = append(ready, w)
		} else {
			kept = append(kept, w)
		}
	}
	t.waiting = kept
	for _, w := range ready {
		t.startLocked(w, false)
	}
}

// finish ends an active task. When none is left, nothing more can be declared: the waiters try what
// else supplies their needs (the resolver, the cluster), those that fail wait again as long as another
// attempt declared something new, and finally fail with their own error.
func (t *treeBuild) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active--
	if t.active > 0 || len(t.waiting) == 0 {
		return
	}
	var retry, rest []*waiter
	for _, w := range t.waiting {
		if w.tried < t.gen {
			retry = append(retry, w)
		} else {
			rest = append(rest, w)
		}
	}
	if len(retry) > 0 {
		t.waiting = rest
		for _, w := range retry {
			t.startLocked(w, true)
		}
		return
	}
	t.waiting = nil
	for _, w := range rest {
		t.startLocked(w, false)
	}
}

// schedule builds ks from dir in the background as node; chain holds the Kustomizations above it.
func (t *treeBuild) schedule(ks *kustomizev1.Kustomization, dir string, chain []string, node *Node) {
	id := ks.Namespace + "/" + ks.Name
	chain = append(append([]string{}, chain...), id)
	t.mu.Lock()
	t.active++
	t.mu.Unlock()

	t.g.Go(func() error {
		defer t.finish()
		done, err := t.acquire()
		if err != nil {
			node.Err = err
			return nil
		}
		res, rendered, err := t.b.buildMasked(t.ctx, ks, dir, inputs{configMaps: t.inputs, secrets: t.inputs, hint: supplyHint})
		done()
		if err != nil {
			node.Err = err
			t.skipChildren(rendered, chain, node)
			return nil
		}
		node.Objects = res.Objects
		out := t.collect(res, node)
		if len(chain) == 1 {
			// The Kustomization that points at the tree's own path (flux-system) is the root itself.
			for i, child := range out.children {
				if t.isRoot(child.ks) {
					node.Name = child.ks.Namespace + "/" + child.ks.Name
					chain = []string{node.Name}
					for _, o := range node.Objects {
						manifest.MergeLabels(o, map[string]string{NameLabel: child.ks.Name, NamespaceLabel: child.ks.Namespace})
					}
					t.mu.Lock()
					t.seen[node.Name] = node.Name
					t.mu.Unlock()
					out.children = append(out.children[:i:i], out.children[i+1:]...)
					break
				}
			}
		}
		for _, bad := range out.bad {
			t.badNode(bad, chain, node)
		}
		for _, hr := range out.releases {
			t.release(hr, chain, node)
		}
		for _, child := range out.children {
			t.child(child.ks, chain, node)
		}
		return nil
	})
}

// declaredChild is a Kustomization of a build output.
type declaredChild struct {
	ks   *kustomizev1.Kustomization
	file string
}

// badObject is a Kustomization or HelmRelease of a build output that failed to decode.
type badObject struct {
	kind, id string
	err      error
}

type collected struct {
	children []declaredChild
	releases []*helmv2.HelmRelease
	bad      []badObject
}

// collect decodes the Flux objects of a build output one by one, records the sources, ConfigMaps and
// Secrets it declares and returns the Kustomizations and HelmReleases to build next. An object that
// fails is reported (on the node it would have been, or on node) and the others go on; objects of
// older Flux versions are replaced by their conversion, which is what must be applied.
func (t *treeBuild) collect(res *Result, node *Node) collected {
	var out collected
	parent := node.Name
	for i, o := range res.Objects {
		gvk := o.GroupVersionKind()
		file := ""
		if i < len(res.Files) {
			file = res.Files[i]
		}
		if gvk.Group == "" && gvk.Version == "v1" && (gvk.Kind == "ConfigMap" || gvk.Kind == "Secret") {
			if t.inputs.add(o, parent) {
				t.mu.Lock()
				t.declareLocked()
				t.mu.Unlock()
			}
			continue
		}
		if !manifest.IsFluxGroup(gvk.Group) {
			continue
		}
		if manifest.IsPassThrough(gvk) && t.dec.IsFluxKind(gvk) {
			continue // validated once the tree is built (checkObjects)
		}
		label := file
		if label == "" {
			label = "build output of Kustomization " + parent
		}
		typed, err := t.decode(res, i, label, node)
		if err != nil {
			e := &Error{Kustomization: parent, Err: err}
			id := o.GetNamespace() + "/" + o.GetName()
			switch {
			case gvk.Kind == KindKustomization && strings.HasPrefix(gvk.Group, "kustomize."),
				gvk.Kind == KindHelmRelease && strings.HasPrefix(gvk.Group, "helm."):
				out.bad = append(out.bad, badObject{kind: gvk.Kind, id: id, err: e})
			default:
				node.Err = errors.Join(node.Err, e)
				if strings.HasPrefix(gvk.Group, "source.") {
					t.mu.Lock()
					t.failedSources[gvk.Kind+"/"+id] = fmt.Sprintf("its source %s %s, declared by Kustomization %s, is invalid (%s)", gvk.Kind, id, parent, label)
					t.declareLocked()
					t.mu.Unlock()
				}
			}
			continue
		}
		switch v := typed.(type) {
		case *kustomizev1.Kustomization:
			out.children = append(out.children, declaredChild{ks: v, file: file})
		case *helmv2.HelmRelease:
			out.releases = append(out.releases, v)
		default:
			kgvk := typed.GetObjectKind().GroupVersionKind()
			if strings.HasPrefix(kgvk.Group, "source.") {
				t.mu.Lock()
				t.declared[kgvk.Kind+"/"+o.GetNamespace()+"/"+o.GetName()] = typed
				t.declareLocked()
				t.mu.Unlock()
			}
		}
	}
	return out
}

// decode decodes object i of res (from file label), converting an older Flux version in place; its
// errors name the source file, without the lines of the re-serialized object they were found on.
func (t *treeBuild) decode(res *Result, i int, label string, node *Node) (runtime.Object, error) {
	o := res.Objects[i]
	up, notes, err := t.dec.Upgrade(o)
	if err != nil {
		return nil, &manifest.Error{File: label, Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(), Field: "apiVersion", Detail: err.Error()}
	}
	if up != o {
		res.Objects[i], o = up, up
		for _, n := range notes {
			node.Warnings = append(node.Warnings, fmt.Sprintf("%s: %s: %s", label, describe(o), n))
		}
	}
	typed, err := t.dec.DecodeObject(t.ctx, label, o)
	if err != nil {
		return nil, withoutLines(err)
	}
	return typed, nil
}

// withoutLines drops the line numbers of decoding errors found in a re-serialized object.
func withoutLines(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, withoutLines(e))
		}
		return errors.Join(out...)
	}
	var me *manifest.Error
	if errors.As(err, &me) {
		c := *me
		c.Line = 0
		return &c
	}
	return err
}

// badNode reports a Kustomization or HelmRelease that failed to decode as a failed node.
func (t *treeBuild) badNode(bad badObject, chain []string, parent *Node) {
	t.mu.Lock()
	seen := t.seen
	if bad.kind == KindHelmRelease {
		seen = t.seenReleases
	}
	_, dup := seen[bad.id]
	seen[bad.id] = parent.Name
	t.mu.Unlock()
	if dup {
		parent.Err = errors.Join(parent.Err, bad.err)
		return
	}
	node := t.addNode(bad.kind, bad.id, chain)
	node.Err = bad.err
}

// skipChildren reports the Kustomizations and HelmReleases a failed build would have declared (as far
// as kustomize's output before substitution tells) as skipped.
func (t *treeBuild) skipChildren(rendered []*unstructured.Unstructured, chain []string, parent *Node) {
	for _, o := range rendered {
		gvk := o.GroupVersionKind()
		var kind string
		switch {
		case gvk.Kind == KindKustomization && strings.HasPrefix(gvk.Group, "kustomize.toolkit."):
			kind = KindKustomization
			if p, _, _ := unstructured.NestedString(o.Object, "spec", "path"); len(chain) == 1 && filepath.Clean("/"+p) == filepath.Clean("/"+t.opts.Path) {
				continue // the root itself
			}
		case gvk.Kind == KindHelmRelease && strings.HasPrefix(gvk.Group, "helm.toolkit."):
			kind = KindHelmRelease
		default:
			continue
		}
		ns := o.GetNamespace()
		if ns == "" {
			ns = parent.Name[:strings.Index(parent.Name, "/")]
		}
		id := ns + "/" + o.GetName()
		if strings.Contains(id, "${") {
			continue // its name depends on the substitution that failed
		}
		t.mu.Lock()
		seen := t.seen
		if kind == KindHelmRelease {
			seen = t.seenReleases
		}
		_, dup := seen[id]
		if !dup {
			seen[id] = parent.Name
		}
		t.mu.Unlock()
		if dup {
			continue
		}
		node := t.addNode(kind, id, chain)
		node.Err = &SkippedError{Node: kind + " " + id, Reason: "its parent Kustomization " + parent.Name + " failed"}
	}
}

// release renders hr in the background, as a node under the Kustomization that declares it, once the
// tree declares its chart's source (or nothing more can).
func (t *treeBuild) release(hr *helmv2.HelmRelease, chain []string, parent *Node) {
	id := hr.Namespace + "/" + hr.Name
	t.mu.Lock()
	first, dup := t.seenReleases[id]
	if !dup {
		t.seenReleases[id] = parent.Name
	}
	t.mu.Unlock()
	if dup {
		parent.Warnings = append(parent.Warnings, fmt.Sprintf("HelmRelease %s is declared by Kustomization %s too: rendered once, from %s", id, first, first))
		return
	}
	node := t.addNode(KindHelmRelease, id, chain)
	if t.b.Helm == nil || t.opts.Charts == nil {
		node.Err = &SkippedError{Node: "HelmRelease " + id, Reason: "this build renders no HelmReleases (no chart resolver or Helm renderer)"}
		return
	}
	var needs []need
	if ref := hr.Spec.ChartRef; ref != nil {
		needs = append(needs, need{kind: ref.Kind, namespace: orDefault(ref.Namespace, hr.Namespace), name: ref.Name})
	} else if hr.Spec.Chart != nil {
		ref := hr.Spec.Chart.Spec.SourceRef
		needs = append(needs, need{kind: ref.Kind, namespace: orDefault(ref.Namespace, hr.Namespace), name: ref.Name})
	}
	w := &waiter{needs: needs, tried: -1}
	w.run = func(canRetry bool) bool {
		if reason := t.failedSource(needs); reason != "" {
			node.Err = &SkippedError{Node: "HelmRelease " + id, Reason: reason}
			return false
		}
		done, err := t.acquire()
		if err != nil {
			node.Err = err
			return false
		}
		defer done()
		chrt, digest, err := t.generatedChart(hr)
		if chrt == nil && err == nil {
			chrt, digest, err = t.opts.Charts.ResolveChart(t.ctx, hr, t.declaredCopy())
		}
		if err != nil {
			if canRetry {
				return true
			}
			node.Err = fmt.Errorf("HelmRelease %s: chart: %w", id, err)
			return false
		}
		node.Chart, node.ChartDigest = chrt, digest
		res, err := t.b.Helm.Render(t.ctx, hr, chrt)
		if err != nil {
			node.Err = err
			return false
		}
		node.Objects = res.Objects
		return false
	}
	t.mu.Lock()
	if t.satisfiedLocked(needs) {
		// Rendering declares nothing: it runs in a task of its own, not counted as active.
		t.mu.Unlock()
		t.g.Go(func() error { w.run(false); return nil })
		return
	}
	t.waiting = append(t.waiting, w)
	t.mu.Unlock()
}

// failedSource returns why a node needing needs is skipped: one of them failed to decode.
func (t *treeBuild) failedSource(needs []need) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range needs {
		if r, ok := t.failedSources[n.key()]; ok {
			return r
		}
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// child makes ks a node under chain and builds it once its source (and substituteFrom inputs) are
// known.
func (t *treeBuild) child(ks *kustomizev1.Kustomization, chain []string, parent *Node) {
	id := ks.Namespace + "/" + ks.Name
	for i, c := range chain {
		if c == id {
			parent.Err = errors.Join(parent.Err, fmt.Errorf("Kustomization %s: dependency cycle: %s", id, strings.Join(append(chain[i:], id), " -> ")))
			return
		}
	}
	srcNs := orDefault(ks.Spec.SourceRef.Namespace, ks.Namespace)
	srcID := sourceID(ks)
	t.mu.Lock()
	first, dup := t.seen[id]
	if !dup {
		t.seen[id] = parent.Name
	}
	t.mu.Unlock()
	if dup {
		if first != parent.Name {
			parent.Warnings = append(parent.Warnings, fmt.Sprintf("Kustomization %s is declared by Kustomization %s too: built once, from %s", id, first, first))
		}
		return
	}
	node := t.addNode(KindKustomization, id, chain)
	var needs []need
	if srcID != t.opts.RootSource {
		needs = append(needs, need{kind: ks.Spec.SourceRef.Kind, namespace: srcNs, name: ks.Spec.SourceRef.Name})
	}
	sourceNeeds := len(needs)
	if pb := ks.Spec.PostBuild; pb != nil {
		for _, ref := range pb.SubstituteFrom {
			if t.inputs.givenHas(ref.Kind, ks.Namespace, ref.Name) {
				continue
			}
			needs = append(needs, need{kind: ref.Kind, namespace: ks.Namespace, name: ref.Name, optional: ref.Optional})
		}
	}
	w := &waiter{needs: needs, tried: -1}
	w.run = func(canRetry bool) bool {
		if reason := t.failedSource(needs); reason != "" {
			node.Err = &SkippedError{Node: "Kustomization " + id, Reason: reason}
			return false
		}
		dir, err := t.sourceDir(ks, srcNs, srcID)
		if err != nil {
			if canRetry {
				return true
			}
			node.Err = fmt.Errorf("Kustomization %s: source %s: %w", id, srcID, err)
			return false
		}
		if canRetry {
			// Inputs nobody declared yet: another build still running may declare them.
			for _, n := range needs[sourceNeeds:] {
				if !t.inputs.available(t.ctx, n) {
					return true
				}
			}
		}
		t.schedule(ks, dir, chain, node)
		return false
	}
	t.await(w)
}

// sourceDir returns the folder of the source ks builds from.
func (t *treeBuild) sourceDir(ks *kustomizev1.Kustomization, srcNs, srcID string) (string, error) {
	if srcID == t.opts.RootSource && !t.declaresIncludes(srcID) {
		return t.root, nil
	}
	if ks.Spec.SourceRef.Kind == sourcev1.ExternalArtifactKind {
		if gen := t.generatorOf(srcNs, ks.Spec.SourceRef.Name); gen != nil {
			art, err := t.generate(gen, ks.Spec.SourceRef.Name)
			if err != nil {
				return "", err
			}
			return art.Dir, nil
		}
	}
	if t.opts.Sources == nil {
		return "", errors.New("no way to fetch sources was given")
	}
	declared := t.declaredCopy()
	done, err := t.acquire()
	if err != nil {
		return "", err
	}
	defer done()
	return t.opts.Sources.ResolveSource(t.ctx, ks.Spec.SourceRef.Kind, srcNs, ks.Spec.SourceRef.Name, declared)
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
