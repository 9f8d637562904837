// Package generator produces the artifacts of an ArtifactGenerator (source.extensions.fluxcd.io) from
// the files of its sources, as Flux's source-watcher does: each output artifact is a folder built by
// the entry's copy operations, its canonical tarball (engine/source's format, so equal content has an
// equal digest) and the revision "latest@sha256:<digest>". It reads and writes local folders only; the
// agent and the tree build supply the sources and keep the results.
//
// Not here: fetching the sources and storing the artifacts (the agent, engine/build and
// engine/source do), the ArtifactGenerator's status (engine/reconcile).
//
// Copy semantics follow source-watcher, so that a repository that works with Flux generates the same
// artifacts; where its implementation and its documentation (docs/spec/v1beta1/artifactgenerators.md)
// disagree, converge decides as follows:
//
//   - Glob destinations follow the implementation, which repositories were tested against: "dir/**"
//     copies dir's contents, any other glob keeps each match's path from the source root, so
//     "@src/configs/*.yaml" to "@artifact/apps/" creates apps/configs/file1.yaml (the documentation
//     shows apps/file1.yaml).
//   - "**" spans any number of folders in from and exclude patterns, for every strategy: documented for
//     Extract ("releases/**/*.tgz") and exclude ("**/testdata/**"); source-watcher matches "**" like
//     "*" in from with Overwrite and Merge, which its documentation does not describe.
//   - Merge: YAML maps merge key by key and lists are replaced, as Helm merges values files
//     (documented); it applies to every file a copy writes over an existing one, nested files of a
//     folder or glob copy included, and a file that is not YAML cannot be merged (an error).
//   - Symbolic links (undocumented): a link to a file inside the source is copied as that file; a link
//     to a folder is copied when from names it, and skipped when met inside a copied folder or among a
//     glob's matches; a link leaving the source is an error (ErrEscape). pathPattern does not descend
//     into linked folders.
//   - originRevision (documented as metadata that does not affect the revision): an artifact whose
//     content is unchanged keeps its revision and stored artifact, and with them the origin revision of
//     the commit that first produced that content, so an unrelated commit writes nothing.
//   - pathPattern: as documented; captures are lowercased in names and labels and used as found in
//     copy paths; captures that are not label values and names rendered twice are errors.
package generator
