// Package helmtest packages test charts and pushes them to OCI registries, for tests: the testdata
// charts under testdata/helm-release, with Helm's own chartutil and registry client.
//
// Test support only; never imported by non-test code.
package helmtest
