package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
)

func TestCheckDependencies(t *testing.T) {
	const rev = "main@sha1:1111111111111111111111111111111111111111"
	ks := func(doc string) *unstructured.Unstructured {
		return objs(t, "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"+doc)[0]
	}
	deps := map[string]*unstructured.Unstructured{
		"apps/ready": ks(`metadata: {name: ready, namespace: apps, generation: 2, labels: {version: v2}}
spec: {sourceRef: {kind: GitRepository, name: repo}}
status: {observedGeneration: 2, lastAppliedRevision: "` + rev + `", conditions: [{type: Ready, status: "True"}]}`),
		"apps/stale": ks(`metadata: {name: stale, namespace: apps, generation: 3, annotations: {gate: open}}
spec: {sourceRef: {kind: GitRepository, name: repo}}
status: {observedGeneration: 2, conditions: [{type: Ready, status: "True"}]}`),
		"apps/old-revision": ks(`metadata: {name: old-revision, namespace: apps, generation: 1}
spec: {sourceRef: {kind: GitRepository, name: repo}}
status: {observedGeneration: 1, lastAppliedRevision: "main@sha1:0000000000000000000000000000000000000000", conditions: [{type: Ready, status: "True"}]}`),
		"apps/other-source": ks(`metadata: {name: other-source, namespace: apps, generation: 1}
spec: {sourceRef: {kind: GitRepository, name: other}}
status: {observedGeneration: 1, lastAppliedRevision: "x", conditions: [{type: Ready, status: "True"}]}`),
		"infra/failing": ks(`metadata: {name: failing, namespace: infra, generation: 1}
spec: {sourceRef: {kind: GitRepository, name: repo, namespace: apps}}
status: {observedGeneration: 1, conditions: [{type: Ready, status: "False"}]}`),
	}
	lookup := func(_ context.Context, namespace, name string) (*unstructured.Unstructured, error) {
		if namespace == "apps" && name == "broken-api" {
			return nil, errors.New("connection refused")
		}
		return deps[namespace+"/"+name], nil
	}
	for _, tc := range []struct {
		name, dependsOn string
		revision        string
		exprsOnly       bool
		additive        bool
		err             string
		terminal        bool
	}{
		{name: "built-in: ready", dependsOn: `[{name: ready}]`, revision: rev},
		{name: "built-in: generation not observed", dependsOn: `[{name: ready}, {name: stale}]`, err: "dependency 'apps/stale' is not ready"},
		{name: "built-in: not Ready, in another namespace", dependsOn: `[{name: failing, namespace: infra}]`, err: "dependency 'infra/failing' is not ready"},
		{name: "built-in: same source, revision not applied yet", dependsOn: `[{name: old-revision}]`, revision: rev, err: "dependency 'apps/old-revision' revision is not up to date"},
		{name: "built-in: another source's revision is not compared", dependsOn: `[{name: other-source}]`, revision: rev},
		{name: "not found", dependsOn: `[{name: missing}]`, err: "dependency 'apps/missing' not found"},
		{name: "lookup error", dependsOn: `[{name: broken-api}]`, err: "connection refused"},
		{name: "readyExpr replaces the built-in check", dependsOn: `[{name: stale, readyExpr: "dep.metadata.annotations.gate == 'open'"}]`},
		{name: "readyExpr over self and dep", dependsOn: `[{name: ready, readyExpr: "dep.metadata.labels.version == self.metadata.labels.version"}]`},
		{name: "readyExpr false", dependsOn: `[{name: ready, readyExpr: "dep.metadata.labels.version == 'v3'"}]`,
			err: "dependency 'apps/ready' is not ready according to readyExpr eval"},
		{name: "readyExpr on a Ready=False dependency", dependsOn: `[{name: failing, namespace: infra, readyExpr: "dep.metadata.generation == 1"}]`},
		{name: "readyExpr evaluation error", dependsOn: `[{name: ready}, {name: ready, readyExpr: "dep.status.missing == 1"}]`,
			err: `dependency 'apps/ready' (spec.dependsOn[1]): evaluating readyExpr "dep.status.missing == 1": no such key: missing`},
		{name: "readyExpr that does not compile", dependsOn: `[{name: ready}, {name: stale, readyExpr: "dep.metadata.name =="}]`, terminal: true,
			err: `Kustomization apps/web: spec.dependsOn[1] (apps/stale): readyExpr "dep.metadata.name ==": ERROR: <input>:1:21: Syntax error`},
		{name: "readyExprs only: the built-in check is skipped", dependsOn: `[{name: missing}, {name: ready, readyExpr: "true"}]`, exprsOnly: true},
		{name: "readyExprs only: an expression still decides", dependsOn: `[{name: missing}, {name: ready, readyExpr: "false"}]`, exprsOnly: true,
			err: "dependency 'apps/ready' is not ready according to readyExpr eval"},
		{name: "additive: the built-in check still applies", dependsOn: `[{name: stale, readyExpr: "dep.metadata.annotations.gate == 'open'"}]`, additive: true,
			err: "dependency 'apps/stale' is not ready"},
		{name: "additive: Ready, and the expression holds", dependsOn: `[{name: ready, readyExpr: "dep.metadata.labels.version == 'v2'"}]`, revision: rev, additive: true},
		{name: "additive: Ready, but the expression is false", dependsOn: `[{name: ready, readyExpr: "dep.metadata.labels.version == 'v3'"}]`, additive: true,
			err: "dependency 'apps/ready' is not ready according to readyExpr eval"},
		{name: "a compile error is found before any lookup", dependsOn: `[{name: missing}, {name: ready, readyExpr: "nope"}]`, terminal: true,
			err: "undeclared reference to 'nope'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			self := ks("metadata: {name: web, namespace: apps, generation: 1, labels: {version: v2}}\nspec:\n  sourceRef: {kind: GitRepository, name: repo}\n  dependsOn: " + tc.dependsOn + "\n")
			err := (&ReadyExprs{Additive: tc.additive}).CheckDependencies(context.Background(), self, DependencyOptions{SourceRevision: tc.revision, ReadyExprsOnly: tc.exprsOnly}, lookup)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if IsTerminal(err) != tc.terminal {
				t.Errorf("terminal %v, want %v", IsTerminal(err), tc.terminal)
			}
		})
	}
}

// The expressions of an object are compiled once per generation.
func TestReadyExprsCompileOncePerGeneration(t *testing.T) {
	c := &ReadyExprs{}
	self := objs(t, "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: web, namespace: apps, uid: u1, generation: 1}\nspec:\n  dependsOn: [{name: db, readyExpr: 'true'}]\n")[0]
	refs := dependencyRefs(t, self)
	first, err := c.compile("Kustomization", self, refs)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.compile("Kustomization", self, refs)
	if first[0] != again[0] {
		t.Error("the same generation was compiled twice")
	}
	self.SetGeneration(2)
	if next, _ := c.compile("Kustomization", self, refs); next[0] == first[0] {
		t.Error("a new generation reused the old program")
	}
	c.Forget("Kustomization", "apps", "web")
	if len(c.m) != 0 {
		t.Error("Forget kept the entry")
	}
}

func dependencyRefs(t *testing.T, self *unstructured.Unstructured) []kustomizev1.DependencyReference {
	t.Helper()
	ks := &kustomizev1.Kustomization{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(self.Object, ks); err != nil {
		t.Fatal(err)
	}
	return ks.Spec.DependsOn
}
