package support

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
)

// TestNoteConditions: the unsupported fields a HelmRelease uses are added once to its Ready and
// Reconciling messages, and nothing is added for an object that uses none.
func TestNoteConditions(t *testing.T) {
	const note = "Warning: spec.persistentClient is not supported yet: ignored: converge manages its Kubernetes clients itself"
	off := false
	uses := &helmv2.HelmRelease{Spec: helmv2.HelmReleaseSpec{PersistentClient: &off}}
	tests := []struct {
		name  string
		hr    *helmv2.HelmRelease
		ready string
		want  string
	}{
		{"adds the note", uses, "Helm install succeeded", "Helm install succeeded\n" + note},
		{"once", uses, "Helm install succeeded\n" + note, "Helm install succeeded\n" + note},
		{"an empty message", uses, "", note},
		{"no unsupported field", &helmv2.HelmRelease{}, "Helm install succeeded", "Helm install succeeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conds := []metav1.Condition{{Type: "Ready", Message: tt.ready}, {Type: "Released", Message: "x"}}
			NoteConditions(helmv2.HelmReleaseKind, tt.hr, conds)
			if conds[0].Message != tt.want || conds[1].Message != "x" {
				t.Errorf("Ready %q, Released %q\nwant Ready %q", conds[0].Message, conds[1].Message, tt.want)
			}
		})
	}
}
