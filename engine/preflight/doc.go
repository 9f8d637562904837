// Package preflight checks that a cluster can run converge.
//
// Not here: installing (engine/install); preflight only reads.
package preflight
