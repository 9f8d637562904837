package v1

// ImageFinalizer is the finalizer placed on the image API objects.
const ImageFinalizer = "finalizers.fluxcd.io"

// Condition reasons used by ImageRepository and ImagePolicy.
const (
	// ImageURLInvalidReason: spec.image cannot be parsed as an image repository.
	ImageURLInvalidReason string = "ImageURLInvalid"

	// DependencyNotReadyReason: a referenced object is not ready yet.
	DependencyNotReadyReason string = "DependencyNotReady"

	// AuthenticationFailedReason: credentials are missing, malformed or rejected.
	AuthenticationFailedReason string = "AuthenticationFailed"

	// ReadOperationFailedReason: reading from the registry or the tag store failed.
	ReadOperationFailedReason string = "ReadOperationFailed"

	// IntervalNotConfiguredReason: an interval is required but missing.
	IntervalNotConfiguredReason string = "IntervalNotConfigured"
)

// Condition reasons used by ImageUpdateAutomation.
const (
	// InvalidUpdateStrategyReason: spec.update is not usable.
	InvalidUpdateStrategyReason string = "InvalidUpdateStrategy"

	// InvalidSourceConfigReason: the referenced source or git settings are not usable.
	InvalidSourceConfigReason string = "InvalidSourceConfiguration"

	// SourceManagerFailedReason: preparing the source checkout failed.
	SourceManagerFailedReason string = "SourceManagerFailed"

	// GitOperationFailedReason: a clone, commit or push failed.
	GitOperationFailedReason string = "GitOperationFailed"

	// UpdateFailedReason: rewriting the manifests failed.
	UpdateFailedReason string = "UpdateFailed"

	// InvalidPolicySelectorReason: spec.policySelector cannot be turned into a selector.
	InvalidPolicySelectorReason string = "InvalidPolicySelector"

	// RemovedTemplateFieldReason: the commit message template uses a field that no longer exists.
	RemovedTemplateFieldReason string = "RemovedTemplateField"
)
