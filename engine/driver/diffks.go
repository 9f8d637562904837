package driver

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	engineapply "github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/diff"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/workspace"
)

// KustomizationDiff are the inputs of DiffKustomization (`diff kustomization NAME`, as Flux's).
type KustomizationDiff struct {
	// Workspace.Path, when set, is the local folder built instead of the Kustomization's spec.path in
	// its source; Workspace.Root is the repository it belongs to (default: the folder's Git work tree).
	Workspace       workspace.Options
	Clients         func() (*kube.Clients, error)
	Clock           clock.PassiveClock
	Namespace, Name string
	// File defines the Kustomization; "" reads it from the cluster.
	File             string
	DefaultNamespace string
	// IgnoreNotFound makes a Kustomization the cluster does not have (and no File gives) no change.
	IgnoreNotFound bool
	ShowSecrets    bool
}

// DiffKustomization builds one Kustomization and diffs its objects with the cluster, as apply would
// reconcile them (server-side dry-run, spec.force, prune of its inventory); nothing is written.
func DiffKustomization(ctx context.Context, o *KustomizationDiff) (*DiffResult, error) {
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	clients, err := o.Clients()
	if err != nil {
		return nil, err
	}
	dec, err := manifest.NewDecoder()
	if err != nil {
		return nil, err
	}
	var ks *kustomizev1.Kustomization
	if o.File != "" {
		if ks, err = workspace.KustomizationFromFile(ctx, dec, o.File, o.Namespace, o.Name, o.DefaultNamespace); err != nil {
			return nil, err
		}
	} else {
		ks, err = ClusterKustomization(ctx, clients, o.Namespace, o.Name)
		if apierrors.IsNotFound(err) && o.IgnoreNotFound {
			return &DiffResult{}, nil
		}
		if err != nil {
			return nil, err
		}
	}
	root := o.Workspace.Root
	if root == "" {
		root = "."
	}
	ws, err := workspace.OpenAt(&o.Workspace, root, workspace.DetectWorkTree(root), clients)
	if err != nil {
		return nil, err
	}
	tree, err := ws.BuildKustomizationObject(ctx, ks)
	if err != nil {
		return nil, err
	}
	node := tree.Nodes[0]
	out := &DiffResult{Warnings: tree.Warnings()}
	if node.Err != nil {
		out.Failures = append(out.Failures, node.Err.Error())
		return out, nil
	}
	am := &engineapply.Manager{Client: clients.Dynamic, Mapper: clients.Mapper}
	rec := reconcile.NewKustomizations(clients, clk)
	rec.Apply = am
	ws.Builder.Helm.IsNamespaced = clients.IsNamespaced
	differ := &diff.Differ{Apply: am, Kustomizations: rec, HelmReleases: reconcile.NewHelmReleases(clients, ws.Builder.Helm, clk),
		Core: clients.Core, ShowSecrets: o.ShowSecrets}
	entries, err := differ.Kustomization(ctx, ks.Namespace, ks.Name, ks, node.Objects)
	if err != nil {
		out.Failures = append(out.Failures, err.Error())
		return out, nil
	}
	for _, e := range entries {
		if e.Action == diff.Unchanged || e.Action == diff.Skipped {
			out.Unchanged++
			continue
		}
		out.Entries = append(out.Entries, e)
	}
	return out, nil
}

// ClusterKustomization reads the Kustomization namespace/name from the cluster; a missing one is an
// error apierrors.IsNotFound recognises.
func ClusterKustomization(ctx context.Context, clients *kube.Clients, namespace, name string) (*kustomizev1.Kustomization, error) {
	kind := kinds.MustByKey("kustomizations")
	u, err := clients.Dynamic.Resource(kind.Resource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading Kustomization %s/%s from the cluster (or give --kustomization-file): %w", namespace, name, err)
	}
	ks := &kustomizev1.Kustomization{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ks); err != nil {
		return nil, fmt.Errorf("Kustomization %s/%s: %w", namespace, name, err)
	}
	return ks, nil
}
