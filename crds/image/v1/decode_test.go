package v1

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

const imageRepositoryYAML = `
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  image: ghcr.io/stefanprodan/podinfo
  interval: 5m
  timeout: 1m
  provider: aws
  insecure: true
  secretRef: {name: regcred}
  proxySecretRef: {name: proxy}
  certSecretRef: {name: tls}
  serviceAccountName: sa
  exclusionList: ["^.*\\.sig$", "latest"]
  accessFrom:
    namespaceSelectors:
      - matchLabels:
          kubernetes.io/metadata.name: apps
status:
  canonicalImageName: ghcr.io/stefanprodan/podinfo
  observedGeneration: 1
  observedExclusionList: ["latest"]
  lastScanResult:
    revision: sha256:abc
    tagCount: 3
    scanTime: "2024-01-01T00:00:00Z"
    latestTags: ["6.5.0", "6.4.0"]
`

const imagePolicyYAML = `
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: podinfo
spec:
  imageRepositoryRef:
    name: podinfo
    namespace: flux-system
  filterTags:
    pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)'
    extract: '$ts'
  policy:
    numerical:
      order: asc
  digestReflectionPolicy: Always
  interval: 30m
status:
  latestRef: {name: ghcr.io/stefanprodan/podinfo, tag: "6.5.0", digest: "sha256:def"}
  observedPreviousRef: {name: ghcr.io/stefanprodan/podinfo, tag: "6.4.0"}
`

const automationYAML = `
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 30m
  sourceRef:
    kind: GitRepository
    name: flux-system
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        email: fluxcdbot@users.noreply.github.com
        name: fluxcdbot
      signingKey:
        type: ssh
        secretRef:
          name: signing-key
      messageTemplate: '{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}'
      messageTemplateValues:
        env: prod
    push:
      branch: auto
      refspec: refs/heads/auto:refs/heads/main
      options:
        merge_request.create: ""
  policySelector:
    matchLabels:
      auto: "true"
  update:
    path: ./clusters/my-cluster
    strategy: Setters
status:
  lastPushCommit: abc
  lastPushTime: "2024-01-01T00:00:00Z"
  lastAutomationRunTime: "2024-01-01T00:00:00Z"
  observedSourceRevision: main@sha1:abc
  observedPolicies:
    podinfo: {name: ghcr.io/stefanprodan/podinfo, tag: "6.5.0"}
`

func TestDecode(t *testing.T) {
	var r ImageRepository
	if err := yaml.UnmarshalStrict([]byte(imageRepositoryYAML), &r); err != nil {
		t.Fatal(err)
	}
	if r.GetRequeueAfter() != 5*time.Minute || r.GetTimeout() != time.Minute || r.GetProvider() != AWSProvider ||
		r.Status.LastScanResult.TagCount != 3 || len(r.GetExclusionList()) != 2 ||
		r.Spec.AccessFrom.NamespaceSelectors[0].MatchLabels["kubernetes.io/metadata.name"] != "apps" {
		t.Fatalf("unexpected repository: %+v", r)
	}
	empty := &ImageRepository{}
	if empty.GetExclusionList()[0] != `^.*\.sig$` || empty.GetProvider() != GenericProvider || empty.GetTimeout() != time.Second {
		t.Fatal("repository defaults")
	}

	var p ImagePolicy
	if err := yaml.UnmarshalStrict([]byte(imagePolicyYAML), &p); err != nil {
		t.Fatal(err)
	}
	if p.GetRequeueAfter() != 30*time.Minute || p.Spec.Policy.Numerical.Order != OrderAscending ||
		p.Status.LatestRef.String() != "ghcr.io/stefanprodan/podinfo:6.5.0@sha256:def" || p.Spec.FilterTags.Extract != "$ts" {
		t.Fatalf("unexpected policy: %+v", p)
	}
	if (&ImagePolicy{}).GetRequeueAfter() != 0 || (&ImagePolicy{}).GetDigestReflectionPolicy() != ReflectNever {
		t.Fatal("policy defaults")
	}

	var a ImageUpdateAutomation
	if err := yaml.UnmarshalStrict([]byte(automationYAML), &a); err != nil {
		t.Fatal(err)
	}
	if a.GetRequeueAfter() != 30*time.Minute || a.Spec.GitSpec.Checkout.Reference.Branch != "main" || !a.Spec.GitSpec.HasRefspec() ||
		a.Spec.GitSpec.Commit.SigningKey.SecretRef.Name != "signing-key" ||
		a.Spec.GitSpec.Commit.SigningKey.GetType() != SigningKeyTypeSSH || a.Status.ObservedPolicies["podinfo"].Tag != "6.5.0" ||
		a.GetUpdateStrategy().Path != "./clusters/my-cluster" || a.Spec.SourceRef.String() != "GitRepository/flux-system" {
		t.Fatalf("unexpected automation: %+v", a)
	}
	if (&SigningKey{}).GetType() != SigningKeyTypeGPG {
		t.Fatal("signing key type default")
	}
	if (&ImageUpdateAutomation{}).GetUpdateStrategy().Strategy != UpdateStrategySetters {
		t.Fatal("automation defaults")
	}
}

func TestScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ImageRepository", "ImagePolicy", "ImageUpdateAutomation"} {
		if !s.Recognizes(GroupVersion.WithKind(k)) || !s.Recognizes(GroupVersion.WithKind(k+"List")) {
			t.Errorf("%s not registered", k)
		}
	}
}
