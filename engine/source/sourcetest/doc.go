// Package sourcetest starts real servers on loopback for source tests: Debian's docker-registry as the
// OCI registry.
//
// Test support only; never imported by non-test code.
package sourcetest
