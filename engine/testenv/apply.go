package testenv

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/engine/kube"
)

// ApplyYAML server-side applies one YAML object as the field manager "test" (forcing conflicts), the way a
// test sets up cluster state that is not what it tests.
func (c *Cluster) ApplyYAML(t testing.TB, doc string) {
	t.Helper()
	ApplyYAML(t, c.Config, doc)
}

// ApplyYAML server-side applies one YAML object to the cluster cfg reaches, as Cluster.ApplyYAML does.
func ApplyYAML(t testing.TB, cfg *rest.Config, doc string) {
	t.Helper()
	clients, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	m, err := clients.Mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
	if err != nil {
		t.Fatal(err)
	}
	data, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	force := true
	if _, err := clients.Dynamic.Resource(m.Resource).Namespace(u.GetNamespace()).Patch(context.Background(), u.GetName(),
		types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "test", Force: &force}); err != nil {
		t.Fatalf("applying %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}
