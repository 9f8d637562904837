package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	helmrel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/crds/meta"
)

// releaseState is the state of a release in Helm's storage compared with the HelmRelease.
type releaseState string

const (
	stateAbsent    releaseState = "Absent"
	stateUnmanaged releaseState = "Unmanaged"
	stateOutOfSync releaseState = "OutOfSync"
	stateLocked    releaseState = "Locked"
	stateUntested  releaseState = "Untested"
	stateInSync    releaseState = "InSync"
	stateFailed    releaseState = "Failed"
	stateDrifted   releaseState = "Drifted"
)

// kind groups actions the way helm-controller limits them: one of each kind per reconciliation,
// stopping after a remediation.
type kind int

const (
	kindRelease kind = iota
	kindRemediate
	kindTest
	kindUnlock
	kindDriftCorrection
)

type step struct {
	action Action
	kind   kind
	run    func(ctx context.Context) error
}

// atomic is one reconciliation's run of actions.
type atomic struct {
	r            *Releaser
	s            *session
	req          *Request
	res          *Result
	configDigest string
	// drift is what the last state determination found drifted.
	drift *Drift
}

func (a *atomic) hr() *helmv2.HelmRelease { return a.req.HelmRelease }

func (a *atomic) patch(ctx context.Context) error {
	if a.req.Patch == nil {
		return nil
	}
	return a.req.Patch(ctx, a.hr())
}

func (a *atomic) run(ctx context.Context) error {
	hr := a.hr()
	var done []kind
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("atomic release canceled: %w", err)
		}
		state, reason, err := a.state(ctx)
		if err != nil {
			a.r.markReady(hr, metav1.ConditionFalse, reasonStateError, "Could not determine release state: "+err.Error())
			return fmt.Errorf("cannot determine release state: %w", err)
		}
		next, err := a.next(state, reason)
		if err != nil {
			switch {
			case errors.Is(err, ErrExceededMaxRetries):
				a.stall(reasonRetriesExceeded, fmt.Sprintf("Failed to %s after %d attempt(s)",
					hr.Status.LastAttemptedReleaseAction, failureCount(hr)))
			case errors.Is(err, ErrMissingRollbackTarget):
				a.stall(reasonMissingTarget, "Failed to perform remediation: "+err.Error())
			}
			return err
		}
		if next == nil {
			apimeta.RemoveStatusCondition(&hr.Status.Conditions, meta.ReconcilingCondition)
			a.r.summarize(hr)
			return nil
		}
		if next.kind == kindDriftCorrection && contains(done, kindDriftCorrection) {
			// Still drifted after a correction: reported, tried again at the next reconciliation.
			apimeta.RemoveStatusCondition(&hr.Status.Conditions, meta.ReconcilingCondition)
			a.r.summarize(hr)
			return nil
		}
		if contains(done, next.kind) {
			if rem := hr.GetActiveRemediation(); rem == nil || !rem.RetriesExhausted(hr) {
				a.requeue()
				return nil
			}
			apimeta.RemoveStatusCondition(&hr.Status.Conditions, meta.ReconcilingCondition)
			return nil
		}
		msg := fmt.Sprintf("Running '%s' action with timeout of %s", next.action, a.timeout(next.action))
		a.r.setCondition(hr, meta.ReconcilingCondition, metav1.ConditionTrue, meta.ProgressingReason, msg)
		if next.kind == kindRelease {
			a.r.markReady(hr, metav1.ConditionUnknown, meta.ProgressingReason, msg)
		}
		if err := a.patch(ctx); err != nil {
			return err
		}
		if next.kind != kindDriftCorrection {
			a.res.Actions = append(a.res.Actions, next.action)
		}
		if err := next.run(ctx); err != nil {
			if c := apimeta.FindStatusCondition(hr.Status.Conditions, meta.ReadyCondition); c != nil && c.Status == metav1.ConditionTrue {
				a.r.markReady(hr, metav1.ConditionFalse, reasonReconcileError, err.Error())
			}
			return err
		}
		if next.kind == kindRemediate {
			rem := hr.GetActiveRemediation()
			if rem == nil || !rem.RetriesExhausted(hr) {
				a.requeue()
				return nil
			}
			a.stall(reasonRetriesExceeded, fmt.Sprintf("Failed to %s after %d attempt(s)",
				hr.Status.LastAttemptedReleaseAction, rem.GetFailureCount(hr)))
			return ErrExceededMaxRetries
		}
		if retry := hr.GetActiveRetry(false); retry != nil && next.kind == kindRelease && isFailed(hr) {
			// RetryOnFailure: no remediation; the next attempt waits for the retry interval.
			a.res.RequeueAfter = retry.GetRetryInterval()
			a.r.setCondition(hr, meta.ReconcilingCondition, metav1.ConditionTrue, meta.ProgressingWithRetryReason,
				"retrying after "+retry.GetRetryInterval().String())
			return nil
		}
		done = append(done, next.kind)
		if err := a.patch(ctx); err != nil {
			return err
		}
	}
}

