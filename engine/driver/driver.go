// Package driver drives a tree of Kustomizations and HelmReleases in push mode: it builds the tree
// (engine/workspace), orders it (parents, dependsOn), reconciles each node through engine/reconcile
// with bounded concurrency, or diffs it (engine/diff), and reports progress through a callback of
// typed events. It never prints: `apply` and `diff` render its events and results.
package driver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/utils/clock"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/crds"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	engineapply "github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/workspace"
)

// Options are the inputs of Prepare.
type Options struct {
	Workspace workspace.Options
	// InstallCRDs installs or upgrades the Flux CRDs first; without it, their absence is an error.
	InstallCRDs bool
	Clients     func() (*kube.Clients, error)
	// Revision names what is applied from the work tree (nil outside Git); default workspace.LocalRevision.
	Revision func(wt *git.WorkTree) string
	Clock    clock.PassiveClock
	// Concurrent bounds how many independent nodes are reconciled at once (default 4).
	Concurrent int
	// DependencyRequeue is how often a dependsOn outside the tree that is not ready is checked again
	// (default 5s), until the context ends.
	DependencyRequeue time.Duration
	// Tenancy is Flux's multi-tenancy lockdown, as the agent's flags set it.
	Tenancy reconcile.Tenancy
}

// Observer hears each reconcile result as it is written, e.g. to record events and send notifications.
type Observer interface {
	Kustomization(ctx context.Context, res *reconcile.KustomizationResult)
	HelmRelease(ctx context.Context, namespace, name string, res *reconcile.HelmReleaseResult)
}

// Driver is a built tree with the clients to reconcile or diff it.
type Driver struct {
	Clients        *kube.Clients
	Apply          *engineapply.Manager
	Kustomizations *reconcile.Kustomizations
	HelmReleases   *reconcile.HelmReleases
	Sources        *reconcile.Sources
	Workspace      *workspace.Workspace
	Tree           *build.Tree
	// Path is the tree's folder relative to the workspace's root; Revision what is applied.
	Path     string
	Revision string
	Clock    clock.PassiveClock
	// Concurrent bounds how many independent nodes are reconciled at once (default 4).
	Concurrent int
	// DependencyRequeue is how often a dependency outside the tree is checked again while it is not ready.
	DependencyRequeue time.Duration
	// Observer, when set, hears each result.
	Observer Observer
}

// Prepare connects to the cluster, checks (or installs) the Flux CRDs and builds the tree; progress
// hears a Building event before the build.
func Prepare(ctx context.Context, o *Options, progress func(Event)) (*Driver, error) {
	if progress == nil {
		progress = func(Event) {}
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	clients, err := o.Clients()
	if err != nil {
		return nil, err
	}
	am := &engineapply.Manager{Client: clients.Dynamic, Mapper: clients.Mapper}
	if err := EnsureCRDs(ctx, o.InstallCRDs, clients, am); err != nil {
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
	ws, err := workspace.Open(&o.Workspace, clients)
	if err != nil {
		return nil, err
	}
	if o.Tenancy.NoRemoteBases {
		ws.Builder.Remote = nil
	}
	revisionOf := o.Revision
	if revisionOf == nil {
		revisionOf = workspace.LocalRevision
	}
	revision := revisionOf(ws.WorkTree)
	progress(Building{Path: ws.Path, Revision: revision})
	tree, err := ws.BuildTree(ctx, dec)
	if err != nil {
		return nil, err
	}
	rec := reconcile.NewKustomizations(clients, clk)
	rec.Apply, rec.Tenancy = am, o.Tenancy
	ws.Builder.Helm.IsNamespaced = clients.IsNamespaced
	hrs := reconcile.NewHelmReleases(clients, ws.Builder.Helm, clk)
	hrs.Tenancy = o.Tenancy
	return &Driver{Clients: clients, Apply: am, Kustomizations: rec, HelmReleases: hrs, Workspace: ws, Tree: tree, Path: ws.Path,
		Revision: revision, Sources: &reconcile.Sources{Client: clients.Dynamic, Clock: clk}, Clock: clk,
		Concurrent: o.Concurrent, DependencyRequeue: o.DependencyRequeue}, nil
}

// EnsureCRDs checks that the Flux CRDs are served, installing or upgrading them when install is set.
func EnsureCRDs(ctx context.Context, install bool, clients *kube.Clients, am *engineapply.Manager) error {
	_, err := clients.Discovery.ServerResourcesForGroupVersion(kustomizev1.GroupVersion.String())
	if err == nil && !install {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) && !install {
		return fmt.Errorf("checking for the Flux CRDs: %w", err)
	}
	if !install {
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
