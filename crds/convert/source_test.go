package convert

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	sourcev1beta2 "github.com/converge-gitops/converge/crds/source/v1beta2"
)

func sourceTestMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:        "podinfo",
		Namespace:   "flux-system",
		Generation:  3,
		Labels:      map[string]string{"app": "podinfo"},
		Annotations: map[string]string{meta.ReconcileRequestAnnotation: "now"},
	}
}

func sourceTestArtifact() *meta.Artifact {
	size := int64(1234)
	return &meta.Artifact{
		Path:           "ocirepository/flux-system/podinfo/sha256:abc.tar.gz",
		URL:            "http://source-controller/ocirepository/flux-system/podinfo/sha256:abc.tar.gz",
		Revision:       "latest@sha256:abc",
		Digest:         "sha256:abc",
		LastUpdateTime: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		Size:           &size,
		Metadata:       map[string]string{"org.opencontainers.image.source": "https://github.com/stefanprodan/podinfo"},
	}
}

func sourceTestConditions() []metav1.Condition {
	return []metav1.Condition{{
		Type:               meta.ReadyCondition,
		Status:             metav1.ConditionTrue,
		ObservedGeneration: 3,
		LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		Reason:             meta.SucceededReason,
		Message:            "stored artifact",
	}}
}

// sourceAssertFilled fails when a field of v (recursively through structs and pointers to
// structs) is left at its zero value, so that the fixtures below really exercise every field.
func sourceAssertFilled(t *testing.T, v any, skip ...string) {
	t.Helper()
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	var walk func(rv reflect.Value, path string)
	walk = func(rv reflect.Value, path string) {
		if skipped[path] {
			return
		}
		if rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				t.Errorf("fixture leaves %s nil", path)
				return
			}
			rv = rv.Elem()
		}
		if rv.Kind() != reflect.Struct {
			if rv.IsZero() {
				t.Errorf("fixture leaves %s zero", path)
			}
			return
		}
		if rv.Type().PkgPath() != "" && rv.Type().PkgPath() != reflect.TypeFor[sourcev1.GitRepository]().PkgPath() &&
			rv.Type().PkgPath() != reflect.TypeFor[sourcev1beta2.OCIRepository]().PkgPath() &&
			rv.Type().PkgPath() != reflect.TypeFor[meta.Artifact]().PkgPath() {
			// Types from other modules (metav1.Duration, metav1.Time...) are checked as a whole.
			if rv.IsZero() {
				t.Errorf("fixture leaves %s zero", path)
			}
			return
		}
		for i := 0; i < rv.NumField(); i++ {
			walk(rv.Field(i), path+"."+rv.Type().Field(i).Name)
		}
	}
	walk(reflect.ValueOf(v), "")
}

