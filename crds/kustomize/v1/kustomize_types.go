package v1

// Image overrides the name, tag or digest of a container image, as kustomize's images field does.
type Image struct {
	// Name is the image name to match, without tag.
	// +required
	Name string `json:"name"`

	// NewName replaces the image name.
	// +optional
	NewName string `json:"newName,omitempty"`

	// NewTag replaces the image tag.
	// +optional
	NewTag string `json:"newTag,omitempty"`

	// Digest replaces the tag with a digest; NewTag is ignored when set.
	// +optional
	Digest string `json:"digest,omitempty"`
}

// Selector picks a set of objects; an object is selected when it matches every field set.
type Selector struct {
	// Group is the API group of the objects.
	// +optional
	Group string `json:"group,omitempty"`

	// Version is the API version of the objects.
	// +optional
	Version string `json:"version,omitempty"`

	// Kind is the kind of the objects.
	// +optional
	Kind string `json:"kind,omitempty"`

	// Namespace is the namespace of the objects.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Name is the name of the objects (a regular expression in kustomize).
	// +optional
	Name string `json:"name,omitempty"`

	// AnnotationSelector is a label-selector expression matched against the objects' annotations.
	// +optional
	AnnotationSelector string `json:"annotationSelector,omitempty"`

	// LabelSelector is a label-selector expression matched against the objects' labels.
	// +optional
	LabelSelector string `json:"labelSelector,omitempty"`
}

// Patch is an inline strategic-merge or JSON6902 patch with an optional target selector.
type Patch struct {
	// Patch is the patch document: a strategic-merge object or a JSON6902 operation list, as YAML.
	// +required
	Patch string `json:"patch"`

	// Target selects the objects to patch; without it the patch's own kind and name are used.
	// +optional
	Target *Selector `json:"target,omitempty"`
}

// CustomHealthCheck holds CEL expressions that compute the health of objects of one kind.
type CustomHealthCheck struct {
	// APIVersion of the objects the expressions apply to.
	// +required
	APIVersion string `json:"apiVersion"`

	// Kind of the objects the expressions apply to.
	// +optional
	Kind string `json:"kind,omitempty"`

	HealthCheckExpressions `json:",inline"`
}

// HealthCheckExpressions are the CEL expressions of a custom health check.
type HealthCheckExpressions struct {
	// Current evaluates to true when the object has reached its desired state.
	// +required
	Current string `json:"current"`

	// InProgress evaluates to true while the object is still progressing.
	// +optional
	InProgress string `json:"inProgress,omitempty"`

	// Failed evaluates to true when the object has failed to reach its desired state.
	// +optional
	Failed string `json:"failed,omitempty"`
}
