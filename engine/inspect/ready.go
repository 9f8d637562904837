package inspect

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// WaitReady waits until the object's status is for its current generation and its Ready condition is
// True, as Flux's CLI waits after `create`. Ready=False while nothing reconciles it any more (no
// Reconciling=True condition) returns a *NotReadyError with the result.
func (o *Operator) WaitReady(ctx context.Context, ref Ref) (Result, error) {
	return o.waitFinal(ctx, ref, "be ready", "no status yet", func(u *unstructured.Unstructured) (Result, bool, string) {
		return readyOf(ref, u)
	})
}

// readyOf reports whether u's Ready condition is final for its generation.
func readyOf(ref Ref, u *unstructured.Unstructured) (Result, bool, string) {
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	if observed < 1 {
		return Result{}, false, "not reconciled yet"
	}
	res := Result{Ref: ref, Subject: ref.String(), Ready: "Unknown"}
	res.Revision, _, _ = unstructured.NestedString(u.Object, ref.Kind.RevisionPath...)
	var readyGen int64
	reconciling := false
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		switch m["type"] {
		case "Ready":
			res.Ready, _ = m["status"].(string)
			res.Reason, _ = m["reason"].(string)
			res.Message, _ = m["message"].(string)
			readyGen, _ = m["observedGeneration"].(int64)
		case "Reconciling":
			reconciling = m["status"] == "True"
		}
	}
	// Some kinds set no observedGeneration on their conditions: then the status's one counts.
	if readyGen == 0 {
		readyGen = observed
	}
	switch {
	case readyGen != u.GetGeneration():
		return Result{}, false, "status is for another generation"
	case res.Ready == "True":
		return res, true, ""
	case res.Ready == "False" && !reconciling:
		return res, true, ""
	}
	return Result{}, false, "Ready is " + res.Ready
}

// Delete deletes the object ref names. Its finalizers are respected: the object goes once whoever set
// them removed them.
func (o *Operator) Delete(ctx context.Context, ref Ref) error {
	err := o.Client.Resource(ref.Kind.Resource).Namespace(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s %s/%s not found", ref.Kind.Kind, ref.Namespace, ref.Name)
	}
	if err != nil {
		return fmt.Errorf("deleting %s %s/%s: %w", ref.Kind.Kind, ref.Namespace, ref.Name, err)
	}
	return nil
}
