package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/apply"
)

// The labels helm-controller puts on the HelmChart it makes for a HelmRelease, naming the HelmRelease.
const (
	HelmChartOwnerNameLabel      = "helm.toolkit.fluxcd.io/name"
	HelmChartOwnerNamespaceLabel = "helm.toolkit.fluxcd.io/namespace"
)

// SourceNotReadyReason is the Ready reason of a HelmRelease whose HelmChart has no usable artifact yet.
const SourceNotReadyReason = "SourceNotReady"

// SourceNotReadyError says that a HelmRelease's source has no artifact to use yet; Reconcile records it
// as reason SourceNotReady and retries after DependencyRequeueInterval, as helm-controller does.
type SourceNotReadyError struct{ Msg string }

func (e *SourceNotReadyError) Error() string { return e.Msg }

// HelmChartFor returns the HelmChart helm-controller makes from hr's spec.chart: named
// "<namespace>-<name>" in the namespace of the chart's source, with spec.chart.metadata's labels and
// annotations and the labels naming hr, the template's spec, and the template's interval or else hr's.
// Nil when hr has no spec.chart.
func HelmChartFor(hr *helmv2.HelmRelease) *sourcev1.HelmChart {
	if hr.Spec.Chart == nil {
		return nil
	}
	tpl := hr.Spec.Chart.DeepCopy()
	hc := &sourcev1.HelmChart{
		TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: sourcev1.HelmChartKind},
		ObjectMeta: metav1.ObjectMeta{Name: hr.GetHelmChartName(), Namespace: tpl.GetNamespace(hr.Namespace)},
		Spec: sourcev1.HelmChartSpec{
			Chart:                    tpl.Spec.Chart,
			Version:                  tpl.Spec.Version,
			SourceRef:                sourcev1.LocalHelmChartSourceReference{Kind: tpl.Spec.SourceRef.Kind, Name: tpl.Spec.SourceRef.Name},
			Interval:                 tpl.GetInterval(hr.Spec.Interval),
			ReconcileStrategy:        tpl.Spec.ReconcileStrategy,
			ValuesFiles:              tpl.Spec.ValuesFiles,
			IgnoreMissingValuesFiles: tpl.Spec.IgnoreMissingValuesFiles,
		},
	}
	if v := tpl.Spec.Verify; v != nil {
		hc.Spec.Verify = &sourcev1.HelmChartVerification{Provider: v.Provider, SecretRef: v.SecretRef}
	}
	labels := map[string]string{}
	if m := tpl.ObjectMeta; m != nil {
		for k, v := range m.Labels {
			labels[k] = v
		}
		hc.Annotations = m.Annotations
	}
	labels[HelmChartOwnerNameLabel] = hr.Name
	labels[HelmChartOwnerNamespaceLabel] = hr.Namespace
	hc.Labels = labels
	return hc
}

// ApplyHelmChart keeps the HelmChart of hr as helm-controller does: the one status.helmChart names is
// deleted when hr now names another (or uses spec.chartRef), then the HelmChart of spec.chart is
// created or updated by server-side apply. hr.Status.HelmChart is set to the HelmChart in use
// ("namespace/name"), or cleared; the caller writes the status.
func (r *HelmReleases) ApplyHelmChart(ctx context.Context, hr *helmv2.HelmRelease) error {
	if err := r.Tenancy.CheckHelmRelease(hr); err != nil {
		return err
	}
	hc := HelmChartFor(hr)
	want := ""
	if hc != nil {
		want = hc.Namespace + "/" + hc.Name
	}
	if hr.Status.HelmChart != "" && hr.Status.HelmChart != want {
		if err := r.DeleteHelmChart(ctx, hr); err != nil {
			return err
		}
	}
	if hc == nil {
		return nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(hc)
	if err != nil {
		return fmt.Errorf("HelmChart %s: %w", want, err)
	}
	delete(m, "status")
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("HelmChart %s: %w", want, err)
	}
	force := true
	if _, err := r.Client.Resource(HelmChartsResource).Namespace(hc.Namespace).Patch(ctx, hc.Name, types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: apply.FieldManager, Force: &force}); err != nil {
		return fmt.Errorf("failed to run server-side apply of HelmChart %s: %w", want, err)
	}
	hr.Status.HelmChart = want
	return nil
}

// DeleteHelmChart deletes the HelmChart hr's status.helmChart names (for hr's deletion, or a HelmChart
// hr no longer uses) and clears status.helmChart. A suspended hr keeps its HelmChart, as with
// helm-controller.
func (r *HelmReleases) DeleteHelmChart(ctx context.Context, hr *helmv2.HelmRelease) error {
	if hr.Spec.Suspend || hr.Status.HelmChart == "" {
		return nil
	}
	ns, name, ok := strings.Cut(hr.Status.HelmChart, "/")
	if !ok {
		return fmt.Errorf("status.helmChart %q is not namespace/name", hr.Status.HelmChart)
	}
	err := r.Client.Resource(HelmChartsResource).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to delete HelmChart '%s': %w", hr.Status.HelmChart, err)
	}
	hr.Status.HelmChart = ""
	return nil
}

// HelmChartArtifact checks that the HelmChart hc (as read from the cluster or a cache) can be used by a
// HelmRelease, as helm-controller does: its latest generation reconciled, not Stalled, with an
// artifact. Otherwise it returns a *SourceNotReadyError saying why.
func HelmChartArtifact(hc *unstructured.Unstructured) error {
	id := fmt.Sprintf("HelmChart '%s/%s'", hc.GetNamespace(), hc.GetName())
	observed, _, _ := unstructured.NestedInt64(hc.Object, "status", "observedGeneration")
	conds, _, _ := unstructured.NestedSlice(hc.Object, "status", "conditions")
	cond := func(t string) (status, msg string) {
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == t {
				s, _ := m["status"].(string)
				msg, _ := m["message"].(string)
				return s, msg
			}
		}
		return "", ""
	}
	_, hasArtifact, _ := unstructured.NestedMap(hc.Object, "status", "artifact")
	switch {
	case hc.GetGeneration() != observed:
		msg := "latest generation of object has not been reconciled"
		if s, m := cond("Ready"); s == string(metav1.ConditionFalse) {
			msg = m
		}
		return &SourceNotReadyError{Msg: id + " is not ready: " + msg}
	case func() bool { s, _ := cond("Stalled"); return s == string(metav1.ConditionTrue) }():
		_, m := cond("Stalled")
		return &SourceNotReadyError{Msg: id + " is not ready: " + m}
	case !hasArtifact:
		msg := "does not have an artifact"
		if s, m := cond("Ready"); s == string(metav1.ConditionFalse) {
			msg += ": " + m
		}
		return &SourceNotReadyError{Msg: id + " is not ready: " + msg}
	}
	return nil
}

// IsSourceNotReady reports whether err is a *SourceNotReadyError.
func IsSourceNotReady(err error) bool {
	var nr *SourceNotReadyError
	return errors.As(err, &nr)
}
