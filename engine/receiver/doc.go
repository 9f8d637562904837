// Package receiver serves Flux's webhook Receivers (notification.toolkit.fluxcd.io/v1): a Git host or
// registry calls /hook/<sha256(token+name+namespace)>, the call is authenticated as the Receiver's type
// says, and each target object is annotated with reconcile.fluxcd.io/requestedAt so that it reconciles
// at once.
//
// Not here: the HTTP server and its lifecycle (engine/agent) and the reconciliation the annotation
// triggers (engine/reconcile).
package receiver
