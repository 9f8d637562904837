// Package release installs, upgrades, tests, rolls back and uninstalls the Helm release of a
// HelmRelease with Helm's action package, keeping Helm's own release records (Secrets in the storage
// namespace, so `helm list` and `helm history` show them), and records the outcome in the
// HelmRelease's status as Flux's helm-controller does: the Released, TestSuccess, Remediated and Ready
// conditions with Flux's reasons and messages, the history of release snapshots, the failure counters
// and the last attempted revision and config digest.
//
// This is the release engine; not here: rendering (engine/helmrelease) and fetching charts
// (engine/source/helmchart).
//
// An unchanged HelmRelease is a no-op: Helm's upgrade runs only when the chart name or version, the
// values digest or the post-renderers changed, when the release in storage is not the one last
// recorded, or when reconcile.fluxcd.io/forceAt asks for it.
package release
