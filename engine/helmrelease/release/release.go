package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	helmrel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/health"
	"github.com/converge-gitops/converge/engine/helmrelease"
)

// Errors Reconcile returns that end the attempts until the HelmRelease changes (Flux stalls on them).
var (
	// ErrExceededMaxRetries: the remediation retries are used up.
	ErrExceededMaxRetries = errors.New("exceeded maximum retries")
	// ErrMissingRollbackTarget: no earlier release to roll back to.
	ErrMissingRollbackTarget = errors.New("missing target release for rollback")
)

// Releaser runs the release actions of HelmReleases against one cluster.
type Releaser struct {
	// Config reaches the cluster (already impersonating spec.serviceAccountName when set).
	Config *rest.Config
	// Renderer post-renders manifests and hooks as `converge build helmrelease` does; nil installs
	// without post-rendering (no origin labels).
	Renderer *helmrelease.Renderer
	// Clock gives the status times (required).
	Clock clock.PassiveClock
	// HealthCache, when set, serves the release's health waits from watches after their first read
	// (health.Checker.Cache); only for releases to the cluster the cache watches.
	HealthCache *health.Cache
}

// Request is one reconciliation of a HelmRelease's release.
type Request struct {
	// HelmRelease is the live object; Reconcile updates its status in place.
	HelmRelease *helmv2.HelmRelease
	// Chart is the chart to release and Values the composed values (helmrelease.Renderer.Values).
	Chart  *chart.Chart
	Values map[string]any
	// OCIDigest is the digest of the OCI artifact the chart came from (helm.TrackSourceDigest), if any.
	OCIDigest string
	// Patch persists the status between actions (nil: only the caller's final write persists it).
	Patch func(ctx context.Context, hr *helmv2.HelmRelease) error
}

// Action is a Helm action Reconcile ran.
type Action string

// Actions, as Flux names them in its messages.
const (
	ActionInstall   Action = "install"
	ActionUpgrade   Action = "upgrade"
	ActionTest      Action = "test"
	ActionRollback  Action = "rollback"
	ActionUninstall Action = "uninstall"
	ActionUnlock    Action = "unlock"
	// ActionCorrectDrift is the correction of cluster drift (no Helm action: never in Result.Actions).
	ActionCorrectDrift Action = "correct cluster drift"
)

// Result is the outcome of Reconcile.
type Result struct {
	// Actions are the Helm actions run, in order; none for an in-sync release.
	Actions []Action `json:"actions,omitempty"`
	// Requeue: a remediation ran and the release must be attempted again (helm-controller requeues at
	// once); RequeueAfter: a RetryOnFailure strategy waits that long before the next attempt.
	Requeue      bool          `json:"requeue,omitempty"`
	RequeueAfter time.Duration `json:"requeueAfter,omitempty"`
	// Stalled: no further attempt will be made until the HelmRelease changes.
	Stalled bool `json:"stalled,omitempty"`
	// Drift is the drift found in the cluster (spec.driftDetection enabled or warn) and its correction;
	// nil when none was found. Its Events are what helm-controller reports.
	Drift *Drift `json:"drift,omitempty"`
}

// Messages of Flux's conditions.
const (
	fmtInstallFailure   = "Helm install failed for release %s/%s with chart %s@%s: %s"
	fmtInstallSuccess   = "Helm install succeeded for release %s with chart %s"
	fmtUpgradeFailure   = "Helm upgrade failed for release %s/%s with chart %s@%s: %s"
	fmtUpgradeSuccess   = "Helm upgrade succeeded for release %s with chart %s"
	fmtTestPending      = "Helm release %s with chart %s is awaiting tests"
	fmtTestFailure      = "Helm test failed for release %s with chart %s: %s"
	fmtTestSuccess      = "Helm test succeeded for release %s with chart %s: %s"
	fmtRollbackFailure  = "Helm rollback to previous release %s with chart %s failed: %s"
	fmtRollbackSuccess  = "Helm rollback to previous release %s with chart %s succeeded"
	fmtUninstallRFail   = "Helm uninstall remediation for release %s with chart %s failed: %s"
	fmtUninstallRSucc   = "Helm uninstall remediation for release %s with chart %s succeeded"
	fmtUninstallFailure = "Helm uninstall failed for release %s with chart %s: %s"
	fmtUninstallSuccess = "Helm uninstall succeeded for release %s with chart %s"
	fmtUnlockFailure    = "Unlock of Helm release %s with chart %s in %s state failed: %s"
	fmtUnlockSuccess    = "Unlocked Helm release %s with chart %s in %s state"

	reasonPendingRelease  = "PendingRelease"
	reasonAwaitingTests   = "AwaitingTests"
	reasonRetriesExceeded = "RetriesExceeded"
	reasonMissingTarget   = "MissingRollbackTarget"
	reasonStateError      = "StateError"
	reasonReconcileError  = "ReconcileError"
)

func (r *Releaser) now() time.Time {
	return r.Clock.Now()
}

