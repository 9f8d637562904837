package convert

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	helmv2beta1 "github.com/converge-gitops/converge/crds/helm/v2beta1"
	helmv2beta2 "github.com/converge-gitops/converge/crds/helm/v2beta2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
)

// HelmReleaseV2beta1ToV2 converts a helm.toolkit.fluxcd.io/v2beta1 HelmRelease to v2.
//
// Fields v2 removed are translated: spec.chart.spec.valuesFile is put in front of valuesFiles, and
// the kustomize post-renderer's patchesStrategicMerge and patchesJson6902 become entries of
// patches (in the order kustomize applied them: strategic-merge, patches, JSON6902). An error is
// returned only when one of those deprecated patches is malformed. Status is carried over where v2
// has the field; status.lastAppliedRevision is dropped (v2 keeps it in history).
func HelmReleaseV2beta1ToV2(in *helmv2beta1.HelmRelease) (*helmv2.HelmRelease, error) {
	if in == nil {
		return nil, fmt.Errorf("convert HelmRelease v2beta1 to v2: nil input")
	}
	in = in.DeepCopy()
	s := in.Spec
	out := hrNewV2(in.ObjectMeta)
	out.Spec = helmv2.HelmReleaseSpec{
		Interval:           s.Interval,
		KubeConfig:         s.KubeConfig,
		Suspend:            s.Suspend,
		ReleaseName:        s.ReleaseName,
		TargetNamespace:    s.TargetNamespace,
		StorageNamespace:   s.StorageNamespace,
		DependsOn:          hrDependsOn(s.DependsOn),
		Timeout:            s.Timeout,
		MaxHistory:         s.MaxHistory,
		ServiceAccountName: s.ServiceAccountName,
		PersistentClient:   s.PersistentClient,
		DriftDetection:     hrDriftDetection(s.DriftDetection),
		Install:            hrInstall(s.Install),
		Upgrade:            hrUpgrade(s.Upgrade),
		Rollback:           hrRollback(s.Rollback),
		Uninstall:          hrUninstall(s.Uninstall),
		ValuesFrom:         hrValuesFrom(s.ValuesFrom),
		Values:             s.Values,
		ChartRef:           hrChartRef(s.ChartRef),
	}
	if c := s.Chart; c != nil {
		out.Spec.Chart = &helmv2.HelmChartTemplate{
			ObjectMeta: hrChartMeta(c.ObjectMeta),
			Spec: helmv2.HelmChartTemplateSpec{
				Chart:             c.Spec.Chart,
				Version:           c.Spec.Version,
				SourceRef:         hrChartSourceRef(c.Spec.SourceRef),
				Interval:          c.Spec.Interval,
				ReconcileStrategy: c.Spec.ReconcileStrategy,
				ValuesFiles:       c.Spec.GetValuesFiles(),
			},
		}
		if v := c.Spec.Verify; v != nil {
			out.Spec.Chart.Spec.Verify = &helmv2.HelmChartTemplateVerification{Provider: v.Provider, SecretRef: v.SecretRef}
		}
	}
	if t := s.Test; t != nil {
		out.Spec.Test = &helmv2.Test{Enable: t.Enable, Timeout: t.Timeout, IgnoreFailures: t.IgnoreFailures}
	}
	var err error
	if out.Spec.PostRenderers, err = hrPostRenderers(s.PostRenderers); err != nil {
		return nil, fmt.Errorf("convert HelmRelease %s/%s v2beta1 to v2: %w", in.Namespace, in.Name, err)
	}

	st := in.Status
	out.Status = helmv2.HelmReleaseStatus{
		ObservedGeneration:          st.ObservedGeneration,
		ObservedPostRenderersDigest: st.ObservedPostRenderersDigest,
		LastAttemptedGeneration:     st.LastAttemptedGeneration,
		Conditions:                  st.Conditions,
		HelmChart:                   st.HelmChart,
		StorageNamespace:            st.StorageNamespace,
		History:                     st.History,
		LastAttemptedReleaseAction:  hrReleaseAction(st.LastAttemptedReleaseAction),
		Failures:                    st.Failures,
		InstallFailures:             st.InstallFailures,
		UpgradeFailures:             st.UpgradeFailures,
		LastAttemptedRevision:       st.LastAttemptedRevision,
		LastAttemptedValuesChecksum: st.LastAttemptedValuesChecksum,
		LastReleaseRevision:         st.LastReleaseRevision,
		LastAttemptedConfigDigest:   st.LastAttemptedConfigDigest,
		LastHandledResetAt:          st.LastHandledResetAt,
		ReconcileRequestStatus:      st.ReconcileRequestStatus,
		ForceRequestStatus:          meta.ForceRequestStatus{LastHandledForceAt: st.LastHandledForceAt},
	}
	return out, nil
}

