// Package git fetches GitRepository sources into the artifact store with go-git, and turns a local Git
// work tree into an artifact for push mode. It is converge's one Git layer: Flux's Git credentials
// Secret is read here (CredentialsFromSecret), and Remote, CommitFiles and the fetcher are the clone,
// commit, push and fetch that image automation, bootstrap and `images update` use.
//
// Not here: the store and archive handling (engine/source), the GitRepository's status
// (engine/reconcile).
//
// Each remote URL has a persistent bare repository in the store's cache (shallow for branches, tags,
// semver and named references; full history for commits), so a fetch downloads only new objects and a
// fetch of an unchanged source only reads the server's references.
package git
