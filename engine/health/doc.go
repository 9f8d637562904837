// Package health decides whether applied objects are ready, with kstatus (the same rules Flux uses), and
// waits for them.
//
// Not here: what to wait for and for how long (engine/apply, engine/reconcile choose); health
// only judges objects.
package health
