// Package agent runs the engine continuously: informers watch the Flux objects, a work queue schedules
// each on its interval, on a spec change, on a new source revision and on a reconcile request, and
// workers call the same reconcile functions `converge apply` calls. Process is the whole `converge
// agent` around it: probes, metrics and artifact server, webhook receivers, leader election, events.
//
// Not here: what one reconciliation does (engine/reconcile), fetching (engine/fetch), the webhook
// and notification protocols (engine/receiver, engine/notify); the agent wires them to its queue.
package agent
