// Package inspect reads and operates on Flux objects in the cluster for `converge get` and the commands
// that operate the agent: reconcile requests, suspend/resume, export, tree, trace, events and logs.
//
// Not here: reconciling (engine/reconcile) and printing (commands/); inspect reads and patches
// objects and returns typed results.
package inspect
