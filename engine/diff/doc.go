// Package diff computes what an apply would change, object by object, as unified diffs of the live
// object against the server's dry-run result, with Secret values masked.
//
// Not here: the prune plan and dry-run (engine/reconcile, engine/apply), rendering for a terminal
// (commands/diff).
package diff
