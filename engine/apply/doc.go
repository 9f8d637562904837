// Package apply makes the cluster match a set of objects the way Flux's kustomize-controller does:
// validate everything with a server-side dry-run first, then server-side apply in stages (CRDs, Namespaces
// and cluster roles before the rest), prune by inventory and wait for health. It returns a ChangeSet and
// never prints.
//
// Not here: Flux objects and their status (engine/reconcile decides what to apply and records the
// outcome), rendering (engine/build), the diff shown to users (engine/diff).
package apply
