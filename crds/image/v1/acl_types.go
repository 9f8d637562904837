package v1

// AccessFrom is an ACL granting objects in other namespaces the right to reference this one,
// selected by the labels of their namespace.
type AccessFrom struct {
	// NamespaceSelectors are ORed: a namespace matching any of them is allowed.
	// +required
	NamespaceSelectors []NamespaceSelector `json:"namespaceSelectors"`
}

// NamespaceSelector selects namespaces by label; an empty selector matches all namespaces.
type NamespaceSelector struct {
	// MatchLabels must all be present on the namespace.
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// Condition type and reason Flux sets when an ACL check denies a reference.
const (
	AccessDeniedCondition string = "AccessDenied"
	AccessDeniedReason    string = "AccessDenied"
)
