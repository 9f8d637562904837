// Package reconcile runs one reconciliation of a Flux object — the same function for `converge apply`
// and the agent — and records the outcome in the object's status exactly where Flux keeps it.
//
// Not here: the schedule (engine/agent, the tree driver), fetching protocols (engine/source/...),
// rendering (engine/build, engine/helmrelease) and applying (engine/apply); reconcile sequences them.
package reconcile
