package check

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/preflight"
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

// TestCheckShards: each shard of `converge install --shards` is checked: its Deployment (never ready
// here: no node runs its Pod), its Lease's holder and its artifact Service's endpoints.
func TestCheckShards(t *testing.T) {
	const ns = "check-shards"
	objs, err := install.Objects(install.Options{Namespace: ns, Version: "v0.1.0", Shards: []string{"a", "b"}, NoNetworkPolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	var keep []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			keep = append(keep, o)
		}
	}
	m := &apply.Manager{Client: clients.Dynamic, Mapper: clients.Mapper}
	if _, err := m.Apply(context.Background(), keep, apply.Options{}); err != nil {
		t.Fatal(err)
	}
	holder := "converge-agent-a-7d9f-x2"
	if _, err := cluster.Client.CoordinationV1().Leases(ns).Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "converge-agent-a", Namespace: ns},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := cmdutil.Test()
	opts := &Options{IO: ios, Output: cmdutil.OutputJSON, Namespace: ns,
		Discovery: func() (discovery.DiscoveryInterface, error) { return cluster.Client.Discovery(), nil },
		Host:      cluster.Host,
		Clients:   func() (*kube.Clients, error) { return kube.New(cluster.Config) }}
	if code := cmdutil.ExitCode(opts.Run(context.Background()), errOut); code != cmdutil.ExitError {
		t.Errorf("exit code %d, want %d", code, cmdutil.ExitError)
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(rep.Shards) != 2 || rep.Shards[0].Shard != "a" || rep.Shards[1].Shard != "b" {
		t.Fatalf("shards %+v, want a and b", rep.Shards)
	}
	for _, tt := range []struct {
		sc     preflight.ShardCheck
		holder string
		want   []string
	}{
		{rep.Shards[0], holder, []string{"Deployment " + ns + "/converge-agent-a: ", "artifact Service " + ns + "/converge-agent-a has no ready endpoint"}},
		{rep.Shards[1], "", []string{"Deployment " + ns + "/converge-agent-b: ", "Lease " + ns + "/converge-agent-b not found", "artifact Service " + ns + "/converge-agent-b has no ready endpoint"}},
	} {
		if tt.sc.OK || tt.sc.LeaseHolder != tt.holder || !tt.sc.Agent.Installed || len(tt.sc.Problems) != len(tt.want) {
			t.Errorf("shard %s: %+v, want not OK, Lease holder %q, problems %q", tt.sc.Shard, tt.sc, tt.holder, tt.want)
			continue
		}
		for i, w := range tt.want {
			if !strings.HasPrefix(tt.sc.Problems[i], w) {
				t.Errorf("shard %s problem %d: %q, want %q…", tt.sc.Shard, i, tt.sc.Problems[i], w)
			}
		}
	}
}
