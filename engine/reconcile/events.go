package reconcile

import (
	"errors"
	"fmt"
	"strings"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
)

// FailureReason is the Flux event reason of a failed Kustomization reconciliation: BuildFailed when
// the manifests could not be built, else ReconciliationFailed.
func FailureReason(err error) string {
	var be *build.Error
	if errors.As(err, &be) {
		return kustomizev1.BuildFailedReason
	}
	return kustomizev1.ReconciliationFailedReason
}

// ChangeSummary is the message of a Kustomization's success (or drift) event, as Flux writes it: the
// objects that changed, one per line, or "Applied revision: …" when none did.
func ChangeSummary(cs *apply.ChangeSet, revision string) string {
	var b strings.Builder
	if cs != nil {
		for _, e := range cs.Entries {
			if e.Action == apply.Unchanged || e.Action == apply.Skipped {
				continue
			}
			fmt.Fprintf(&b, "%s %s\n", e.Subject, e.Action)
		}
	}
	if b.Len() == 0 {
		return "Applied revision: " + revision
	}
	return strings.TrimSuffix(b.String(), "\n")
}
