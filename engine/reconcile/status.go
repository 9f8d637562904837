package reconcile

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/apply"
)

// NotReady records that ks could not be reconciled yet — a dependency or its source is not ready — with
// Ready=False and reason, without touching its inventory or revisions. A terminal cause (IsTerminal: a
// readyExpr that does not compile) is recorded as Flux does: reason InvalidCELExpression and Stalled.
func (r *Kustomizations) NotReady(ctx context.Context, ks *kustomizev1.Kustomization, reason string, cause error) *KustomizationResult {
	id := ks.Namespace + "/" + ks.Name
	res := &KustomizationResult{Kustomization: id, ChangeSet: &apply.ChangeSet{}, Err: fmt.Errorf("Kustomization %s: %w", id, cause)}
	msg := cause.Error()
	if IsTerminal(cause) {
		reason, msg = meta.InvalidCELExpressionReason, TerminalErrorMessage+": "+msg
	}
	res.Reason = reason
	r.writeStatus(ctx, ks, func(st *kustomizev1.KustomizationStatus) {
		setReady(st, ks.Generation, metav1.ConditionFalse, reason, msg, r.now())
	}, res)
	return res
}

// CheckDependencies checks ks's spec.dependsOn against the dependencies in the cluster, as
// ReadyExprs.CheckDependencies does (ks is read afresh).
func (r *Kustomizations) CheckDependencies(ctx context.Context, ks *kustomizev1.Kustomization, opts DependencyOptions) error {
	get := func(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error) {
		u, err := r.Client.Resource(KustomizationsResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return u, err
	}
	self, err := get(ctx, ks.Namespace, ks.Name)
	if err != nil {
		return fmt.Errorf("reading Kustomization %s/%s: %w", ks.Namespace, ks.Name, err)
	}
	if self == nil {
		return fmt.Errorf("Kustomization %s/%s does not exist in the cluster", ks.Namespace, ks.Name)
	}
	return r.ReadyExprs.CheckDependencies(ctx, self, opts, get)
}
