package v1

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

const receiverYAML = `
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: github-receiver
  namespace: flux-system
spec:
  type: github
  interval: 1h
  events: ["ping", "push"]
  secretRef:
    name: webhook-token
  resourceFilter: 'res.metadata.name == "app"'
  resources:
    - apiVersion: source.toolkit.fluxcd.io/v1
      kind: GitRepository
      name: webapp
    - kind: OCIRepository
      name: '*'
      matchLabels:
        app: podinfo
      filter: 'true'
status:
  observedGeneration: 2
  webhookPath: /hook/abc
  lastHandledReconcileAt: "2024-01-01T00:00:00Z"
  conditions:
    - type: Ready
      status: "True"
      reason: Succeeded
      message: ok
      lastTransitionTime: "2024-01-01T00:00:00Z"
`

const oidcReceiverYAML = `
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: oidc
spec:
  type: generic-oidc
  resources:
    - kind: Kustomization
      name: app
  oidcProviders:
    - issuerURL: https://token.actions.githubusercontent.com
      variables:
        - name: owner
          expression: claims.repository_owner
      validations:
        - expression: vars.owner == "org"
          message: wrong owner
`

func TestDecode(t *testing.T) {
	var r Receiver
	if err := yaml.UnmarshalStrict([]byte(receiverYAML), &r); err != nil {
		t.Fatal(err)
	}
	if r.GetRequeueAfter() != time.Hour || len(r.Spec.Resources) != 2 || r.Spec.Resources[1].Filter != "true" ||
		r.Spec.Resources[1].Name != "*" || r.Status.WebhookPath != "/hook/abc" || len(r.GetConditions()) != 1 ||
		r.Status.LastHandledReconcileAt == "" {
		t.Fatalf("unexpected receiver: %+v", r)
	}
	if p := r.GetWebhookPath("token"); !strings.HasPrefix(p, ReceiverWebhookPath) || len(p) != len(ReceiverWebhookPath)+64 {
		t.Fatalf("bad webhook path %q", p)
	}
	var o Receiver
	if err := yaml.UnmarshalStrict([]byte(oidcReceiverYAML), &o); err != nil {
		t.Fatal(err)
	}
	if o.Spec.OIDCProviders[0].GetAudience() != DefaultOIDCAudience || (&Receiver{}).GetInterval() != 10*time.Minute {
		t.Fatal("defaults")
	}
}

func TestScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if !s.Recognizes(GroupVersion.WithKind("Receiver")) || !s.Recognizes(GroupVersion.WithKind("ReceiverList")) {
		t.Fatal("Receiver not registered")
	}
}
