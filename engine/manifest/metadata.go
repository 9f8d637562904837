package manifest

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// MergeLabels sets every label of add on obj, keeping obj's other labels.
func MergeLabels(obj *unstructured.Unstructured, add map[string]string) {
	if len(add) == 0 {
		return
	}
	obj.SetLabels(merged(obj.GetLabels(), add))
}

// MergeAnnotations sets every annotation of add on obj, keeping obj's other annotations.
func MergeAnnotations(obj *unstructured.Unstructured, add map[string]string) {
	if len(add) == 0 {
		return
	}
	obj.SetAnnotations(merged(obj.GetAnnotations(), add))
}

func merged(into, add map[string]string) map[string]string {
	if into == nil {
		into = make(map[string]string, len(add))
	}
	for k, v := range add {
		into[k] = v
	}
	return into
}
