package apply

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A takeover patch computed from a live object another writer changes before it is sent (a controller
// updating the object, as kube-controller-manager does with Deployments) is recomputed and sent again.
func TestTakeOverAfterConcurrentWrite(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	const space = "app-takeover-race"
	if _, err := m.Apply(ctx, objects(t, ns(space)), Options{}); err != nil {
		t.Fatal(err)
	}
	cms := cluster.Client.CoreV1().ConfigMaps(space)
	// kubectl wrote the object first (an update by a manager converge takes over).
	if _, err := cms.Patch(ctx, "shared", types.ApplyPatchType, []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"shared"},"data":{"key":"one"}}`),
		metav1.PatchOptions{FieldManager: "kubectl", Force: new(bool)}); err != nil {
		t.Fatal(err)
	}
	desired := objects(t, cm(space, "shared", "one"))[0]
	mapping, err := m.Mapper.RESTMapping(desired.GroupVersionKind().GroupKind(), desired.GroupVersionKind().Version)
	if err != nil {
		t.Fatal(err)
	}
	ri := m.Client.Resource(mapping.Resource).Namespace(space)
	live, err := ri.Get(ctx, "shared", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	patch, taken, err := takeoverPatch(desired, live, m.fieldManager(), m.takeOver(), time.Now())
	if err != nil || patch == nil || len(taken) == 0 {
		t.Fatalf("takeover patch %s %v %v", patch, taken, err)
	}
	// Another writer changes the object between the plan and the write.
	if _, err := cms.Patch(ctx, "shared", types.MergePatchType, []byte(`{"metadata":{"annotations":{"note":"theirs"}}}`),
		metav1.PatchOptions{FieldManager: "some-controller"}); err != nil {
		t.Fatal(err)
	}
	s := &step{obj: desired, live: live, meta: MetaOf(desired), ri: ri, takeover: patch}
	if err := m.takeOverFields(ctx, s); err != nil {
		t.Fatalf("takeover after a concurrent write: %v", err)
	}
	got, err := cms.Get(ctx, "shared", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var managers []string
	for _, e := range got.ManagedFields {
		managers = append(managers, e.Manager+"/"+string(e.Operation))
	}
	if joined := strings.Join(managers, " "); strings.Contains(joined, "kubectl") || !strings.Contains(joined, "converge/Apply") ||
		!strings.Contains(joined, "some-controller/Update") || got.Annotations["note"] != "theirs" {
		t.Errorf("managers after the takeover: %s; annotations %v", joined, got.Annotations)
	}
}
