package images

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/image"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

func pushTags(t *testing.T, repository string, tags ...string) {
	t.Helper()
	pushTagsAs(t, repository, authn.Anonymous, tags...)
}

func pushTagsAs(t *testing.T, repository string, auth authn.Authenticator, tags ...string) {
	t.Helper()
	repo, err := name.NewRepository(repository, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(64, 1)
	if err := remote.Write(repo.Tag(tags[0]), img, remote.WithAuth(auth)); err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags[1:] {
		if err := remote.Tag(repo.Tag(tag), img, remote.WithAuth(auth)); err != nil {
			t.Fatal(err)
		}
	}
}

// workTree writes a Git work tree with the image objects and marked manifests; it returns its folder.
func workTree(t *testing.T, host string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"clusters/prod/images.yaml": fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: app
spec:
  image: %[1]s/org/app
  interval: 5m
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: app
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: app
  policy:
    semver:
      range: 1.x
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: builds
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: app
  filterTags:
    pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)'
    extract: '$ts'
  policy:
    numerical:
      order: asc
`, host),
		"apps/app.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: apps
spec:
  template:
    spec:
      containers:
        - name: app
          image: %[1]s/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
        - name: preview
          image: %[1]s/org/app:main-aaaaaaa-100 # {"$imagepolicy": "flux-system:builds"}
`, host),
	}
	for k, v := range extra {
		files[k] = v
	}
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sourcetest.RunGit(t, dir, "init", "-q")
	sourcetest.RunGit(t, dir, "add", "-A")
	sourcetest.RunGit(t, dir, "commit", "-q", "-m", "initial")
	return dir
}

func run(t *testing.T, opts *Options) (string, string, error) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	opts.IO = ios
	if opts.Namespace == "" {
		opts.Namespace = "flux-system"
	}
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	if opts.Output == "" {
		opts.Output = cmdutil.OutputTable
	}
	opts.Clock = testingclock.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := opts.Run(ctx)
	return out.String(), errOut.String(), err
}

func exitCode(err error) int {
	var s *cmdutil.SilentError
	if errors.As(err, &s) {
		return s.Code
	}
	if err != nil {
		return 2
	}
	return 0
}

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func TestImagesUpdate(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	pushTags(t, reg.Host+"/org/app", "1.0.0", "1.4.2", "1.5.0-rc.1", "2.0.0", "main-bbbbbbb-300", "main-ccccccc-200", "x.sig")
	dir := workTree(t, reg.Host, nil)
	app := filepath.Join(dir, "apps", "app.yaml")
	before, _ := os.ReadFile(app)

	// Dry run with --exit-code: the changes are reported, nothing is written, exit 1.
	out, _, err := run(t, &Options{Path: dir, DryRun: true, ExitCode: true})
	if exitCode(err) != 1 {
		t.Fatalf("exit %d (%v), want 1", exitCode(err), err)
	}
	want := fmt.Sprintf(`FILE             OBJECT                   OLD                                         NEW                                          POLICY
apps/app.yaml:11  Deployment/apps/app  %[1]s/org/app:1.0.0             %[1]s/org/app:1.4.2             flux-system:app
apps/app.yaml:13  Deployment/apps/app  %[1]s/org/app:main-aaaaaaa-100  %[1]s/org/app:main-bbbbbbb-300  flux-system:builds
`, reg.Host)
	if normalise(out) != normalise(want) {
		t.Fatalf("table:\n%s\nwant:\n%s", out, want)
	}
	if now, _ := os.ReadFile(app); string(now) != string(before) {
		t.Fatal("--dry-run wrote the file")
	}

	// A staged change of the user's would be swept into the commit: refused before any file is written.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sourcetest.RunGit(t, dir, "add", "notes.txt")
	if _, _, err := run(t, &Options{Path: dir, Commit: true, AuthorName: "ci", AuthorEmail: "ci@example.com", Output: cmdutil.OutputJSON}); err == nil ||
		!strings.Contains(err.Error(), "staged changes (notes.txt)") {
		t.Fatalf("--commit with a staged change: %v", err)
	}
	if now, _ := os.ReadFile(app); string(now) != string(before) {
		t.Fatal("a refused --commit wrote the file")
	}
	sourcetest.RunGit(t, dir, "reset", "-q", "notes.txt")
	if err := os.Remove(filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatal(err)
	}

	// Update and commit with a template.
	out, errOut, err := run(t, &Options{Path: dir, Commit: true, AuthorName: "ci", AuthorEmail: "ci@example.com",
		Message: "images: {{ range .Changed.Changes }}{{ .NewValue }} {{ end }}", Output: cmdutil.OutputJSON})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	var rep Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Changes) != 2 || len(rep.Policies) != 2 || rep.Commit == "" {
		t.Fatalf("report %+v", rep)
	}
	after, _ := os.ReadFile(app)
	if string(after) != strings.NewReplacer("app:1.0.0", "app:1.4.2", "main-aaaaaaa-100", "main-bbbbbbb-300").Replace(string(before)) {
		t.Fatalf("file:\n%s", after)
	}
	if head := sourcetest.RunGit(t, dir, "rev-parse", "HEAD"); head != rep.Commit {
		t.Fatalf("HEAD %s, reported %s", head, rep.Commit)
	}
	msg := sourcetest.RunGit(t, dir, "log", "-1", "--format=%an <%ae>|%s")
	if msg != fmt.Sprintf("ci <ci@example.com>|images: %[1]s/org/app:1.4.2 %[1]s/org/app:main-bbbbbbb-300", reg.Host) {
		t.Fatalf("commit %q", msg)
	}
	if st := sourcetest.RunGit(t, dir, "status", "--porcelain"); st != "" {
		t.Fatalf("work tree not clean after commit: %s", st)
	}

	// Nothing left to change: exit 0 even with --exit-code.
	_, errOut, err = run(t, &Options{Path: dir, ExitCode: true})
	if err != nil || !strings.Contains(errOut, "no image to update") {
		t.Fatalf("%v %s", err, errOut)
	}
}

