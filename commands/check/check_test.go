package check

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func run(t *testing.T, pre bool, output string) (string, string, int) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	opts := &Options{IO: ios, Pre: pre, Output: output, Namespace: "flux-system",
		Discovery: func() (discovery.DiscoveryInterface, error) { return cluster.Client.Discovery(), nil },
		Host:      cluster.Host,
		Clients:   func() (*kube.Clients, error) { return kube.New(cluster.Config) }}
	err := opts.Run(context.Background())
	return out.String(), errOut.String(), cmdutil.ExitCode(err, errOut)
}

func TestCheck(t *testing.T) {
	_, errOut, code := run(t, true, cmdutil.OutputTable)
	if code != 0 || !strings.Contains(errOut, "prerequisites checks passed") {
		t.Fatalf("check --pre (%d):\n%s", code, errOut)
	}

	// CRDs installed (by the test control plane), no agent.
	_, errOut, code = run(t, false, cmdutil.OutputTable)
	for _, want := range []string{"✔ kustomizations.kustomize.toolkit.fluxcd.io v1", "✔ helmreleases.helm.toolkit.fluxcd.io v2, v2beta1, v2beta2",
		"✗ flux-system/converge-agent: Deployment flux-system/converge-agent not found: run converge install", "✗ checks failed"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("output lacks %q:\n%s", want, errOut)
		}
	}
	if code != cmdutil.ExitError {
		t.Errorf("exit code %d without an agent, want %d", code, cmdutil.ExitError)
	}

	// A CRD that no longer serves a version converge serves.
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	crdGVR := apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")
	u, err := clients.Dynamic.Resource(crdGVR).Get(context.Background(), "buckets.source.toolkit.fluxcd.io", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
	idx := -1
	for i, v := range versions {
		if v.(map[string]any)["name"] == "v1beta2" {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatal("buckets CRD has no v1beta2")
	}
	patch := []byte(`[{"op":"replace","path":"/spec/versions/` + strconv.Itoa(idx) + `/served","value":false}]`)
	if _, err := clients.Dynamic.Resource(crdGVR).Patch(context.Background(), "buckets.source.toolkit.fluxcd.io", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _, code := run(t, false, cmdutil.OutputJSON)
	var rep Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	found := false
	for _, c := range rep.CRDs {
		if c.Name == "buckets.source.toolkit.fluxcd.io" {
			found = true
			if c.OK || len(c.Missing) != 1 || c.Missing[0] != "v1beta2" {
				t.Errorf("buckets check = %+v, want v1beta2 missing", c)
			}
		} else if !c.OK {
			t.Errorf("%s reported not OK: %+v", c.Name, c)
		}
	}
	if !found || rep.Agent == nil || rep.Agent.Installed || code != cmdutil.ExitError {
		t.Errorf("report %+v, exit %d", rep, code)
	}
}