// Reconcile brings req's release to the desired state as helm-controller does for one
// reconciliation: it uninstalls the old release when the release name, target namespace or storage
// namespace changed, resets the failure counters when the chart, values or generation changed, then
// runs install, upgrade, test and remediation (rollback or uninstall) as the release state asks,
// stopping after a remediation. The HelmRelease's status is updated in place (persisted through
// req.Patch between actions); observedGeneration and lastHandledReconcileAt are the caller's.
func (r *Releaser) Reconcile(ctx context.Context, req *Request) (*Result, error) {
	hr := req.HelmRelease
	res := &Result{}
	if req.Chart == nil || req.Chart.Metadata == nil {
		return res, errors.New("no chart")
	}

	if reason, changed := targetChanged(hr, req.Chart.Name()); changed {
		if err := r.uninstallCurrent(ctx, hr, res); err != nil {
			return res, fmt.Errorf("release target configuration changed (%s): %w", reason, err)
		}
		hr.Status.ClearHistory()
		hr.Status.ClearFailures()
		hr.Status.StorageNamespace = ""
	}
	hr.Status.StorageNamespace = hr.GetStorageNamespace()

	configDigest := helmrelease.DigestValues(req.Values)
	// The reset request first, as helm-controller checks it: status.lastHandledResetAt records it even
	// when a new generation, chart or values reset the counters anyway.
	resetRequested := helmv2.ShouldHandleResetRequest(hr)
	if mustResetFailures(hr, req.Chart.Metadata.Version, configDigest) || resetRequested {
		hr.Status.ClearFailures()
	}
	hr.Status.LastAttemptedGeneration = hr.Generation
	hr.Status.LastAttemptedRevision = req.Chart.Metadata.Version
	hr.Status.LastAttemptedRevisionDigest = req.OCIDigest
	hr.Status.LastAttemptedConfigDigest = configDigest
	hr.Status.LastAttemptedValuesChecksum = ""
	hr.Status.LastReleaseRevision = 0

	s, err := newSession(r.Config, hr, hr.Status.StorageNamespace, r.Renderer)
	if s != nil {
		s.healthCache = r.HealthCache
	}
	if err != nil {
		r.markReady(hr, metav1.ConditionFalse, "FactoryError", err.Error())
		return res, err
	}
	a := &atomic{r: r, s: s, req: req, res: res, configDigest: configDigest}
	err = a.run(ctx)
	if err == nil && !res.Requeue {
		hr.Status.ObservedPostRenderersDigest = postRenderersDigest(hr)
		hr.Status.ObservedCommonMetadataDigest = commonMetadataDigest(hr)
	}
	return res, err
}

// Uninstall uninstalls hr's release for the deletion of hr (helm-controller's finalizer): the release
// recorded in its status, from status.storageNamespace. Nothing is done when hr never had a release.
// The status keeps the outcome (Released=False, UninstallSucceeded) and loses its history.
func (r *Releaser) Uninstall(ctx context.Context, hr *helmv2.HelmRelease) error {
	if hr.Status.StorageNamespace == "" {
		return nil
	}
	if err := r.uninstallCurrent(ctx, hr, &Result{}); err != nil {
		return err
	}
	hr.Status.ClearHistory()
	hr.Status.StorageNamespace = ""
	return nil
}

// uninstallCurrent uninstalls the latest release of hr's history, from the recorded storage namespace.
func (r *Releaser) uninstallCurrent(ctx context.Context, hr *helmv2.HelmRelease, res *Result) error {
	cur := hr.Status.History.Latest().DeepCopy()
	if cur == nil {
		return nil
	}
	ns := hr.Status.StorageNamespace
	if ns == "" {
		ns = hr.GetStorageNamespace()
	}
	s, err := newSession(r.Config, hr, ns, nil)
	if err != nil {
		return err
	}
	res.Actions = append(res.Actions, ActionUninstall)
	cfg := s.configuration(ctx, func(rls *helmrel.Release) { updateSnapshots(hr, rls) })
	rls, err := s.uninstall(cfg, cur.Name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		hr.Status.Inventory = nil
		r.setCondition(hr, helmv2.ReleasedCondition, metav1.ConditionFalse, helmv2.UninstallSucceededReason,
			fmt.Sprintf("Release %s was not found, assuming it is uninstalled", cur.FullReleaseName()))
		return nil
	}
	if err != nil && hr.GetUninstall().KeepHistory && strings.Contains(err.Error(), "is already deleted") {
		hr.Status.Inventory = nil
		r.setCondition(hr, helmv2.ReleasedCondition, metav1.ConditionFalse, helmv2.UninstallSucceededReason,
			fmt.Sprintf("Release %s was already uninstalled", cur.FullReleaseName()))
		return nil
	}
	if rls != nil && !cur.Targets(rls.Name, rls.Namespace, rls.Version) {
		err = fmt.Errorf("release mismatch: uninstalled release %s/%s.v%d != current release %s",
			rls.Namespace, rls.Name, rls.Version, cur.FullReleaseName())
	}
	if err != nil {
		hr.Status.Failures++
		r.setCondition(hr, helmv2.ReleasedCondition, metav1.ConditionFalse, helmv2.UninstallFailedReason,
			fmt.Sprintf(fmtUninstallFailure, cur.FullReleaseName(), cur.VersionedChartName(), strings.TrimSpace(err.Error())))
		return err
	}
	hr.Status.Inventory = nil
	r.setCondition(hr, helmv2.ReleasedCondition, metav1.ConditionFalse, helmv2.UninstallSucceededReason,
		fmt.Sprintf(fmtUninstallSuccess, cur.FullReleaseName(), cur.VersionedChartName()))
	return nil
}

