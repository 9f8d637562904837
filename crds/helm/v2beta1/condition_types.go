package v2beta1

// Condition types a v2beta1 HelmRelease reports besides Ready, Reconciling and Stalled.
const (
	ReleasedCondition    string = "Released"
	TestSuccessCondition string = "TestSuccess"
	RemediatedCondition  string = "Remediated"
)

// Condition reasons a v2beta1 HelmRelease reports.
const (
	InstallSucceededReason        string = "InstallSucceeded"
	InstallFailedReason           string = "InstallFailed"
	UpgradeSucceededReason        string = "UpgradeSucceeded"
	UpgradeFailedReason           string = "UpgradeFailed"
	TestSucceededReason           string = "TestSucceeded"
	TestFailedReason              string = "TestFailed"
	RollbackSucceededReason       string = "RollbackSucceeded"
	RollbackFailedReason          string = "RollbackFailed"
	UninstallSucceededReason      string = "UninstallSucceeded"
	UninstallFailedReason         string = "UninstallFailed"
	ArtifactFailedReason          string = "ArtifactFailed"
	InitFailedReason              string = "InitFailed"
	GetLastReleaseFailedReason    string = "GetLastReleaseFailed"
	DependencyNotReadyReason      string = "DependencyNotReady"
	ReconciliationSucceededReason string = "ReconciliationSucceeded"
	ReconciliationFailedReason    string = "ReconciliationFailed"
)
