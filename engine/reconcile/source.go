package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/bucket"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/source/helmchart"
	"github.com/converge-gitops/converge/engine/source/oci"
	"github.com/converge-gitops/converge/engine/support"
)

// Sources fetches source objects into the artifact store and records the artifact and the conditions in
// their status, as Flux's source-controller does.
type Sources struct {
	Client dynamic.Interface
	Git    *git.Fetcher
	OCI    *oci.Fetcher
	Bucket *bucket.Fetcher
	Helm   *helmchart.Fetcher
	// Chart fetches the chart of a HelmChart (its source looked up by the caller) into the store; nil
	// fails HelmCharts.
	Chart func(ctx context.Context, hc *sourcev1.HelmChart) (*helmchart.ChartArtifact, error)
	// BaseURL prefixes status.artifact.url (the agent serves the store there).
	BaseURL string
	Clock   clock.PassiveClock
}

// SourceResult is the outcome of one source reconciliation.
type SourceResult struct {
	Source    source.Ref       `json:"source"`
	Artifact  *source.Artifact `json:"artifact,omitempty"`
	Previous  string           `json:"previousRevision,omitempty"`
	Suspended bool             `json:"suspended,omitempty"`
	// Reason and Message, when set, are what the source's controller announces a new artifact with
	// (a HelmChart: ChartPullSucceeded, "pulled 'podinfo' chart with version '6.0.3'").
	Reason   string        `json:"reason,omitempty"`
	Message  string        `json:"message,omitempty"`
	Err      error         `json:"-"`
	Duration time.Duration `json:"duration"`
}

// Changed reports whether the reconciliation produced a new revision.
func (r *SourceResult) Changed() bool {
	return r.Artifact != nil && r.Artifact.Revision != r.Previous
}

// Reconcile fetches obj (a GitRepository, OCIRepository, Bucket, HelmRepository or HelmChart in any
// served version) and writes its status.
func (r *Sources) Reconcile(ctx context.Context, obj *unstructured.Unstructured) *SourceResult {
	start := r.now()
	kind := obj.GetKind()
	res := &SourceResult{Source: source.Ref{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}}
	defer func() { res.Duration = r.now().Sub(start) }()
	res.Previous, _, _ = unstructured.NestedString(obj.Object, "status", "artifact", "revision")
	if suspended, _, _ := unstructured.NestedBool(obj.Object, "spec", "suspend"); suspended {
		res.Suspended = true
		return res
	}
	if kind == sourcev1.HelmChartKind {
		r.reconcileHelmChart(ctx, obj, res)
		return res
	}
	var err error
	var gitMode *string // status.sourceVerificationMode of a GitRepository fetched now
	switch kind {
	case sourcev1.GitRepositoryKind:
		typed := &sourcev1.GitRepository{}
		if err = fromUnstructured(obj, typed); err == nil {
			res.Artifact, err = r.Git.Fetch(ctx, typed)
		}
		if err == nil && typed.Spec.Verification != nil {
			mode := string(typed.Spec.Verification.GetMode())
			gitMode = &mode
		}
	case sourcev1.OCIRepositoryKind:
		typed := &sourcev1.OCIRepository{}
		if err = fromUnstructured(obj, typed); err == nil {
			res.Artifact, err = r.OCI.Fetch(ctx, typed)
		}
	case sourcev1.BucketKind:
		typed := &sourcev1.Bucket{}
		if err = fromUnstructured(obj, typed); err == nil {
			res.Artifact, err = r.Bucket.Fetch(ctx, typed)
		}
	case sourcev1.HelmRepositoryKind:
		typed := &sourcev1.HelmRepository{}
		if err = fromUnstructured(obj, typed); err == nil {
			res.Artifact, err = r.Helm.FetchRepository(ctx, typed)
		}
	default:
		err = fmt.Errorf("%s is not a source kind converge fetches", kind)
	}
	now := r.now()
	gen := obj.GetGeneration()
	status := sourceStatus(obj)
	if err != nil {
		res.Err = fmt.Errorf("%s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
		reason := meta.FailedReason
		var fe *source.FetchError
		if errors.As(err, &fe) && fe.Reason != "" {
			reason = fe.Reason
			err = fe.Err
			if fe.Unverified {
				setSourceCondition(status, sourcev1.SourceVerifiedCondition, metav1.ConditionFalse, reason, err.Error(), gen, now)
			}
		}
		setSourceCondition(status, meta.FetchFailedCondition, metav1.ConditionTrue, reason, err.Error(), gen, now)
		setSourceCondition(status, meta.ReadyCondition, metav1.ConditionFalse, reason, err.Error(), gen, now)
	} else {
		apimeta.RemoveStatusCondition(&status.Conditions, meta.FetchFailedCondition)
		apimeta.RemoveStatusCondition(&status.Conditions, meta.ReconcilingCondition)
		apimeta.RemoveStatusCondition(&status.Conditions, meta.StalledCondition)
		status.SourceVerificationMode = gitMode
		if v := res.Artifact.Verified; v != "" {
			setSourceCondition(status, sourcev1.SourceVerifiedCondition, metav1.ConditionTrue, meta.SucceededReason, v, gen, now)
		} else {
			apimeta.RemoveStatusCondition(&status.Conditions, sourcev1.SourceVerifiedCondition)
		}
		msg := fmt.Sprintf("stored artifact for revision '%s'", res.Artifact.Revision)
		if res.Artifact.Dir == "" && res.Artifact.Archive == "" {
			// An OCI HelmRepository has nothing to store: charts are pulled per HelmChart.
			msg = "Helm repository is Ready"
		} else {
			status.Artifact = res.Artifact.FluxArtifact(r.BaseURL)
			setSourceCondition(status, meta.ArtifactInStorageCondition, metav1.ConditionTrue, meta.SucceededReason, msg, gen, now)
		}
		setSourceCondition(status, meta.ReadyCondition, metav1.ConditionTrue, meta.SucceededReason, msg, gen, now)
	}
	status.ObservedGeneration = gen
	if v, ok := obj.GetAnnotations()[meta.ReconcileRequestAnnotation]; ok {
		status.LastHandledReconcileAt = v
	}
	if werr := r.patchStatus(ctx, obj, status); werr != nil {
		res.Err = errors.Join(res.Err, werr)
	}
	return res
}

// commonSourceStatus holds the status fields every source kind shares.
type commonSourceStatus struct {
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	Artifact           *meta.Artifact     `json:"artifact,omitempty"`
	// SourceVerificationMode is the GitRepository's spec.verify mode last verified.
	SourceVerificationMode *string `json:"sourceVerificationMode,omitempty"`
	meta.ReconcileRequestStatus
}

func sourceStatus(obj *unstructured.Unstructured) *commonSourceStatus {
	st := &commonSourceStatus{}
	if m, ok, _ := unstructured.NestedMap(obj.Object, "status"); ok {
		_ = runtime.DefaultUnstructuredConverter.FromUnstructured(m, st)
	}
	return st
}

func setSourceCondition(st *commonSourceStatus, t string, status metav1.ConditionStatus, reason, msg string, gen int64, now time.Time) {
	if len(msg) > 32000 {
		msg = msg[:32000] + "..."
	}
	apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now),
	})
}