// HelmReleaseV2beta2ToV2 converts a helm.toolkit.fluxcd.io/v2beta2 HelmRelease to v2.
//
// Removed fields are translated as in HelmReleaseV2beta1ToV2; status.lastAppliedRevision is dropped.
func HelmReleaseV2beta2ToV2(in *helmv2beta2.HelmRelease) (*helmv2.HelmRelease, error) {
	if in == nil {
		return nil, fmt.Errorf("convert HelmRelease v2beta2 to v2: nil input")
	}
	in = in.DeepCopy()
	s := in.Spec
	out := hrNewV2(in.ObjectMeta)
	out.Spec = helmv2.HelmReleaseSpec{
		Interval:           s.Interval,
		KubeConfig:         s.KubeConfig,
		Suspend:            s.Suspend,
		ReleaseName:        s.ReleaseName,
		TargetNamespace:    s.TargetNamespace,
		StorageNamespace:   s.StorageNamespace,
		DependsOn:          hrDependsOn(s.DependsOn),
		Timeout:            s.Timeout,
		MaxHistory:         s.MaxHistory,
		ServiceAccountName: s.ServiceAccountName,
		PersistentClient:   s.PersistentClient,
		DriftDetection:     hrDriftDetection(s.DriftDetection),
		Install:            hrInstall(s.Install),
		Upgrade:            hrUpgrade(s.Upgrade),
		Rollback:           hrRollback(s.Rollback),
		Uninstall:          hrUninstall(s.Uninstall),
		ValuesFrom:         hrValuesFrom(s.ValuesFrom),
		Values:             s.Values,
		ChartRef:           hrChartRef(s.ChartRef),
	}
	if c := s.Chart; c != nil {
		out.Spec.Chart = &helmv2.HelmChartTemplate{
			ObjectMeta: hrChartMeta(c.ObjectMeta),
			Spec: helmv2.HelmChartTemplateSpec{
				Chart:                    c.Spec.Chart,
				Version:                  c.Spec.Version,
				SourceRef:                hrChartSourceRef(c.Spec.SourceRef),
				Interval:                 c.Spec.Interval,
				ReconcileStrategy:        c.Spec.ReconcileStrategy,
				ValuesFiles:              c.Spec.GetValuesFiles(),
				IgnoreMissingValuesFiles: c.Spec.IgnoreMissingValuesFiles,
			},
		}
		if v := c.Spec.Verify; v != nil {
			out.Spec.Chart.Spec.Verify = &helmv2.HelmChartTemplateVerification{Provider: v.Provider, SecretRef: v.SecretRef}
		}
	}
	if t := s.Test; t != nil {
		out.Spec.Test = &helmv2.Test{Enable: t.Enable, Timeout: t.Timeout, IgnoreFailures: t.IgnoreFailures}
		if t.Filters != nil {
			filters := make([]helmv2.Filter, len(*t.Filters))
			for i, f := range *t.Filters {
				filters[i] = helmv2.Filter{Name: f.Name, Exclude: f.Exclude}
			}
			out.Spec.Test.Filters = &filters
		}
	}
	var err error
	if out.Spec.PostRenderers, err = hrPostRenderers(s.PostRenderers); err != nil {
		return nil, fmt.Errorf("convert HelmRelease %s/%s v2beta2 to v2: %w", in.Namespace, in.Name, err)
	}

	st := in.Status
	out.Status = helmv2.HelmReleaseStatus{
		ObservedGeneration:          st.ObservedGeneration,
		ObservedPostRenderersDigest: st.ObservedPostRenderersDigest,
		LastAttemptedGeneration:     st.LastAttemptedGeneration,
		Conditions:                  st.Conditions,
		HelmChart:                   st.HelmChart,
		StorageNamespace:            st.StorageNamespace,
		History:                     st.History,
		LastAttemptedReleaseAction:  hrReleaseAction(string(st.LastAttemptedReleaseAction)),
		Failures:                    st.Failures,
		InstallFailures:             st.InstallFailures,
		UpgradeFailures:             st.UpgradeFailures,
		LastAttemptedRevision:       st.LastAttemptedRevision,
		LastAttemptedRevisionDigest: st.LastAttemptedRevisionDigest,
		LastAttemptedValuesChecksum: st.LastAttemptedValuesChecksum,
		LastReleaseRevision:         st.LastReleaseRevision,
		LastAttemptedConfigDigest:   st.LastAttemptedConfigDigest,
		LastHandledResetAt:          st.LastHandledResetAt,
		ReconcileRequestStatus:      st.ReconcileRequestStatus,
		ForceRequestStatus:          meta.ForceRequestStatus{LastHandledForceAt: st.LastHandledForceAt},
	}
	return out, nil
}

