package reconcile

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/support"
)

// noteUnsupported adds to the Ready and Reconciling messages of conds the unsupported fields obj (of
// kind) uses (support.Note), once: the agent never ignores a field in silence.
func noteUnsupported(kind string, obj runtime.Object, conds []metav1.Condition) {
	note := support.Note(kind, obj)
	if note == "" {
		return
	}
	for i := range conds {
		c := &conds[i]
		if c.Type != meta.ReadyCondition && c.Type != meta.ReconcilingCondition || strings.HasSuffix(c.Message, note) {
			continue
		}
		if c.Message == "" {
			c.Message = note
		} else {
			c.Message += "\n" + note
		}
	}
}
