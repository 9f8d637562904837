package build

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"
)

// How Flux turns kustomize's output into the objects it applies, which converge follows step by step so
// that its objects are the same to the byte:
//
//   - kustomize writes each resource as YAML (kyaml, keeping the source's scalar styles), and Flux reads
//     that YAML with sigs.k8s.io/yaml (go-yaml v2 rules: an unquoted 0755 is the octal number 493, an
//     unquoted date a timestamp), and block scalars keep their chomping.
//   - an object Flux rewrites (a SOPS-decrypted object, postBuild substitution) goes through JSON
//     into a kyaml node (encoding/json: every number a float64), which is written as YAML again and read
//     as above.

// objectFromYAML reads one object of kustomize's output as Flux reads it.
func objectFromYAML(y []byte) (*unstructured.Unstructured, error) {
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		return nil, err
	}
	return objectFromJSON(j)
}

func objectFromJSON(j []byte) (*unstructured.Unstructured, error) {
	m := map[string]any{}
	// utiljson keeps integers int64, as the API machinery's own JSON decoding does.
	if err := utiljson.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("not an object")
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// rewrittenFromJSON is what Flux makes of an object it replaced with JSON j: the YAML kyaml writes for
// it (read by a later substitution) and the object read back from that YAML.
func rewrittenFromJSON(j []byte) (string, *unstructured.Unstructured, error) {
	m := map[string]any{}
	if err := json.Unmarshal(j, &m); err != nil {
		return "", nil, err
	}
	y, err := kyaml.Marshal(m)
	if err != nil {
		return "", nil, err
	}
	obj, err := objectFromYAML(y)
	if err != nil {
		return "", nil, err
	}
	return string(y), obj, nil
}

// rewrittenFromObject is rewrittenFromJSON of obj.
func rewrittenFromObject(obj *unstructured.Unstructured) (string, *unstructured.Unstructured, error) {
	j, err := json.Marshal(obj.Object)
	if err != nil {
		return "", nil, err
	}
	return rewrittenFromJSON(j)
}
