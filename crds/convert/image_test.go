package convert

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	imagev1beta2 "github.com/converge-gitops/converge/crds/image/v1beta2"
	"github.com/converge-gitops/converge/crds/meta"
)

// imgZeroFields lists the paths of the fields of v left at their zero value, walking structs,
// pointers, slices and maps (every element). TypeMeta and ObjectMeta are skipped (copied whole);
// metav1.Time and metav1.Duration count as single values.
func imgZeroFields(v any) []string {
	var out []string
	var walk func(rv reflect.Value, path string)
	walk = func(rv reflect.Value, path string) {
		switch rv.Kind() {
		case reflect.Pointer:
			if rv.IsNil() {
				out = append(out, path)
				return
			}
			walk(rv.Elem(), path)
		case reflect.Struct:
			if rv.Type() == reflect.TypeFor[metav1.Time]() || rv.Type() == reflect.TypeFor[metav1.Duration]() {
				if rv.IsZero() {
					out = append(out, path)
				}
				return
			}
			for i := 0; i < rv.NumField(); i++ {
				f := rv.Type().Field(i)
				if !f.IsExported() || f.Name == "TypeMeta" || f.Name == "ObjectMeta" {
					continue
				}
				walk(rv.Field(i), path+"."+f.Name)
			}
		case reflect.Slice, reflect.Map:
			if rv.Len() == 0 {
				out = append(out, path)
				return
			}
			if rv.Kind() == reflect.Slice {
				for i := 0; i < rv.Len(); i++ {
					walk(rv.Index(i), path+"[]")
				}
			} else {
				for _, k := range rv.MapKeys() {
					walk(rv.MapIndex(k), path+"{}")
				}
			}
		default:
			if rv.IsZero() {
				out = append(out, path)
			}
		}
	}
	walk(reflect.ValueOf(v), "")
	sort.Strings(out)
	return out
}

func imgJSONMap(t *testing.T, v any) map[string]any {
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

func imgTime(min int) metav1.Time {
	return metav1.NewTime(time.Date(2026, 5, 6, 7, min, 0, 0, time.UTC))
}

func imgTestMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:        "podinfo",
		Namespace:   "flux-system",
		Generation:  2,
		Labels:      map[string]string{"app": "podinfo"},
		Annotations: map[string]string{meta.ReconcileRequestAnnotation: "now"},
	}
}

func imgTestConditions() []metav1.Condition {
	return []metav1.Condition{{
		Type: meta.ReadyCondition, Status: metav1.ConditionTrue, ObservedGeneration: 2,
		LastTransitionTime: imgTime(1), Reason: meta.SucceededReason, Message: "ok",
	}}
}

// imgCheckSameJSON checks that out serialises exactly like in but for apiVersion (and kind, which
// the conversion always sets): what Flux's API server, which has no conversion webhook, would store.
func imgCheckSameJSON(t *testing.T, in, out runtime.Object) {
	t.Helper()
	want := imgJSONMap(t, in)
	want["apiVersion"] = imagev1.GroupVersion.String()
	want["kind"] = reflect.TypeOf(in).Elem().Name()
	if got := imgJSONMap(t, out); !reflect.DeepEqual(got, want) {
		t.Errorf("JSON differs:\n got %v\nwant %v", got, want)
	}
}

// imgCheckToStorage checks that ToStorage dispatches in to the conversion and stamps the v1 GVK.
func imgCheckToStorage(t *testing.T, in runtime.Object, kind string) runtime.Object {
	t.Helper()
	obj, err := ToStorage(in)
	if err != nil {
		t.Fatal(err)
	}
	if gvk := obj.GetObjectKind().GroupVersionKind(); gvk != imagev1.GroupVersion.WithKind(kind) {
		t.Errorf("ToStorage GVK = %v", gvk)
	}
	// A v1 object is already at the storage version and comes back unchanged.
	same, err := ToStorage(obj)
	if err != nil || same != obj {
		t.Errorf("ToStorage(v1) = %v, %v; want the same object", same, err)
	}
	return obj
}

