package convert

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	helmv2beta1 "github.com/converge-gitops/converge/crds/helm/v2beta1"
	helmv2beta2 "github.com/converge-gitops/converge/crds/helm/v2beta2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
)

// hrZeroFields lists the paths of fields of v left at their zero value, walking structs, pointers,
// slices (every element) and maps (every value).
func hrZeroFields(v any) []string {
	out := hrZeroFieldsAt(reflect.ValueOf(v), "")
	sort.Strings(out)
	return slicesCompactStrings(out)
}

func hrZeroFieldsAt(root reflect.Value, rootPath string) []string {
	var out []string
	var walk func(rv reflect.Value, path string)
	walk = func(rv reflect.Value, path string) {
		switch rv.Kind() {
		case reflect.Pointer, reflect.Interface:
			if rv.IsNil() {
				out = append(out, path)
				return
			}
			switch rv.Elem().Kind() {
			case reflect.Struct, reflect.Slice, reflect.Map:
				walk(rv.Elem(), path)
			}
		case reflect.Struct:
			if rv.Type() == reflect.TypeOf(metav1.Time{}) || rv.Type() == reflect.TypeOf(metav1.Duration{}) {
				if rv.IsZero() {
					out = append(out, path)
				}
				return
			}
			for i := 0; i < rv.NumField(); i++ {
				f := rv.Type().Field(i)
				// ObjectMeta is copied whole; TypeMeta is set by the conversion.
				if !f.IsExported() || f.Name == "ObjectMeta" || f.Name == "TypeMeta" {
					continue
				}
				walk(rv.Field(i), path+"."+f.Name)
			}
		case reflect.Slice:
			if rv.Len() == 0 {
				out = append(out, path)
				return
			}
			if rv.Type().Elem().Kind() == reflect.Uint8 {
				return
			}
			// A field counts as empty only when it is empty in every element.
			counts := map[string]int{}
			for i := 0; i < rv.Len(); i++ {
				for _, f := range hrZeroFieldsAt(rv.Index(i), path+"[]") {
					counts[f]++
				}
			}
			for f, n := range counts {
				if n == rv.Len() {
					out = append(out, f)
				}
			}
		case reflect.Map:
			if rv.Len() == 0 {
				out = append(out, path)
				return
			}
			for _, k := range rv.MapKeys() {
				walk(rv.MapIndex(k), path+"{}")
			}
		default:
			if rv.IsZero() {
				out = append(out, path)
			}
		}
	}
	walk(root, rootPath)
	return out
}

func slicesCompactStrings(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func hrTime(min int) metav1.Time {
	return metav1.NewTime(time.Date(2026, 3, 4, 5, min, 0, 0, time.UTC))
}

func hrDur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func hrPtr[T any](v T) *T { return &v }

func hrJSON(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }

func hrTestObjectMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:        "backend",
		Namespace:   "apps",
		Generation:  4,
		Labels:      map[string]string{"team": "a"},
		Annotations: map[string]string{meta.ReconcileRequestAnnotation: "r1"},
	}
}

func hrTestConditions() []metav1.Condition {
	return []metav1.Condition{{
		Type: meta.ReadyCondition, Status: metav1.ConditionTrue, ObservedGeneration: 4,
		LastTransitionTime: hrTime(1), Reason: helmv2.UpgradeSucceededReason, Message: "upgraded",
	}}
}

func hrTestHistory() helmv2.Snapshots {
	hooks := map[string]*helmv2.TestHookStatus{
		"backend-test": {LastStarted: hrTime(2), LastCompleted: hrTime(3), Phase: "Succeeded"},
	}
	return helmv2.Snapshots{{
		APIVersion: helmv2.CurrentSnapshotAPIVersion, Digest: "sha256:aaa", Name: "backend", Namespace: "apps",
		Version: 3, Status: "deployed", Action: helmv2.ReleaseActionUpgrade, ChartName: "redis",
		ChartVersion: "17.3.1", AppVersion: "7.0", ConfigDigest: "sha256:bbb", FirstDeployed: hrTime(4),
		LastDeployed: hrTime(5), Deleted: hrTime(6), TestHooks: &hooks, OCIDigest: "sha256:ccc",
	}}
}

