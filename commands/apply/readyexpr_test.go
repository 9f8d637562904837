package apply

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/reconcile"
)

// A dependsOn readyExpr is evaluated against the dependency once it was applied: false, the dependant
// is not applied (Ready=False DependencyNotReady) and apply fails; true, it is applied. One that does not
// compile fails as InvalidCELExpression, Stalled.
func TestApplyDependsOnReadyExpr(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	copyTree(t, "../../testdata/example", root)
	appsFile := filepath.Join(root, "clusters/demo/apps.yaml")
	orig, err := os.ReadFile(appsFile)
	if err != nil {
		t.Fatal(err)
	}
	withExpr := func(expr string) {
		t.Helper()
		s := strings.Replace(string(orig), "    - name: infrastructure\n", "    - name: infrastructure\n      readyExpr: "+expr+"\n", 1)
		if s == string(orig) {
			t.Fatal("apps.yaml has no dependsOn infrastructure")
		}
		if err := os.WriteFile(appsFile, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	rec := reconcile.NewKustomizations(clients, clock.RealClock{})
	apps := func() (ready, stalled string) {
		ks, err := rec.Get(ctx, "flux-system", "apps")
		if err != nil || ks == nil {
			t.Fatalf("apps: %v", err)
		}
		r, s := apimeta.FindStatusCondition(ks.Status.Conditions, "Ready"), apimeta.FindStatusCondition(ks.Status.Conditions, "Stalled")
		if s != nil {
			stalled = s.Reason
		}
		return r.Reason + ": " + r.Message, stalled
	}

	withExpr(`"dep.status.lastAppliedRevision == 'main@sha1:0000000000000000000000000000000000000000'"`)
	_, errOut, code := runApply(t, root, "--install-crds")
	if code != 2 || !strings.Contains(errOut, "Kustomization flux-system/infrastructure reconciled") ||
		!strings.Contains(errOut, "Kustomization flux-system/apps: dependency 'flux-system/infrastructure' is not ready according to readyExpr eval") ||
		strings.Contains(errOut, "podinfo") {
		t.Fatalf("want apps held back by its readyExpr (%d):\n%s", code, errOut)
	}
	if ready, _ := apps(); !strings.HasPrefix(ready, "DependencyNotReady: dependency 'flux-system/infrastructure' is not ready according to readyExpr eval") {
		t.Errorf("apps Ready: %s", ready)
	}

	// Evaluated after infrastructure was applied: its lastAppliedRevision is this apply's revision.
	withExpr(`"dep.status.lastAppliedRevision == 'main@sha1:0123456789012345678901234567890123456789' && self.metadata.name == 'apps'"`)
	_, errOut, code = runApply(t, root)
	if code != 0 || !strings.Contains(errOut, "Kustomization flux-system/apps reconciled") {
		t.Fatalf("want apps applied (%d):\n%s", code, errOut)
	}

	withExpr(`"dep.status.lastAppliedRevision =="`)
	_, errOut, code = runApply(t, root)
	if code != 2 || !strings.Contains(errOut, `Kustomization flux-system/apps: spec.dependsOn[0] (flux-system/infrastructure): readyExpr "dep.status.lastAppliedRevision ==": ERROR`) {
		t.Fatalf("want an invalid expression error (%d):\n%s", code, errOut)
	}
	if ready, stalled := apps(); !strings.HasPrefix(ready, "InvalidCELExpression: "+reconcile.TerminalErrorMessage) || stalled != "InvalidCELExpression" {
		t.Errorf("apps Ready: %s, Stalled: %s", ready, stalled)
	}
}

// HelmReleases of the tree that dependsOn one another are installed in that order.
func TestApplyHelmReleaseDependsOnOrder(t *testing.T) {
	root := t.TempDir()
	copyTree(t, "../../testdata/example", root)
	// greeter (first by name) depends on zz-backend, declared after it.
	hr := filepath.Join(root, "apps/greeter/helmrelease.yaml")
	b, err := os.ReadFile(hr)
	if err != nil {
		t.Fatal(err)
	}
	greeter := strings.Replace(string(b), "spec:\n", "spec:\n  dependsOn:\n    - name: zz-backend\n      readyExpr: \"dep.metadata.name == 'zz-backend'\"\n    - name: zz-backend\n", 1)
	backend := strings.Replace(strings.Replace(string(b), "name: greeter\n", "name: zz-backend\n", 1), "spec:\n", "spec:\n  releaseName: zz-backend\n", 1)
	if err := os.WriteFile(hr, []byte(greeter+"---\n"+backend), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runApply(t, root, "--install-crds")
	if code != 0 {
		t.Fatalf("apply failed (%d):\n%s", code, errOut)
	}
	// Each node's lines are printed as it finishes (greeter may be installed already, by another test).
	first, second := strings.Index(errOut, "HelmRelease demo/zz-backend: [install] succeeded"), strings.Index(errOut, "HelmRelease demo/greeter: ")
	if first < 0 || second < 0 || first > second || strings.Contains(errOut, "is not ready") {
		t.Fatalf("want zz-backend installed before greeter:\n%s", errOut)
	}
}
