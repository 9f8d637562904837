package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/helmchart"
	"github.com/converge-gitops/converge/engine/support"
)

// HelmChartsResource is the HelmChart API resource.
var HelmChartsResource = sourcev1.GroupVersion.WithResource("helmcharts")

// buildReasons are the HelmChart failure reasons source-controller reports as BuildFailed (the chart
// was fetched, making the artifact failed); the others are FetchFailed.
var buildReasons = map[string]bool{
	helmchart.ReasonValuesFilesError:     true,
	helmchart.ReasonDependencyBuildError: true,
	helmchart.ReasonChartPackageError:    true,
	helmchart.ReasonMetadataPatchError:   true,
}

// reconcileHelmChart fetches the chart of the HelmChart obj through r.Chart and writes its status as
// source-controller does: the artifact, observedChartName, observedSourceArtifactRevision,
// observedValuesFiles, and Ready/ArtifactInStorage with reason ChartPullSucceeded or
// ChartPackageSucceeded; a failure is FetchFailed or BuildFailed with Flux's reason, the last artifact
// kept.
func (r *Sources) reconcileHelmChart(ctx context.Context, obj *unstructured.Unstructured, res *SourceResult) {
	hc := &sourcev1.HelmChart{}
	err := fromUnstructured(obj, hc)
	var ca *helmchart.ChartArtifact
	if err == nil {
		if r.Chart == nil {
			err = errors.New("HelmCharts are not fetched here")
		} else {
			ca, err = r.Chart(ctx, hc)
		}
	}
	now := r.now()
	gen := obj.GetGeneration()
	st := hc.Status.DeepCopy()
	common := &commonSourceStatus{Conditions: st.Conditions}
	if err != nil {
		res.Err = fmt.Errorf("%s %s/%s: %w", sourcev1.HelmChartKind, obj.GetNamespace(), obj.GetName(), err)
		reason := meta.FailedReason
		var fe *source.FetchError
		if errors.As(err, &fe) && fe.Reason != "" {
			reason = fe.Reason
			err = fe.Err
		}
		failed, other := sourcev1.FetchFailedCondition, sourcev1.BuildFailedCondition
		if buildReasons[reason] {
			failed, other = other, failed
		}
		apimeta.RemoveStatusCondition(&common.Conditions, other)
		setSourceCondition(common, failed, metav1.ConditionTrue, reason, err.Error(), gen, now)
		setSourceCondition(common, meta.ReadyCondition, metav1.ConditionFalse, reason, err.Error(), gen, now)
	} else {
		res.Artifact, res.Reason, res.Message = ca.Artifact, ca.Reason(), ca.Message()
		for _, t := range []string{sourcev1.FetchFailedCondition, sourcev1.BuildFailedCondition, sourcev1.ArtifactOutdatedCondition,
			meta.ReconcilingCondition, meta.StalledCondition} {
			apimeta.RemoveStatusCondition(&common.Conditions, t)
		}
		st.Artifact = ca.FluxArtifact(r.BaseURL)
		st.ObservedChartName = ca.Name
		st.ObservedValuesFiles = ca.ObservedValuesFiles
		if ca.SourceRevision != "" {
			st.ObservedSourceArtifactRevision = ca.SourceRevision
		}
		setSourceCondition(common, sourcev1.ArtifactInStorageCondition, metav1.ConditionTrue, ca.Reason(), ca.Message(), gen, now)
		setSourceCondition(common, meta.ReadyCondition, metav1.ConditionTrue, ca.Reason(), ca.Message(), gen, now)
	}
	st.Conditions = common.Conditions
	st.ObservedGeneration = gen
	if v, ok := obj.GetAnnotations()[meta.ReconcileRequestAnnotation]; ok {
		st.LastHandledReconcileAt = v
	}
	if werr := r.patchHelmChartStatus(ctx, hc, st); werr != nil {
		res.Err = errors.Join(res.Err, werr)
	}
}

// patchHelmChartStatus merges st into the HelmChart's status subresource (conditions and the observed
// values files sent whole).
func (r *Sources) patchHelmChartStatus(ctx context.Context, hc *sourcev1.HelmChart, st *sourcev1.HelmChartStatus) error {
	support.NoteConditions(sourcev1.HelmChartKind, hc, st.Conditions)
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(st)
	if err != nil {
		return err
	}
	// Fields left empty are removed, not kept from before.
	for _, k := range []string{"observedValuesFiles", "observedSourceArtifactRevision", "observedChartName", "artifact", "lastHandledReconcileAt"} {
		if _, ok := m[k]; !ok {
			m[k] = nil
		}
	}
	data, err := json.Marshal(map[string]any{"status": m})
	if err != nil {
		return err
	}
	_, err = r.Client.Resource(HelmChartsResource).Namespace(hc.Namespace).Patch(ctx, hc.Name, types.MergePatchType, data,
		metav1.PatchOptions{FieldManager: apply.FieldManager}, "status")
	if err != nil {
		return fmt.Errorf("writing the status of HelmChart %s/%s: %w", hc.Namespace, hc.Name, err)
	}
	return nil
}
