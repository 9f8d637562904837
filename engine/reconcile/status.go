package reconcile

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/apply"
)

// NotReady records that ks could not be reconciled yet — a dependency or its source is not ready — with
// Ready=False and reason, without touching its inventory or revisions.
func (r *Kustomizations) NotReady(ctx context.Context, ks *kustomizev1.Kustomization, reason string, cause error) *KustomizationResult {
	id := ks.Namespace + "/" + ks.Name
	res := &KustomizationResult{Kustomization: id, ChangeSet: &apply.ChangeSet{}, Err: fmt.Errorf("Kustomization %s: %w", id, cause)}
	r.writeStatus(ctx, ks, func(st *kustomizev1.KustomizationStatus) {
		setReady(st, ks.Generation, metav1.ConditionFalse, reason, cause.Error(), r.now())
	}, res)
	return res
}
