package export

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

var (
	cluster *testenv.Cluster
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func create(t *testing.T, dyn dynamic.Interface, kind inspect.Kind, doc, status string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	created, err := dyn.Resource(kind.Resource).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"})
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := yaml.Unmarshal([]byte(status), &st); err != nil {
		t.Fatal(err)
	}
	created.Object["status"] = st
	if _, err := dyn.Resource(kind.Resource).Namespace(u.GetNamespace()).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestExport(t *testing.T) {
	ctx := context.Background()
	const ns = "fleet"
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	status := `conditions: [{type: Ready, status: "True", reason: Succeeded, message: ok, lastTransitionTime: "2026-11-23T00:00:00Z"}]`
	create(t, dyn, kinds.MustByKey("git"), `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: podinfo
  namespace: fleet
  finalizers: [finalizers.fluxcd.io]
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"source.toolkit.fluxcd.io/v1"}'
spec: {interval: 5m, url: "https://github.com/stefanprodan/podinfo", ref: {branch: master}}`, status)
	create(t, dyn, kinds.MustByKey("git"), `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: fleet, labels: {team: platform}}
spec: {interval: 1m, url: "ssh://git@example.com/fleet", secretRef: {name: git-auth}}`, status)
	create(t, dyn, kinds.MustByKey("kustomizations"), `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: fleet, annotations: {reconcile.fluxcd.io/requestedAt: "2026-11-23T00:00:00Z"}}
spec:
  interval: 10m
  path: ./apps
  prune: true
  sourceRef: {kind: GitRepository, name: fleet}
  postBuild: {substitute: {cluster: prod}}`, status+"\nlastAppliedRevision: main@sha1:abc\ninventory: {entries: [{id: fleet_a__ConfigMap, v: v1}]}")

	create(t, dyn, kinds.MustByKey("external"), `apiVersion: source.toolkit.fluxcd.io/v1
kind: ExternalArtifact
metadata: {name: generated, namespace: fleet, labels: {team: platform}}
spec: {sourceRef: {apiVersion: source.extensions.fluxcd.io/v1beta1, kind: ArtifactGenerator, name: gen}}`, status)

	if _, err := cluster.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "git-auth", Namespace: ns, Labels: map[string]string{"left": "out"}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"identity": []byte("private key"), "known_hosts": []byte("example.com ssh-ed25519 AAAA")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	create(t, dyn, kinds.MustByKey("oci"), `apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: broken, namespace: fleet}
spec: {interval: 1m, url: "oci://example.com/app", secretRef: {name: absent}}`, status)
	create(t, dyn, kinds.MustByKey("artifactgenerators"), `apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: gen, namespace: fleet}
spec:
  sources: [{alias: repo, kind: GitRepository, name: fleet}]
  artifacts: [{name: generated, copy: [{from: "@repo/apps/**", to: "@artifact/"}]}]`, status)

	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		golden string
		err    string
	}{
		{"git with credentials", []string{"source", "git", "fleet", "podinfo", "--with-credentials"}, "export-git-credentials.yaml", ""},
		{"credentials secret missing", []string{"source", "oci", "broken", "--with-credentials"}, "",
			`OCIRepository fleet/broken: spec.secretRef: secrets "absent" not found`},
		{"all git repositories", []string{"source", "git", "--all"}, "export-git-all.yaml", ""},
		{"one kustomization", []string{"ks", "apps"}, "export-ks.yaml", ""},
		{"external artifacts", []string{"source", "external", "--all"}, "export-external.yaml", ""},
		{"artifact generators, Flux's path", []string{"artifact", "generator", "--all"}, "export-artifact-generator.yaml", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, errOut := cmdutil.Test()
			f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
			f.Timeout = time.Minute
			cmd := NewCmdExport(f)
			f.KubeFlags.AddFlags(cmd.PersistentFlags())
			cmd.SetArgs(append(tt.args, "-n", ns, "--kubeconfig", kc))
			err := cmd.ExecuteContext(ctx)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			p := filepath.Join("../../testdata/golden/commands", tt.golden)
			goldenfile.Check(t, p, out.Bytes())
		})
	}
}
