package agent

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	notificationv1 "github.com/converge-gitops/converge/crds/notification/v1"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/receiver"
)

// reconcileReceiver writes a Receiver's webhook path and Ready condition, as notification-controller.
func (a *Agent) reconcileReceiver(ctx context.Context, u *unstructured.Unstructured) outcome {
	if u.GetDeletionTimestamp() != nil {
		return outcome{skipped: true}
	}
	r := &notificationv1.Receiver{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, r); err != nil {
		return outcome{err: fmt.Errorf("decoding Receiver %s/%s: %w", u.GetNamespace(), u.GetName(), err)}
	}
	path, ready := receiver.Status(ctx, a.opts.Clients, r)
	wrote, err := receiver.WriteStatus(ctx, a.opts.Clients.Dynamic, u, path, ready, a.clock.Now())
	if err != nil {
		return outcome{err: err, requeue: r.GetInterval()}
	}
	a.opts.Metrics.setReady(notificationv1.ReceiverKind, r.Namespace, r.Name, ready.Status, r.Spec.Suspend)
	ref := corev1.ObjectReference{Kind: notificationv1.ReceiverKind, APIVersion: notificationv1.GroupVersion.String(),
		Namespace: r.Namespace, Name: r.Name, UID: r.UID, ResourceVersion: r.ResourceVersion}
	if ready.Status != metav1.ConditionTrue {
		if wrote {
			a.emit(ctx, ref, events.SeverityError, ready.Reason, ready.Message, "")
		}
		return outcome{err: errors.New(ready.Message), requeue: r.GetInterval()}
	}
	if wrote {
		a.emit(ctx, ref, events.SeverityInfo, ready.Reason, ready.Message, "")
	}
	return outcome{requeue: r.GetInterval()}
}

// ReceiverLookup finds Receivers by webhook path in the agent's cache, for the receiver handler; it
// reports receiver.ErrNotReady until the caches are synced.
func (a *Agent) ReceiverLookup() receiver.Lookup { return receiverLookup{a} }

type receiverLookup struct{ a *Agent }

func (l receiverLookup) ByPath(_ context.Context, path string) (*notificationv1.Receiver, error) {
	if !l.a.Ready() {
		return nil, receiver.ErrNotReady
	}
	inf, ok := l.a.informers[notificationv1.ReceiverKind]
	if !ok {
		return nil, nil
	}
	var items []unstructured.Unstructured
	for _, it := range inf.GetStore().List() {
		if u, ok := it.(*unstructured.Unstructured); ok {
			items = append(items, *u)
		}
	}
	return receiver.Find(items, path)
}
