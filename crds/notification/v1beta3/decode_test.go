package v1beta3

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

const providerYAML = `
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: github
  namespace: flux-system
spec:
  type: github
  address: https://github.com/org/repo
  secretRef:
    name: api-token
  certSecretRef:
    name: tls
  proxySecretRef:
    name: proxy
  timeout: 30s
  commitStatusExpr: "(event.involvedObject.kind + '/' + event.involvedObject.name)"
`

const alertYAML = `
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: on-call
  namespace: flux-system
spec:
  providerRef:
    name: slack
  eventSeverity: error
  eventSources:
    - kind: GitRepository
      name: '*'
    - kind: Kustomization
      name: '*'
      namespace: apps
      matchLabels:
        team: a
  inclusionList: [".*succeeded.*"]
  exclusionList: ["^Dependencies.*"]
  eventMetadata:
    cluster: prod
  summary: prod cluster
  suspend: false
`

func TestDecode(t *testing.T) {
	var p Provider
	if err := yaml.UnmarshalStrict([]byte(providerYAML), &p); err != nil {
		t.Fatal(err)
	}
	if p.Spec.Type != GitHubProvider || p.Spec.SecretRef.Name != "api-token" || p.GetTimeout() != 30*time.Second || !p.IsCommitStatusProvider() {
		t.Fatalf("unexpected provider: %+v", p.Spec)
	}
	var a Alert
	if err := yaml.UnmarshalStrict([]byte(alertYAML), &a); err != nil {
		t.Fatal(err)
	}
	if a.GetEventSeverity() != EventSeverityError || len(a.Spec.EventSources) != 2 || a.Spec.EventSources[1].MatchLabels["team"] != "a" {
		t.Fatalf("unexpected alert: %+v", a.Spec)
	}
	if (&Provider{}).GetTimeout() != 15*time.Second || (&Alert{}).GetEventSeverity() != EventSeverityInfo {
		t.Fatal("defaults")
	}
}

func TestScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Provider", "ProviderList", "Alert", "AlertList"} {
		if !s.Recognizes(GroupVersion.WithKind(k)) {
			t.Errorf("%s not registered", k)
		}
	}
}
