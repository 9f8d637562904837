package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

var (
	cluster *testenv.Cluster
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.CheckString(t, filepath.Join("../../testdata/golden/commands", name), got)
}

func run(t *testing.T, timeout time.Duration, args ...string) (string, string, error) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{Version: "v9.9.9"})
	f.Timeout = timeout
	cmd := NewCmdInstall(f)
	f.KubeFlags.AddFlags(cmd.PersistentFlags())
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if cluster != nil {
		if err := cluster.WriteKubeconfig(kc); err != nil {
			t.Fatal(err)
		}
	}
	cmd.SetArgs(append(args, "--kubeconfig", kc))
	cmd.SilenceUsage = true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

var crdDoc = regexp.MustCompile(`(?s)^apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n.*?\n  name: ([a-z.]+)\n`)

// The CRDs are crds/bases with labels: the golden file names them instead of repeating thousands of lines.
func withoutCRDs(t *testing.T, out string) string {
	docs := strings.Split(out, "---\n")
	for i, d := range docs {
		if m := crdDoc.FindStringSubmatch(d); m != nil {
			if !strings.Contains(d, "    app.kubernetes.io/part-of: converge\n") || !strings.Contains(d, "openAPIV3Schema:") {
				t.Errorf("CRD %s lacks its labels or schema", m[1])
			}
			docs[i] = "# CustomResourceDefinition " + m[1] + " (crds/bases)\n"
		}
	}
	return strings.Join(docs, "---\n")
}

func TestExport(t *testing.T) {
	out, _, err := run(t, time.Minute, "--export", "--version", "v0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "install-export.yaml", withoutCRDs(t, out))

	out, _, err = run(t, time.Minute, "--export", "-n", "gitops", "--image", "registry.local/converge",
		"--components-extra", "image-reflector-controller,image-automation-controller")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# converge v9.9.9\n", // the binary's version by default
		"image: registry.local/converge:v9.9.9",
		"--artifact-base-url=http://converge.gitops.svc.cluster.local./artifacts",
		"name: imagepolicies.image.toolkit.fluxcd.io",
		"name: imageupdateautomations.image.toolkit.fluxcd.io",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("export lacks %q", want)
		}
	}
	if strings.Contains(out, "artifactgenerators") {
		t.Error("source-watcher's CRD exported without --components-extra source-watcher")
	}
	if _, _, err := run(t, time.Minute, "--export", "--components-extra", "flagger"); err == nil || !strings.Contains(err.Error(), `unknown extra component "flagger"`) {
		t.Errorf("unknown component: %v", err)
	}

	golden(t, "install-export-shards.yaml", withoutCRDs(t, mustRun(t, "--export", "--version", "v0.1.0", "--shards", "a,b")))
	if _, _, err := run(t, time.Minute, "--export", "--shards", "a,a"); err == nil || !strings.Contains(err.Error(), `shard "a" given twice`) {
		t.Errorf("a shard given twice: %v", err)
	}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, _, err := run(t, time.Minute, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInstall(t *testing.T) {
	const ns = "converge-system"
	out, errOut, err := run(t, 2*time.Minute, "--wait=false", "--version", "v0.1.0", "-n", ns)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, want := range []string{
		"Namespace/converge-system created", "ServiceAccount/converge-system/converge-agent created",
		"ClusterRoleBinding/converge-agent-converge-system created", "Deployment/converge-system/converge-agent created",
		"Service/converge-system/webhook-receiver created", "NetworkPolicy/converge-system/allow-webhooks created",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	ctx := context.Background()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "converge-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "ghcr.io/converge-gitops/converge:v0.1.0" || c.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.namespace" ||
		!*c.SecurityContext.ReadOnlyRootFilesystem || d.Spec.Template.Annotations["prometheus.io/scrape"] != "true" {
		t.Errorf("Deployment as stored: %+v", c)
	}
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "converge", metav1.GetOptions{})
	if err != nil || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.StrVal != "http" {
		t.Errorf("Service converge: %v %+v", err, svc)
	}
	nps, err := cluster.Client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(nps.Items) != 3 {
		t.Errorf("NetworkPolicies: %v %d", err, len(nps.Items))
	}

	// Installing again changes nothing.
	out, errOut, err = run(t, 2*time.Minute, "--wait=false", "--version", "v0.1.0", "-n", ns)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasSuffix(line, " unchanged") {
			t.Errorf("second install: %s", line)
		}
	}

	// The agent's ServiceAccount may do what the agent does: leases and events in its namespace, any
	// Flux object and any object it applies anywhere.
	cfg, err := cluster.ServiceAccountConfig(ctx, ns, "converge-agent")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, ra := range []authorizationv1.ResourceAttributes{
		{Namespace: ns, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "converge-agent"},
		{Namespace: ns, Verb: "create", Resource: "events"},
		{Verb: "watch", Group: "kustomize.toolkit.fluxcd.io", Resource: "kustomizations"},
		{Verb: "patch", Group: "source.toolkit.fluxcd.io", Resource: "gitrepositories", Subresource: "status"},
		{Namespace: "apps", Verb: "create", Group: "apps", Resource: "deployments"},
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
	} {
		r, err := sa.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &ra}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Status.Allowed {
			t.Errorf("the agent's ServiceAccount may not %s %s/%s in %q: %s", ra.Verb, ra.Group, ra.Resource, ra.Namespace, r.Status.Reason)
		}
	}
}