// sourceJSONMap renders v as a generic JSON object for whole-object comparison.
func sourceJSONMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHelmRepositoryV1beta2ToV1(t *testing.T) {
	full := &sourcev1beta2.HelmRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: "source.toolkit.fluxcd.io/v1beta2", Kind: "HelmRepository"},
		ObjectMeta: sourceTestMeta(),
		Spec: sourcev1beta2.HelmRepositorySpec{
			URL:             "oci://ghcr.io/stefanprodan/charts",
			SecretRef:       &meta.LocalObjectReference{Name: "creds"},
			CertSecretRef:   &meta.LocalObjectReference{Name: "tls"},
			PassCredentials: true,
			Interval:        metav1.Duration{Duration: 5 * time.Minute},
			Insecure:        true,
			Timeout:         &metav1.Duration{Duration: 90 * time.Second},
			Suspend:         true,
			AccessFrom: &sourcev1.AccessFrom{NamespaceSelectors: []sourcev1.NamespaceSelector{
				{MatchLabels: map[string]string{"tenant": "a"}},
			}},
			Type:     sourcev1beta2.HelmRepositoryTypeOCI,
			Provider: "aws",
		},
		Status: sourcev1beta2.HelmRepositoryStatus{
			ObservedGeneration:     3,
			Conditions:             sourceTestConditions(),
			URL:                    "http://source-controller/helmrepository/flux-system/podinfo/index.yaml",
			Artifact:               sourceTestArtifact(),
			ReconcileRequestStatus: meta.ReconcileRequestStatus{LastHandledReconcileAt: "now"},
		},
	}
	sourceAssertFilled(t, full)

	tests := []struct {
		name  string
		in    *sourcev1beta2.HelmRepository
		check func(t *testing.T, in *sourcev1beta2.HelmRepository, out *sourcev1.HelmRepository)
	}{
		{
			name: "fully populated",
			in:   full,
			check: func(t *testing.T, in *sourcev1beta2.HelmRepository, out *sourcev1.HelmRepository) {
				if out.Spec.URL != in.Spec.URL || out.Spec.Type != "oci" || out.Spec.Provider != "aws" {
					t.Errorf("url/type/provider not kept: %+v", out.Spec)
				}
				if out.Spec.SecretRef.Name != "creds" || out.Spec.CertSecretRef.Name != "tls" {
					t.Errorf("secret refs not kept: %+v", out.Spec)
				}
				if !out.Spec.PassCredentials || !out.Spec.Insecure || !out.Spec.Suspend {
					t.Errorf("flags not kept: %+v", out.Spec)
				}
				if out.GetRequeueAfter() != 5*time.Minute || out.GetTimeout() != 90*time.Second {
					t.Errorf("interval/timeout not kept: %v %v", out.GetRequeueAfter(), out.GetTimeout())
				}
				if out.Spec.AccessFrom.NamespaceSelectors[0].MatchLabels["tenant"] != "a" {
					t.Errorf("accessFrom not kept: %+v", out.Spec.AccessFrom)
				}
				if out.GetArtifact().Digest != "sha256:abc" || out.Status.URL != in.Status.URL ||
					out.Status.LastHandledReconcileAt != "now" || out.Status.ObservedGeneration != 3 ||
					len(out.GetConditions()) != 1 {
					t.Errorf("status not kept: %+v", out.Status)
				}
				// Same fields in both versions: the JSON must be identical but for apiVersion.
				want := sourceJSONMap(t, in)
				want["apiVersion"] = "source.toolkit.fluxcd.io/v1"
				if got := sourceJSONMap(t, out); !reflect.DeepEqual(got, want) {
					t.Errorf("JSON differs:\n got %v\nwant %v", got, want)
				}
				// The output must not share memory with the input.
				out.Spec.SecretRef.Name = "changed"
				out.Status.Artifact.Metadata["x"] = "y"
				if in.Spec.SecretRef.Name != "creds" || in.Status.Artifact.Metadata["x"] != "" {
					t.Errorf("output aliases input")
				}
				out.Spec.SecretRef.Name = "creds"
				delete(out.Status.Artifact.Metadata, "x")
			},
		},
		{
			name: "seed example",
			in: &sourcev1beta2.HelmRepository{
				ObjectMeta: metav1.ObjectMeta{Name: "podinfo"},
				Spec: sourcev1beta2.HelmRepositorySpec{
					Type:     "oci",
					Interval: metav1.Duration{Duration: 5 * time.Minute},
					URL:      "oci://ghcr.io/stefanprodan/charts",
				},
			},
			check: func(t *testing.T, in *sourcev1beta2.HelmRepository, out *sourcev1.HelmRepository) {
				if out.APIVersion != "source.toolkit.fluxcd.io/v1" || out.Kind != "HelmRepository" {
					t.Errorf("type meta = %v", out.TypeMeta)
				}
				if out.Spec.SecretRef != nil || out.Spec.AccessFrom != nil || out.Status.Artifact != nil {
					t.Errorf("nil fields became non-nil: %+v", out)
				}
				if !out.IsOCI() || out.Spec.URL != in.Spec.URL {
					t.Errorf("spec = %+v", out.Spec)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := HelmRepositoryV1beta2ToV1(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tt.in, out)

			back, err := HelmRepositoryV1ToV1beta2(out)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.in.DeepCopy()
			want.TypeMeta = metav1.TypeMeta{APIVersion: "source.toolkit.fluxcd.io/v1beta2", Kind: "HelmRepository"}
			if !reflect.DeepEqual(sourceJSONMap(t, back), sourceJSONMap(t, want)) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", back, want)
			}
		})
	}

	if _, err := HelmRepositoryV1beta2ToV1(nil); err == nil {
		t.Error("nil input: expected an error")
	}
}

