package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestBuildKustomizationFromCluster: without --kustomization-file, build kustomization reads the
// Kustomization and its substituteFrom ConfigMap from the cluster, as flux build kustomization does,
// and renders what the offline build with the same inputs renders.
func TestBuildKustomizationFromCluster(t *testing.T) {
	const repo = "../../testdata/build/repo"
	if _, err := cluster.ServiceAccountConfig(context.Background(), "flux-system", "default"); err != nil {
		t.Fatal(err) // creates the namespace
	}
	for _, file := range []string{"../../testdata/build/cluster-vars.yaml", repo + "/clusters/production/apps.yaml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cluster.ApplyYAML(t, string(b))
	}
	kc := kubeconfig(t)
	res := run(t, newFactory(), "build", "kustomization", "apps", "--path", repo+"/apps/staging", "--root", repo, "--kubeconfig", kc)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	golden(t, "build-ks-apps.yaml", res.stdout)

	res = run(t, newFactory(), "build", "kustomization", "absent", "--path", repo+"/apps/staging", "--root", repo, "--kubeconfig", kc)
	if res.code == 0 || !strings.Contains(res.stderr, "reading Kustomization flux-system/absent from the cluster (or give --kustomization-file)") {
		t.Errorf("absent Kustomization: exit %d: %s", res.code, res.stderr)
	}
}

// TestCheckAcceptsFluxComponentFlags: Flux's check flags that select controllers are accepted, with a
// warning saying why they change nothing.
func TestCheckAcceptsFluxComponentFlags(t *testing.T) {
	kc := kubeconfig(t)
	res := run(t, newFactory(), "check", "--pre", "--kubeconfig", kc, "--components", "source-controller", "--poll-interval", "1s")
	if res.code != 0 || !strings.Contains(res.stderr, "--components, --poll-interval select and pace Flux's separate controllers: converge runs one agent") {
		t.Errorf("exit %d: %s", res.code, res.stderr)
	}
	res = run(t, newFactory(), "check", "--pre", "--kubeconfig", kc)
	if res.code != 0 || strings.Contains(res.stderr, "separate controllers") {
		t.Errorf("warning without the flags: exit %d: %s", res.code, res.stderr)
	}
}