func isFailed(hr *helmv2.HelmRelease) bool {
	c := apimeta.FindStatusCondition(hr.Status.Conditions, helmv2.ReleasedCondition)
	return c != nil && c.Status == metav1.ConditionFalse
}

func failureCount(hr *helmv2.HelmRelease) int64 {
	if rem := hr.GetActiveRemediation(); rem != nil {
		return rem.GetFailureCount(hr)
	}
	return 0
}

func contains(ks []kind, k kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func (a *atomic) requeue() {
	hr := a.hr()
	msg := ""
	if c := apimeta.FindStatusCondition(hr.Status.Conditions, meta.ReadyCondition); c != nil {
		msg = c.Message
	}
	a.r.setCondition(hr, meta.ReconcilingCondition, metav1.ConditionTrue, meta.ProgressingWithRetryReason, msg)
	a.res.Requeue = true
}

func (a *atomic) stall(reason, msg string) {
	hr := a.hr()
	a.r.setCondition(hr, meta.StalledCondition, metav1.ConditionTrue, reason, msg)
	apimeta.RemoveStatusCondition(&hr.Status.Conditions, meta.ReconcilingCondition)
	a.res.Stalled = true
}

func (a *atomic) timeout(act Action) time.Duration {
	hr := a.hr()
	def := hr.GetTimeout()
	switch act {
	case ActionInstall:
		return hr.GetInstall().GetTimeout(def).Duration
	case ActionUpgrade:
		return hr.GetUpgrade().GetTimeout(def).Duration
	case ActionTest:
		return hr.GetTest().GetTimeout(def).Duration
	case ActionRollback:
		return hr.GetRollback().GetTimeout(def).Duration
	case ActionUninstall:
		return hr.GetUninstall().GetTimeout(def).Duration
	}
	return def.Duration
}

// state compares the release in Helm's storage with the HelmRelease, as helm-controller does; with
// drift detection, an in-sync release's objects are compared with the cluster too.
func (a *atomic) state(ctx context.Context) (releaseState, string, error) {
	hr := a.hr()
	rls, err := lastRelease(a.s.storage(), a.s.releaseName())
	if err != nil {
		return "", "", fmt.Errorf("failed to retrieve last release from storage: %w", err)
	}
	if rls == nil {
		return stateAbsent, "no release in storage for object", nil
	}
	if rls.Info.Status.IsPending() {
		return stateLocked, fmt.Sprintf("release with status '%s'", rls.Info.Status), nil
	}
	if hr.Status.History.Len() == 0 {
		if rls.Info.Status == rcommon.StatusUninstalled {
			return stateAbsent, "found uninstalled release in storage", nil
		}
		return stateUnmanaged, "found existing release in storage", nil
	}
	cur := hr.Status.History.Latest()
	if !verify(cur, rls) {
		return stateUnmanaged, "release not observed to be made for object", nil
	}
	switch rls.Info.Status {
	case rcommon.StatusFailed:
		return stateFailed, "", nil
	case rcommon.StatusUninstalled:
		return stateAbsent, "found uninstalled release in storage", nil
	case rcommon.StatusDeployed:
		md := a.req.Chart.Metadata
		if rls.Chart == nil || rls.Chart.Metadata == nil || rls.Chart.Metadata.Name != md.Name || rls.Chart.Metadata.Version != md.Version {
			return stateOutOfSync, "release chart changed", nil
		}
		if cur.ConfigDigest != a.configDigest {
			return stateOutOfSync, "release config values changed", nil
		}
		if d := hr.Status.ObservedPostRenderersDigest; d != "" && d != postRenderersDigest(hr) {
			return stateOutOfSync, "postrenderers digest has changed", nil
		}
		if d := hr.Status.ObservedCommonMetadataDigest; d != "" && d != commonMetadataDigest(hr) {
			return stateOutOfSync, "common metadata digest has changed", nil
		}
		if test := hr.GetTest(); test.Enable {
			if !cur.HasBeenTested() {
				return stateUntested, "", nil
			}
			rem := hr.GetActiveRemediation()
			if rem != nil && !rem.MustIgnoreTestFailures(test.IgnoreFailures) && cur.HasTestInPhase(helmrel.HookPhaseFailed.String()) {
				return stateFailed, "release has test in failed phase", nil
			}
		}
		a.drift = nil
		if hr.GetDriftDetection().MustDetectChanges() {
			drift, err := a.detectDrift(ctx, rls)
			if err != nil {
				return "", "", err
			}
			if drift != nil {
				a.drift = drift
				return stateDrifted, "detected changes in cluster state", nil
			}
		}
		return stateInSync, "", nil
	}
	return "", "", fmt.Errorf("unable to determine state for release with status '%s'", rls.Info.Status)
}

// next is the action the state asks for, as helm-controller decides it; nil when none is due.
func (a *atomic) next(state releaseState, _ string) (*step, error) {
	hr := a.hr()
	force := helmv2.ShouldHandleForceRequest(hr)
	switch state {
	case stateInSync:
		ignore := hr.GetTest().IgnoreFailures
		if rem := hr.GetActiveRemediation(); rem != nil {
			ignore = rem.MustIgnoreTestFailures(ignore)
		}
		hr.Status.History.Truncate(ignore)
		if force {
			return a.upgradeStep(), nil
		}
		a.remediatedToReleased()
		if hr.GetDriftDetection().MustDetectChanges() {
			a.r.setCondition(hr, helmv2.DriftedCondition, metav1.ConditionFalse, helmv2.NoDriftDetectedReason, "No drift detected against the cluster state")
		}
		return nil, nil
	case stateDrifted:
		a.r.setCondition(hr, helmv2.DriftedCondition, metav1.ConditionTrue, helmv2.DriftDetectedReason, a.drift.Message())
		if a.res.Drift == nil {
			a.res.Drift = a.drift
		}
		if hr.GetDriftDetection().GetMode() == helmv2.DriftDetectionEnabled {
			return a.driftCorrectionStep(), nil
		}
		return nil, nil
	case stateLocked:
		return a.unlockStep(), nil
	case stateAbsent:
		if hr.GetInstall().GetRemediation().RetriesExhausted(hr) && !force {
			return nil, fmt.Errorf("%w: cannot install release", ErrExceededMaxRetries)
		}
		return a.installStep(), nil
	case stateUnmanaged:
		hr.Status.ClearHistory()
		return a.upgradeStep(), nil
	case stateOutOfSync:
		if hr.GetUpgrade().GetRemediation().RetriesExhausted(hr) && !force {
			return nil, fmt.Errorf("%w: cannot upgrade release", ErrExceededMaxRetries)
		}
		return a.upgradeStep(), nil
	case stateUntested:
		a.remediatedToReleased()
		return a.testStep(), nil
	case stateFailed:
		rem := hr.GetActiveRemediation()
		if rem == nil || rem.GetFailureCount(hr) <= 0 || force || hr.GetActiveRetry(false) != nil {
			return a.upgradeStep(), nil
		}
		if rem.RetriesExhausted(hr) && !rem.MustRemediateLastFailure() {
			return nil, fmt.Errorf("%w: cannot remediate failed release", ErrExceededMaxRetries)
		}
		ignore := rem.MustIgnoreTestFailures(hr.GetTest().IgnoreFailures)
		hr.Status.History.Truncate(ignore)
		switch rem.GetStrategy() {
		case helmv2.RollbackRemediationStrategy:
			prev := hr.Status.History.Previous(ignore)
			if prev == nil {
				return nil, fmt.Errorf("%w: cannot remediate failed release", ErrMissingRollbackTarget)
			}
			rls, err := getRelease(a.s.storage(), prev.Name, prev.Version)
			if err != nil {
				if errors.Is(err, driver.ErrReleaseNotFound) {
					return a.upgradeStep(), nil
				}
				return nil, fmt.Errorf("cannot verify previous release to roll back to: %w", err)
			}
			if !verify(prev, rls) {
				return a.upgradeStep(), nil
			}
			return a.rollbackStep(), nil
		case helmv2.UninstallRemediationStrategy:
			return a.uninstallRemediationStep(), nil
		}
		return nil, fmt.Errorf("unknown remediation strategy: %s", rem.GetStrategy())
	}
	return nil, fmt.Errorf("unknown release status: %s", state)
}

// remediatedToReleased: an in-sync release after a rollback matches the desired state again, so the
// Remediated condition becomes Released=True (UpgradeSucceeded), keeping its transition time.
func (a *atomic) remediatedToReleased() {
	hr := a.hr()
	c := apimeta.FindStatusCondition(hr.Status.Conditions, helmv2.RemediatedCondition)
	if c == nil || c.Status != metav1.ConditionTrue {
		return
	}
	cur := hr.Status.History.Latest()
	n := *c
	n.Type, n.Status, n.Reason = helmv2.ReleasedCondition, metav1.ConditionTrue, helmv2.UpgradeSucceededReason
	n.Message = fmt.Sprintf(fmtUpgradeSuccess, cur.FullReleaseName(), cur.VersionedChartName())
	n.ObservedGeneration = hr.Generation
	apimeta.RemoveStatusCondition(&hr.Status.Conditions, helmv2.ReleasedCondition)
	apimeta.RemoveStatusCondition(&hr.Status.Conditions, helmv2.RemediatedCondition)
	hr.Status.Conditions = append(hr.Status.Conditions, n)
}

// recordObserved puts the release records an install or upgrade wrote into the history: the newest
// first, older ones (superseded by it) updated in place.
func (a *atomic) recordObserved(obs observedReleases, act helmv2.ReleaseAction) {
	hr := a.hr()
	vs := obs.versions()
	if len(vs) == 0 {
		return
	}
	newest := obs[vs[0]]
	newest.Action = act
	hr.Status.History = append(helmv2.Snapshots{newest}, hr.Status.History...)
	for _, v := range vs[1:] {
		o := obs[v]
		for i, snap := range hr.Status.History[1:] {
			if snap.Targets(o.Name, o.Namespace, o.Version) {
				n := o.DeepCopy()
				n.Action = snap.Action
				n.OCIDigest = snap.OCIDigest
				n.SetTestHooks(snap.GetTestHooks())
				hr.Status.History[i+1] = n
			}
		}
	}
}

func (a *atomic) observer(obs observedReleases) func(*helmrel.Release) {
	return func(rls *helmrel.Release) { obs[rls.Version] = Snapshot(rls, a.req.OCIDigest) }
}

func (a *atomic) installStep() *step {
	return &step{action: ActionInstall, kind: kindRelease, run: func(ctx context.Context) error {
		return a.release(ctx, helmv2.ReleaseActionInstall)
	}}
}

func (a *atomic) upgradeStep() *step {
	return &step{action: ActionUpgrade, kind: kindRelease, run: func(ctx context.Context) error {
		return a.release(ctx, helmv2.ReleaseActionUpgrade)
	}}
}

// release runs an install or upgrade and records it as Flux does.
func (a *atomic) release(ctx context.Context, act helmv2.ReleaseAction) error {
	hr := a.hr()
	defer a.r.summarize(hr)
	hr.Status.LastAttemptedReleaseAction = act
	if act == helmv2.ReleaseActionInstall {
		hr.Status.ClearHistory()
	}
	apimeta.RemoveStatusCondition(&hr.Status.Conditions, helmv2.TestSuccessCondition)
	apimeta.RemoveStatusCondition(&hr.Status.Conditions, helmv2.RemediatedCondition)

	obs := observedReleases{}
	cfg := a.s.configuration(ctx, a.withInventory(a.observer(obs)))
	start := a.r.now()
	var err error
	if act == helmv2.ReleaseActionInstall {
		err = a.s.install(ctx, cfg, a.req.Chart, a.req.Values)
	} else {
		err = a.s.upgrade(ctx, cfg, a.req.Chart, a.req.Values)
	}
	hr.Status.LastAttemptedReleaseActionDuration = &metav1.Duration{Duration: a.r.now().Sub(start)}
	a.recordObserved(obs, act)

	if err != nil {
		reason, format := helmv2.InstallFailedReason, fmtInstallFailure
		if act == helmv2.ReleaseActionUpgrade {
			reason, format = helmv2.UpgradeFailedReason, fmtUpgradeFailure
		}
		md := a.req.Chart.Metadata
		hr.Status.Failures++
		a.r.setCondition(hr, helmv2.ReleasedCondition, metav1.ConditionFalse, reason,
			fmt.Sprintf(format, hr.GetReleaseNamespace(), hr.GetReleaseName(), md.Name, md.Version, strings.TrimSpace(err.Error())))
		if len(obs) == 0 {
			// Nothing was stored: nothing to remediate, the caller retries.
			return err
		}
		if act == helmv2.ReleaseActionInstall {
			hr.GetInstall().GetRemediation().IncrementFailureCount(hr)
		} else {
			hr.GetUpgrade().GetRemediation().IncrementFailureCount(hr)
		}
		return nil
	}

	cur := hr.Status.History.Latest()
	reason, format := helmv2.InstallSucceededReason, fmtInstallSuccess
	retry := hr.GetInstall().GetRetry(false)
	if act == helmv2.ReleaseActionUpgrade {
		reason, format = helmv2.UpgradeSucceededReason, fmtUpgradeSuccess
		retry = hr.GetUpgrade().GetRetry(false)
	}
	a.r.setCondition(hr, helmv2.ReleasedCondition, metav1.ConditionTrue, reason, fmt.Sprintf(format, cur.FullReleaseName(), cur.VersionedChartName()))
	if hr.GetTest().Enable && !cur.HasBeenTested() {
		a.r.setCondition(hr, helmv2.TestSuccessCondition, metav1.ConditionUnknown, reasonAwaitingTests,
			fmt.Sprintf(fmtTestPending, cur.FullReleaseName(), cur.VersionedChartName()))
	}
	if retry != nil {
		hr.Status.ClearFailures()
	}
	return nil
}

func (a *atomic) testStep() *step {
	return &step{action: ActionTest, kind: kindTest, run: func(ctx context.Context) error {
		hr := a.hr()
		defer a.r.summarize(hr)
		cur := hr.Status.History.Latest().DeepCopy()
		if cur == nil {
			return errors.New("no latest release: required for test")
		}
		cfg := a.s.configuration(ctx, func(rls *helmrel.Release) {
			latest := hr.Status.History.Latest()
			if !latest.Targets(rls.Name, rls.Namespace, rls.Version) {
				return
			}
			n := Snapshot(rls, latest.OCIDigest)
			n.Action = latest.Action
			n.SetTestHooks(testHooks(rls))
			hr.Status.History[0] = n
		})
		rls, err := a.s.test(cfg)
		if rls != nil && !cur.Targets(rls.Name, rls.Namespace, rls.Version) {
			err = fmt.Errorf("release mismatch: tested release %s/%s.v%d != current release %s",
				rls.Namespace, rls.Name, rls.Version, cur.FullReleaseName())
		}
		latest := hr.Status.History.Latest()
		if err != nil {
			hr.Status.Failures++
			a.r.setCondition(hr, helmv2.TestSuccessCondition, metav1.ConditionFalse, helmv2.TestFailedReason,
				fmt.Sprintf(fmtTestFailure, latest.FullReleaseName(), latest.VersionedChartName(), strings.TrimSpace(err.Error())))
			if !latest.HasBeenTested() {
				return err
			}
			if rem := hr.GetActiveRemediation(); rem != nil && !rem.MustIgnoreTestFailures(hr.GetTest().IgnoreFailures) {
				rem.IncrementFailureCount(hr)
			}
			return nil
		}
		hooks := "no test hooks"
		if n := len(latest.GetTestHooks()); n == 1 {
			hooks = "1 test hook completed successfully"
		} else if n > 1 {
			hooks = fmt.Sprintf("%d test hooks completed successfully", n)
		}
		a.r.setCondition(hr, helmv2.TestSuccessCondition, metav1.ConditionTrue, helmv2.TestSucceededReason,
			fmt.Sprintf(fmtTestSuccess, latest.FullReleaseName(), latest.VersionedChartName(), hooks))
		return nil
	}}
}

func (a *atomic) rollbackStep() *step {
	return &step{action: ActionRollback, kind: kindRemediate, run: func(ctx context.Context) error {
		hr := a.hr()
		defer a.r.summarize(hr)
		cur := hr.Status.History.Latest().DeepCopy()
		prev := hr.Status.History.Previous(hr.GetUpgrade().GetRemediation().MustIgnoreTestFailures(hr.GetTest().IgnoreFailures)).DeepCopy()
		if prev == nil {
			return fmt.Errorf("%w: required to rollback", ErrMissingRollbackTarget)
		}
		if prev.Name != cur.Name || prev.Namespace != cur.Namespace {
			return fmt.Errorf("release mismatch: previous release name or namespace %s does not match current %s", prev.FullReleaseName(), cur.FullReleaseName())
		}
		cfg := a.s.configuration(ctx, a.withInventory(func(rls *helmrel.Release) {
			if !updateSnapshots(hr, rls) {
				n := Snapshot(rls, prev.OCIDigest)
				n.Action = helmv2.ReleaseActionRollback
				hr.Status.History = append(helmv2.Snapshots{n}, hr.Status.History...)
			}
		}))
		if err := a.s.rollback(cfg, prev.Name, prev.Version); err != nil {
			hr.Status.Failures++
			a.r.setCondition(hr, helmv2.RemediatedCondition, metav1.ConditionFalse, helmv2.RollbackFailedReason,
				fmt.Sprintf(fmtRollbackFailure, prev.FullReleaseName(), prev.VersionedChartName(), strings.TrimSpace(err.Error())))
			if n := hr.Status.History.Latest(); n == nil || n.Digest == cur.Digest {
				return err
			}
			return nil
		}
		a.r.setCondition(hr, helmv2.RemediatedCondition, metav1.ConditionTrue, helmv2.RollbackSucceededReason,
			fmt.Sprintf(fmtRollbackSuccess, prev.FullReleaseName(), prev.VersionedChartName()))
		return nil
	}}
}

func (a *atomic) uninstallRemediationStep() *step {
	return &step{action: ActionUninstall, kind: kindRemediate, run: func(ctx context.Context) error {
		hr := a.hr()
		defer a.r.summarize(hr)
		cur := hr.Status.History.Latest().DeepCopy()
		if cur == nil {
			return errors.New("no latest release: required to uninstall")
		}
		cfg := a.s.configuration(ctx, func(rls *helmrel.Release) { updateSnapshots(hr, rls) })
		rls, err := a.s.uninstall(cfg, cur.Name)
		if rls != nil && !cur.Targets(rls.Name, rls.Namespace, rls.Version) {
			err = fmt.Errorf("release mismatch: uninstalled release %s/%s.v%d != current release %s",
				rls.Namespace, rls.Name, rls.Version, cur.FullReleaseName())
		}
		if err == nil && cur.Digest == hr.Status.History.Latest().Digest {
			err = errors.New("uninstall completed with error: release not updated in Helm storage")
		}
		if err != nil {
			hr.Status.Failures++
			a.r.setCondition(hr, helmv2.RemediatedCondition, metav1.ConditionFalse, helmv2.UninstallFailedReason,
				fmt.Sprintf(fmtUninstallRFail, cur.FullReleaseName(), cur.VersionedChartName(), strings.TrimSpace(err.Error())))
			if cur.Digest == hr.Status.History.Latest().Digest {
				return err
			}
			return nil
		}
		a.r.setCondition(hr, helmv2.RemediatedCondition, metav1.ConditionTrue, helmv2.UninstallSucceededReason,
			fmt.Sprintf(fmtUninstallRSucc, cur.FullReleaseName(), cur.VersionedChartName()))
		return nil
	}}
}

// driftCorrectionStep corrects the drift found (enabled mode) as helm-controller does: no Helm action,
// no new revision; the outcome is reported in the result's Drift (events), not as a failure.
func (a *atomic) driftCorrectionStep() *step {
	drift := a.drift
	return &step{action: ActionCorrectDrift, kind: kindDriftCorrection, run: func(ctx context.Context) error {
		hr := a.hr()
		a.r.markReady(hr, metav1.ConditionUnknown, meta.ProgressingReason, "correcting cluster drift")
		ctx, cancel := context.WithTimeout(ctx, hr.GetTimeout().Duration)
		defer cancel()
		_ = a.correctDrift(ctx, drift)
		return nil
	}}
}

func (a *atomic) unlockStep() *step {
	return &step{action: ActionUnlock, kind: kindUnlock, run: func(ctx context.Context) error {
		hr := a.hr()
		defer a.r.summarize(hr)
		cfg := a.s.configuration(ctx, func(rls *helmrel.Release) { updateSnapshots(hr, rls) })
		rls, err := lastRelease(cfg.Releases, a.s.releaseName())
		if err != nil || rls == nil {
			return err
		}
		cur := Snapshot(rls, "")
		status := rls.Info.Status
		if !status.IsPending() {
			return nil
		}
		rls.SetStatus(rcommon.StatusFailed, fmt.Sprintf("Release unlocked from stale '%s' state", status))
		if err := cfg.Releases.Update(rls); err != nil {
			hr.Status.Failures++
			a.r.setCondition(hr, helmv2.ReleasedCondition, metav1.ConditionFalse, reasonPendingRelease,
				fmt.Sprintf(fmtUnlockFailure, cur.FullReleaseName(), cur.VersionedChartName(), status, strings.TrimSpace(err.Error())))
			return err
		}
		a.r.setCondition(hr, helmv2.ReleasedCondition, metav1.ConditionFalse, reasonPendingRelease,
			fmt.Sprintf(fmtUnlockSuccess, cur.FullReleaseName(), cur.VersionedChartName(), status))
		return nil
	}}
}
