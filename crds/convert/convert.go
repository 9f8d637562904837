// Package convert is the one place where objects of older Flux API versions become their kind's
// storage version.
package convert

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	helmv2beta1 "github.com/converge-gitops/converge/crds/helm/v2beta1"
	helmv2beta2 "github.com/converge-gitops/converge/crds/helm/v2beta2"
	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	imagev1beta2 "github.com/converge-gitops/converge/crds/image/v1beta2"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	sourcev1beta2 "github.com/converge-gitops/converge/crds/source/v1beta2"
)

// ToStorage returns obj converted to its kind's storage version, with apiVersion and kind set. Objects
// already at the storage version (and kinds served in one version only) are returned unchanged.
func ToStorage(obj runtime.Object) (runtime.Object, error) {
	var (
		out runtime.Object
		err error
	)
	switch in := obj.(type) {
	case *sourcev1beta2.GitRepository:
		out, err = GitRepositoryV1beta2ToV1(in)
	case *sourcev1beta2.HelmRepository:
		out, err = HelmRepositoryV1beta2ToV1(in)
	case *sourcev1beta2.HelmChart:
		out, err = HelmChartV1beta2ToV1(in)
	case *sourcev1beta2.Bucket:
		out, err = BucketV1beta2ToV1(in)
	case *sourcev1beta2.OCIRepository:
		out, err = OCIRepositoryV1beta2ToV1(in)
	case *helmv2beta1.HelmRelease:
		out, err = HelmReleaseV2beta1ToV2(in)
	case *helmv2beta2.HelmRelease:
		out, err = HelmReleaseV2beta2ToV2(in)
	case *imagev1beta2.ImageRepository:
		out, err = ImageRepositoryV1beta2ToV1(in)
	case *imagev1beta2.ImagePolicy:
		out, err = ImagePolicyV1beta2ToV1(in)
	case *imagev1beta2.ImageUpdateAutomation:
		out, err = ImageUpdateAutomationV1beta2ToV1(in)
	default:
		return obj, nil
	}
	if err != nil {
		gvk := obj.GetObjectKind().GroupVersionKind()
		return nil, fmt.Errorf("converting %s %s to its storage version: %w", gvk.Kind, gvk.Version, err)
	}
	setStorageGVK(out)
	return out, nil
}

func setStorageGVK(obj runtime.Object) {
	switch obj.(type) {
	case *sourcev1.GitRepository:
		obj.GetObjectKind().SetGroupVersionKind(sourcev1.GroupVersion.WithKind("GitRepository"))
	case *sourcev1.HelmRepository:
		obj.GetObjectKind().SetGroupVersionKind(sourcev1.GroupVersion.WithKind("HelmRepository"))
	case *sourcev1.HelmChart:
		obj.GetObjectKind().SetGroupVersionKind(sourcev1.GroupVersion.WithKind("HelmChart"))
	case *sourcev1.Bucket:
		obj.GetObjectKind().SetGroupVersionKind(sourcev1.GroupVersion.WithKind("Bucket"))
	case *sourcev1.OCIRepository:
		obj.GetObjectKind().SetGroupVersionKind(sourcev1.GroupVersion.WithKind("OCIRepository"))
	case *helmv2.HelmRelease:
		obj.GetObjectKind().SetGroupVersionKind(helmv2.GroupVersion.WithKind("HelmRelease"))
	case *imagev1.ImageRepository:
		obj.GetObjectKind().SetGroupVersionKind(imagev1.GroupVersion.WithKind("ImageRepository"))
	case *imagev1.ImagePolicy:
		obj.GetObjectKind().SetGroupVersionKind(imagev1.GroupVersion.WithKind("ImagePolicy"))
	case *imagev1.ImageUpdateAutomation:
		obj.GetObjectKind().SetGroupVersionKind(imagev1.GroupVersion.WithKind("ImageUpdateAutomation"))
	}
}