// Without a kubelet the agent's pod never runs: waiting must fail at the timeout, naming the Deployment.
func TestInstallWaitTimesOut(t *testing.T) {
	if _, errOut, err := run(t, 2*time.Minute, "--wait=false", "--version", "v0.1.0", "-n", "slow-system"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	start := time.Now()
	_, errOut, err := run(t, 10*time.Second, "--version", "v0.1.0", "-n", "slow-system")
	if err == nil {
		t.Fatal("install waited successfully for a Deployment that cannot run")
	}
	if !strings.Contains(err.Error(), "the agent did not become ready") || !strings.Contains(err.Error(), "Deployment/slow-system/converge-agent") {
		t.Errorf("error = %v", err)
	}
	if !strings.Contains(errOut, "waiting for the agent to become ready") {
		t.Errorf("stderr = %s", errOut)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %s with a 10s timeout", took)
	}
}

// TestExportPinsDigest: the exported Deployment names the image by the digest Debian's docker-registry
// serves for its tag; an unreachable registry leaves the tag with one warning line.
func TestExportPinsDigest(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.Host + "/converge:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	gone := fmt.Sprintf("127.0.0.1:%d", sourcetest.FreePort(t))
	tests := []struct {
		name, image, wantImage, wantWarning string
	}{
		{name: "reachable", image: reg.Host + "/converge", wantImage: reg.Host + "/converge:v1@" + digest.String()},
		{name: "unreachable", image: gone + "/converge", wantImage: gone + "/converge:v1",
			wantWarning: "could not look up the digest of " + gone + "/converge:v1 ("},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := run(t, time.Minute, "--export", "--image", tt.image, "--version", "v1")
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			if !strings.Contains(out, "image: "+tt.wantImage+"\n") {
				t.Errorf("export lacks image: %s", tt.wantImage)
			}
			if tt.wantWarning == "" && errOut != "" {
				t.Errorf("stderr = %q, want nothing", errOut)
			}
			if tt.wantWarning != "" && (!strings.Contains(errOut, tt.wantWarning) || strings.Count(strings.TrimSpace(errOut), "\n") != 0) {
				t.Errorf("stderr = %q, want one line with %q", errOut, tt.wantWarning)
			}
		})
	}
}

// TestExportFluxFlags checks the manifests Flux's install flags write.
func TestExportFluxFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
		stderr  string
		err     string
	}{
		{name: "registry and pull secret", args: []string{"--registry", "127.0.0.1:1/mirror", "--image-pull-secret", "regcred"},
			want: []string{"image: 127.0.0.1:1/mirror/converge:v9.9.9", "imagePullSecrets:\n      - name: regcred\n"}},
		{name: "flux's default registry", args: []string{"--registry", "ghcr.io/fluxcd"}, want: []string{"image: ghcr.io/converge-gitops/converge:v9.9.9"}},
		{name: "tolerations", args: []string{"--toleration-keys", "dedicated-to-flux,example.com/gitops"},
			want: []string{"tolerations:\n      - key: dedicated-to-flux\n        operator: Exists\n      - key: example.com/gitops\n        operator: Exists\n"}},
		{name: "no network policy", args: []string{"--network-policy=false"}, notWant: []string{"kind: NetworkPolicy"}},
		{name: "one namespace, domain, log level", args: []string{"--watch-all-namespaces=false", "--cluster-domain", "corp.internal", "--log-level", "debug", "-n", "gitops"},
			want: []string{"- --artifact-base-url=http://converge.gitops.svc.corp.internal./artifacts\n        - --log-format=json\n        - --log-level=debug\n        - --watch-namespace=gitops\n"}},
		{name: "components", args: []string{"--components", "source-controller,kustomize-controller,image-reflector-controller"},
			want:   []string{"name: imagerepositories.image.toolkit.fluxcd.io", "name: helmreleases.helm.toolkit.fluxcd.io"},
			stderr: "--components leaves out helm-controller, notification-controller: converge runs one agent"},
		{name: "credentials are not exported", args: []string{"--image-pull-secret", "regcred", "--registry-creds", "u:p"},
			notWant: []string{"kind: Secret"}, stderr: "--registry-creds is not exported"},
		{name: "force and short version", args: []string{"--force", "-v", "v1.2.3"}, want: []string{"image: ghcr.io/converge-gitops/converge:v1.2.3"}},
		{name: "image and registry", args: []string{"--registry", "r.example", "--image", "i.example/x"}, err: "give --image or --registry, not both"},
		{name: "unknown component", args: []string{"--components", "flagger"}, err: `--components: unknown component "flagger"`},
		{name: "creds without secret", args: []string{"--registry-creds", "u:p"}, err: "need an image pull secret"},
		{name: "bad log level", args: []string{"--log-level", "trace"}, err: `log level "trace"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := run(t, time.Minute, append([]string{"--export"}, tt.args...)...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("export lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("export has %q", w)
				}
			}
			if !strings.Contains(errOut, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, errOut)
			}
		})
	}
}

// TestInstallRegistryCredentials applies the pull Secret --registry-creds gives to a real API server.
func TestInstallRegistryCredentials(t *testing.T) {
	const ns = "creds-system"
	_, errOut, err := run(t, 2*time.Minute, "--wait=false", "--version", "v0.1.0", "-n", ns,
		"--registry", "127.0.0.1:1/mirror", "--image-pull-secret", "regcred", "--registry-creds", "bot:pa:ss")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(context.Background(), "regcred", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"auths":{"127.0.0.1:1":{"auth":"Ym90OnBhOnNz","password":"pa:ss","username":"bot"}}}`
	if s.Type != "kubernetes.io/dockerconfigjson" || string(s.Data[".dockerconfigjson"]) != want {
		t.Errorf("Secret %s: %s", s.Type, s.Data[".dockerconfigjson"])
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "converge-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ps := d.Spec.Template.Spec.ImagePullSecrets; len(ps) != 1 || ps[0].Name != "regcred" {
		t.Errorf("imagePullSecrets %v", ps)
	}
}
