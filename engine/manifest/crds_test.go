package manifest

import (
	"context"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/crds"
)

const operatorAlert = `apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: operator
  namespace: flux-system
spec:
  providerRef:
    name: chat
  eventSources:
    - kind: FluxInstance
      name: flux
`

const badKustomization = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  prune: true
  sourceRef:
    kind: GitRepo
    name: flux-system
`

// notificationCRD returns converge's CRD for kind, with extra added to the enum of the event-source
// kind (Alert) or resource kind (Receiver), as flux-operator patches it.
func notificationCRD(t *testing.T, name string, extra ...string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	defs, err := crds.CustomResourceDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		if d.Name != name {
			continue
		}
		d = d.DeepCopy()
		for i := range d.Spec.Versions {
			spec := d.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"]
			list := "eventSources"
			if _, ok := spec.Properties[list]; !ok {
				list = "resources"
			}
			items := spec.Properties[list]
			kind := items.Items.Schema.Properties["kind"]
			for _, e := range extra {
				kind.Enum = append(kind.Enum, apiextensionsv1.JSON{Raw: []byte(`"` + e + `"`)})
			}
			items.Items.Schema.Properties["kind"] = kind
			spec.Properties[list] = items
			d.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"] = spec
		}
		return d
	}
	t.Fatalf("no CRD %s", name)
	return nil
}

func TestDecoderWithCRDs(t *testing.T) {
	base := newTestDecoder(t)
	patched, err := base.WithCRDs("the cluster", []*apiextensionsv1.CustomResourceDefinition{notificationCRD(t, "alerts.notification.toolkit.fluxcd.io", "FluxInstance")})
	if err != nil {
		t.Fatal(err)
	}
	unpatched, err := base.WithCRDs("the cluster", []*apiextensionsv1.CustomResourceDefinition{notificationCRD(t, "alerts.notification.toolkit.fluxcd.io")})
	if err != nil {
		t.Fatal(err)
	}
	const enumErr = `a.yaml:10: Alert flux-system/operator: spec.eventSources[0].kind: Unsupported value: "FluxInstance"`
	tests := []struct {
		name, doc   string
		dec         *Decoder
		wantWarning string
		wantErr     string
	}{
		{"no CRD: a warning", operatorAlert, base, enumErr + ": supported values: ", ""},
		{"patched CRD: accepted", operatorAlert, patched, "", ""},
		{"unpatched CRD: the cluster rejects it", operatorAlert, unpatched, "", enumErr},
		{"a Kustomization is acted on: an error", badKustomization, base, "", `a.yaml:10: Kustomization flux-system/apps: spec.sourceRef.kind: Unsupported value: "GitRepo"`},
		{"a CRD for another kind changes nothing", badKustomization, patched, "", `spec.sourceRef.kind: Unsupported value: "GitRepo"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := tt.dec.Decode(context.Background(), "a.yaml", []byte(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range objs[0].Warnings {
				got = append(got, w.Error())
			}
			if tt.wantWarning == "" {
				if len(got) > 0 {
					t.Fatalf("unexpected warnings %q", got)
				}
				return
			}
			if len(got) != 1 || !strings.HasPrefix(got[0], tt.wantWarning) || !strings.Contains(got[0], "the cluster's CRD may allow it") {
				t.Fatalf("warnings %q, want one starting %s", got, tt.wantWarning)
			}
			if objs[0].Typed == nil {
				t.Fatal("an object with only warnings must be decoded")
			}
		})
	}
}

func TestCRDsOf(t *testing.T) {
	crd := notificationCRD(t, "alerts.notification.toolkit.fluxcd.io", "ResourceSet")
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion("apiextensions.k8s.io/v1")
	u.SetKind("CustomResourceDefinition")
	other := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x"}}}
	got, err := CRDsOf("out", []*unstructured.Unstructured{other, u})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "alerts.notification.toolkit.fluxcd.io" {
		t.Fatalf("got %v", got)
	}
	bad := u.DeepCopy()
	bad.Object["spec"] = "not a mapping"
	if _, err := CRDsOf("out", []*unstructured.Unstructured{bad}); err == nil || !strings.Contains(err.Error(), "out: CustomResourceDefinition alerts.notification.toolkit.fluxcd.io") {
		t.Fatalf("want an error naming the CRD, got %v", err)
	}
}
