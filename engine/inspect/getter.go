package inspect

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Getter reads one object of any kind; a missing object is an error for which apierrors.IsNotFound holds.
type Getter func(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error)

// ClusterGetter reads objects from the cluster, mapping kinds to resources with mapper. An empty
// version in gvk picks the preferred one.
func ClusterGetter(client dynamic.Interface, mapper meta.RESTMapper) Getter {
	return func(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error) {
		var versions []string
		if gvk.Version != "" {
			versions = append(versions, gvk.Version)
		}
		m, err := mapper.RESTMapping(gvk.GroupKind(), versions...)
		if err != nil {
			return nil, fmt.Errorf("the cluster does not serve %s: %w", gvk.GroupKind(), err)
		}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			return client.Resource(m.Resource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		}
		return client.Resource(m.Resource).Get(ctx, name, metav1.GetOptions{})
	}
}

// ObjectsGetter serves objs, for rendering fixtures offline.
func ObjectsGetter(objs ...*unstructured.Unstructured) Getter {
	return func(_ context.Context, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error) {
		for _, o := range objs {
			g := o.GroupVersionKind()
			if g.Group == gvk.Group && g.Kind == gvk.Kind && o.GetNamespace() == namespace && o.GetName() == name {
				return o, nil
			}
		}
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, name)
	}
}