func TestImageRepositoryV1beta2ToV1(t *testing.T) {
	full := &imagev1beta2.ImageRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: "image.toolkit.fluxcd.io/v1beta2", Kind: "ImageRepository"},
		ObjectMeta: imgTestMeta(),
		Spec: imagev1beta2.ImageRepositorySpec{
			Image:              "ghcr.io/stefanprodan/podinfo",
			Interval:           metav1.Duration{Duration: 5 * time.Minute},
			Timeout:            &metav1.Duration{Duration: time.Minute},
			SecretRef:          &meta.LocalObjectReference{Name: "regcred"},
			ProxySecretRef:     &meta.LocalObjectReference{Name: "proxy"},
			ServiceAccountName: "puller",
			CertSecretRef:      &meta.LocalObjectReference{Name: "tls"},
			Suspend:            true,
			AccessFrom: &imagev1beta2.AccessFrom{NamespaceSelectors: []imagev1beta2.NamespaceSelector{
				{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "apps"}},
			}},
			ExclusionList: []string{`^.*\.sig$`, "latest"},
			Provider:      imagev1beta2.AWSProvider,
			Insecure:      true,
		},
		Status: imagev1beta2.ImageRepositoryStatus{
			Conditions:         imgTestConditions(),
			ObservedGeneration: 2,
			CanonicalImageName: "ghcr.io/stefanprodan/podinfo",
			LastScanResult: &imagev1beta2.ScanResult{
				Revision: "sha256:abc", TagCount: 3, ScanTime: imgTime(2), LatestTags: []string{"6.5.0", "6.4.0"},
			},
			ObservedExclusionList:  []string{"latest"},
			ReconcileRequestStatus: meta.ReconcileRequestStatus{LastHandledReconcileAt: "now"},
		},
	}
	if z := imgZeroFields(full); len(z) != 0 {
		t.Fatalf("fixture leaves fields empty: %v", z)
	}

	tests := []struct {
		name  string
		in    *imagev1beta2.ImageRepository
		check func(t *testing.T, in *imagev1beta2.ImageRepository, out *imagev1.ImageRepository)
	}{
		{
			name: "fully populated",
			in:   full,
			check: func(t *testing.T, in *imagev1beta2.ImageRepository, out *imagev1.ImageRepository) {
				if z := imgZeroFields(out); len(z) != 0 {
					t.Errorf("fields lost: %v", z)
				}
				if out.Spec.Image != in.Spec.Image || out.GetRequeueAfter() != 5*time.Minute || out.GetTimeout() != time.Minute ||
					out.GetProvider() != imagev1.AWSProvider || !out.Spec.Insecure || !out.Spec.Suspend {
					t.Errorf("spec not kept: %+v", out.Spec)
				}
				if out.Spec.SecretRef.Name != "regcred" || out.Spec.ProxySecretRef.Name != "proxy" ||
					out.Spec.CertSecretRef.Name != "tls" || out.Spec.ServiceAccountName != "puller" {
					t.Errorf("credentials not kept: %+v", out.Spec)
				}
				if out.Spec.AccessFrom.NamespaceSelectors[0].MatchLabels["kubernetes.io/metadata.name"] != "apps" ||
					!reflect.DeepEqual(out.GetExclusionList(), in.Spec.ExclusionList) {
					t.Errorf("accessFrom/exclusionList not kept: %+v", out.Spec)
				}
				s := out.Status
				if s.LastScanResult.TagCount != 3 || s.LastScanResult.Revision != "sha256:abc" ||
					!s.LastScanResult.ScanTime.Equal(&in.Status.LastScanResult.ScanTime) || len(s.LastScanResult.LatestTags) != 2 ||
					s.CanonicalImageName != in.Status.CanonicalImageName || s.ObservedExclusionList[0] != "latest" ||
					s.LastHandledReconcileAt != "now" || s.ObservedGeneration != 2 || len(out.GetConditions()) != 1 {
					t.Errorf("status not kept: %+v", s)
				}
				imgCheckSameJSON(t, in, out)
				// The output must not share memory with the input.
				out.Spec.AccessFrom.NamespaceSelectors[0].MatchLabels["x"] = "y"
				out.Spec.ExclusionList[0] = "changed"
				out.Status.LastScanResult.LatestTags[0] = "changed"
				if in.Spec.AccessFrom.NamespaceSelectors[0].MatchLabels["x"] != "" || in.Spec.ExclusionList[0] == "changed" ||
					in.Status.LastScanResult.LatestTags[0] == "changed" {
					t.Error("output aliases input")
				}
			},
		},
		{
			name: "minimal",
			in: &imagev1beta2.ImageRepository{
				ObjectMeta: metav1.ObjectMeta{Name: "podinfo"},
				Spec:       imagev1beta2.ImageRepositorySpec{Image: "ghcr.io/stefanprodan/podinfo", Interval: metav1.Duration{Duration: time.Hour}},
			},
			check: func(t *testing.T, in *imagev1beta2.ImageRepository, out *imagev1.ImageRepository) {
				if out.APIVersion != "image.toolkit.fluxcd.io/v1" || out.Kind != "ImageRepository" {
					t.Errorf("type meta = %v", out.TypeMeta)
				}
				if out.Spec.AccessFrom != nil || out.Spec.Timeout != nil || out.Status.LastScanResult != nil || out.Spec.ExclusionList != nil {
					t.Errorf("unset fields became set: %+v", out)
				}
				imgCheckSameJSON(t, in, out)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := ImageRepositoryV1beta2ToV1(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tt.in, out)
		})
	}

	obj := imgCheckToStorage(t, full.DeepCopy(), "ImageRepository")
	if r, ok := obj.(*imagev1.ImageRepository); !ok || r.Spec.Image != full.Spec.Image {
		t.Errorf("ToStorage returned %T %+v", obj, obj)
	}
	if _, err := ImageRepositoryV1beta2ToV1(nil); err == nil {
		t.Error("nil input: expected an error")
	}
}