func TestImagesUpdateErrors(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	pushTags(t, reg.Host+"/org/app", "1.0.0", "1.1.0")
	dir := workTree(t, reg.Host, map[string]string{
		"apps/broken.yaml": "image: x:1 # {\"$imagepolicy\": \"flux-system:gone\"}\n",
	})
	_, errOut, err := run(t, &Options{Path: dir})
	if exitCode(err) != 2 {
		t.Fatalf("exit %d, want 2", exitCode(err))
	}
	for _, want := range []string{
		"apps/broken.yaml:1: marker \"flux-system:gone\" names ImagePolicy flux-system/gone, which does not exist",
		"ImagePolicy flux-system/builds: ImageRepository flux-system/app: no tag matches the policy",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// The valid marker was still applied.
	if data, _ := os.ReadFile(filepath.Join(dir, "apps/app.yaml")); !strings.Contains(string(data), "org/app:1.1.0 #") {
		t.Errorf("app.yaml not updated:\n%s", data)
	}

	// An unreachable registry.
	dead := workTree(t, "127.0.0.1:"+fmt.Sprint(sourcetest.FreePort(t)), nil)
	_, errOut, err = run(t, &Options{Path: dead})
	if exitCode(err) != 2 || !strings.Contains(errOut, "connection refused") {
		t.Fatalf("exit %d stderr %s", exitCode(err), errOut)
	}

	// No policies at all.
	if _, _, err := run(t, &Options{Path: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no ImagePolicy found") {
		t.Fatalf("err %v", err)
	}
}

// normalise collapses runs of spaces, so the table test does not depend on the port's width.
func normalise(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// TestImagesUpdateFromCluster takes the ImageRepositories and ImagePolicies from the -n namespace of a
// real API server (those in the work tree and in other namespaces are ignored), the registry credentials
// from the cluster's docker-config Secret, and rewrites the markers of the work tree.
func TestImagesUpdateFromCluster(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	reg := sourcetest.StartRegistry(t, "ci:"+string(hash)+"\n")
	pushTagsAs(t, reg.Host+"/org/app", &authn.Basic{Username: "ci", Password: "pw"}, "1.0.0", "1.4.2", "2.0.0", "main-bbbbbbb-300")
	ns := "images-from-cluster"
	if _, err := cluster.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: regcred, namespace: %s}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths":{"%s":{"auth":"%s"}}}'
`, ns, reg.Host, base64.StdEncoding.EncodeToString([]byte("ci:pw"))))
	for _, doc := range []string{
		fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: %s}
spec: {image: %s/org/app, interval: 5m, secretRef: {name: regcred}}`, ns, reg.Host),
		fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: %s}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: '>=1.0.0'}}`, ns),
		// Same name in another namespace: not used.
		`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: default}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: '1.0.x'}}`,
	} {
		cluster.ApplyYAML(t, doc)
	}
	// The work tree's own objects (workTree writes a 1.x policy for flux-system) are ignored: the markers
	// name the cluster's namespace.
	dir := workTree(t, reg.Host, map[string]string{
		"apps/app.yaml": fmt.Sprintf("image: %s/org/app:1.0.0 # {\"$imagepolicy\": \"%s:app\"}\ntag: 1.0.0 # {\"$imagepolicy\": \"%s:app:tag\"}\n", reg.Host, ns, ns),
	})
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	opts := &Options{Path: dir, Namespace: ns, FromCluster: true, Output: cmdutil.OutputJSON,
		Secrets: func() (source.Secrets, error) { return clients, nil },
		Cluster: func(ctx context.Context, namespace string) (*image.Objects, error) {
			return clusterObjects(ctx, clients.Dynamic, namespace)
		}}
	out, errOut, err := run(t, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	var rep Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Policies) != 1 || rep.Policies[0].Policy != ns+"/app" || rep.Policies[0].Latest == nil || rep.Policies[0].Latest.Tag != "2.0.0" {
		t.Fatalf("policies %+v", rep.Policies)
	}
	want := fmt.Sprintf("image: %s/org/app:2.0.0 # {\"$imagepolicy\": \"%s:app\"}\ntag: 2.0.0 # {\"$imagepolicy\": \"%s:app:tag\"}\n", reg.Host, ns, ns)
	if data, _ := os.ReadFile(filepath.Join(dir, "apps/app.yaml")); string(data) != want {
		t.Fatalf("apps/app.yaml:\n%s\nwant:\n%s", data, want)
	}
	if len(rep.Changes) != 2 {
		t.Fatalf("changes %+v", rep.Changes)
	}

	// A namespace without policies is an error that names it.
	opts.Namespace, opts.Output = "default-empty", cmdutil.OutputTable
	if _, _, err := run(t, opts); err == nil || !strings.Contains(err.Error(), "no ImagePolicy found in namespace default-empty") {
		t.Fatalf("err %v", err)
	}
}
