package reconcile

import (
	"context"
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/apply"
)

// Drift detection of Kustomizations, converge's addition to Flux: with the annotation set to
// DriftDetectionWarn (or the agent's detect-only flag), drift from the last applied revision is reported
// as the Drifted condition and an event instead of being corrected. New revisions are still applied.
const (
	DriftDetectionAnnotation = "converge.io/drift-detection"
	DriftDetectionWarn       = "warn"
	DriftDetectionEnabled    = "enabled"
	DriftedCondition         = "Drifted"
	DriftDetectedReason      = "DriftDetected"
	NoDriftReason            = "NoDrift"
)

// DetectDrift compares objs (ks's build at revision) with the cluster by server-side dry-run and records
// the result in ks's Drifted condition; nothing is written to the objects. The change set lists what
// apply would change.
func (r *Kustomizations) DetectDrift(ctx context.Context, ks *kustomizev1.Kustomization, revision string, objs []*unstructured.Unstructured) *KustomizationResult {
	id := ks.Namespace + "/" + ks.Name
	res := &KustomizationResult{Kustomization: id, Revision: revision, ChangeSet: &apply.ChangeSet{}, DriftDetection: true}
	am, _, err := r.clientsFor(ctx, ks)
	if err != nil {
		res.Err = fmt.Errorf("Kustomization %s: detecting drift: %w", id, err)
		return res
	}
	cs, err := am.Apply(ctx, objs, apply.Options{DryRun: true, Force: ks.Spec.Force})
	if cs != nil {
		res.ChangeSet = cs
	}
	if err != nil {
		res.Err = fmt.Errorf("Kustomization %s: detecting drift: %w", id, err)
		return res
	}
	status, reason, msg := metav1.ConditionFalse, NoDriftReason, "No drift from revision "+revision
	if n := len(cs.Entries) - cs.Count(apply.Unchanged) - cs.Count(apply.Skipped); n > 0 {
		status, reason = metav1.ConditionTrue, DriftDetectedReason
		msg = fmt.Sprintf("%d object(s) drifted from revision %s (not corrected: drift detection is in %q mode)", n, revision, DriftDetectionWarn)
	}
	r.writeStatus(ctx, ks, func(st *kustomizev1.KustomizationStatus) {
		setCondition(st, DriftedCondition, status, reason, msg, ks.Generation, r.now())
		if status == metav1.ConditionFalse {
			apimeta.RemoveStatusCondition(&st.Conditions, DriftedCondition)
		}
	}, res)
	return res
}
