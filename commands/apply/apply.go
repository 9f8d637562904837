// Package apply implements `converge apply`.
package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"

	buildcmd "github.com/converge-gitops/converge/commands/build"
	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/crds"
	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	engineapply "github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/notify"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source/git"
)

// Options are the inputs of `converge apply`.
type Options struct {
	Build       buildcmd.Options
	InstallCRDs bool
	Output      string
	Clients     func() (*kube.Clients, error)
	// Revision names what is applied: the work tree's revision (nil outside Git).
	Revision func(wt *git.WorkTree) string
	Clock    clock.PassiveClock
	// Concurrent bounds how many independent Kustomizations are reconciled at once (default 4).
	Concurrent int
	// NoNotify turns off the notifications to the Providers of the cluster's Alerts.
	NoNotify bool
	// NoEvents turns off the core/v1 Events recorded on the Kustomizations and HelmReleases.
	NoEvents bool
	// DependencyRequeue is how often a dependsOn outside the tree that is not ready is checked again
	// (default 5s), until the apply's timeout.
	DependencyRequeue time.Duration
}

// NewCmdApply returns the apply command.
func NewCmdApply(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{Build: buildcmd.Options{IO: f.IO}, Clock: f.Clock, Revision: LocalRevision, Clients: f.KubeClients}
	cmd := &cobra.Command{
		Use:   "apply [PATH]",
		Short: "Make the cluster match a tree of Kustomizations now: server-side apply, prune, wait for health",
		Long: `Apply builds the tree at PATH (as converge build does), then reconciles each Kustomization in
dependency order exactly as the agent would: validate with a server-side dry-run, apply in stages, prune
what left the inventory, wait for health, and write the Kustomization's status. A dependsOn outside the
tree is waited for as the agent does (Ready for its current generation, or its readyExpr): checked again
every --requeue-dependency until --timeout; nothing of the dependent is applied before.`,
		Example: `  converge apply clusters/production
  converge apply clusters/production --install-crds`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Build.Path = "."
			if len(args) == 1 {
				opts.Build.Path = args[0]
			}
			if err := cmdutil.ValidateOutput(opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
			defer cancel()
			return Run(ctx, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Build.Root, "root", "", "root folder of the repository the path belongs to (default: the enclosing Git work tree)")
	fl.StringArrayVar(&opts.Build.LocalSources, "local-source", nil, "use a folder as a source's files: Kind/namespace/name=PATH (repeatable)")
	fl.StringArrayVar(&opts.Build.LocalResources, "local-resource", nil, "a ConfigMap or Secret for substituteFrom: Kind/namespace/name=FILE (repeatable)")
	fl.StringVar(&opts.Build.CacheDir, "cache-dir", "", "artifact store for fetched sources")
	buildcmd.AddDecryptionKeyFlag(fl, &opts.Build)
	fl.BoolVar(&opts.InstallCRDs, "install-crds", false, "install or upgrade the Flux CRDs first")
	fl.IntVar(&opts.Concurrent, "concurrent", 4, "how many independent Kustomizations to reconcile at once")
	fl.BoolVar(&opts.NoNotify, "no-notify", false, "do not send the reconcile events to the Providers of the cluster's Alerts")
	fl.BoolVar(&opts.NoEvents, "no-events", false, "do not record the reconcile results as Kubernetes Events on the Flux objects")
	fl.DurationVar(&opts.DependencyRequeue, "requeue-dependency", 5*time.Second, "how often to check again a dependsOn outside the tree that is not ready (waited for until --timeout)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON)
	return cmd
}

// Prepared is a built tree with the clients to act on it.
type Prepared struct {
	Clients        *kube.Clients
	Apply          *engineapply.Manager
	Kustomizations *reconcile.Kustomizations
	HelmReleases   *reconcile.HelmReleases
	Sources        *reconcile.Sources
	WorkTree       *git.WorkTree
	Tree           *build.Tree
	Path           string
	Revision       string
	// Notifier, when set, sends each result to the Alerts' Providers.
	Notifier *notify.Notifier
	// Events, when set, records each result as a core/v1 Event on its object, as the agent does.
	Events events.Sink
	Clock  clock.PassiveClock
	// DependencyRequeue is how often a dependency outside the tree is checked again while it is not ready.
	DependencyRequeue time.Duration
}

// Prepare connects to the cluster, checks (or installs) the CRDs and builds the tree.
func Prepare(ctx context.Context, opts *Options) (*Prepared, error) {
	io := opts.Build.IO
	st := io.ErrStyles()
	clients, err := opts.Clients()
	if err != nil {
		return nil, err
	}
	am := &engineapply.Manager{Client: clients.Dynamic, Mapper: clients.Mapper}
	if err := ensureCRDs(ctx, opts, clients, am); err != nil {
		return nil, err
	}
	dec, err := manifest.NewDecoder()
	if err != nil {
		return nil, err
	}
	// Flux objects are validated with the schemas the cluster has (a notification CRD flux-operator
	// patched accepts more event-source kinds), the tree's own CRDs above them.
	clusterCRDs, err := manifest.ClusterCRDs(ctx, clients.Dynamic)
	if err != nil {
		return nil, err
	}
	if dec, err = dec.WithCRDs("the cluster", clusterCRDs); err != nil {
		return nil, err
	}
	local, resolver, err := buildcmd.Inputs(&opts.Build)
	if err != nil {
		return nil, err
	}
	vars := kube.Chain{local, clients}
	builder := buildcmd.NewBuilder(vars)
	root, path, err := buildcmd.RepoRoot(opts.Build.Root, opts.Build.Path)
	if err != nil {
		return nil, err
	}
	wt := buildcmd.DetectWorkTree(root)
	charts, err := buildcmd.AttachFetchers(&opts.Build, resolver, wt, root, vars)
	if err != nil {
		return nil, err
	}
	revision := opts.Revision(wt)
	fmt.Fprintln(io.ErrOut, st.ActionLine(fmt.Sprintf("building %s at %s", path, revision)))
	tree, err := builder.BuildTree(ctx, dec, build.TreeOptions{Root: root, Path: path, Sources: resolver, Charts: charts, Given: local})
	if err != nil {
		return nil, err
	}
	cmdutil.PrintWarnings(io.ErrOut, st, tree.Warnings())
	rec := reconcile.NewKustomizations(clients, opts.Clock)
	rec.Apply = am
	builder.Helm.IsNamespaced = clients.IsNamespaced
	hrs := reconcile.NewHelmReleases(clients, builder.Helm, opts.Clock)
	return &Prepared{Clients: clients, Apply: am, Kustomizations: rec, HelmReleases: hrs, Tree: tree, Path: path, Revision: revision,
		Sources: &reconcile.Sources{Client: clients.Dynamic, Clock: opts.Clock}, WorkTree: wt, Clock: opts.Clock}, nil
}

// Run builds the tree and reconciles every Kustomization: those that depend on none of each other
// concurrently (at most Options.Concurrent at a time), each after its parent and its dependsOn.
func Run(ctx context.Context, opts *Options) error {
	io := opts.Build.IO
	st := io.ErrStyles()
	start := opts.Clock.Now()
	p, err := Prepare(ctx, opts)
	if err != nil {
		return err
	}
	order, err := Order(p.Tree)
	if err != nil {
		return err
	}
	deps := dependencyIndexes(p.Tree, order)
	p.DependencyRequeue = opts.DependencyRequeue
	if !opts.NoEvents {
		host, _ := os.Hostname()
		p.Events = &events.Kubernetes{Client: p.Clients.Core, Host: host, Clock: opts.Clock}
	}
	if !opts.NoNotify {
		n, err := startNotifier(ctx, p, opts)
		if err != nil {
			fmt.Fprintln(io.ErrOut, st.WarningLine(fmt.Sprintf("notifications off: %v", err)))
		}
		p.Notifier = n
	}
	names := make([]string, len(order))
	for i, n := range order {
		names[i] = n.Kustomization
	}
	d := newDisplay(io.ErrOut, st, isTerminal(io.ErrOut), names)
	results := make([]*reconcile.KustomizationResult, len(order))
	run := func(i int) bool {
		defer d.finish(i)
		res, ok := runNode(engineapply.WithProgress(ctx, func(pr engineapply.Progress) { d.phase(i, pr) }), p, order[i], d, i, st)
		results[i] = res
		return ok
	}
	skip := func(i, dep int) {
		d.line(i, st.FailureLine(fmt.Sprintf("Kustomization %s skipped: %s %s failed", order[i].Kustomization, relation(order[i], order[dep]), order[dep].Kustomization)))
		d.finish(i)
	}
	workers := opts.Concurrent
	if workers <= 0 {
		workers = 4
	}
	schedule(len(order), deps, workers, run, skip)
	d.close()

	var done []*reconcile.KustomizationResult
	failed := false
	for i, r := range results {
		if r != nil {
			done = append(done, r)
			failed = failed || r.Err != nil
		} else if order[i].Kind != build.KindHelmRelease {
			failed = true // skipped after a failed dependency
		}
	}
	markLocalSources(ctx, p, io, st)
	if p.Notifier != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyWait)
		if err := p.Notifier.Wait(wctx); err != nil {
			fmt.Fprintln(io.ErrOut, st.WarningLine(fmt.Sprintf("notifications still being sent after %s: not waited for", notifyWait)))
		}
		cancel()
	}
	summary(io, st, done, opts.Clock.Now().Sub(start))
	if opts.Output == cmdutil.OutputJSON {
		if err := cmdutil.WriteData(io.Out, cmdutil.OutputJSON, jsonResults(done)); err != nil {
			return err
		}
	}
	if failed {
		return &cmdutil.SilentError{Code: cmdutil.ExitError}
	}
	return nil
}

// markLocalSources records, on the GitRepositories this apply served from the work tree (not those
// served from another ref of the local repository, nor fetched ones), that they are
// at the work tree's revision (as the agent would after fetching it).
func markLocalSources(ctx context.Context, p *Prepared, io *cmdutil.IOStreams, st cmdutil.Styles) {
	if p.WorkTree == nil {
		return
	}
	seen := map[string]bool{}
	for _, u := range p.Tree.Sources {
		// Served from a ref of the local repository or fetched: not at the work tree's revision.
		if kind, id, _ := strings.Cut(u.ID, "/"); kind == sourcev1.GitRepositoryKind && !strings.HasPrefix(u.From, "work tree") {
			seen[id] = true
		}
	}
	for _, n := range p.Tree.Nodes {
		for _, o := range n.Objects {
			if o.GetKind() != sourcev1.GitRepositoryKind || o.GroupVersionKind().Group != sourcev1.GroupVersion.Group {
				continue
			}
			id := o.GetNamespace() + "/" + o.GetName()
			url, _, _ := unstructured.NestedString(o.Object, "spec", "url")
			if _, local := p.WorkTree.RemoteMatching(url); !local || seen[id] {
				continue
			}
			seen[id] = true
			live, err := p.Clients.Dynamic.Resource(sourcev1.GroupVersion.WithResource("gitrepositories")).Namespace(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err == nil {
				err = p.Sources.MarkLocal(ctx, live, p.Revision)
			}
			if err != nil {
				fmt.Fprintln(io.ErrOut, st.WarningLine(fmt.Sprintf("GitRepository %s: recording the work tree's revision: %v", id, err)))
			}
		}
	}
}

// statusWriteTimeout bounds a status write made after the apply's own context may have ended.
const statusWriteTimeout = 10 * time.Second

// inTree returns whether a node of kind namespace/name is in the tree (ordered by the apply itself).
func (p *Prepared) inTree(kind string) func(namespace, name string) bool {
	return func(namespace, name string) bool {
		for _, n := range p.Tree.Nodes {
			if n.Kind == kind && n.Kustomization == namespace+"/"+name {
				return true
			}
		}
		return false
	}
}

func (p *Prepared) requeue() time.Duration {
	if p.DependencyRequeue <= 0 {
		return 5 * time.Second
	}
	return p.DependencyRequeue
}

func relation(n, dep *build.Node) string {
	if n.Parent == dep.Kustomization {
		return "its parent"
	}
	return "its dependency"
}

// runNode reconciles one node of the tree; its output goes to its block of d. It returns the result
// (nil for nodes that are not reconciled here) and whether the node succeeded.
func runNode(ctx context.Context, p *Prepared, n *build.Node, d *display, i int, st cmdutil.Styles) (*reconcile.KustomizationResult, bool) {
	ns, name, _ := strings.Cut(n.Kustomization, "/")
	if n.Kind == build.KindHelmRelease {
		return runHelmRelease(ctx, p, n, d, i, st)
	}
	if n.Parent == "" {
		// The root declares itself (flux-system): its own object must exist before its status can be written.
		if self := reconcile.RootKustomization(n); self != nil {
			pre := []*unstructured.Unstructured{self}
			if _, err := p.Clients.Core.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				nsObj := &unstructured.Unstructured{}
				nsObj.SetAPIVersion("v1")
				nsObj.SetKind("Namespace")
				nsObj.SetName(ns)
				pre = append(pre, nsObj)
			}
			if _, err := p.Apply.Apply(engineapply.WithProgress(ctx, nil), pre, engineapply.Options{}); err != nil {
				res := &reconcile.KustomizationResult{Kustomization: n.Kustomization, Revision: p.Revision, ChangeSet: &engineapply.ChangeSet{},
					Err: fmt.Errorf("applying Kustomization %s: %w", n.Kustomization, err)}
				report(d, i, st, res)
				return res, false
			}
		} else {
			d.line(i, st.WarningLine(reconcile.NoInventoryReason(p.Path)))
			cs, err := p.Apply.Apply(ctx, n.Objects, engineapply.Options{})
			res := &reconcile.KustomizationResult{Kustomization: n.Kustomization, Revision: p.Revision, ChangeSet: cs, Err: err}
			if cs == nil {
				res.ChangeSet = &engineapply.ChangeSet{}
			}
			report(d, i, st, res)
			return res, err == nil
		}
	}
	d.line(i, st.ActionLine("reconciling Kustomization "+n.Kustomization))
	ks := &kustomizev1.Kustomization{}
	ks.Namespace, ks.Name = ns, name
	// The tree orders the dependsOn it builds: their readyExpr is evaluated against the live dependency,
	// applied by now. A dependency outside the tree is checked as the agent does and waited for.
	inTree := p.inTree(build.KindKustomization)
	notReady := func(err error) (*reconcile.KustomizationResult, bool) {
		// Also when the wait ended with the apply's context: the status says why nothing was applied.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusWriteTimeout)
		defer cancel()
		if live, gerr := p.Kustomizations.Get(wctx, ns, name); gerr == nil && live != nil {
			ks = live
		}
		res := p.Kustomizations.NotReady(wctx, ks, meta.DependencyNotReadyReason, err)
		res.Revision = p.Revision
		report(d, i, st, res)
		p.notifyKustomization(wctx, res)
		return res, false
	}
	if err := p.Kustomizations.CheckDependencies(ctx, ks, reconcile.DependencyOptions{ReadyExprsOnly: true, Only: inTree}); err != nil {
		return notReady(err)
	}
	outside := func(namespace, name string) bool { return !inTree(namespace, name) }
	check := func(ctx context.Context) error {
		return p.Kustomizations.CheckDependencies(ctx, ks, reconcile.DependencyOptions{Only: outside})
	}
	if err := reconcile.WaitDependencies(ctx, p.requeue(), check, func(err error) {
		d.line(i, st.WarningLine(fmt.Sprintf("Kustomization %s: %v: waiting (checked every %s)", n.Kustomization, err, p.requeue())))
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusWriteTimeout)
		defer cancel()
		live, gerr := p.Kustomizations.Get(wctx, ns, name)
		if gerr == nil && live != nil {
			p.Kustomizations.NotReady(wctx, live, meta.DependencyNotReadyReason, fmt.Errorf("%w, retrying in %s", err, p.requeue()))
		}
	}); err != nil {
		return notReady(err)
	}
	res := p.Kustomizations.Reconcile(ctx, ks, p.Revision, n.Objects, n.Err)
	report(d, i, st, res)
	p.notifyKustomization(ctx, res)
	return res, res.Err == nil
}

