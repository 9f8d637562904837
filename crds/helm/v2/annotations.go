package v2

import "github.com/converge-gitops/converge/crds/meta"

const (
	// ForceRequestAnnotation asks for a one-off forced release; it is honoured when its value
	// equals the reconcile request annotation value.
	ForceRequestAnnotation string = meta.ForceRequestAnnotation

	// ResetRequestAnnotation asks for the failure counters to be reset; it is honoured when its
	// value equals the reconcile request annotation value.
	ResetRequestAnnotation string = meta.ResetRequestAnnotation
)

// ShouldHandleResetRequest reports whether a pending reset request must be acted on, and records
// the request value in status.lastHandledResetAt.
func ShouldHandleResetRequest(obj *HelmRelease) bool {
	return handleRequest(obj, ResetRequestAnnotation, &obj.Status.LastHandledResetAt)
}

// ShouldHandleForceRequest reports whether a pending force request must be acted on, and records
// the request value in status.lastHandledForceAt.
func ShouldHandleForceRequest(obj *HelmRelease) bool {
	return handleRequest(obj, ForceRequestAnnotation, &obj.Status.LastHandledForceAt)
}

// handleRequest: a request is due when its annotation equals the reconcile request annotation, that
// reconcile request has not been handled yet, and the request value differs from the last one
// handled. The request value is always recorded in *lastHandled when the annotation is present.
func handleRequest(obj *HelmRelease, annotation string, lastHandled *string) bool {
	requestAt, requested := obj.GetAnnotations()[annotation]
	if !requested {
		return false
	}
	previous := *lastHandled
	*lastHandled = requestAt
	reconcileAt, ok := obj.GetAnnotations()[meta.ReconcileRequestAnnotation]
	return ok && requestAt == reconcileAt &&
		obj.Status.LastHandledReconcileAt != reconcileAt && previous != requestAt
}