func hrNewV2(om metav1.ObjectMeta) *helmv2.HelmRelease {
	return &helmv2.HelmRelease{
		TypeMeta:   metav1.TypeMeta{APIVersion: helmv2.GroupVersion.String(), Kind: helmv2.HelmReleaseKind},
		ObjectMeta: om,
	}
}

func hrChartMeta(in *helmv2beta2.HelmChartTemplateObjectMeta) *helmv2.HelmChartTemplateObjectMeta {
	if in == nil {
		return nil
	}
	return &helmv2.HelmChartTemplateObjectMeta{Labels: in.Labels, Annotations: in.Annotations}
}

func hrChartSourceRef(in helmv2beta2.CrossNamespaceObjectReference) helmv2.CrossNamespaceObjectReference {
	return helmv2.CrossNamespaceObjectReference{
		APIVersion: in.APIVersion, Kind: in.Kind, Name: in.Name, Namespace: in.Namespace,
	}
}

func hrChartRef(in *helmv2beta2.CrossNamespaceSourceReference) *helmv2.CrossNamespaceSourceReference {
	if in == nil {
		return nil
	}
	return &helmv2.CrossNamespaceSourceReference{
		APIVersion: in.APIVersion, Kind: in.Kind, Name: in.Name, Namespace: in.Namespace,
	}
}

func hrDependsOn(in []meta.NamespacedObjectReference) []helmv2.DependencyReference {
	if in == nil {
		return nil
	}
	out := make([]helmv2.DependencyReference, len(in))
	for i, d := range in {
		out[i] = helmv2.DependencyReference{Name: d.Name, Namespace: d.Namespace}
	}
	return out
}

func hrDriftDetection(in *helmv2beta2.DriftDetection) *helmv2.DriftDetection {
	if in == nil {
		return nil
	}
	out := &helmv2.DriftDetection{Mode: helmv2.DriftDetectionMode(in.Mode)}
	if in.Ignore != nil {
		out.Ignore = make([]helmv2.IgnoreRule, len(in.Ignore))
		for i, r := range in.Ignore {
			out.Ignore[i] = helmv2.IgnoreRule{Paths: r.Paths, Target: r.Target}
		}
	}
	return out
}

func hrInstall(in *helmv2beta2.Install) *helmv2.Install {
	if in == nil {
		return nil
	}
	out := &helmv2.Install{
		Timeout:                  in.Timeout,
		DisableWait:              in.DisableWait,
		DisableWaitForJobs:       in.DisableWaitForJobs,
		DisableHooks:             in.DisableHooks,
		DisableOpenAPIValidation: in.DisableOpenAPIValidation,
		Replace:                  in.Replace,
		SkipCRDs:                 in.SkipCRDs,
		CRDs:                     helmv2.CRDsPolicy(in.CRDs),
		CreateNamespace:          in.CreateNamespace,
	}
	if r := in.Remediation; r != nil {
		out.Remediation = &helmv2.InstallRemediation{
			Retries:              r.Retries,
			IgnoreTestFailures:   r.IgnoreTestFailures,
			RemediateLastFailure: r.RemediateLastFailure,
		}
	}
	return out
}

func hrUpgrade(in *helmv2beta2.Upgrade) *helmv2.Upgrade {
	if in == nil {
		return nil
	}
	out := &helmv2.Upgrade{
		Timeout:                  in.Timeout,
		DisableWait:              in.DisableWait,
		DisableWaitForJobs:       in.DisableWaitForJobs,
		DisableHooks:             in.DisableHooks,
		DisableOpenAPIValidation: in.DisableOpenAPIValidation,
		Force:                    in.Force,
		PreserveValues:           in.PreserveValues,
		CleanupOnFail:            in.CleanupOnFail,
		CRDs:                     helmv2.CRDsPolicy(in.CRDs),
	}
	if r := in.Remediation; r != nil {
		out.Remediation = &helmv2.UpgradeRemediation{
			Retries:              r.Retries,
			IgnoreTestFailures:   r.IgnoreTestFailures,
			RemediateLastFailure: r.RemediateLastFailure,
		}
		if r.Strategy != nil {
			strategy := helmv2.RemediationStrategy(*r.Strategy)
			out.Remediation.Strategy = &strategy
		}
	}
	return out
}