func TestImagePolicyV1beta2ToV1(t *testing.T) {
	full := &imagev1beta2.ImagePolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "image.toolkit.fluxcd.io/v1beta2", Kind: "ImagePolicy"},
		ObjectMeta: imgTestMeta(),
		Spec: imagev1beta2.ImagePolicySpec{
			ImageRepositoryRef: meta.NamespacedObjectReference{Name: "podinfo", Namespace: "images"},
			// Only one policy is meaningful at a time; all are set here so each mapping is exercised.
			Policy: imagev1beta2.ImagePolicyChoice{
				SemVer:       &imagev1beta2.SemVerPolicy{Range: ">=6.0.0 <7.0.0"},
				Alphabetical: &imagev1beta2.AlphabeticalPolicy{Order: imagev1beta2.OrderDescending},
				Numerical:    &imagev1beta2.NumericalPolicy{Order: imagev1beta2.OrderAscending},
			},
			FilterTags:             &imagev1beta2.TagFilter{Pattern: `^main-[a-f0-9]+-(?P<ts>[0-9]+)`, Extract: "$ts"},
			DigestReflectionPolicy: imagev1beta2.ReflectAlways,
			Interval:               &metav1.Duration{Duration: 30 * time.Minute},
			Suspend:                true,
		},
		Status: imagev1beta2.ImagePolicyStatus{
			LatestRef:              &imagev1beta2.ImageRef{Name: "ghcr.io/stefanprodan/podinfo", Tag: "6.5.0", Digest: "sha256:def"},
			ObservedPreviousRef:    &imagev1beta2.ImageRef{Name: "ghcr.io/stefanprodan/podinfo", Tag: "6.4.0", Digest: "sha256:abc"},
			ObservedGeneration:     2,
			Conditions:             imgTestConditions(),
			ReconcileRequestStatus: meta.ReconcileRequestStatus{LastHandledReconcileAt: "now"},
		},
	}
	if z := imgZeroFields(full); len(z) != 0 {
		t.Fatalf("fixture leaves fields empty: %v", z)
	}

	tests := []struct {
		name  string
		in    *imagev1beta2.ImagePolicy
		check func(t *testing.T, in *imagev1beta2.ImagePolicy, out *imagev1.ImagePolicy)
	}{
		{
			name: "fully populated",
			in:   full,
			check: func(t *testing.T, in *imagev1beta2.ImagePolicy, out *imagev1.ImagePolicy) {
				if z := imgZeroFields(out); len(z) != 0 {
					t.Errorf("fields lost: %v", z)
				}
				if out.Spec.ImageRepositoryRef != in.Spec.ImageRepositoryRef || out.Spec.Policy.SemVer.Range != ">=6.0.0 <7.0.0" ||
					out.Spec.Policy.Alphabetical.Order != imagev1.OrderDescending || out.Spec.Policy.Numerical.Order != imagev1.OrderAscending {
					t.Errorf("policy not kept: %+v", out.Spec)
				}
				if out.Spec.FilterTags.Pattern != in.Spec.FilterTags.Pattern || out.Spec.FilterTags.Extract != "$ts" ||
					out.GetDigestReflectionPolicy() != imagev1.ReflectAlways || out.GetInterval() != 30*time.Minute || !out.Spec.Suspend {
					t.Errorf("spec not kept: %+v", out.Spec)
				}
				if out.Status.LatestRef.String() != "ghcr.io/stefanprodan/podinfo:6.5.0@sha256:def" ||
					out.Status.ObservedPreviousRef.String() != "ghcr.io/stefanprodan/podinfo:6.4.0@sha256:abc" ||
					out.Status.ObservedGeneration != 2 || out.Status.LastHandledReconcileAt != "now" || len(out.GetConditions()) != 1 {
					t.Errorf("status not kept: %+v", out.Status)
				}
				imgCheckSameJSON(t, in, out)
				out.Status.Conditions[0].Message = "changed"
				out.Spec.Interval.Duration = time.Second
				if in.Status.Conditions[0].Message == "changed" || in.Spec.Interval.Duration == time.Second {
					t.Error("output aliases input")
				}
			},
		},
		{
			name: "minimal",
			in: &imagev1beta2.ImagePolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "podinfo"},
				Spec: imagev1beta2.ImagePolicySpec{
					ImageRepositoryRef: meta.NamespacedObjectReference{Name: "podinfo"},
					Policy:             imagev1beta2.ImagePolicyChoice{SemVer: &imagev1beta2.SemVerPolicy{Range: "6.x"}},
				},
			},
			check: func(t *testing.T, in *imagev1beta2.ImagePolicy, out *imagev1.ImagePolicy) {
				if out.APIVersion != "image.toolkit.fluxcd.io/v1" || out.Kind != "ImagePolicy" {
					t.Errorf("type meta = %v", out.TypeMeta)
				}
				if out.Spec.Policy.Alphabetical != nil || out.Spec.Policy.Numerical != nil || out.Spec.FilterTags != nil ||
					out.Spec.Interval != nil || out.Status.LatestRef != nil || out.Status.ObservedPreviousRef != nil {
					t.Errorf("unset fields became set: %+v", out)
				}
				if out.GetDigestReflectionPolicy() != imagev1.ReflectNever || out.GetRequeueAfter() != 0 {
					t.Errorf("defaults = %v %v", out.GetDigestReflectionPolicy(), out.GetRequeueAfter())
				}
				imgCheckSameJSON(t, in, out)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := ImagePolicyV1beta2ToV1(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tt.in, out)
		})
	}

	obj := imgCheckToStorage(t, full.DeepCopy(), "ImagePolicy")
	if p, ok := obj.(*imagev1.ImagePolicy); !ok || p.Spec.Policy.SemVer == nil {
		t.Errorf("ToStorage returned %T %+v", obj, obj)
	}
	if _, err := ImagePolicyV1beta2ToV1(nil); err == nil {
		t.Error("nil input: expected an error")
	}
}

