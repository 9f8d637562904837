package manifest

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/crds"
)

var crdResource = apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")

// CRDsOf returns the CustomResourceDefinitions (apiextensions.k8s.io/v1) among objs, e.g. a build
// output: the CRDs applying it will install, kustomize patches included. file names objs in errors.
func CRDsOf(file string, objs []*unstructured.Unstructured) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group != apiextensionsv1.GroupName || gvk.Kind != "CustomResourceDefinition" || gvk.Version != "v1" {
			continue
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, crd); err != nil {
			return nil, fmt.Errorf("%s: CustomResourceDefinition %s: %w", file, o.GetName(), err)
		}
		out = append(out, crd)
	}
	return out, nil
}

// ClusterCRDs reads from the cluster the CRDs of every Flux kind converge serves, those it has: the
// schemas the API server will validate the tree's Flux objects with (see Decoder.WithCRDs). A CRD the
// cluster lacks, or that the credentials may not read, is left out.
func ClusterCRDs(ctx context.Context, client dynamic.Interface) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	own, err := crds.CustomResourceDefinitions()
	if err != nil {
		return nil, err
	}
	// One GET each, all at once: a round trip each in sequence was a start-up cost of every command.
	found := make([]*apiextensionsv1.CustomResourceDefinition, len(own))
	g, gctx := errgroup.WithContext(ctx)
	for i, c := range own {
		g.Go(func() error {
			u, err := client.Resource(crdResource).Get(gctx, c.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
				return nil // converge cannot know this schema: its own stands in, with warnings (see WithCRDs)
			}
			if err != nil {
				return fmt.Errorf("reading CustomResourceDefinition %s from the cluster: %w", c.Name, err)
			}
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, crd); err != nil {
				return fmt.Errorf("CustomResourceDefinition %s in the cluster: %w", c.Name, err)
			}
			found[i] = crd
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, crd := range found {
		if crd != nil {
			out = append(out, crd)
		}
	}
	return out, nil
}
