package v1

import "fmt"

// CrossNamespaceSourceReference points at the source object that provides the artifact.
type CrossNamespaceSourceReference struct {
	// APIVersion of the source.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the source.
	// +kubebuilder:validation:Enum=OCIRepository;GitRepository;Bucket;ExternalArtifact
	// +required
	Kind string `json:"kind"`

	// Name of the source.
	// +required
	Name string `json:"name"`

	// Namespace of the source; the Kustomization's namespace when empty.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// String renders the reference as "Kind/Name" or "Kind/Namespace/Name".
func (s *CrossNamespaceSourceReference) String() string {
	if s.Namespace != "" {
		return fmt.Sprintf("%s/%s/%s", s.Kind, s.Namespace, s.Name)
	}
	return fmt.Sprintf("%s/%s", s.Kind, s.Name)
}

// DependencyReference names an object that must be ready before the referring one is reconciled,
// with an optional CEL expression that decides readiness.
type DependencyReference struct {
	// Name of the dependency.
	// +required
	Name string `json:"name"`

	// Namespace of the dependency; the referring object's namespace when empty.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// ReadyExpr is a CEL expression evaluated against the dependency to decide whether it is ready;
	// when set it replaces the built-in Ready condition check.
	// +optional
	ReadyExpr string `json:"readyExpr,omitempty"`
}

// String renders the reference as "[namespace/]name[@readyExpr]".
func (in DependencyReference) String() string {
	s := in.Name
	if in.Namespace != "" {
		s = in.Namespace + "/" + s
	}
	if in.ReadyExpr != "" {
		s += "@" + in.ReadyExpr
	}
	return s
}
