// Package install generates the objects that run converge's agent in a cluster (`converge install`,
// and the bootstrap that reuses its export) and removes them again (`converge uninstall`).
//
// Not here: applying the objects (engine/apply) and the Git side of bootstrap (engine/bootstrap).
package install