func TestOCIRepositoryV1beta2ToV1(t *testing.T) {
	ignore := "/*\n!/manifests\n"
	observedIgnore := "/*\n!/deploy\n"
	full := &sourcev1beta2.OCIRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: "source.toolkit.fluxcd.io/v1beta2", Kind: "OCIRepository"},
		ObjectMeta: sourceTestMeta(),
		Spec: sourcev1beta2.OCIRepositorySpec{
			URL: "oci://ghcr.io/stefanprodan/manifests/podinfo",
			Reference: &sourcev1beta2.OCIRepositoryRef{
				Digest:       "sha256:0123",
				SemVer:       ">=6.0.0",
				SemverFilter: ".*-rc.*",
				Tag:          "latest",
			},
			LayerSelector: &sourcev1beta2.OCILayerSelector{
				MediaType: "application/vnd.cncf.flux.content.v1.tar+gzip",
				Operation: sourcev1beta2.OCILayerCopy,
			},
			Provider:  "gcp",
			SecretRef: &meta.LocalObjectReference{Name: "ghcr-credentials"},
			Verify: &sourcev1.OCIRepositoryVerification{
				Provider:  "cosign",
				SecretRef: &meta.LocalObjectReference{Name: "cosign-pub"},
				MatchOIDCIdentity: []sourcev1.OIDCIdentityMatch{
					{Issuer: "^https://token.actions.githubusercontent.com$", Subject: "^https://github.com/stefanprodan/.*$"},
				},
				TrustedRootSecretRef: &meta.LocalObjectReference{Name: "trusted-root"},
			},
			ServiceAccountName: "puller",
			CertSecretRef:      &meta.LocalObjectReference{Name: "tls"},
			ProxySecretRef:     &meta.LocalObjectReference{Name: "proxy"},
			Interval:           metav1.Duration{Duration: 5 * time.Minute},
			Timeout:            &metav1.Duration{Duration: 2 * time.Minute},
			Ignore:             &ignore,
			Insecure:           true,
			Suspend:            true,
		},
		Status: sourcev1beta2.OCIRepositoryStatus{
			ObservedGeneration:    3,
			Conditions:            sourceTestConditions(),
			URL:                   "http://source-controller/ocirepository/flux-system/podinfo/latest.tar.gz",
			Artifact:              sourceTestArtifact(),
			ContentConfigChecksum: "sha256:feed",
			ObservedIgnore:        &observedIgnore,
			ObservedLayerSelector: &sourcev1beta2.OCILayerSelector{
				MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
				Operation: sourcev1beta2.OCILayerExtract,
			},
			ReconcileRequestStatus: meta.ReconcileRequestStatus{LastHandledReconcileAt: "now"},
		},
	}
	sourceAssertFilled(t, full)

	tests := []struct {
		name  string
		in    *sourcev1beta2.OCIRepository
		check func(t *testing.T, in *sourcev1beta2.OCIRepository, out *sourcev1.OCIRepository)
	}{
		{
			name: "fully populated",
			in:   full,
			check: func(t *testing.T, in *sourcev1beta2.OCIRepository, out *sourcev1.OCIRepository) {
				if out.Spec.URL != in.Spec.URL || out.Spec.Provider != "gcp" || out.Spec.ServiceAccountName != "puller" {
					t.Errorf("spec scalars not kept: %+v", out.Spec)
				}
				if r := out.Spec.Reference; r.Digest != "sha256:0123" || r.SemVer != ">=6.0.0" || r.SemverFilter != ".*-rc.*" || r.Tag != "latest" {
					t.Errorf("ref not kept: %+v", r)
				}
				if out.GetLayerOperation() != sourcev1.OCILayerCopy || out.GetLayerMediaType() != in.Spec.LayerSelector.MediaType {
					t.Errorf("layer selector not kept: %+v", out.Spec.LayerSelector)
				}
				if v := out.Spec.Verify; v.Provider != "cosign" || v.SecretRef.Name != "cosign-pub" ||
					v.MatchOIDCIdentity[0].Subject != in.Spec.Verify.MatchOIDCIdentity[0].Subject ||
					v.TrustedRootSecretRef.Name != "trusted-root" {
					t.Errorf("verify not kept: %+v", v)
				}
				if out.Spec.SecretRef.Name != "ghcr-credentials" || out.Spec.CertSecretRef.Name != "tls" || out.Spec.ProxySecretRef.Name != "proxy" {
					t.Errorf("secret refs not kept: %+v", out.Spec)
				}
				if out.GetRequeueAfter() != 5*time.Minute || out.GetTimeout() != 2*time.Minute || *out.Spec.Ignore != ignore ||
					!out.Spec.Insecure || !out.Spec.Suspend {
					t.Errorf("interval/timeout/ignore/flags not kept: %+v", out.Spec)
				}
				if *out.Status.ObservedIgnore != observedIgnore || out.Status.ObservedLayerSelector.Operation != "extract" ||
					out.GetArtifact().Revision != "latest@sha256:abc" || out.Status.LastHandledReconcileAt != "now" ||
					out.Status.URL != in.Status.URL || out.Status.ObservedGeneration != 3 || len(out.GetConditions()) != 1 {
					t.Errorf("status not kept: %+v", out.Status)
				}
				// Everything but the deprecated checksum carries over unchanged.
				want := sourceJSONMap(t, in)
				want["apiVersion"] = "source.toolkit.fluxcd.io/v1"
				delete(want["status"].(map[string]any), "contentConfigChecksum")
				if got := sourceJSONMap(t, out); !reflect.DeepEqual(got, want) {
					t.Errorf("JSON differs:\n got %v\nwant %v", got, want)
				}
				out.Spec.Reference.Tag = "changed"
				*out.Spec.Ignore = "changed"
				if in.Spec.Reference.Tag != "latest" || *in.Spec.Ignore != ignore {
					t.Errorf("output aliases input")
				}
				out.Spec.Reference.Tag = "latest"
				*out.Spec.Ignore = ignore
			},
		},
		{
			name: "seed example",
			in: &sourcev1beta2.OCIRepository{
				ObjectMeta: metav1.ObjectMeta{Name: "podinfo"},
				Spec: sourcev1beta2.OCIRepositorySpec{
					Interval:  metav1.Duration{Duration: 5 * time.Minute},
					URL:       "oci://ghcr.io/stefanprodan/manifests/podinfo",
					Reference: &sourcev1beta2.OCIRepositoryRef{Tag: "latest"},
					SecretRef: &meta.LocalObjectReference{Name: "ghcr-credentials"},
				},
			},
			check: func(t *testing.T, in *sourcev1beta2.OCIRepository, out *sourcev1.OCIRepository) {
				if out.APIVersion != "source.toolkit.fluxcd.io/v1" || out.Kind != "OCIRepository" {
					t.Errorf("type meta = %v", out.TypeMeta)
				}
				if out.Spec.Reference.Tag != "latest" || out.Spec.SecretRef.Name != "ghcr-credentials" {
					t.Errorf("spec = %+v", out.Spec)
				}
				if out.Spec.LayerSelector != nil || out.Spec.Verify != nil || out.Status.ObservedLayerSelector != nil {
					t.Errorf("nil fields became non-nil: %+v", out)
				}
				if out.GetLayerOperation() != sourcev1.OCILayerExtract {
					t.Errorf("default layer operation = %q", out.GetLayerOperation())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := OCIRepositoryV1beta2ToV1(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tt.in, out)

			back, err := OCIRepositoryV1ToV1beta2(out)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.in.DeepCopy()
			want.TypeMeta = metav1.TypeMeta{APIVersion: "source.toolkit.fluxcd.io/v1beta2", Kind: "OCIRepository"}
			want.Status.ContentConfigChecksum = ""
			if !reflect.DeepEqual(sourceJSONMap(t, back), sourceJSONMap(t, want)) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", back, want)
			}
		})
	}

	if _, err := OCIRepositoryV1beta2ToV1(nil); err == nil {
		t.Error("nil input: expected an error")
	}
}

