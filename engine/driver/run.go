package driver

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	engineapply "github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/reconcile"
)

// statusWriteTimeout bounds a status write made after the run's own context may have ended.
const statusWriteTimeout = 10 * time.Second

// Run reconciles every node of the tree as the agent would: each after its parent and the nodes its
// dependsOn names, those that depend on none of each other concurrently (at most Concurrent at a time);
// a node whose parent or dependency failed is skipped. progress (called from several goroutines) hears
// Planned first, then the events of each node. The results are in the order of Planned.
func (d *Driver) Run(ctx context.Context, progress func(Event)) ([]*Result, error) {
	if progress == nil {
		progress = func(Event) {}
	}
	order, err := Order(d.Tree)
	if err != nil {
		return nil, err
	}
	deps := dependencyIndexes(d.Tree, order)
	progress(Planned{Nodes: order})
	results := make([]*Result, len(order))
	run := func(i int) bool {
		pctx := engineapply.WithProgress(ctx, func(pr engineapply.Progress) { progress(Phase{Index: i, Progress: pr}) })
		res, ok := d.runNode(pctx, i, order[i], progress)
		results[i] = res
		progress(Finished{Index: i, Result: res})
		return ok
	}
	skip := func(i, dep int) {
		results[i] = &Result{Node: order[i], Skipped: order[dep]}
		progress(Skipped{Index: i, Node: order[i], Dependency: order[dep], Relation: relation(order[i], order[dep])})
	}
	workers := d.Concurrent
	if workers <= 0 {
		workers = 4
	}
	schedule(len(order), deps, workers, run, skip)
	return results, nil
}

// inTree returns whether a node of kind namespace/name is in the tree (ordered by the run itself).
func (d *Driver) inTree(kind string) func(namespace, name string) bool {
	return func(namespace, name string) bool {
		for _, n := range d.Tree.Nodes {
			if n.Kind == kind && n.Name == namespace+"/"+name {
				return true
			}
		}
		return false
	}
}

func (d *Driver) requeue() time.Duration {
	if d.DependencyRequeue <= 0 {
		return 5 * time.Second
	}
	return d.DependencyRequeue
}

func relation(n, dep *build.Node) string {
	if n.Parent == dep.Name {
		return "its parent"
	}
	return "its dependency"
}

func (d *Driver) observeKustomization(ctx context.Context, res *reconcile.KustomizationResult) {
	if d.Observer != nil {
		d.Observer.Kustomization(ctx, res)
	}
}

// runNode reconciles node i of the tree. It returns its result and whether it succeeded.
func (d *Driver) runNode(ctx context.Context, i int, n *build.Node, progress func(Event)) (*Result, bool) {
	ns, name, _ := strings.Cut(n.Name, "/")
	if n.Kind == build.KindHelmRelease {
		return d.runHelmRelease(ctx, i, n, progress)
	}
	result := func(res *reconcile.KustomizationResult, ok bool) (*Result, bool) {
		return &Result{Node: n, Kustomization: res}, ok
	}
	if n.Parent == "" {
		// The root declares itself (flux-system): its own object must exist before its status can be written.
		if self := reconcile.RootKustomization(n); self != nil {
			pre := []*unstructured.Unstructured{self}
			if _, err := d.Clients.Core.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				nsObj := &unstructured.Unstructured{}
				nsObj.SetAPIVersion("v1")
				nsObj.SetKind("Namespace")
				nsObj.SetName(ns)
				pre = append(pre, nsObj)
			}
			if _, err := d.Apply.Apply(engineapply.WithProgress(ctx, nil), pre, engineapply.Options{}); err != nil {
				return result(&reconcile.KustomizationResult{Kustomization: n.Name, Revision: d.Revision, ChangeSet: &engineapply.ChangeSet{},
					Err: fmt.Errorf("applying Kustomization %s: %w", n.Name, err)}, false)
			}
		} else {
			progress(NoInventory{Index: i, Reason: reconcile.NoInventoryReason(d.Path)})
			cs, err := d.Apply.Apply(ctx, n.Objects, engineapply.Options{})
			res := &reconcile.KustomizationResult{Kustomization: n.Name, Revision: d.Revision, ChangeSet: cs, Err: err}
			if cs == nil {
				res.ChangeSet = &engineapply.ChangeSet{}
			}
			return result(res, err == nil)
		}
	}
	progress(Started{Index: i, Node: n})
	ks := &kustomizev1.Kustomization{}
	ks.Namespace, ks.Name = ns, name
	// The tree orders the dependsOn it builds: their readyExpr is evaluated against the live dependency,
	// applied by now. A dependency outside the tree is checked as the agent does and waited for.
	inTree := d.inTree(build.KindKustomization)
	notReady := func(err error) (*Result, bool) {
		// Also when the wait ended with the run's context: the status says why nothing was applied.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusWriteTimeout)
		defer cancel()
		if live, gerr := d.Kustomizations.Get(wctx, ns, name); gerr == nil && live != nil {
			ks = live
		}
		res := d.Kustomizations.NotReady(wctx, ks, meta.DependencyNotReadyReason, err)
		res.Revision = d.Revision
		d.observeKustomization(wctx, res)
		return result(res, false)
	}
	if err := d.Kustomizations.CheckDependencies(ctx, ks, reconcile.DependencyOptions{ReadyExprsOnly: true, Only: inTree}); err != nil {
		return notReady(err)
	}
	outside := func(namespace, name string) bool { return !inTree(namespace, name) }
	check := func(ctx context.Context) error {
		return d.Kustomizations.CheckDependencies(ctx, ks, reconcile.DependencyOptions{Only: outside})
	}
	if err := reconcile.WaitDependencies(ctx, d.requeue(), check, func(err error) {
		progress(Waiting{Index: i, Node: n, Err: err, Every: d.requeue()})
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusWriteTimeout)
		defer cancel()
		live, gerr := d.Kustomizations.Get(wctx, ns, name)
		if gerr == nil && live != nil {
			d.Kustomizations.NotReady(wctx, live, meta.DependencyNotReadyReason, fmt.Errorf("%w, retrying in %s", err, d.requeue()))
		}
	}); err != nil {
		return notReady(err)
	}
	res := d.Kustomizations.Reconcile(ctx, ks, d.Revision, n.Objects, n.Err)
	d.observeKustomization(ctx, res)
	return result(res, res.Err == nil)
}

