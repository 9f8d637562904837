package diff

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/engine/diff"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

func TestMarkdown(t *testing.T) {
	entries := []diff.Entry{
		{Owner: "Kustomization", OwnerName: "flux-system/apps", Subject: "Deployment/demo/podinfo", Action: diff.Changed,
			Diff: "--- Deployment/demo/podinfo (live)\n+++ Deployment/demo/podinfo (after apply)\n@@ -1 +1 @@\n-  replicas: 3\n+  replicas: 0\n"},
		{Owner: "Kustomization", OwnerName: "flux-system/apps", Subject: "Service/demo/podinfo", Action: diff.Deleted, Diff: "-kind: Service\n"},
		{Owner: "HelmRelease", OwnerName: "flux-system/hello", Subject: "ConfigMap/web/web-hello-settings", Action: diff.Created, Diff: "+kind: ConfigMap\n"},
	}
	warnings := append(entries[:1:1],
		diff.Entry{Owner: "Kustomization", OwnerName: "flux-system/apps", Subject: "Job/demo/migrate", Action: diff.Recreated,
			Reason: "an immutable field changed and force is enabled: apply deletes the object and creates it again",
			Diff:   "--- Job/demo/migrate (live)\n+++ Job/demo/migrate (after apply)\n@@ -1 +1 @@\n-        image: migrate:1\n+        image: migrate:2\n"},
		diff.Entry{Owner: "Kustomization", OwnerName: "flux-system/apps", Subject: "Service/demo/web", Action: diff.Failed,
			Reason: `Service "web" is invalid: spec.clusterIP: Invalid value: "10.0.0.1": field is immutable`},
	)
	tests := []struct {
		name    string
		entries []diff.Entry
		failed  []string
		limit   int
		want    []string
	}{
		{"changes", entries, nil, markdownLimit, nil},
		{"warnings", warnings, nil, markdownLimit, nil},
		{"cut to the limit", entries, nil, 500, []string{"diffs were left out to keep this comment under 500 characters"}},
		{"no changes", nil, nil, markdownLimit, []string{"No changes (7 objects unchanged)."}},
		{"errors", nil, []string{"Kustomization flux-system/apps: variable \"x\" is not set"}, markdownLimit, []string{"> **Error:** Kustomization flux-system/apps"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeMarkdown(&b, tt.entries, 7, tt.failed, tt.limit); err != nil {
				t.Fatal(err)
			}
			got := b.String()
			if len(got) > tt.limit+200 {
				t.Errorf("output of %d characters exceeds the limit %d", len(got), tt.limit)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			if tt.want != nil {
				return
			}
			golden := filepath.Join("../../testdata/golden/commands", "diff-"+strings.ReplaceAll(tt.name, " ", "-")+".md")
			goldenfile.CheckString(t, golden, got)
		})
	}
}
