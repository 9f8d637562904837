package v2beta2

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
)

// JSON6902 is one RFC 6902 JSON patch operation.
type JSON6902 struct {
	// Op is the operation.
	// +kubebuilder:validation:Enum=test;remove;add;replace;move;copy
	// +required
	Op string `json:"op"`

	// Path is the JSON pointer the operation acts on.
	// +required
	Path string `json:"path"`

	// From is the source JSON pointer of move and copy.
	// +optional
	From string `json:"from,omitempty"`

	// Value is the operand of add, replace and test.
	// +optional
	Value *apiextensionsv1.JSON `json:"value,omitempty"`
}

// JSON6902Patch is a list of JSON patch operations with the objects they apply to.
type JSON6902Patch struct {
	// Patch is the list of operations.
	// +required
	Patch []JSON6902 `json:"patch"`

	// Target selects the objects to patch.
	// +required
	Target kustomizev1.Selector `json:"target"`
}