func TestImageUpdateAutomationV1beta2ToV1(t *testing.T) {
	full := &imagev1beta2.ImageUpdateAutomation{
		TypeMeta:   metav1.TypeMeta{APIVersion: "image.toolkit.fluxcd.io/v1beta2", Kind: "ImageUpdateAutomation"},
		ObjectMeta: imgTestMeta(),
		Spec: imagev1beta2.ImageUpdateAutomationSpec{
			SourceRef: imagev1beta2.CrossNamespaceSourceReference{
				APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "GitRepository", Name: "flux-system", Namespace: "git",
			},
			GitSpec: &imagev1beta2.GitSpec{
				Checkout: &imagev1beta2.GitCheckoutSpec{Reference: imagev1beta2.GitRepositoryRef{
					Branch: "main", Tag: "v1.0.0", SemVer: ">=1.0.0", Name: "refs/heads/main", Commit: "0123abcd",
				}},
				Commit: imagev1beta2.CommitSpec{
					Author:                imagev1beta2.CommitUser{Name: "fluxcdbot", Email: "fluxcdbot@users.noreply.github.com"},
					SigningKey:            &imagev1beta2.SigningKey{SecretRef: meta.LocalObjectReference{Name: "signing-key"}},
					MessageTemplate:       "{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}",
					MessageTemplateValues: map[string]string{"env": "prod"},
				},
				Push: &imagev1beta2.PushSpec{
					Branch:  "auto",
					Refspec: "refs/heads/auto:refs/heads/main",
					Options: map[string]string{"merge_request.create": ""},
				},
			},
			Interval: metav1.Duration{Duration: 30 * time.Minute},
			PolicySelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"auto": "true"},
				MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"web"}},
				},
			},
			Update:  &imagev1beta2.UpdateStrategy{Strategy: imagev1beta2.UpdateStrategySetters, Path: "./clusters/prod"},
			Suspend: true,
		},
		Status: imagev1beta2.ImageUpdateAutomationStatus{
			LastAutomationRunTime: &metav1.Time{Time: imgTime(3).Time},
			LastPushCommit:        "abc123",
			LastPushTime:          &metav1.Time{Time: imgTime(4).Time},
			ObservedGeneration:    2,
			Conditions:            imgTestConditions(),
			ObservedPolicies: imagev1beta2.ObservedPolicies{
				"podinfo": {Name: "ghcr.io/stefanprodan/podinfo", Tag: "6.5.0", Digest: "sha256:def"},
			},
			ObservedSourceRevision: "main@sha1:abc123",
			ReconcileRequestStatus: meta.ReconcileRequestStatus{LastHandledReconcileAt: "now"},
		},
	}
	// An empty push option value is how GitLab's merge_request.create is written.
	if z := imgZeroFields(full); !reflect.DeepEqual(z, []string{".Spec.GitSpec.Push.Options{}"}) {
		t.Fatalf("fixture leaves fields empty: %v", z)
	}

	tests := []struct {
		name  string
		in    *imagev1beta2.ImageUpdateAutomation
		check func(t *testing.T, in *imagev1beta2.ImageUpdateAutomation, out *imagev1.ImageUpdateAutomation)
	}{
		{
			name: "fully populated",
			in:   full,
			check: func(t *testing.T, in *imagev1beta2.ImageUpdateAutomation, out *imagev1.ImageUpdateAutomation) {
				// The signing key type is new in v1; it stays unset and reads as gpg.
				want := []string{".Spec.GitSpec.Commit.SigningKey.Type", ".Spec.GitSpec.Push.Options{}"}
				if z := imgZeroFields(out); !reflect.DeepEqual(z, want) {
					t.Errorf("empty fields = %v, want %v", z, want)
				}
				if out.Spec.SourceRef.String() != "GitRepository/git/flux-system" || out.Spec.SourceRef.APIVersion != in.Spec.SourceRef.APIVersion {
					t.Errorf("sourceRef not kept: %+v", out.Spec.SourceRef)
				}
				g := out.Spec.GitSpec
				ref := g.Checkout.Reference
				if ref.Branch != "main" || ref.Tag != "v1.0.0" || ref.SemVer != ">=1.0.0" || ref.Name != "refs/heads/main" || ref.Commit != "0123abcd" {
					t.Errorf("checkout not kept: %+v", ref)
				}
				if g.Commit.Author.Name != "fluxcdbot" || g.Commit.Author.Email != in.Spec.GitSpec.Commit.Author.Email ||
					g.Commit.SigningKey.SecretRef.Name != "signing-key" || g.Commit.SigningKey.GetType() != imagev1.SigningKeyTypeGPG ||
					g.Commit.MessageTemplate != in.Spec.GitSpec.Commit.MessageTemplate || g.Commit.MessageTemplateValues["env"] != "prod" {
					t.Errorf("commit not kept: %+v", g.Commit)
				}
				if _, ok := g.Push.Options["merge_request.create"]; !ok || g.Push.Branch != "auto" || !g.HasRefspec() {
					t.Errorf("push not kept: %+v", g.Push)
				}
				if out.GetRequeueAfter() != 30*time.Minute || out.Spec.PolicySelector.MatchLabels["auto"] != "true" ||
					out.Spec.PolicySelector.MatchExpressions[0].Values[0] != "web" || !out.Spec.Suspend {
					t.Errorf("spec not kept: %+v", out.Spec)
				}
				if u := out.GetUpdateStrategy(); u.Strategy != imagev1.UpdateStrategySetters || u.Path != "./clusters/prod" {
					t.Errorf("update not kept: %+v", u)
				}
				s := out.Status
				if !s.LastAutomationRunTime.Equal(in.Status.LastAutomationRunTime) || !s.LastPushTime.Equal(in.Status.LastPushTime) ||
					s.LastPushCommit != "abc123" || s.ObservedGeneration != 2 || len(out.GetConditions()) != 1 ||
					s.ObservedPolicies["podinfo"] != (imagev1.ImageRef{Name: "ghcr.io/stefanprodan/podinfo", Tag: "6.5.0", Digest: "sha256:def"}) ||
					s.ObservedSourceRevision != "main@sha1:abc123" || s.LastHandledReconcileAt != "now" {
					t.Errorf("status not kept: %+v", s)
				}
				imgCheckSameJSON(t, in, out)
				out.Spec.GitSpec.Push.Options["x"] = "y"
				out.Spec.GitSpec.Commit.MessageTemplateValues["env"] = "dev"
				out.Spec.PolicySelector.MatchLabels["auto"] = "false"
				if in.Spec.GitSpec.Push.Options["x"] != "" || in.Spec.GitSpec.Commit.MessageTemplateValues["env"] != "prod" ||
					in.Spec.PolicySelector.MatchLabels["auto"] != "true" {
					t.Error("output aliases input")
				}
			},
		},
		{
			name: "minimal",
			in: &imagev1beta2.ImageUpdateAutomation{
				ObjectMeta: metav1.ObjectMeta{Name: "flux-system"},
				Spec: imagev1beta2.ImageUpdateAutomationSpec{
					SourceRef: imagev1beta2.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "flux-system"},
					GitSpec: &imagev1beta2.GitSpec{
						Commit: imagev1beta2.CommitSpec{Author: imagev1beta2.CommitUser{Email: "bot@example.com"}},
					},
					Interval: metav1.Duration{Duration: time.Hour},
				},
			},
			check: func(t *testing.T, in *imagev1beta2.ImageUpdateAutomation, out *imagev1.ImageUpdateAutomation) {
				if out.APIVersion != "image.toolkit.fluxcd.io/v1" || out.Kind != "ImageUpdateAutomation" {
					t.Errorf("type meta = %v", out.TypeMeta)
				}
				g := out.Spec.GitSpec
				if g.Checkout != nil || g.Push != nil || g.Commit.SigningKey != nil || out.Spec.Update != nil ||
					out.Spec.PolicySelector != nil || out.Status.ObservedPolicies != nil || out.Status.LastPushTime != nil {
					t.Errorf("unset fields became set: %+v", out)
				}
				if out.GetUpdateStrategy().Strategy != imagev1.UpdateStrategySetters {
					t.Errorf("update default = %+v", out.GetUpdateStrategy())
				}
				imgCheckSameJSON(t, in, out)
			},
		},
		{
			name: "no git spec",
			in: &imagev1beta2.ImageUpdateAutomation{
				Spec: imagev1beta2.ImageUpdateAutomationSpec{
					SourceRef: imagev1beta2.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "flux-system"},
					Interval:  metav1.Duration{Duration: time.Hour},
				},
			},
			check: func(t *testing.T, in *imagev1beta2.ImageUpdateAutomation, out *imagev1.ImageUpdateAutomation) {
				if out.Spec.GitSpec != nil {
					t.Errorf("git spec = %+v", out.Spec.GitSpec)
				}
				imgCheckSameJSON(t, in, out)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := ImageUpdateAutomationV1beta2ToV1(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tt.in, out)
		})
	}

	obj := imgCheckToStorage(t, full.DeepCopy(), "ImageUpdateAutomation")
	if a, ok := obj.(*imagev1.ImageUpdateAutomation); !ok || a.Spec.GitSpec == nil {
		t.Errorf("ToStorage returned %T %+v", obj, obj)
	}
	if _, err := ImageUpdateAutomationV1beta2ToV1(nil); err == nil {
		t.Error("nil input: expected an error")
	}
}
