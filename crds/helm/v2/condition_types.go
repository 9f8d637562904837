package v2

// Condition types a HelmRelease reports besides Ready, Reconciling and Stalled.
const (
	// ReleasedCondition reports the last install or upgrade attempt for the current desired state.
	ReleasedCondition string = "Released"

	// TestSuccessCondition reports the last Helm test run for the current desired state.
	TestSuccessCondition string = "TestSuccess"

	// RemediatedCondition reports the last rollback or uninstall done after a failed release.
	RemediatedCondition string = "Remediated"

	// DriftedCondition reports whether the cluster objects differ from the release manifest.
	DriftedCondition string = "Drifted"
)

// Condition reasons a HelmRelease reports.
const (
	InstallSucceededReason   string = "InstallSucceeded"
	InstallFailedReason      string = "InstallFailed"
	UpgradeSucceededReason   string = "UpgradeSucceeded"
	UpgradeFailedReason      string = "UpgradeFailed"
	TestSucceededReason      string = "TestSucceeded"
	TestFailedReason         string = "TestFailed"
	RollbackSucceededReason  string = "RollbackSucceeded"
	RollbackFailedReason     string = "RollbackFailed"
	UninstallSucceededReason string = "UninstallSucceeded"
	UninstallFailedReason    string = "UninstallFailed"

	// ArtifactFailedReason: the chart artifact could not be fetched or loaded.
	ArtifactFailedReason string = "ArtifactFailed"

	// DependencyNotReadyReason: a dependsOn entry is not ready yet.
	DependencyNotReadyReason string = "DependencyNotReady"

	// DriftDetectedReason: the cluster objects differ from the release manifest.
	DriftDetectedReason string = "DriftDetected"

	// NoDriftDetectedReason: the cluster objects match the release manifest.
	NoDriftDetectedReason string = "NoDriftDetected"
)