// runHelmRelease installs or upgrades a HelmRelease of the tree (its parent applied it) as the agent does.
func runHelmRelease(ctx context.Context, p *Prepared, n *build.Node, d *display, i int, st cmdutil.Styles) (*reconcile.KustomizationResult, bool) {
	ns, name, _ := strings.Cut(n.Kustomization, "/")
	d.line(i, st.ActionLine("reconciling HelmRelease "+n.Kustomization))
	hr := &helmv2.HelmRelease{}
	hr.Namespace, hr.Name = ns, name
	// A dependsOn outside the tree is waited for as the agent requeues; the tree orders the others.
	outside := func(namespace, name string) bool { return !p.inTree(build.KindHelmRelease)(namespace, name) }
	check := func(ctx context.Context) error {
		return p.HelmReleases.CheckDependencies(ctx, ns, name, reconcile.DependencyOptions{Only: outside})
	}
	if err := reconcile.WaitDependencies(ctx, p.requeue(), check, func(err error) {
		d.line(i, st.WarningLine(fmt.Sprintf("HelmRelease %s: %v: waiting (checked every %s)", n.Kustomization, err, p.requeue())))
	}); err != nil {
		err = fmt.Errorf("HelmRelease %s: %w", n.Kustomization, err)
		for _, line := range strings.Split(err.Error(), "\n") {
			d.line(i, st.FailureLine(line))
		}
		return &reconcile.KustomizationResult{Kustomization: "HelmRelease/" + n.Kustomization, ChangeSet: &engineapply.ChangeSet{}, Err: err}, false
	}
	var chartErr error
	if n.Chart == nil {
		chartErr = n.Err
	}
	res := p.HelmReleases.Reconcile(ctx, hr, n.Chart, n.ChartDigest, chartErr)
	p.notifyHelmRelease(ctx, ns, name, res)
	out := &reconcile.KustomizationResult{Kustomization: "HelmRelease/" + n.Kustomization, Revision: res.Revision,
		ChangeSet: &engineapply.ChangeSet{}, Suspended: res.Suspended, Err: res.Err, Duration: res.Duration}
	switch {
	case res.Suspended:
		d.line(i, st.WarningLine("HelmRelease "+n.Kustomization+" is suspended: skipped"))
	case res.Err != nil:
		for _, line := range strings.Split(res.Err.Error(), "\n") {
			d.line(i, st.FailureLine(line))
		}
	case len(res.Actions) == 0:
		d.line(i, st.SuccessLine(fmt.Sprintf("HelmRelease %s: release %s is up to date (chart %s)", n.Kustomization, res.Release, res.Revision)))
	default:
		d.line(i, st.SuccessLine(fmt.Sprintf("HelmRelease %s: %v succeeded: release %s, chart %s", n.Kustomization, res.Actions, res.Release, res.Revision)))
	}
	return out, res.Err == nil
}

