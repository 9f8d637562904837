// Package manifest decodes multi-document YAML into Kubernetes objects, strictly for Flux kinds: unknown
// fields, wrong types and values the CRD schema rejects are errors naming the file, line, object and field.
//
// Not here: what the objects mean (engine/build, engine/reconcile); manifest only decodes and
// validates.
package manifest
