package helmrelease

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// DecodeManifest decodes a release manifest (a stream of YAML documents, as Helm stores it) into
// objects, skipping empty documents and flattening lists.
func DecodeManifest(manifest string) ([]*unstructured.Unstructured, error) {
	return decodeObjects(manifest)
}
