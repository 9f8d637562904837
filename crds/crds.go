// Package crds holds converge's Flux-compatible API types (one package per group/version), the CRD
// manifests generated from them (bases/), and the scheme that registers them all.
package crds

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	helmv2beta1 "github.com/converge-gitops/converge/crds/helm/v2beta1"
	helmv2beta2 "github.com/converge-gitops/converge/crds/helm/v2beta2"
	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	imagev1beta2 "github.com/converge-gitops/converge/crds/image/v1beta2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	notificationv1 "github.com/converge-gitops/converge/crds/notification/v1"
	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	sourcev1beta2 "github.com/converge-gitops/converge/crds/source/v1beta2"
	sourceextv1beta1 "github.com/converge-gitops/converge/crds/sourceext/v1beta1"
)

//go:embed bases/*.yaml
var bases embed.FS

// AddToScheme registers every Flux group version converge serves.
func AddToScheme(s *runtime.Scheme) error {
	for _, add := range []func(*runtime.Scheme) error{
		sourcev1.AddToScheme, sourcev1beta2.AddToScheme,
		sourceextv1beta1.AddToScheme,
		kustomizev1.AddToScheme,
		helmv2.AddToScheme, helmv2beta1.AddToScheme, helmv2beta2.AddToScheme,
		notificationv1.AddToScheme, notificationv1beta3.AddToScheme,
		imagev1.AddToScheme, imagev1beta2.AddToScheme,
		apiextensionsv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return err
		}
	}
	return nil
}

// NewScheme returns a scheme with the Kubernetes built-in types and every Flux type.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(AddToScheme(s))
	return s
}

// CustomResourceDefinitions returns the generated CRDs, sorted by name.
func CustomResourceDefinitions() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	entries, err := fs.ReadDir(bases, "bases")
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, e := range entries {
		p := path.Join("bases", e.Name())
		b, err := bases.ReadFile(p)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(b, crd); err != nil {
			return nil, fmt.Errorf("crds/%s: %w", p, err)
		}
		out = append(out, crd)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Manifests returns the generated CRD files, concatenated as one multi-document YAML stream.
func Manifests() ([]byte, error) {
	entries, err := fs.ReadDir(bases, "bases")
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, e := range entries {
		b, err := bases.ReadFile(path.Join("bases", e.Name()))
		if err != nil {
			return nil, err
		}
		if len(out) > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, b...)
	}
	return out, nil
}
