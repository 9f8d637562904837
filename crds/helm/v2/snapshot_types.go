package v2

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// SnapshotAPIVersion2 marks snapshots whose digests were computed the Helm 4 way.
	SnapshotAPIVersion2 = "v2"
	// CurrentSnapshotAPIVersion is the snapshot API version written by this implementation.
	CurrentSnapshotAPIVersion = SnapshotAPIVersion2
)

// Helm release statuses and test phases the snapshot helpers look at.
const (
	releaseStatusDeployed   = "deployed"
	releaseStatusSuperseded = "superseded"
	testPhaseFailed         = "Failed"
	testPhaseSucceeded      = "Succeeded"
)

// Snapshots is the release history recorded in a HelmRelease status.
type Snapshots []*Snapshot

// Len returns the number of snapshots.
func (in Snapshots) Len() int { return len(in) }

// SortByVersion sorts the snapshots by release version, newest first.
func (in Snapshots) SortByVersion() {
	sort.Slice(in, func(i, j int) bool { return in[i].Version > in[j].Version })
}

// Latest returns the snapshot with the highest version, or nil.
func (in Snapshots) Latest() *Snapshot {
	if len(in) == 0 {
		return nil
	}
	in.SortByVersion()
	return in[0]
}

// previousIndex returns the index (after sorting) of the newest snapshot older than the latest
// that was deployed or superseded and, unless ignoreTests, has no failed test; -1 if none.
func (in Snapshots) previousIndex(ignoreTests bool) int {
	in.SortByVersion()
	for i := 1; i < len(in); i++ {
		s := in[i]
		if s.Status != releaseStatusDeployed && s.Status != releaseStatusSuperseded {
			continue
		}
		if ignoreTests || !s.HasTestInPhase(testPhaseFailed) {
			return i
		}
	}
	return -1
}

// Previous returns the release a rollback would go back to, or nil.
func (in Snapshots) Previous(ignoreTests bool) *Snapshot {
	if len(in) < 2 {
		return nil
	}
	if i := in.previousIndex(ignoreTests); i > 0 {
		return in[i]
	}
	return nil
}

// Truncate drops the snapshots older than Previous; with no Previous it keeps the newest
// defaultMaxHistory snapshots.
func (in *Snapshots) Truncate(ignoreTests bool) {
	if in.Len() < 2 {
		return
	}
	if i := in.previousIndex(ignoreTests); i > 0 {
		*in = (*in)[:i+1]
		return
	}
	if in.Len() > defaultMaxHistory {
		*in = (*in)[:defaultMaxHistory]
	}
}

// TruncateIgnoringPreviousSnapshots keeps the newest defaultMaxHistory snapshots.
func (in *Snapshots) TruncateIgnoringPreviousSnapshots() {
	in.SortByVersion()
	if in.Len() > defaultMaxHistory {
		*in = (*in)[:defaultMaxHistory]
	}
}

// Snapshot is the controller's record of one Helm release version.
type Snapshot struct {
	// APIVersion tells how Digest was computed.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Digest of the release object in Helm storage, "<algo>:<hex>".
	// +required
	Digest string `json:"digest"`
	// Name of the release.
	// +required
	Name string `json:"name"`
	// Namespace the release is installed in.
	// +required
	Namespace string `json:"namespace"`
	// Version of the release.
	// +required
	Version int `json:"version"`
	// Status of the release, e.g. "deployed".
	// +required
	Status string `json:"status"`
	// Action that produced this release version.
	// +optional
	Action ReleaseAction `json:"action,omitempty"`
	// ChartName of the released chart.
	// +required
	ChartName string `json:"chartName"`
	// ChartVersion of the released chart.
	// +required
	ChartVersion string `json:"chartVersion"`
	// AppVersion of the released chart.
	// +optional
	AppVersion string `json:"appVersion,omitempty"`
	// ConfigDigest of the release values, "<algo>:<hex>".
	// +required
	ConfigDigest string `json:"configDigest"`
	// FirstDeployed is when the release was first deployed.
	// +required
	FirstDeployed metav1.Time `json:"firstDeployed"`
	// LastDeployed is when this release version was deployed.
	// +required
	LastDeployed metav1.Time `json:"lastDeployed"`
	// Deleted is when the release was uninstalled.
	// +optional
	Deleted metav1.Time `json:"deleted,omitempty"`
	// TestHooks are the test hooks observed to run for this version, by name.
	// +optional
	TestHooks *map[string]*TestHookStatus `json:"testHooks,omitempty"`
	// OCIDigest is the digest of the OCI artifact the chart came from.
	// +optional
	OCIDigest string `json:"ociDigest,omitempty"`
}

// FullReleaseName returns "<namespace>/<name>.v<version>".
func (in *Snapshot) FullReleaseName() string {
	if in == nil {
		return ""
	}
	return fmt.Sprintf("%s/%s.v%d", in.Namespace, in.Name, in.Version)
}

// VersionedChartName returns "<chart>@<version>".
func (in *Snapshot) VersionedChartName() string {
	if in == nil {
		return ""
	}
	return fmt.Sprintf("%s@%s", in.ChartName, in.ChartVersion)
}

// HasBeenTested reports whether tests ran to an outcome: an empty hook map (no tests), any
// failed hook, or all hooks succeeded.
func (in *Snapshot) HasBeenTested() bool {
	if in == nil || in.TestHooks == nil {
		return false
	}
	hooks := *in.TestHooks
	if len(hooks) == 0 || in.HasTestInPhase(testPhaseFailed) {
		return true
	}
	for _, h := range hooks {
		if h == nil || h.Phase != testPhaseSucceeded {
			return false
		}
	}
	return true
}

// GetTestHooks returns the test hooks, or nil.
func (in *Snapshot) GetTestHooks() map[string]*TestHookStatus {
	if in == nil || in.TestHooks == nil {
		return nil
	}
	return *in.TestHooks
}

// HasTestInPhase reports whether any test hook is in the given phase.
func (in *Snapshot) HasTestInPhase(phase string) bool {
	for _, h := range in.GetTestHooks() {
		if h != nil && h.Phase == phase {
			return true
		}
	}
	return false
}

// SetTestHooks sets the test hooks; a nil map is ignored.
func (in *Snapshot) SetTestHooks(hooks map[string]*TestHookStatus) {
	if in == nil || hooks == nil {
		return
	}
	in.TestHooks = &hooks
}

// Targets reports whether the snapshot is of the given release version.
func (in *Snapshot) Targets(name, namespace string, version int) bool {
	return in != nil && in.Name == name && in.Namespace == namespace && in.Version == version
}

// GetAction returns the action that produced the snapshot.
func (in *Snapshot) GetAction() ReleaseAction {
	if in == nil {
		return ""
	}
	return in.Action
}

// TestHookStatus is the observed state of one Helm test hook.
type TestHookStatus struct {
	// LastStarted is when the hook last started.
	// +optional
	LastStarted metav1.Time `json:"lastStarted,omitempty"`
	// LastCompleted is when the hook last completed.
	// +optional
	LastCompleted metav1.Time `json:"lastCompleted,omitempty"`
	// Phase the hook was last seen in.
	// +optional
	Phase string `json:"phase,omitempty"`
}