// patchStatus merges status into obj's status subresource. Conditions are sent whole (a merge patch
// replaces lists), so removed conditions disappear.
func (r *Sources) patchStatus(ctx context.Context, obj *unstructured.Unstructured, st *commonSourceStatus) error {
	kind, ok := kinds.Named(obj.GetKind())
	if !ok || kind.Resource.Group != sourcev1.GroupVersion.Group {
		return fmt.Errorf("writing the status of %s %s/%s: not a source kind", obj.GetKind(), obj.GetNamespace(), obj.GetName())
	}
	support.NoteConditions(obj.GetKind(), obj, st.Conditions)
	body := map[string]any{"status": map[string]any{
		"observedGeneration":     st.ObservedGeneration,
		"conditions":             st.Conditions,
		"artifact":               st.Artifact,
		"lastHandledReconcileAt": nilIfEmpty(st.LastHandledReconcileAt),
	}}
	if obj.GetKind() == sourcev1.GitRepositoryKind {
		body["status"].(map[string]any)["sourceVerificationMode"] = st.SourceVerificationMode
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	_, err = r.Client.Resource(kind.Resource).Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.MergePatchType, data,
		metav1.PatchOptions{FieldManager: apply.FieldManager}, "status")
	if err != nil {
		return fmt.Errorf("writing the status of %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func fromUnstructured(obj *unstructured.Unstructured, into runtime.Object) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, into); err != nil {
		return fmt.Errorf("%s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

func (r *Sources) now() time.Time {
	return r.Clock.Now()
}

// MarkLocal records on a source that push mode applied it from a local work tree at revision: Ready with
// a message saying so, no artifact (the agent fetches the source itself and records its artifact).
func (r *Sources) MarkLocal(ctx context.Context, obj *unstructured.Unstructured, revision string) error {
	status := sourceStatus(obj)
	gen := obj.GetGeneration()
	msg := fmt.Sprintf("applied from the local work tree at revision '%s' by converge apply; the agent fetches the source itself", revision)
	apimeta.RemoveStatusCondition(&status.Conditions, meta.FetchFailedCondition)
	apimeta.RemoveStatusCondition(&status.Conditions, meta.ReconcilingCondition)
	setSourceCondition(status, meta.ReadyCondition, metav1.ConditionTrue, meta.SucceededReason, msg, gen, r.now())
	status.ObservedGeneration = gen
	return r.patchStatus(ctx, obj, status)
}