// targetChanged reports whether the release recorded in hr's status is no longer hr's release target
// (storage namespace, release namespace, release name or chart name changed).
func targetChanged(hr *helmv2.HelmRelease, chartName string) (string, bool) {
	cur := hr.Status.History.Latest()
	switch {
	case hr.Status.StorageNamespace == "" || cur == nil:
		return "", false
	case hr.GetStorageNamespace() != hr.Status.StorageNamespace:
		return "storage namespace", true
	case hr.GetReleaseNamespace() != cur.Namespace:
		return "release namespace", true
	case helmrelease.ShortenName(hr.GetReleaseName()) != cur.Name:
		return "release name", true
	case chartName != cur.ChartName && hr.GetUpgrade().GetChartNameChangeStrategy() == helmv2.ChartNameChangeStrategyReinstall:
		return "chart name", true
	}
	return "", false
}

// mustResetFailures: the failure counters apply to one desired state; a new generation, chart version
// or values digest starts over.
func mustResetFailures(hr *helmv2.HelmRelease, chartVersion, configDigest string) bool {
	st := hr.Status
	return st.LastAttemptedGeneration != hr.Generation || st.LastAttemptedRevision != chartVersion ||
		(st.LastAttemptedConfigDigest != "" && st.LastAttemptedConfigDigest != configDigest)
}

func jsonDigest(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func postRenderersDigest(hr *helmv2.HelmRelease) string {
	if len(hr.Spec.PostRenderers) == 0 {
		return ""
	}
	return jsonDigest(hr.Spec.PostRenderers)
}

func commonMetadataDigest(hr *helmv2.HelmRelease) string {
	if hr.Spec.CommonMetadata == nil {
		return ""
	}
	return jsonDigest(hr.Spec.CommonMetadata)
}

// setCondition sets a condition of hr for its current generation.
func (r *Releaser) setCondition(hr *helmv2.HelmRelease, t string, status metav1.ConditionStatus, reason, msg string) {
	if len(msg) > 32000 {
		msg = msg[:32000] + "..."
	}
	apimeta.SetStatusCondition(&hr.Status.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason,
		Message: msg, ObservedGeneration: hr.Generation, LastTransitionTime: metav1.NewTime(r.now())})
}

func (r *Releaser) markReady(hr *helmv2.HelmRelease, status metav1.ConditionStatus, reason, msg string) {
	r.setCondition(hr, meta.ReadyCondition, status, reason, msg)
}

// summarize derives Ready from Remediated, TestSuccess (when tests are enabled and their failures not
// ignored) and Released, as Flux does: the newest of them by generation, in that priority; a
// remediation is never Ready.
func (r *Releaser) summarize(hr *helmv2.HelmRelease) {
	order := []string{helmv2.RemediatedCondition, helmv2.ReleasedCondition}
	test := hr.GetTest()
	if test.Enable && !test.IgnoreFailures {
		order = []string{helmv2.RemediatedCondition, helmv2.TestSuccessCondition, helmv2.ReleasedCondition}
	}
	if !test.Enable {
		apimeta.RemoveStatusCondition(&hr.Status.Conditions, helmv2.TestSuccessCondition)
	}
	rank := func(t string) int {
		for i, o := range order {
			if o == t {
				return i
			}
		}
		return -1
	}
	var cands []metav1.Condition
	for _, c := range hr.Status.Conditions {
		if rank(c.Type) >= 0 {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].ObservedGeneration != cands[j].ObservedGeneration {
			return cands[i].ObservedGeneration > cands[j].ObservedGeneration
		}
		return rank(cands[i].Type) < rank(cands[j].Type)
	})
	top := cands[0]
	status := top.Status
	if top.Type == helmv2.RemediatedCondition {
		status = metav1.ConditionFalse
	}
	if status == metav1.ConditionTrue {
		apimeta.RemoveStatusCondition(&hr.Status.Conditions, meta.StalledCondition)
	}
	r.markReady(hr, status, top.Reason, top.Message)
}

// updateSnapshots replaces the snapshots of hr's history that rls is a new record of, keeping their
// test results; it reports whether one matched.
func updateSnapshots(hr *helmv2.HelmRelease, rls *helmrel.Release) bool {
	matched := false
	for i, snap := range hr.Status.History {
		if snap.Targets(rls.Name, rls.Namespace, rls.Version) {
			n := Snapshot(rls, snap.OCIDigest)
			n.Action = snap.Action
			n.SetTestHooks(snap.GetTestHooks())
			hr.Status.History[i] = n
			matched = true
		}
	}
	return matched
}