func ensureCRDs(ctx context.Context, opts *Options, clients *kube.Clients, am *engineapply.Manager) error {
	_, err := clients.Discovery.ServerResourcesForGroupVersion(kustomizev1.GroupVersion.String())
	if err == nil && !opts.InstallCRDs {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) && !opts.InstallCRDs {
		return fmt.Errorf("checking for the Flux CRDs: %w", err)
	}
	if !opts.InstallCRDs {
		return errors.New("the Flux CRDs are not installed in this cluster: run again with --install-crds")
	}
	defs, err := crds.CustomResourceDefinitions()
	if err != nil {
		return err
	}
	var objs []*unstructured.Unstructured
	for _, d := range defs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetAPIVersion("apiextensions.k8s.io/v1")
		u.SetKind("CustomResourceDefinition")
		unstructured.RemoveNestedField(u.Object, "status")
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		objs = append(objs, u)
	}
	if _, err := am.Apply(ctx, objs, engineapply.Options{}); err != nil {
		return fmt.Errorf("installing the Flux CRDs: %w", err)
	}
	clients.Mapper.Reset()
	return nil
}

// Order returns the nodes so that every node comes after its parent and after the Kustomizations it
// dependsOn; a dependsOn cycle is an error naming it.
func Order(tree *build.Tree) ([]*build.Node, error) {
	byID := map[string]*build.Node{}
	for _, n := range tree.Nodes {
		byID[n.Kustomization] = n
	}
	deps := dependencies(tree, byID)
	var out []*build.Node
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(id string, path []string) error
	visit = func(id string, path []string) error {
		switch state[id] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("dependsOn cycle: %s -> %s", strings.Join(path, " -> "), id)
		}
		state[id] = 1
		ds := append([]string{}, deps[id]...)
		sort.Strings(ds)
		for _, d := range ds {
			if err := visit(d, append(path, id)); err != nil {
				return err
			}
		}
		state[id] = 2
		if n, ok := byID[id]; ok {
			out = append(out, n)
		}
		return nil
	}
	for _, n := range tree.Nodes {
		if err := visit(n.Kustomization, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dependencyIndexes returns, for each node of order, the indexes in order of the nodes it waits for.
func dependencyIndexes(tree *build.Tree, order []*build.Node) [][]int {
	byID := map[string]*build.Node{}
	index := map[string]int{}
	for i, n := range order {
		byID[n.Kustomization] = n
		index[n.Kustomization] = i
	}
	deps := dependencies(tree, byID)
	out := make([][]int, len(order))
	for i, n := range order {
		for _, d := range deps[n.Kustomization] {
			if j, ok := index[d]; ok && j != i {
				out[i] = append(out[i], j)
			}
		}
	}
	return out
}

// dependencies maps each node to its parent and the nodes of the tree its dependsOn names (Kustomizations
// for a Kustomization, HelmReleases for a HelmRelease).
func dependencies(tree *build.Tree, byID map[string]*build.Node) map[string][]string {
	deps := map[string][]string{}
	for _, n := range tree.Nodes {
		if n.Parent != "" {
			deps[n.Kustomization] = append(deps[n.Kustomization], n.Parent)
		}
	}
	for _, n := range tree.Nodes {
		for _, o := range n.Objects {
			var kind string
			switch group := o.GroupVersionKind().Group; {
			case o.GetKind() == kustomizev1.KustomizationKind && group == kustomizev1.GroupVersion.Group:
				kind = build.KindKustomization
			case o.GetKind() == helmv2.HelmReleaseKind && group == helmv2.GroupVersion.Group:
				kind = build.KindHelmRelease
			default:
				continue
			}
			id := o.GetNamespace() + "/" + o.GetName()
			if self, ok := byID[id]; !ok || self.Kind != kind {
				continue
			}
			list, _, _ := unstructured.NestedSlice(o.Object, "spec", "dependsOn")
			for _, d := range list {
				dm, _ := d.(map[string]any)
				dn, _ := dm["name"].(string)
				dns, _ := dm["namespace"].(string)
				if dns == "" {
					dns = o.GetNamespace()
				}
				if dep, ok := byID[dns+"/"+dn]; ok && dep.Kind == kind {
					deps[id] = append(deps[id], dns+"/"+dn)
				}
			}
		}
	}
	return deps
}

func report(d *display, i int, st cmdutil.Styles, res *reconcile.KustomizationResult) {
	cs := res.ChangeSet
	for _, e := range cs.Entries {
		if e.Action == engineapply.Unchanged {
			continue
		}
		line := fmt.Sprintf("%s %s", e.Subject, e.Action)
		if e.Reason != "" {
			line += " (" + e.Reason + ")"
		}
		d.line(i, "  "+line)
	}
	switch {
	case res.Suspended:
		d.line(i, st.WarningLine("Kustomization "+res.Kustomization+" is suspended: skipped"))
	case res.Err != nil:
		for _, line := range strings.Split(res.Err.Error(), "\n") {
			d.line(i, st.FailureLine(line))
		}
	default:
		d.line(i, st.SuccessLine(fmt.Sprintf("Kustomization %s reconciled: %d created, %d configured, %d unchanged, %d deleted",
			res.Kustomization, cs.Count(engineapply.Created), cs.Count(engineapply.Configured), cs.Count(engineapply.Unchanged), cs.Count(engineapply.Deleted))))
	}
}

func summary(io *cmdutil.IOStreams, st cmdutil.Styles, results []*reconcile.KustomizationResult, took time.Duration) {
	var c, cf, u, d, failed, releases int
	for _, r := range results {
		if strings.HasPrefix(r.Kustomization, "HelmRelease/") {
			releases++
		}
		c += r.ChangeSet.Count(engineapply.Created)
		cf += r.ChangeSet.Count(engineapply.Configured)
		u += r.ChangeSet.Count(engineapply.Unchanged)
		d += r.ChangeSet.Count(engineapply.Deleted)
		if r.Err != nil {
			failed++
		}
	}
	what := fmt.Sprintf("%d Kustomizations", len(results)-releases)
	if releases > 0 {
		what += fmt.Sprintf(" and %d HelmRelease", releases)
		if releases > 1 {
			what += "s"
		}
	}
	line := fmt.Sprintf("%s: %d created, %d configured, %d unchanged, %d deleted in %s", what, c, cf, u, d, took.Round(time.Millisecond))
	if failed > 0 {
		fmt.Fprintln(io.ErrOut, st.FailureLine(fmt.Sprintf("%s; %d failed", line, failed)))
		return
	}
	fmt.Fprintln(io.ErrOut, st.SuccessLine(line))
}

type jsonResult struct {
	*reconcile.KustomizationResult
	Error string `json:"error,omitempty"`
}

func jsonResults(results []*reconcile.KustomizationResult) []jsonResult {
	out := make([]jsonResult, 0, len(results))
	for _, r := range results {
		jr := jsonResult{KustomizationResult: r}
		if r.Err != nil {
			jr.Error = r.Err.Error()
		}
		out = append(out, jr)
	}
	return out
}
