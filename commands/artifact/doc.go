// Package artifact implements Flux's OCI artifact commands other than push: `build artifact`, `diff
// artifact`, `pull artifact`, `tag artifact` and `list artifacts`. cmd/converge hangs them under their
// verbs.
package artifact
