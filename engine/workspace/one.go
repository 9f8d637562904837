package workspace

import (
	"context"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/manifest"
)

// RenderHelmRelease renders the HelmRelease namespace/name that file defines, with the sources that
// file declares (others resolve as for a tree). The tree has that one node.
func (w *Workspace) RenderHelmRelease(ctx context.Context, dec *manifest.Decoder, file, namespace, name string) (*build.Tree, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	objs, err := dec.Decode(ctx, file, data)
	if err != nil {
		return nil, err
	}
	var hr *helmv2.HelmRelease
	declared := map[string]runtime.Object{}
	for _, o := range objs {
		switch v := o.Typed.(type) {
		case *helmv2.HelmRelease:
			if v.Name == name && v.Namespace == namespace {
				hr = v
			}
		case nil:
		default:
			gvk := v.GetObjectKind().GroupVersionKind()
			declared[gvk.Kind+"/"+o.Unstructured.GetNamespace()+"/"+o.Unstructured.GetName()] = v
		}
	}
	if hr == nil {
		return nil, fmt.Errorf("%s defines no HelmRelease %s/%s", file, namespace, name)
	}
	node := &build.Node{Kind: build.KindHelmRelease, Name: hr.Namespace + "/" + hr.Name}
	chrt, digest, err := w.Charts.ResolveChart(ctx, hr, declared)
	node.ChartDigest = digest
	if err != nil {
		node.Err = fmt.Errorf("HelmRelease %s: chart: %w", node.Name, err)
	} else if res, err := w.Builder.Helm.Render(ctx, hr, chrt); err != nil {
		node.Err = err
	} else {
		node.Objects = res.Objects
	}
	tree := &build.Tree{Nodes: []*build.Node{node}}
	w.usedSources(tree)
	return tree, nil
}

// BuildKustomization builds the Kustomization namespace/name that file defines (one without a
// namespace counts as in defaultNamespace) from w.Options.Path when set, else from its source. The tree
// has that one node.
func (w *Workspace) BuildKustomization(ctx context.Context, dec *manifest.Decoder, file, namespace, name, defaultNamespace string) (*build.Tree, error) {
	ks, err := KustomizationFromFile(ctx, dec, file, namespace, name, defaultNamespace)
	if err != nil {
		return nil, err
	}
	return w.BuildKustomizationObject(ctx, ks)
}

// KustomizationFromFile reads the Kustomization namespace/name file defines (one without a namespace
// counts as defaultNamespace's).
func KustomizationFromFile(ctx context.Context, dec *manifest.Decoder, file, namespace, name, defaultNamespace string) (*kustomizev1.Kustomization, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	objs, err := dec.Decode(ctx, file, data)
	if err != nil {
		return nil, err
	}
	var ks *kustomizev1.Kustomization
	for _, o := range objs {
		if k, ok := o.Typed.(*kustomizev1.Kustomization); ok && k.Name == name && (k.Namespace == namespace || k.Namespace == "" && namespace == defaultNamespace) {
			ks = k
		}
	}
	if ks == nil {
		return nil, fmt.Errorf("%s defines no Kustomization %s/%s", file, namespace, name)
	}
	return ks, nil
}

// BuildKustomizationObject builds ks (read from a file or the cluster) from w.Options.Path when set,
// else from its source. The tree has that one node.
func (w *Workspace) BuildKustomizationObject(ctx context.Context, ks *kustomizev1.Kustomization) (*build.Tree, error) {
	var root string
	if w.Options.Path != "" {
		r, p, err := RepoRoot(w.Options.Root, w.Options.Path)
		if err != nil {
			return nil, err
		}
		root, ks.Spec.Path = r, p
	} else {
		ns := ks.Spec.SourceRef.Namespace
		if ns == "" {
			ns = ks.Namespace
		}
		var err error
		root, err = w.Resolver.ResolveSource(ctx, ks.Spec.SourceRef.Kind, ns, ks.Spec.SourceRef.Name, nil)
		if err != nil {
			return nil, fmt.Errorf("Kustomization %s/%s: %w (or give --path)", ks.Namespace, ks.Name, err)
		}
	}
	node := &build.Node{Kind: build.KindKustomization, Name: ks.Namespace + "/" + ks.Name}
	res, err := w.Builder.Build(ctx, ks, root)
	if err != nil {
		node.Err = err
	} else {
		node.Objects = res.Objects
	}
	tree := &build.Tree{Nodes: []*build.Node{node}}
	w.usedSources(tree)
	return tree, nil
}