func hrTestSelector() kustomizev1.Selector {
	return kustomizev1.Selector{
		Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "apps", Name: "backend",
		AnnotationSelector: "a=b", LabelSelector: "c=d",
	}
}

func hrTestKubeConfig() *meta.KubeConfigReference {
	return &meta.KubeConfigReference{
		SecretRef:    &meta.SecretKeyReference{Name: "kubeconfig", Key: "value"},
		ConfigMapRef: &meta.LocalObjectReference{Name: "cluster"},
	}
}

const hrSMP = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"backend"},"spec":{"replicas":2}}`

// v2beta2 pieces that v2beta1 shares through aliases.
func hrTestInstall() *helmv2beta2.Install {
	return &helmv2beta2.Install{
		Timeout: hrDur(time.Minute),
		Remediation: &helmv2beta2.InstallRemediation{
			Retries: 3, IgnoreTestFailures: hrPtr(true), RemediateLastFailure: hrPtr(true),
		},
		DisableWait: true, DisableWaitForJobs: true, DisableHooks: true, DisableOpenAPIValidation: true,
		Replace: true, SkipCRDs: true, CRDs: helmv2beta2.CreateReplace, CreateNamespace: true,
	}
}

func hrTestUpgrade() *helmv2beta2.Upgrade {
	strategy := helmv2beta2.UninstallRemediationStrategy
	return &helmv2beta2.Upgrade{
		Timeout: hrDur(2 * time.Minute),
		Remediation: &helmv2beta2.UpgradeRemediation{
			Retries: -1, IgnoreTestFailures: hrPtr(false), RemediateLastFailure: hrPtr(true), Strategy: &strategy,
		},
		DisableWait: true, DisableWaitForJobs: true, DisableHooks: true, DisableOpenAPIValidation: true,
		Force: true, PreserveValues: true, CleanupOnFail: true, CRDs: helmv2beta2.Create,
	}
}

func hrTestRollback() *helmv2beta2.Rollback {
	return &helmv2beta2.Rollback{
		Timeout: hrDur(3 * time.Minute), DisableWait: true, DisableWaitForJobs: true, DisableHooks: true,
		Recreate: true, Force: true, CleanupOnFail: true,
	}
}

func hrTestUninstall() *helmv2beta2.Uninstall {
	return &helmv2beta2.Uninstall{
		Timeout: hrDur(4 * time.Minute), DisableHooks: true, KeepHistory: true, DisableWait: true,
		DeletionPropagation: hrPtr("foreground"),
	}
}

func hrTestPostRenderers() []helmv2beta2.PostRenderer {
	return []helmv2beta2.PostRenderer{{Kustomize: &helmv2beta2.Kustomize{
		Patches:               []kustomizev1.Patch{{Patch: "- op: remove\n  path: /x\n", Target: hrPtr(hrTestSelector())}},
		PatchesStrategicMerge: []apiextensionsv1.JSON{{Raw: []byte(hrSMP)}},
		PatchesJSON6902: []helmv2beta2.JSON6902Patch{{
			Patch: []helmv2beta2.JSON6902{
				{Op: "add", Path: "/metadata/labels/x", Value: hrJSON(`"y"`)},
				{Op: "move", Path: "/a", From: "/b"},
			},
			Target: hrTestSelector(),
		}},
		Images: []kustomizev1.Image{{Name: "redis", NewName: "mirror/redis", NewTag: "7", Digest: "sha256:ddd"}},
	}}}
}

func hrTestDriftDetection() *helmv2beta2.DriftDetection {
	sel := hrTestSelector()
	return &helmv2beta2.DriftDetection{
		Mode:   helmv2beta2.DriftDetectionWarn,
		Ignore: []helmv2beta2.IgnoreRule{{Paths: []string{"/spec/replicas"}, Target: &sel}},
	}
}

func hrTestValuesFrom() []helmv2beta2.ValuesReference {
	return []helmv2beta2.ValuesReference{{
		Kind: "ConfigMap", Name: "values", ValuesKey: "extra.yaml", TargetPath: "a.b", Optional: true,
	}}
}

// hrExpectedV2 is the v2 object both fixtures convert to, less the version-specific parts.
func hrExpectedV2() *helmv2.HelmRelease {
	sel := hrTestSelector()
	strategy := helmv2.UninstallRemediationStrategy
	return &helmv2.HelmRelease{
		TypeMeta:   metav1.TypeMeta{APIVersion: "helm.toolkit.fluxcd.io/v2", Kind: "HelmRelease"},
		ObjectMeta: hrTestObjectMeta(),
		Spec: helmv2.HelmReleaseSpec{
			Chart: &helmv2.HelmChartTemplate{
				ObjectMeta: &helmv2.HelmChartTemplateObjectMeta{
					Labels: map[string]string{"l": "1"}, Annotations: map[string]string{"a": "1"},
				},
				Spec: helmv2.HelmChartTemplateSpec{
					Chart: "redis", Version: "17.3.x",
					SourceRef: helmv2.CrossNamespaceObjectReference{
						APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "HelmRepository", Name: "bitnami", Namespace: "flux-system",
					},
					Interval:          hrDur(10 * time.Minute),
					ReconcileStrategy: "Revision",
					ValuesFiles:       []string{"values-base.yaml", "values-a.yaml", "values-b.yaml"},
					Verify: &helmv2.HelmChartTemplateVerification{
						Provider: "cosign", SecretRef: &meta.LocalObjectReference{Name: "cosign-keys"},
					},
				},
			},
			ChartRef: &helmv2.CrossNamespaceSourceReference{
				APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "OCIRepository", Name: "redis-chart", Namespace: "flux-system",
			},
			Interval:           metav1.Duration{Duration: 5 * time.Minute},
			KubeConfig:         hrTestKubeConfig(),
			Suspend:            true,
			ReleaseName:        "backend-redis",
			TargetNamespace:    "data",
			StorageNamespace:   "helm-storage",
			DependsOn:          []helmv2.DependencyReference{{Name: "cert-manager", Namespace: "infra"}},
			Timeout:            hrDur(9 * time.Minute),
			MaxHistory:         hrPtr(7),
			ServiceAccountName: "helm",
			PersistentClient:   hrPtr(false),
			DriftDetection: &helmv2.DriftDetection{
				Mode:   helmv2.DriftDetectionWarn,
				Ignore: []helmv2.IgnoreRule{{Paths: []string{"/spec/replicas"}, Target: &sel}},
			},
			Install: &helmv2.Install{
				Timeout: hrDur(time.Minute),
				Remediation: &helmv2.InstallRemediation{
					Retries: 3, IgnoreTestFailures: hrPtr(true), RemediateLastFailure: hrPtr(true),
				},
				DisableWait: true, DisableWaitForJobs: true, DisableHooks: true, DisableOpenAPIValidation: true,
				Replace: true, SkipCRDs: true, CRDs: helmv2.CreateReplace, CreateNamespace: true,
			},
			Upgrade: &helmv2.Upgrade{
				Timeout: hrDur(2 * time.Minute),
				Remediation: &helmv2.UpgradeRemediation{
					Retries: -1, IgnoreTestFailures: hrPtr(false), RemediateLastFailure: hrPtr(true), Strategy: &strategy,
				},
				DisableWait: true, DisableWaitForJobs: true, DisableHooks: true, DisableOpenAPIValidation: true,
				Force: true, PreserveValues: true, CleanupOnFail: true, CRDs: helmv2.Create,
			},
			Test: &helmv2.Test{Enable: true, Timeout: hrDur(6 * time.Minute), IgnoreFailures: true},
			Rollback: &helmv2.Rollback{
				Timeout: hrDur(3 * time.Minute), DisableWait: true, DisableWaitForJobs: true, DisableHooks: true,
				Recreate: true, Force: true, CleanupOnFail: true,
			},
			Uninstall: &helmv2.Uninstall{
				Timeout: hrDur(4 * time.Minute), DisableHooks: true, KeepHistory: true, DisableWait: true,
				DeletionPropagation: hrPtr("foreground"),
			},
			ValuesFrom: []meta.ValuesReference{{
				Kind: "ConfigMap", Name: "values", ValuesKey: "extra.yaml", TargetPath: "a.b", Optional: true,
			}},
			Values: hrJSON(`{"architecture":"standalone","auth":{"enabled":false}}`),
			PostRenderers: []helmv2.PostRenderer{{Kustomize: &helmv2.Kustomize{
				Patches: []kustomizev1.Patch{
					{Patch: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: backend\nspec:\n  replicas: 2\n"},
					{Patch: "- op: remove\n  path: /x\n", Target: &sel},
					{Patch: "- op: add\n  path: /metadata/labels/x\n  value: \"y\"\n- from: /b\n  op: move\n  path: /a\n", Target: &sel},
				},
				Images: []kustomizev1.Image{{Name: "redis", NewName: "mirror/redis", NewTag: "7", Digest: "sha256:ddd"}},
			}}},
		},
		Status: helmv2.HelmReleaseStatus{
			ObservedGeneration:          4,
			ObservedPostRenderersDigest: "sha256:pr",
			LastAttemptedGeneration:     4,
			Conditions:                  hrTestConditions(),
			HelmChart:                   "flux-system/apps-backend",
			StorageNamespace:            "helm-storage",
			History:                     hrTestHistory(),
			LastAttemptedReleaseAction:  helmv2.ReleaseActionUpgrade,
			Failures:                    1,
			InstallFailures:             2,
			UpgradeFailures:             3,
			LastAttemptedRevision:       "17.3.1",
			LastAttemptedValuesChecksum: "sha1:abc",
			LastReleaseRevision:         3,
			LastAttemptedConfigDigest:   "sha256:bbb",
			LastHandledResetAt:          "reset1",
			ReconcileRequestStatus:      meta.ReconcileRequestStatus{LastHandledReconcileAt: "r1"},
			ForceRequestStatus:          meta.ForceRequestStatus{LastHandledForceAt: "force1"},
		},
	}
}

func hrTestV2beta1() *helmv2beta1.HelmRelease {
	return &helmv2beta1.HelmRelease{
		TypeMeta:   metav1.TypeMeta{APIVersion: "helm.toolkit.fluxcd.io/v2beta1", Kind: "HelmRelease"},
		ObjectMeta: hrTestObjectMeta(),
		Spec: helmv2beta1.HelmReleaseSpec{
			Chart: &helmv2beta1.HelmChartTemplate{
				ObjectMeta: &helmv2beta1.HelmChartTemplateObjectMeta{
					Labels: map[string]string{"l": "1"}, Annotations: map[string]string{"a": "1"},
				},
				Spec: helmv2beta1.HelmChartTemplateSpec{
					Chart: "redis", Version: "17.3.x",
					SourceRef: helmv2beta1.CrossNamespaceObjectReference{
						APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "HelmRepository", Name: "bitnami", Namespace: "flux-system",
					},
					Interval:          hrDur(10 * time.Minute),
					ReconcileStrategy: "Revision",
					ValuesFiles:       []string{"values-a.yaml", "values-b.yaml"},
					ValuesFile:        "values-base.yaml",
					Verify: &helmv2beta1.HelmChartTemplateVerification{
						Provider: "cosign", SecretRef: &meta.LocalObjectReference{Name: "cosign-keys"},
					},
				},
			},
			ChartRef: &helmv2beta2.CrossNamespaceSourceReference{
				APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "OCIRepository", Name: "redis-chart", Namespace: "flux-system",
			},
			Interval:           metav1.Duration{Duration: 5 * time.Minute},
			KubeConfig:         hrTestKubeConfig(),
			Suspend:            true,
			ReleaseName:        "backend-redis",
			TargetNamespace:    "data",
			StorageNamespace:   "helm-storage",
			DependsOn:          []meta.NamespacedObjectReference{{Name: "cert-manager", Namespace: "infra"}},
			Timeout:            hrDur(9 * time.Minute),
			MaxHistory:         hrPtr(7),
			ServiceAccountName: "helm",
			PersistentClient:   hrPtr(false),
			DriftDetection:     hrTestDriftDetection(),
			Install:            hrTestInstall(),
			Upgrade:            hrTestUpgrade(),
			Test:               &helmv2beta1.Test{Enable: true, Timeout: hrDur(6 * time.Minute), IgnoreFailures: true},
			Rollback:           hrTestRollback(),
			Uninstall:          hrTestUninstall(),
			ValuesFrom:         hrTestValuesFrom(),
			Values:             hrJSON(`{"architecture":"standalone","auth":{"enabled":false}}`),
			PostRenderers:      hrTestPostRenderers(),
		},
		Status: helmv2beta1.HelmReleaseStatus{
			ObservedGeneration:          4,
			ObservedPostRenderersDigest: "sha256:pr",
			ReconcileRequestStatus:      meta.ReconcileRequestStatus{LastHandledReconcileAt: "r1"},
			Conditions:                  hrTestConditions(),
			LastAppliedRevision:         "17.3.0",
			LastAttemptedRevision:       "17.3.1",
			LastAttemptedValuesChecksum: "sha1:abc",
			LastReleaseRevision:         3,
			HelmChart:                   "flux-system/apps-backend",
			Failures:                    1,
			InstallFailures:             2,
			UpgradeFailures:             3,
			StorageNamespace:            "helm-storage",
			History:                     hrTestHistory(),
			LastAttemptedGeneration:     4,
			LastAttemptedConfigDigest:   "sha256:bbb",
			LastAttemptedReleaseAction:  "upgrade",
			LastHandledForceAt:          "force1",
			LastHandledResetAt:          "reset1",
		},
	}
}

func hrTestV2beta2() *helmv2beta2.HelmRelease {
	b1 := hrTestV2beta1()
	return &helmv2beta2.HelmRelease{
		TypeMeta:   metav1.TypeMeta{APIVersion: "helm.toolkit.fluxcd.io/v2beta2", Kind: "HelmRelease"},
		ObjectMeta: hrTestObjectMeta(),
		Spec: helmv2beta2.HelmReleaseSpec{
			Chart: &helmv2beta2.HelmChartTemplate{
				ObjectMeta: b1.Spec.Chart.ObjectMeta,
				Spec: helmv2beta2.HelmChartTemplateSpec{
					Chart: "redis", Version: "17.3.x",
					SourceRef:                b1.Spec.Chart.Spec.SourceRef,
					Interval:                 hrDur(10 * time.Minute),
					ReconcileStrategy:        "Revision",
					ValuesFiles:              []string{"values-a.yaml", "values-b.yaml"},
					ValuesFile:               "values-base.yaml",
					IgnoreMissingValuesFiles: true,
					Verify: &helmv2beta2.HelmChartTemplateVerification{
						Provider: "cosign", SecretRef: &meta.LocalObjectReference{Name: "cosign-keys"},
					},
				},
			},
			ChartRef:           b1.Spec.ChartRef,
			Interval:           b1.Spec.Interval,
			KubeConfig:         b1.Spec.KubeConfig,
			Suspend:            true,
			ReleaseName:        "backend-redis",
			TargetNamespace:    "data",
			StorageNamespace:   "helm-storage",
			DependsOn:          b1.Spec.DependsOn,
			Timeout:            b1.Spec.Timeout,
			MaxHistory:         b1.Spec.MaxHistory,
			ServiceAccountName: "helm",
			PersistentClient:   b1.Spec.PersistentClient,
			DriftDetection:     hrTestDriftDetection(),
			Install:            hrTestInstall(),
			Upgrade:            hrTestUpgrade(),
			Test: &helmv2beta2.Test{
				Enable: true, Timeout: hrDur(6 * time.Minute), IgnoreFailures: true,
				Filters: &[]helmv2beta2.Filter{{Name: "backend-test", Exclude: true}},
			},
			Rollback:      hrTestRollback(),
			Uninstall:     hrTestUninstall(),
			ValuesFrom:    hrTestValuesFrom(),
			Values:        b1.Spec.Values,
			PostRenderers: hrTestPostRenderers(),
		},
		Status: helmv2beta2.HelmReleaseStatus{
			ObservedGeneration:          4,
			ObservedPostRenderersDigest: "sha256:pr",
			LastAttemptedGeneration:     4,
			Conditions:                  hrTestConditions(),
			HelmChart:                   "flux-system/apps-backend",
			StorageNamespace:            "helm-storage",
			History:                     hrTestHistory(),
			LastAttemptedReleaseAction:  helmv2beta2.ReleaseActionUpgrade,
			Failures:                    1,
			InstallFailures:             2,
			UpgradeFailures:             3,
			LastAppliedRevision:         "17.3.0",
			LastAttemptedRevision:       "17.3.1",
			LastAttemptedRevisionDigest: "sha256:eee",
			LastAttemptedValuesChecksum: "sha1:abc",
			LastReleaseRevision:         3,
			LastAttemptedConfigDigest:   "sha256:bbb",
			LastHandledForceAt:          "force1",
			LastHandledResetAt:          "reset1",
			ReconcileRequestStatus:      meta.ReconcileRequestStatus{LastHandledReconcileAt: "r1"},
		},
	}
}

// v2 fields no older version has: they must stay empty after conversion.
var hrV2OnlyFields = []string{
	".Spec.CommonMetadata", ".Spec.DependsOn[].ReadyExpr", ".Spec.HealthCheckExprs", ".Spec.PostRenderStrategy", ".Spec.WaitStrategy",
	".Spec.Install.DisableSchemaValidation", ".Spec.Install.DisableTakeOwnership", ".Spec.Install.ServerSideApply",
	".Spec.Install.Strategy",
	".Spec.Upgrade.ChartNameChangeStrategy", ".Spec.Upgrade.DisableSchemaValidation",
	".Spec.Upgrade.DisableTakeOwnership", ".Spec.Upgrade.ServerSideApply", ".Spec.Upgrade.Strategy",
	".Spec.Rollback.ServerSideApply",
	".Spec.ValuesFrom[].Literal",
	".Status.Inventory", ".Status.LastAttemptedReleaseActionDuration", ".Status.ObservedCommonMetadataDigest",
}

func TestHelmReleaseToV2(t *testing.T) {
	tests := []struct {
		name     string
		input    any
		convert  func() (*helmv2.HelmRelease, error)
		inSkip   []string // input fields deliberately left empty
		outExtra []string // further v2 fields that stay empty for this version
		want     func(*helmv2.HelmRelease)
	}{
		{
			name:     "v2beta1",
			input:    hrTestV2beta1(),
			convert:  func() (*helmv2.HelmRelease, error) { return HelmReleaseV2beta1ToV2(hrTestV2beta1()) },
			outExtra: []string{".Spec.Chart.Spec.IgnoreMissingValuesFiles", ".Spec.Test.Filters", ".Status.LastAttemptedRevisionDigest"},
		},
		{
			name:    "v2beta2",
			input:   hrTestV2beta2(),
			convert: func() (*helmv2.HelmRelease, error) { return HelmReleaseV2beta2ToV2(hrTestV2beta2()) },
			want: func(hr *helmv2.HelmRelease) {
				hr.Spec.Chart.Spec.IgnoreMissingValuesFiles = true
				hr.Spec.Test.Filters = &[]helmv2.Filter{{Name: "backend-test", Exclude: true}}
				hr.Status.LastAttemptedRevisionDigest = "sha256:eee"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inZero := hrZeroFields(tt.input)
			if len(inZero) > 0 {
				t.Errorf("input fixture leaves fields empty: %v", inZero)
			}

			got, err := tt.convert()
			if err != nil {
				t.Fatalf("convert: %v", err)
			}
			want := hrExpectedV2()
			if tt.want != nil {
				tt.want(want)
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				w, _ := json.MarshalIndent(want, "", "  ")
				t.Fatalf("converted object differs\n got: %s\nwant: %s", g, w)
			}

			allowed := map[string]bool{}
			for _, f := range append(append([]string{}, hrV2OnlyFields...), tt.outExtra...) {
				allowed[f] = true
			}
			for _, f := range hrZeroFields(got) {
				if !allowed[f] {
					t.Errorf("output field %s is empty", f)
				}
			}
		})
	}
}

func TestHelmReleaseToV2DoesNotAlias(t *testing.T) {
	in := hrTestV2beta2()
	out, err := HelmReleaseV2beta2ToV2(in)
	if err != nil {
		t.Fatal(err)
	}
	out.Spec.Chart.Spec.ValuesFiles[0] = "changed"
	out.Status.History[0].Name = "changed"
	out.Labels["team"] = "changed"
	if in.Spec.Chart.Spec.ValuesFiles[0] != "values-a.yaml" || in.Status.History[0].Name != "backend" || in.Labels["team"] != "a" {
		t.Fatal("output shares memory with input")
	}
}

func TestHelmReleaseToV2Errors(t *testing.T) {
	badSMP := hrTestV2beta1()
	badSMP.Spec.PostRenderers[0].Kustomize.PatchesStrategicMerge = []apiextensionsv1.JSON{{Raw: []byte(`["not","an","object"]`)}}
	badValue := hrTestV2beta2()
	badValue.Spec.PostRenderers[0].Kustomize.PatchesJSON6902[0].Patch[0].Value = hrJSON(`{bad`)

	tests := []struct {
		name    string
		convert func() (*helmv2.HelmRelease, error)
		field   string
	}{
		{"v2beta1 nil", func() (*helmv2.HelmRelease, error) { return HelmReleaseV2beta1ToV2(nil) }, "nil input"},
		{"v2beta2 nil", func() (*helmv2.HelmRelease, error) { return HelmReleaseV2beta2ToV2(nil) }, "nil input"},
		{"v2beta1 bad strategic merge patch", func() (*helmv2.HelmRelease, error) { return HelmReleaseV2beta1ToV2(badSMP) },
			"spec.postRenderers[0].kustomize.patchesStrategicMerge[0]"},
		{"v2beta2 bad JSON6902 value", func() (*helmv2.HelmRelease, error) { return HelmReleaseV2beta2ToV2(badValue) },
			"spec.postRenderers[0].kustomize.patchesJson6902[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.convert()
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("want error naming %q, got %v", tt.field, err)
			}
		})
	}
}

func TestHelmReleaseSeedV2beta1(t *testing.T) {
	const manifest = `
apiVersion: helm.toolkit.fluxcd.io/v2beta1
kind: HelmRelease
metadata: {name: backend-redis, namespace: default}
spec:
  interval: 5m
  chart: {spec: {chart: redis, version: '17.3.x', sourceRef: {kind: HelmRepository, name: bitnami}}}
  values: {architecture: standalone, auth: {enabled: false}}
`
	var in helmv2beta1.HelmRelease
	if err := yaml.UnmarshalStrict([]byte(manifest), &in); err != nil {
		t.Fatalf("decode: %v", err)
	}
	out, err := HelmReleaseV2beta1ToV2(&in)
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	if out.APIVersion != "helm.toolkit.fluxcd.io/v2" || out.Kind != "HelmRelease" {
		t.Errorf("type meta = %s %s", out.APIVersion, out.Kind)
	}
	if out.Name != "backend-redis" || out.Namespace != "default" {
		t.Errorf("object = %s/%s", out.Namespace, out.Name)
	}
	if out.Spec.Interval.Duration != 5*time.Minute {
		t.Errorf("interval = %s", out.Spec.Interval.Duration)
	}
	c := out.Spec.Chart
	if c == nil || c.Spec.Chart != "redis" || c.Spec.Version != "17.3.x" ||
		c.Spec.SourceRef != (helmv2.CrossNamespaceObjectReference{Kind: "HelmRepository", Name: "bitnami"}) {
		t.Errorf("chart = %+v", c)
	}
	if c != nil && c.Spec.ValuesFiles != nil {
		t.Errorf("valuesFiles = %v, want nil", c.Spec.ValuesFiles)
	}
	values := out.GetValues()
	if values["architecture"] != "standalone" || values["auth"].(map[string]any)["enabled"] != false {
		t.Errorf("values = %v", values)
	}
	if out.GetReleaseName() != "backend-redis" || out.GetReleaseNamespace() != "default" {
		t.Errorf("release = %s/%s", out.GetReleaseNamespace(), out.GetReleaseName())
	}
	if out.Spec.PostRenderers != nil || out.Spec.DependsOn != nil || out.Spec.ValuesFrom != nil {
		t.Errorf("unexpected non-nil slices: %+v", out.Spec)
	}
}