func TestGitRepositoryV1beta2ToV1(t *testing.T) {
	ignore := "/*\n!/deploy\n"
	full := &sourcev1beta2.GitRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: "source.toolkit.fluxcd.io/v1beta2", Kind: "GitRepository"},
		ObjectMeta: sourceTestMeta(),
		Spec: sourcev1beta2.GitRepositorySpec{
			URL:       "ssh://git@github.com/stefanprodan/podinfo",
			SecretRef: &meta.LocalObjectReference{Name: "ssh"},
			Interval:  metav1.Duration{Duration: time.Minute},
			Timeout:   &metav1.Duration{Duration: 2 * time.Minute},
			Reference: &sourcev1.GitRepositoryRef{
				Branch: "main", Tag: "v6.0.0", SemVer: "6.x", Name: "refs/heads/main",
				Commit: "5394cb7f48332b2de7c17dd8b8384bbc84b7e738",
			},
			Verification: &sourcev1beta2.GitRepositoryVerification{
				Mode: "head", SecretRef: meta.LocalObjectReference{Name: "pgp"},
			},
			Ignore:            &ignore,
			Suspend:           true,
			GitImplementation: sourcev1beta2.LibGit2Implementation,
			RecurseSubmodules: true,
			Include: []sourcev1beta2.GitRepositoryInclude{
				{GitRepositoryRef: meta.LocalObjectReference{Name: "other"}, FromPath: "deploy", ToPath: "other"},
			},
			AccessFrom: &sourcev1.AccessFrom{NamespaceSelectors: []sourcev1.NamespaceSelector{{}}},
		},
		Status: sourcev1beta2.GitRepositoryStatus{
			ObservedGeneration:        3,
			Conditions:                sourceTestConditions(),
			URL:                       "http://source-controller/gitrepository/flux-system/podinfo/latest.tar.gz",
			Artifact:                  sourceTestArtifact(),
			IncludedArtifacts:         []*meta.Artifact{sourceTestArtifact()},
			ContentConfigChecksum:     "sha256:feed",
			ObservedIgnore:            &ignore,
			ObservedRecurseSubmodules: true,
			ObservedInclude: []sourcev1beta2.GitRepositoryInclude{
				{GitRepositoryRef: meta.LocalObjectReference{Name: "other"}},
			},
			ReconcileRequestStatus: meta.ReconcileRequestStatus{LastHandledReconcileAt: "now"},
		},
	}
	sourceAssertFilled(t, full)

	tests := []struct {
		name  string
		in    *sourcev1beta2.GitRepository
		check func(t *testing.T, in *sourcev1beta2.GitRepository, out *sourcev1.GitRepository)
	}{
		{
			name: "fully populated",
			in:   full,
			check: func(t *testing.T, in *sourcev1beta2.GitRepository, out *sourcev1.GitRepository) {
				if out.Spec.URL != in.Spec.URL || out.Spec.SecretRef.Name != "ssh" || out.GetRequeueAfter() != time.Minute ||
					out.GetTimeout() != 2*time.Minute || *out.Spec.Ignore != ignore || !out.Spec.Suspend || !out.Spec.RecurseSubmodules {
					t.Errorf("spec not kept: %+v", out.Spec)
				}
				if !reflect.DeepEqual(*out.Spec.Reference, *in.Spec.Reference) {
					t.Errorf("ref = %+v", out.Spec.Reference)
				}
				if v := out.Spec.Verification; v.Mode != "head" || v.GetMode() != sourcev1.ModeGitHEAD || v.SecretRef.Name != "pgp" {
					t.Errorf("verify = %+v", v)
				}
				if inc := out.Spec.Include[0]; inc.GitRepositoryRef.Name != "other" || inc.FromPath != "deploy" || inc.ToPath != "other" {
					t.Errorf("include = %+v", inc)
				}
				if out.Spec.Provider != "" || out.Spec.ProxySecretRef != nil || out.Spec.SparseCheckout != nil {
					t.Errorf("v1-only fields were set: %+v", out.Spec)
				}
				s := out.Status
				if s.ObservedGeneration != 3 || len(s.Conditions) != 1 || s.Artifact.Digest != "sha256:abc" || len(s.IncludedArtifacts) != 1 ||
					*s.ObservedIgnore != ignore || !s.ObservedRecurseSubmodules || s.ObservedInclude[0].GetToPath() != "other" ||
					s.LastHandledReconcileAt != "now" {
					t.Errorf("status not kept: %+v", s)
				}
				want := sourceJSONMap(t, in)
				want["apiVersion"] = "source.toolkit.fluxcd.io/v1"
				delete(want["spec"].(map[string]any), "gitImplementation")
				delete(want["spec"].(map[string]any), "accessFrom")
				delete(want["status"].(map[string]any), "url")
				delete(want["status"].(map[string]any), "contentConfigChecksum")
				// v1 omits empty include paths where v1beta2 always wrote them.
				delete(want["status"].(map[string]any)["observedInclude"].([]any)[0].(map[string]any), "fromPath")
				delete(want["status"].(map[string]any)["observedInclude"].([]any)[0].(map[string]any), "toPath")
				if got := sourceJSONMap(t, out); !reflect.DeepEqual(got, want) {
					t.Errorf("JSON differs:\n got %v\nwant %v", got, want)
				}
			},
		},
		{
			name: "minimal",
			in: &sourcev1beta2.GitRepository{
				Spec: sourcev1beta2.GitRepositorySpec{URL: "https://github.com/stefanprodan/podinfo", Interval: metav1.Duration{Duration: time.Minute}},
			},
			check: func(t *testing.T, in *sourcev1beta2.GitRepository, out *sourcev1.GitRepository) {
				if out.APIVersion != "source.toolkit.fluxcd.io/v1" || out.Kind != "GitRepository" {
					t.Errorf("type meta = %v", out.TypeMeta)
				}
				if out.Spec.Reference != nil || out.Spec.Verification != nil || out.Spec.Include != nil || out.Status.ObservedInclude != nil {
					t.Errorf("nil fields became non-nil: %+v", out)
				}
				if out.GetReference().Branch != sourcev1.DefaultGitBranch {
					t.Errorf("default ref = %+v", out.GetReference())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := GitRepositoryV1beta2ToV1(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tt.in, out)
		})
	}
	if _, err := GitRepositoryV1beta2ToV1(nil); err == nil {
		t.Error("nil input: expected an error")
	}
}

