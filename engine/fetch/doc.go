// Package fetch turns source references into folders of files: local folders and work trees in push mode,
// fetched and cached artifacts otherwise. It is the one place commands and the agent resolve sources.
//
// Not here: the protocols of each kind (engine/source/git, oci, bucket, helm) and the store's layout
// (engine/source); fetch only dispatches and resolves.
package fetch
