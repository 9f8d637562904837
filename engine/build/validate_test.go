package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

// validateRepo copies testdata/build/validate into a temporary folder with converge's own notification
// CRDs beside the fixtures that patch them, as flux-operator does, or apply them unpatched.
func validateRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../testdata/build/validate")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ crd, to string }{
		{"notification.toolkit.fluxcd.io_alerts.yaml", "clusters/patched/alerts-crd.yaml"},
		{"notification.toolkit.fluxcd.io_receivers.yaml", "clusters/patched/receivers-crd.yaml"},
		{"notification.toolkit.fluxcd.io_alerts.yaml", "clusters/unpatched/alerts-crd.yaml"},
	} {
		data, err := os.ReadFile(filepath.Join("../../crds/bases", c.crd))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.to), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBuildTreeValidatesAsTheCluster checks pass-through Flux objects against the schema the cluster
// will apply: the tree's own CRDs when it has them (patched or not), else a warning for an enum value
// converge's schema lacks; Kustomizations, which converge acts on, keep failing.
func TestBuildTreeValidatesAsTheCluster(t *testing.T) {
	root := validateRepo(t)
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path         string
		wantWarnings []string // substrings, one warning each, in order
		wantErr      []string // substrings of the tree's error; none when empty
	}{
		{path: "clusters/warn", wantWarnings: []string{
			`Alert flux-system/operator: spec.eventSources[1].kind: Unsupported value: "FluxInstance"`,
			`Alert flux-system/operator: spec.eventSources[2].kind: Unsupported value: "ResourceSet"`,
			`Receiver flux-system/operator: spec.resources[0].kind: Unsupported value: "ResourceSetInputProvider"`,
		}},
		{path: "clusters/patched"},
		{path: "clusters/unpatched",
			wantErr: []string{
				`Alert flux-system/operator: spec.eventSources[1].kind: Unsupported value: "FluxInstance"`,
				"schema of the CRD in build output of Kustomization flux-system/flux-system",
			},
			// Receivers have no CRD in this tree: still a warning.
			wantWarnings: []string{`Receiver flux-system/operator: spec.resources[0].kind: Unsupported value: "ResourceSetInputProvider"`}},
		{path: "clusters/bad-enum",
			wantErr:      []string{`Kustomization flux-system/apps: spec.sourceRef.kind: Unsupported value: "GitRepo"`},
			wantWarnings: []string{`Alert flux-system/operator: spec.eventSources[0].kind: Unsupported value: "FluxInstance"`}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			b := &Builder{Strict: true}
			tree, err := b.BuildTree(context.Background(), dec, TreeOptions{Root: root, Path: tt.path, Sources: dirSources{}})
			if err != nil {
				t.Fatal(err)
			}
			var warnings []string
			for _, n := range tree.Nodes {
				warnings = append(warnings, n.Warnings...)
			}
			if len(warnings) != len(tt.wantWarnings) {
				t.Fatalf("warnings:\n%s\nwant %d", strings.Join(warnings, "\n"), len(tt.wantWarnings))
			}
			for i, w := range tt.wantWarnings {
				if !strings.Contains(warnings[i], w) || !strings.HasPrefix(warnings[i], "build output of Kustomization flux-system/flux-system: ") {
					t.Errorf("warning %d: %s\nwant it to name the output and contain %s", i, warnings[i], w)
				}
			}
			err = tree.Err()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %v\nwant it to contain %s", err, want)
				}
			}
		})
	}
}

// TestBuildTreeWarnsUnsupported: the unsupported fields a tree's objects set are warnings of the node
// whose output declares them (golden), the supported ones and the values that ask for what converge does
// anyway are not; nothing fails.
func TestBuildTreeWarnsUnsupported(t *testing.T) {
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Strict: true}
	tree, err := b.BuildTree(context.Background(), dec, TreeOptions{Root: validateRepo(t), Path: "clusters/unsupported", Sources: dirSources{}})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, n := range tree.Nodes {
		// This build renders no HelmReleases: they are skipped, saying so, and fail nothing else.
		var skipped *SkippedError
		if n.Err != nil && !(n.Kind == KindHelmRelease && errors.As(n.Err, &skipped)) {
			t.Fatal(n.Err)
		}
		for _, w := range n.Warnings {
			out.WriteString(n.Name + ": " + w + "\n")
		}
	}
	checkWarningsGolden(t, "../../testdata/build/validate/unsupported.golden", out.String())
}

func checkWarningsGolden(t *testing.T, golden, got string) {
	t.Helper()
	goldenfile.CheckString(t, golden, got)
}
