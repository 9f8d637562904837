package diff

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/manifest"
)

const operatorAlert = `apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: operator
  namespace: flux-system
spec:
  providerRef:
    name: chat
  eventSources:
    - kind: FluxInstance
      name: flux
`

// TestDiffValidatesWithTheClusterCRDs: diff validates the tree's Alerts with the cluster's Alert CRD.
// The cluster's CRD (converge's, unpatched) lacks FluxInstance: the API server would reject the Alert,
// so diff fails naming it, where a build without a cluster only warns. Once the cluster's CRD is patched
// as flux-operator does, the decoder diff builds from the cluster accepts it.
func TestDiffValidatesWithTheClusterCRDs(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../testdata/example")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "clusters/demo/alert.yaml"), operatorAlert)
	_, errOut, code := runDiff(t, root, cmdutil.OutputTable)
	want := `Alert flux-system/operator: spec.eventSources[0].kind: Unsupported value: "FluxInstance"`
	if code != 2 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "(schema of the CRD in the cluster)") {
		t.Fatalf("exit %d, want 2 and an error naming the Alert and the cluster's CRD:\n%s", code, errOut)
	}

	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	crds := dyn.Resource(apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	const name = "alerts.notification.toolkit.fluxcd.io"
	const path = "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/eventSources/items/properties/kind/enum"
	patch := `[{"op":"add","path":"` + path + `/-","value":"FluxInstance"}]`
	if _, err := crds.Patch(ctx, name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Put the CRD back for the other tests: drop the value added last.
		u, err := crds.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		versions := u.Object["spec"].(map[string]any)["versions"].([]any)
		enum := versions[0].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)["properties"].(map[string]any)["spec"].(map[string]any)["properties"].(map[string]any)["eventSources"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)["kind"].(map[string]any)["enum"].([]any)
		undo := `[{"op":"test","path":"` + path + `/` + strconv.Itoa(len(enum)-1) + `","value":"FluxInstance"},{"op":"remove","path":"` + path + `/` + strconv.Itoa(len(enum)-1) + `"}]`
		if _, err := crds.Patch(context.Background(), name, types.JSONPatchType, []byte(undo), metav1.PatchOptions{}); err != nil {
			t.Error(err)
		}
	})
	defs, err := manifest.ClusterCRDs(ctx, dyn)
	if err != nil {
		t.Fatal(err)
	}
	base, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := base.WithCRDs("the cluster", defs)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := dec.Decode(ctx, "alert.yaml", []byte(operatorAlert))
	if err != nil || len(objs) != 1 || len(objs[0].Warnings) != 0 {
		t.Fatalf("with the patched cluster CRD: %v, warnings %v", err, objs)
	}
}
