package v1

// NotificationFinalizer is the finalizer placed on notification objects.
const NotificationFinalizer = "finalizers.fluxcd.io"

// Condition reasons specific to the notification API.
const (
	// InitializedReason: the object was set up and is ready to serve.
	InitializedReason string = "Initialized"

	// ValidationFailedReason: part of the spec did not pass validation.
	ValidationFailedReason string = "ValidationFailed"

	// TokenNotFoundReason: the Receiver's token Secret or key is missing.
	TokenNotFoundReason string = "TokenNotFound"
)