// runHelmRelease installs or upgrades a HelmRelease of the tree (its parent applied it) as the agent does.
func (d *Driver) runHelmRelease(ctx context.Context, i int, n *build.Node, progress func(Event)) (*Result, bool) {
	ns, name, _ := strings.Cut(n.Name, "/")
	progress(Started{Index: i, Node: n})
	hr := &helmv2.HelmRelease{}
	hr.Namespace, hr.Name = ns, name
	// A dependsOn outside the tree is waited for as the agent requeues; the tree orders the others.
	outside := func(namespace, name string) bool { return !d.inTree(build.KindHelmRelease)(namespace, name) }
	check := func(ctx context.Context) error {
		return d.HelmReleases.CheckDependencies(ctx, ns, name, reconcile.DependencyOptions{Only: outside})
	}
	if err := reconcile.WaitDependencies(ctx, d.requeue(), check, func(err error) {
		progress(Waiting{Index: i, Node: n, Err: err, Every: d.requeue()})
	}); err != nil {
		err = fmt.Errorf("HelmRelease %s: %w", n.Name, err)
		return &Result{Node: n, HelmRelease: &reconcile.HelmReleaseResult{HelmRelease: n.Name, Err: err}}, false
	}
	var chartErr error
	if n.Chart == nil {
		chartErr = n.Err
	}
	if err := d.applyHelmChart(ctx, ns, name); err != nil {
		chartErr = err
	}
	res := d.HelmReleases.Reconcile(ctx, hr, n.Chart, n.ChartDigest, chartErr)
	if d.Observer != nil {
		d.Observer.HelmRelease(ctx, ns, name, res)
	}
	return &Result{Node: n, HelmRelease: res}, res.Err == nil
}

// applyHelmChart creates or updates the HelmChart of the live HelmRelease's spec.chart (and deletes the
// one it no longer uses) as the agent does before releasing it, with the same engine call, so that
// status.helmChart names a real object. The chart installed is still the one the tree built; the agent,
// once running, reconciles the HelmChart's artifact. A suspended or missing HelmRelease is left to
// Reconcile, which says so.
func (d *Driver) applyHelmChart(ctx context.Context, namespace, name string) error {
	live, err := d.HelmReleases.Get(ctx, namespace, name)
	if err != nil || live == nil || live.Spec.Suspend {
		return err
	}
	return d.HelmReleases.ApplyHelmChart(ctx, live)
}

// MarkLocalSources records, on the GitRepositories this run served from the work tree (not those
// served from another ref of the local repository, nor fetched ones), that they are at the work tree's
// revision (as the agent would after fetching it). It returns what could not be recorded, one error
// per GitRepository.
func (d *Driver) MarkLocalSources(ctx context.Context) []error {
	wt := d.Workspace.WorkTree
	if wt == nil {
		return nil
	}
	var errs []error
	seen := map[string]bool{}
	for _, u := range d.Tree.Sources {
		// Served from a ref of the local repository or fetched: not at the work tree's revision.
		if kind, id, _ := strings.Cut(u.ID, "/"); kind == sourcev1.GitRepositoryKind && !strings.HasPrefix(u.From, "work tree") {
			seen[id] = true
		}
	}
	for _, n := range d.Tree.Nodes {
		for _, o := range n.Objects {
			if o.GetKind() != sourcev1.GitRepositoryKind || o.GroupVersionKind().Group != sourcev1.GroupVersion.Group {
				continue
			}
			id := o.GetNamespace() + "/" + o.GetName()
			url, _, _ := unstructured.NestedString(o.Object, "spec", "url")
			if _, local := wt.RemoteMatching(url); !local || seen[id] {
				continue
			}
			seen[id] = true
			live, err := d.Clients.Dynamic.Resource(sourcev1.GroupVersion.WithResource("gitrepositories")).Namespace(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err == nil {
				err = d.Sources.MarkLocal(ctx, live, d.Revision)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("GitRepository %s: recording the work tree's revision: %w", id, err))
			}
		}
	}
	return errs
}
