package oci

import "github.com/converge-gitops/converge/engine/source"

// pruneIgnored deletes the files of an extracted layer that Flux leaves out of an OCIRepository artifact
// (see source.LoadIgnore: version-control files always; .sourceignore files and spec.ignore, or Flux's
// default exclusions when there are none).
func pruneIgnored(dir string, spec *string) error {
	ign, err := source.LoadIgnore(dir, spec, true)
	if err != nil {
		return err
	}
	return ign.Prune(dir)
}