func TestHelmChartV1beta2ToV1(t *testing.T) {
	full := &sourcev1beta2.HelmChart{
		TypeMeta:   metav1.TypeMeta{APIVersion: "source.toolkit.fluxcd.io/v1beta2", Kind: "HelmChart"},
		ObjectMeta: sourceTestMeta(),
		Spec: sourcev1beta2.HelmChartSpec{
			Chart:   "podinfo",
			Version: "6.x",
			SourceRef: sourcev1.LocalHelmChartSourceReference{
				APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "HelmRepository", Name: "podinfo",
			},
			Interval:                 metav1.Duration{Duration: 10 * time.Minute},
			ReconcileStrategy:        sourcev1.ReconcileStrategyRevision,
			ValuesFiles:              []string{"values-prod.yaml"},
			ValuesFile:               "values.yaml",
			IgnoreMissingValuesFiles: true,
			Suspend:                  true,
			AccessFrom:               &sourcev1.AccessFrom{NamespaceSelectors: []sourcev1.NamespaceSelector{{}}},
			Verify: &sourcev1.HelmChartVerification{
				Provider:          "cosign",
				SecretRef:         &meta.LocalObjectReference{Name: "cosign-pub"},
				MatchOIDCIdentity: []sourcev1.OIDCIdentityMatch{{Issuer: "^https://issuer$", Subject: "^subject$"}},
			},
		},
		Status: sourcev1beta2.HelmChartStatus{
			ObservedGeneration:             3,
			ObservedSourceArtifactRevision: "sha256:source",
			ObservedChartName:              "podinfo",
			ObservedValuesFiles:            []string{"values.yaml", "values-prod.yaml"},
			Conditions:                     sourceTestConditions(),
			URL:                            "http://source-controller/helmchart/flux-system/podinfo/latest.tar.gz",
			Artifact:                       sourceTestArtifact(),
			ReconcileRequestStatus:         meta.ReconcileRequestStatus{LastHandledReconcileAt: "now"},
		},
	}
	sourceAssertFilled(t, full)

	tests := []struct {
		name  string
		in    *sourcev1beta2.HelmChart
		check func(t *testing.T, in *sourcev1beta2.HelmChart, out *sourcev1.HelmChart)
	}{
		{
			name: "fully populated",
			in:   full,
			check: func(t *testing.T, in *sourcev1beta2.HelmChart, out *sourcev1.HelmChart) {
				if !reflect.DeepEqual(out.Spec.ValuesFiles, []string{"values.yaml", "values-prod.yaml"}) {
					t.Errorf("valuesFile not merged first: %v", out.Spec.ValuesFiles)
				}
				if !reflect.DeepEqual(in.Spec.ValuesFiles, []string{"values-prod.yaml"}) {
					t.Errorf("input modified: %v", in.Spec.ValuesFiles)
				}
				want := sourceJSONMap(t, in)
				want["apiVersion"] = "source.toolkit.fluxcd.io/v1"
				spec := want["spec"].(map[string]any)
				delete(spec, "accessFrom")
				delete(spec, "valuesFile")
				spec["valuesFiles"] = []any{"values.yaml", "values-prod.yaml"}
				if got := sourceJSONMap(t, out); !reflect.DeepEqual(got, want) {
					t.Errorf("JSON differs:\n got %v\nwant %v", got, want)
				}
				if out.GetReconcileStrategy() != sourcev1.ReconcileStrategyRevision || out.Spec.Verify.MatchOIDCIdentity[0].Subject != "^subject$" ||
					out.Status.ObservedChartName != "podinfo" || out.GetArtifact() == nil {
					t.Errorf("out = %+v", out)
				}
			},
		},
		{
			name: "only deprecated valuesFile",
			in: &sourcev1beta2.HelmChart{
				Spec: sourcev1beta2.HelmChartSpec{
					Chart: "./charts/podinfo", ValuesFile: "values.yaml",
					SourceRef: sourcev1.LocalHelmChartSourceReference{Kind: "GitRepository", Name: "podinfo"},
				},
			},
			check: func(t *testing.T, in *sourcev1beta2.HelmChart, out *sourcev1.HelmChart) {
				if !reflect.DeepEqual(out.Spec.ValuesFiles, []string{"values.yaml"}) || out.Spec.Verify != nil {
					t.Errorf("spec = %+v", out.Spec)
				}
			},
		},
		{
			name: "no values files",
			in:   &sourcev1beta2.HelmChart{Spec: sourcev1beta2.HelmChartSpec{Chart: "podinfo"}},
			check: func(t *testing.T, in *sourcev1beta2.HelmChart, out *sourcev1.HelmChart) {
				if out.Spec.ValuesFiles != nil {
					t.Errorf("valuesFiles = %#v", out.Spec.ValuesFiles)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := HelmChartV1beta2ToV1(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tt.in, out)
		})
	}
	if _, err := HelmChartV1beta2ToV1(nil); err == nil {
		t.Error("nil input: expected an error")
	}
}

func TestBucketV1beta2ToV1(t *testing.T) {
	ignore := "*.md\n"
	full := &sourcev1beta2.Bucket{
		TypeMeta:   metav1.TypeMeta{APIVersion: "source.toolkit.fluxcd.io/v1beta2", Kind: "Bucket"},
		ObjectMeta: sourceTestMeta(),
		Spec: sourcev1beta2.BucketSpec{
			Provider:   sourcev1.BucketProviderGeneric,
			BucketName: "podinfo",
			Endpoint:   "minio.minio.svc:9000",
			STS: &sourcev1.BucketSTSSpec{
				Provider:      sourcev1.STSProviderLDAP,
				Endpoint:      "https://sts.example.com",
				SecretRef:     &meta.LocalObjectReference{Name: "ldap"},
				CertSecretRef: &meta.LocalObjectReference{Name: "ldap-tls"},
			},
			Insecure:       true,
			Region:         "us-east-1",
			Prefix:         "deploy/",
			SecretRef:      &meta.LocalObjectReference{Name: "minio"},
			CertSecretRef:  &meta.LocalObjectReference{Name: "tls"},
			ProxySecretRef: &meta.LocalObjectReference{Name: "proxy"},
			Interval:       metav1.Duration{Duration: 5 * time.Minute},
			Timeout:        &metav1.Duration{Duration: 30 * time.Second},
			Ignore:         &ignore,
			Suspend:        true,
			AccessFrom:     &sourcev1.AccessFrom{NamespaceSelectors: []sourcev1.NamespaceSelector{{}}},
		},
		Status: sourcev1beta2.BucketStatus{
			ObservedGeneration:     3,
			Conditions:             sourceTestConditions(),
			URL:                    "http://source-controller/bucket/flux-system/podinfo/latest.tar.gz",
			Artifact:               sourceTestArtifact(),
			ObservedIgnore:         &ignore,
			ReconcileRequestStatus: meta.ReconcileRequestStatus{LastHandledReconcileAt: "now"},
		},
	}
	sourceAssertFilled(t, full)

	tests := []struct {
		name  string
		in    *sourcev1beta2.Bucket
		check func(t *testing.T, in *sourcev1beta2.Bucket, out *sourcev1.Bucket)
	}{
		{
			name: "fully populated",
			in:   full,
			check: func(t *testing.T, in *sourcev1beta2.Bucket, out *sourcev1.Bucket) {
				want := sourceJSONMap(t, in)
				want["apiVersion"] = "source.toolkit.fluxcd.io/v1"
				delete(want["spec"].(map[string]any), "accessFrom")
				if got := sourceJSONMap(t, out); !reflect.DeepEqual(got, want) {
					t.Errorf("JSON differs:\n got %v\nwant %v", got, want)
				}
				if out.Spec.STS.Provider != "ldap" || out.GetTimeout() != 30*time.Second || out.Spec.ServiceAccountName != "" ||
					*out.Status.ObservedIgnore != ignore || out.Status.URL != in.Status.URL {
					t.Errorf("out = %+v", out)
				}
				out.Spec.STS.Endpoint = "changed"
				if in.Spec.STS.Endpoint != "https://sts.example.com" {
					t.Errorf("output aliases input")
				}
			},
		},
		{
			name: "minimal",
			in:   &sourcev1beta2.Bucket{Spec: sourcev1beta2.BucketSpec{BucketName: "b", Endpoint: "s3.amazonaws.com", Provider: "aws"}},
			check: func(t *testing.T, in *sourcev1beta2.Bucket, out *sourcev1.Bucket) {
				if out.Kind != "Bucket" || out.Spec.STS != nil || out.Spec.Provider != "aws" || out.Status.Artifact != nil {
					t.Errorf("out = %+v", out)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := BucketV1beta2ToV1(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tt.in, out)
		})
	}
	if _, err := BucketV1beta2ToV1(nil); err == nil {
		t.Error("nil input: expected an error")
	}
}
