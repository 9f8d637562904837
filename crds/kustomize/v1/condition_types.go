package v1

// Condition types and reasons a Kustomization reports. Most are shared with the other Flux kinds
// and repeated here so that engine code can refer to them through this package.
const (
	// HealthyCondition reports the result of the last health assessment.
	HealthyCondition string = "Healthy"

	// PruneFailedReason: garbage collection of objects no longer in the source failed.
	PruneFailedReason string = "PruneFailed"

	// ArtifactFailedReason: the source artifact could not be fetched or extracted.
	ArtifactFailedReason string = "ArtifactFailed"

	// BuildFailedReason: the kustomize build (or decryption/substitution) failed.
	BuildFailedReason string = "BuildFailed"

	// HealthCheckFailedReason: a health check failed or timed out.
	HealthCheckFailedReason string = "HealthCheckFailed"

	// HealthCheckCanceledReason: a health check was cancelled by a newer revision.
	HealthCheckCanceledReason string = "HealthCheckCanceled"

	// DependencyNotReadyReason: a dependsOn entry is not ready yet.
	DependencyNotReadyReason string = "DependencyNotReady"

	// ReconciliationSucceededReason: the last reconciliation succeeded.
	ReconciliationSucceededReason string = "ReconciliationSucceeded"

	// ReconciliationFailedReason: the last reconciliation failed.
	ReconciliationFailedReason string = "ReconciliationFailed"

	// ProgressingWithRetryReason: the reconciliation failed and will be retried.
	ProgressingWithRetryReason string = "ProgressingWithRetry"

	// InvalidCELExpressionReason: a readyExpr or health check expression does not compile.
	InvalidCELExpressionReason string = "InvalidCELExpression"

	// FeatureGateDisabledReason: the spec uses a feature whose gate is off.
	FeatureGateDisabledReason string = "FeatureGateDisabled"
)

// Labels and annotations kustomize-controller puts on, or reads from, the objects it applies.
const (
	// NameLabel holds the name of the Kustomization that owns an applied object.
	NameLabel = "kustomize.toolkit.fluxcd.io/name"
	// NamespaceLabel holds the namespace of the Kustomization that owns an applied object.
	NamespaceLabel = "kustomize.toolkit.fluxcd.io/namespace"
	// ReconcileAnnotation set to "disabled" on an object stops it being reconciled.
	ReconcileAnnotation = "kustomize.toolkit.fluxcd.io/reconcile"
	// SSAAnnotation chooses how an object is applied: "Merge", "IfNotPresent" or "Ignore".
	SSAAnnotation = "kustomize.toolkit.fluxcd.io/ssa"
	// PruneAnnotation set to "disabled" keeps an object when it leaves the source.
	PruneAnnotation = "kustomize.toolkit.fluxcd.io/prune"
	// ForceAnnotation set to "enabled" recreates an object whose immutable fields changed.
	ForceAnnotation = "kustomize.toolkit.fluxcd.io/force"
	// SubstituteAnnotation set to "disabled" skips post-build variable substitution for an object.
	SubstituteAnnotation = "kustomize.toolkit.fluxcd.io/substitute"
	// LegacyChecksumAnnotation is an obsolete annotation removed from applied objects.
	LegacyChecksumAnnotation = "kustomize.toolkit.fluxcd.io/checksum"
)
