// Package events carries what the engine did to a Flux object — applied, failed, drifted, pruned — to
// whoever listens: Kubernetes Events, notification providers, logs.
//
// Not here: which Alerts match and how each service is called (engine/notify); events only builds
// and records the event.
package events