func hrRollback(in *helmv2beta2.Rollback) *helmv2.Rollback {
	if in == nil {
		return nil
	}
	return &helmv2.Rollback{
		Timeout:            in.Timeout,
		DisableWait:        in.DisableWait,
		DisableWaitForJobs: in.DisableWaitForJobs,
		DisableHooks:       in.DisableHooks,
		Recreate:           in.Recreate,
		Force:              in.Force,
		CleanupOnFail:      in.CleanupOnFail,
	}
}

func hrUninstall(in *helmv2beta2.Uninstall) *helmv2.Uninstall {
	if in == nil {
		return nil
	}
	return &helmv2.Uninstall{
		Timeout:             in.Timeout,
		DisableHooks:        in.DisableHooks,
		KeepHistory:         in.KeepHistory,
		DisableWait:         in.DisableWait,
		DeletionPropagation: in.DeletionPropagation,
	}
}

func hrValuesFrom(in []helmv2beta2.ValuesReference) []helmv2.ValuesReference {
	if in == nil {
		return nil
	}
	out := make([]helmv2.ValuesReference, len(in))
	for i, v := range in {
		out[i] = helmv2.ValuesReference{
			Kind: v.Kind, Name: v.Name, ValuesKey: v.ValuesKey, TargetPath: v.TargetPath, Optional: v.Optional,
		}
	}
	return out
}

// hrReleaseAction keeps the values v2 accepts in status.lastAttemptedReleaseAction.
func hrReleaseAction(in string) helmv2.ReleaseAction {
	switch a := helmv2.ReleaseAction(in); a {
	case helmv2.ReleaseActionInstall, helmv2.ReleaseActionUpgrade:
		return a
	default:
		return ""
	}
}

// hrPostRenderers folds the deprecated kustomize patch fields into patches.
func hrPostRenderers(in []helmv2beta2.PostRenderer) ([]helmv2.PostRenderer, error) {
	if in == nil {
		return nil, nil
	}
	out := make([]helmv2.PostRenderer, len(in))
	for i, pr := range in {
		k := pr.Kustomize
		if k == nil {
			continue
		}
		field := fmt.Sprintf("spec.postRenderers[%d].kustomize", i)
		ok := &helmv2.Kustomize{Images: k.Images}
		for j, smp := range k.PatchesStrategicMerge {
			doc, err := hrStrategicMergePatch(smp.Raw)
			if err != nil {
				return nil, fmt.Errorf("%s.patchesStrategicMerge[%d]: %w", field, j, err)
			}
			ok.Patches = append(ok.Patches, kustomizev1.Patch{Patch: doc})
		}
		ok.Patches = append(ok.Patches, k.Patches...)
		for j, jp := range k.PatchesJSON6902 {
			doc, err := hrJSON6902Patch(jp.Patch)
			if err != nil {
				return nil, fmt.Errorf("%s.patchesJson6902[%d]: %w", field, j, err)
			}
			target := jp.Target
			ok.Patches = append(ok.Patches, kustomizev1.Patch{Patch: doc, Target: &target})
		}
		out[i].Kustomize = ok
	}
	return out, nil
}

// hrStrategicMergePatch renders an inline strategic-merge patch as a YAML document.
func hrStrategicMergePatch(raw []byte) (string, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return "", fmt.Errorf("not a YAML object: %s", string(raw))
	}
	doc, err := yaml.JSONToYAML(raw)
	if err != nil {
		return "", err
	}
	return string(doc), nil
}

// hrJSON6902Patch renders a list of JSON patch operations as a YAML document.
func hrJSON6902Patch(ops []helmv2beta2.JSON6902) (string, error) {
	type op struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		From  string          `json:"from,omitempty"`
		Value json.RawMessage `json:"value,omitempty"`
	}
	list := make([]op, len(ops))
	for i, o := range ops {
		list[i] = op{Op: o.Op, Path: o.Path, From: o.From}
		if o.Value != nil && len(o.Value.Raw) > 0 {
			if !json.Valid(o.Value.Raw) {
				return "", fmt.Errorf("patch[%d].value is not valid JSON", i)
			}
			list[i].Value = o.Value.Raw
		}
	}
	raw, err := json.Marshal(list)
	if err != nil {
		return "", err
	}
	doc, err := yaml.JSONToYAML(raw)
	if err != nil {
		return "", err
	}
	return string(doc), nil
}
