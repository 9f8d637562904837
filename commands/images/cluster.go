package images

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/engine/image"
)

// clusterObjects lists the ImageRepositories and ImagePolicies of namespace.
func clusterObjects(ctx context.Context, c dynamic.Interface, namespace string) (*image.Objects, error) {
	objs := &image.Objects{}
	repos, err := c.Resource(image.RepositoriesResource).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing ImageRepositories in %s: %w", namespace, err)
	}
	for _, item := range repos.Items {
		var r imagev1.ImageRepository
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &r); err != nil {
			return nil, fmt.Errorf("ImageRepository %s/%s: %w", item.GetNamespace(), item.GetName(), err)
		}
		objs.Repositories = append(objs.Repositories, r)
	}
	pols, err := c.Resource(image.PoliciesResource).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing ImagePolicies in %s: %w", namespace, err)
	}
	for _, item := range pols.Items {
		var p imagev1.ImagePolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &p); err != nil {
			return nil, fmt.Errorf("ImagePolicy %s/%s: %w", item.GetNamespace(), item.GetName(), err)
		}
		objs.Policies = append(objs.Policies, p)
	}
	return objs, nil
}
