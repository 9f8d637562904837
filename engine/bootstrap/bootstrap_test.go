package bootstrap

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// resourceVersions returns the resourceVersion of the objects a re-run must leave alone.
func resourceVersions(t *testing.T, ns string) map[string]string {
	t.Helper()
	ctx := context.Background()
	c := cluster.Client
	out := map[string]string{}
	if s, err := c.CoreV1().Secrets(ns).Get(ctx, SyncName, metav1.GetOptions{}); err == nil {
		out["Secret"] = s.ResourceVersion
	}
	if d, err := c.AppsV1().Deployments(ns).Get(ctx, install.AgentName, metav1.GetOptions{}); err == nil {
		out["Deployment"] = d.ResourceVersion
	}
	if n, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
		out["Namespace"] = n.ResourceVersion
	}
	out["GitRepository generation"] = generation(t, getObj(t, gitRepositoriesGVR, ns, SyncName))
	out["Kustomization generation"] = generation(t, getObj(t, kustomizationsGVR, ns, SyncName))
	return out
}

func generation(t *testing.T, u *unstructured.Unstructured) string {
	t.Helper()
	return fmt.Sprint(u.GetGeneration())
}

func assertUnchanged(t *testing.T, what string, res *Result) {
	t.Helper()
	if res.Changed() || len(res.Commits) > 0 {
		t.Errorf("%s changed something: commits %v, components %s, secret %s, sync %s", what, res.Commits,
			summary(res.Components), res.Secret, summary(res.Sync))
	}
	for _, cs := range []*apply.ChangeSet{res.Components, res.Sync} {
		for _, e := range cs.Entries {
			if e.Action != apply.Unchanged {
				t.Errorf("%s: %s %s", what, e.Subject, e.Action)
			}
		}
	}
}

// TestBootstrapHTTP bootstraps over HTTP with basic auth against git http-backend and the real API
// server, then runs again: without credentials, after an out-of-band Secret change, after a user patch in
// kustomization.yaml, and with a new version.
func TestBootstrapHTTP(t *testing.T) {
	ctx := context.Background()
	srv := sourcetest.StartAuthGitServer(t, "fleet-user", "s3cret")
	bare := bareRepo(t, srv.Root, "fleet")
	const ns = "boot-http"
	c := clients(t)
	base := Options{
		Clock: clock.RealClock{},
		URL:   srv.URL + "/fleet.git", Path: "clusters/dev",
		Install:     install.Options{Namespace: ns, Version: "v0.1.0"},
		Credentials: Credentials{Username: "fleet-user", Password: "s3cret"},
		Author:      Author{Name: "Bot", Email: "bot@example.com"},
	}

	// Wrong credentials: nothing pushed, nothing applied.
	wrong := base
	wrong.Credentials.Password = "wrong"
	if _, err := Run(ctx, c, wrong); err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := cluster.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace after a failed bootstrap: %v", err)
	}

	var events []Event
	first := base
	first.Events = func(e Event) { events = append(events, e) }
	res, err := Run(ctx, c, first)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, cm := range res.Commits {
		msgs = append(msgs, cm.Message)
	}
	want := []string{"Add converge v0.1.0 component manifests", "Add converge sync manifests", "Add converge kustomization.yaml"}
	if !slices.Equal(msgs, want) {
		t.Errorf("commits = %q", msgs)
	}
	log := gitLog(t, bare, "main")
	slices.Reverse(log)
	if !slices.Equal(log, want) {
		t.Errorf("remote history = %q", log)
	}
	head := sourcetest.RunGit(t, bare, "rev-parse", "main")
	if res.Revision != "main@sha1:"+head {
		t.Errorf("revision %s, remote head %s", res.Revision, head)
	}
	if a := sourcetest.RunGit(t, bare, "log", "-1", "--format=%an <%ae>", "main"); a != "Bot <bot@example.com>" {
		t.Errorf("author = %s", a)
	}
	so := SyncOptions{Namespace: ns, URL: base.URL, Branch: "main", Path: "clusters/dev"}
	wantSync, _ := SyncManifest(so)
	wantComponents, _ := ComponentsManifest(base.Install)
	for file, want := range map[string]string{
		"gotk-sync.yaml": string(wantSync), "gotk-components.yaml": string(wantComponents), "kustomization.yaml": string(KustomizationManifest()),
	} {
		if got := gitShow(t, bare, "main:clusters/dev/flux-system/"+file); got != strings.TrimRight(want, "\n") {
			t.Errorf("%s in the remote differs:\n%.600s", file, got)
		}
	}
	if res.Secret != SecretCreated || res.Components.Count(apply.Created) == 0 || res.Sync.Count(apply.Created) != 2 {
		t.Errorf("first run: secret %s, components %s, sync %s", res.Secret, summary(res.Components), summary(res.Sync))
	}
	var lines []string
	for _, e := range events {
		lines = append(lines, e.Message)
	}
	for _, w := range []string{"cloned repository", "pushed to " + base.URL, "Secret boot-http/flux-system created"} {
		if !slices.Contains(lines, w) {
			t.Errorf("events lack %q: %q", w, lines)
		}
	}

	secret, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, SyncName, metav1.GetOptions{})
	if err != nil || string(secret.Data["username"]) != "fleet-user" || string(secret.Data["password"]) != "s3cret" || len(secret.Data) != 2 {
		t.Errorf("Secret: %v %v", err, secret.Data)
	}
	repo := getObj(t, gitRepositoriesGVR, ns, SyncName)
	if u, _, _ := unstructured.NestedString(repo.Object, "spec", "url"); u != base.URL {
		t.Errorf("GitRepository url %s", u)
	}
	if b, _, _ := unstructured.NestedString(repo.Object, "spec", "ref", "branch"); b != "main" {
		t.Errorf("GitRepository branch %s", b)
	}
	ks := getObj(t, kustomizationsGVR, ns, SyncName)
	if p, _, _ := unstructured.NestedString(ks.Object, "spec", "path"); p != "./clusters/dev" {
		t.Errorf("Kustomization path %s", p)
	}
	if ks.GetLabels()["kustomize.toolkit.fluxcd.io/name"] != SyncName {
		t.Errorf("Kustomization labels %v: not what the agent would apply", ks.GetLabels())
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, install.AgentName, metav1.GetOptions{})
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != install.DefaultImage+":v0.1.0" {
		t.Fatalf("Deployment: %v", err)
	}
	pushes := srv.Pushes.Load()
	before := resourceVersions(t, ns)

	// Again, without credentials: the Secret's are used to clone, nothing is committed or changed.
	again := base
	again.Credentials = Credentials{}
	res, err = Run(ctx, c, again)
	if err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, "second run", res)
	if res.Secret != SecretKept {
		t.Errorf("secret %s, want kept", res.Secret)
	}
	if srv.Pushes.Load() != pushes {
		t.Error("the second run pushed")
	}
	if after := resourceVersions(t, ns); !mapsEqual(before, after) {
		t.Errorf("objects changed: %v -> %v", before, after)
	}

	// The Secret changed out of band is not overwritten by a re-run without credentials...
	patch := []byte(`{"data":{"password":"` + base64.StdEncoding.EncodeToString([]byte("rotated")) + `"}}`)
	if _, err := cluster.Client.CoreV1().Secrets(ns).Patch(ctx, SyncName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "someone"}); err != nil {
		t.Fatal(err)
	}
	again2 := again
	again2.Credentials = Credentials{Username: "fleet-user", Password: "s3cret"}
	// (the re-run must be able to push: use the given credentials for Git but check the Secret's fate
	// with a run without them first; that run clones with the rotated password and fails.)
	if _, err := Run(ctx, c, again); err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Errorf("re-run with the rotated Secret password: %v", err)
	}
	if s, _ := cluster.Client.CoreV1().Secrets(ns).Get(ctx, SyncName, metav1.GetOptions{}); string(s.Data["password"]) != "rotated" {
		t.Errorf("Secret overwritten: %q", s.Data["password"])
	}
	// ...and is rewritten when credentials are given.
	res, err = Run(ctx, c, again2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Secret != SecretUpdated || len(res.Commits) != 0 {
		t.Errorf("with credentials: secret %s, commits %v", res.Secret, res.Commits)
	}
	if s, _ := cluster.Client.CoreV1().Secrets(ns).Get(ctx, SyncName, metav1.GetOptions{}); string(s.Data["password"]) != "s3cret" {
		t.Errorf("Secret not rewritten: %q", s.Data["password"])
	}

	// A user patch in kustomization.yaml survives and is applied.
	userKustomization := string(KustomizationManifest()) + `patches:
- target: {kind: Deployment, name: converge-agent}
  patch: |
    - op: add
      path: /metadata/annotations
      value: {example.com/patched: "yes"}
`
	userEdit(t, bare, "main", "Patch the agent", func(dir string) {
		writeFile(t, filepath.Join(dir, "clusters/dev/flux-system/kustomization.yaml"), userKustomization)
	})
	res, err = Run(ctx, c, again)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Commits) != 0 || res.Components.Count(apply.Configured) != 1 {
		t.Errorf("after the user patch: commits %v, components %s", res.Commits, summary(res.Components))
	}
	if got := gitShow(t, bare, "main:clusters/dev/flux-system/kustomization.yaml"); got != strings.TrimRight(userKustomization, "\n") {
		t.Errorf("kustomization.yaml overwritten:\n%s", got)
	}
	d, _ = cluster.Client.AppsV1().Deployments(ns).Get(ctx, install.AgentName, metav1.GetOptions{})
	if d.Annotations["example.com/patched"] != "yes" {
		t.Errorf("the user patch is not applied: %v", d.Annotations)
	}
	res, err = Run(ctx, c, again)
	if err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, "run after the patch", res)

	// A new version: one commit, the Deployment follows, the user patch still applies.
	v2 := again
	v2.Install.Version = "v0.2.0"
	res, err = Run(ctx, c, v2)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Commits) != 1 || res.Commits[0].Message != "Update converge component manifests to v0.2.0" {
		t.Errorf("upgrade commits: %v", res.Commits)
	}
	d, _ = cluster.Client.AppsV1().Deployments(ns).Get(ctx, install.AgentName, metav1.GetOptions{})
	if d.Spec.Template.Spec.Containers[0].Image != install.DefaultImage+":v0.2.0" || d.Annotations["example.com/patched"] != "yes" {
		t.Errorf("after the upgrade: image %s, annotations %v", d.Spec.Template.Spec.Containers[0].Image, d.Annotations)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestBootstrapSSHSelfManaged is the workstation flow over SSH: pushes with the user's SSH agent, a
// generated ECDSA P-384 deploy key registered through the confirmation, the host key scanned into
// known_hosts; then the agent (a process authenticated as the bootstrapped ServiceAccount, its pod made
// Ready by the test standing in for the kubelet) syncs the cluster from the repository over SSH with the
// deploy key. Bootstrap waits for both. A re-run changes nothing; a new version is one commit that the
// agent applies from Git.
func TestBootstrapSSHSelfManaged(t *testing.T) {
	const ns = "boot-ssh"
	root := t.TempDir()
	bare := bareRepo(t, root, "fleet")
	_, userPriv, _ := ed25519.GenerateKey(rand.Reader)
	userSigner, _ := ssh.NewSignerFromKey(userPriv)
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: userPriv}); err != nil {
		t.Fatal(err)
	}
	srv := sourcetest.StartSSHGitServer(t, root, userSigner.PublicKey())
	c := clients(t)
	var confirmed []string
	opts := Options{
		Clock: clock.RealClock{},
		URL:   srv.URL("fleet"), Path: "clusters/prod",
		Install:        install.Options{Namespace: ns, Version: "v0.1.0"},
		SSHAgentSocket: startSSHAgent(t, keyring),
		ConfirmDeployKey: func(_ context.Context, pub string) error {
			key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
			if err != nil {
				return err
			}
			if srv.IsAuthorized(key) {
				t.Error("the deploy key was already authorized")
			}
			srv.Authorize(key) // the user adds the deploy key to the repository
			confirmed = append(confirmed, pub)
			return nil
		},
		Wait:   true,
		Events: func(e Event) { t.Logf("%s %s", time.Now().Format("15:04:05.000"), e.Message) },
	}

	run := func(o Options) (*Result, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		type out struct {
			res *Result
			err error
		}
		ch := make(chan out, 1)
		go func() { r, err := Run(ctx, c, o); ch <- out{r, err} }()
		o2 := <-ch
		return o2.res, o2.err
	}

	// The agent starts once its ServiceAccount exists, as its pod would once the Deployment is applied.
	started := make(chan struct{})
	go func() {
		defer close(started)
		for i := 0; i < 600; i++ {
			if _, err := cluster.Client.CoreV1().ServiceAccounts(ns).Get(context.Background(), install.AgentName, metav1.GetOptions{}); err == nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	type out struct {
		res *Result
		err error
	}
	ch := make(chan out, 1)
	go func() { r, err := run(opts); ch <- out{r, err} }()
	<-started
	startAgent(t, ns)
	fakeKubelet(t, ns)
	o := <-ch
	if o.err != nil {
		t.Fatal(o.err)
	}
	res := o.res
	if len(confirmed) != 1 || res.DeployKey != confirmed[0] || !strings.HasPrefix(res.DeployKey, "ecdsa-sha2-nistp384 ") {
		t.Errorf("deploy key %q, confirmed %q", res.DeployKey, confirmed)
	}
	secret, err := cluster.Client.CoreV1().Secrets(ns).Get(context.Background(), SyncName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(secret.Data["identity.pub"])) != res.DeployKey || string(secret.Data["known_hosts"]) != srv.KnownHosts() {
		t.Errorf("Secret identity.pub %q known_hosts %q, want %q", secret.Data["identity.pub"], secret.Data["known_hosts"], srv.KnownHosts())
	}
	if kp, err := ParseKey(secret.Data["identity"], nil); err != nil || strings.TrimSpace(string(kp.PublicKey)) != res.DeployKey {
		t.Errorf("identity: %v", err)
	}
	if srv.Pushes.Load() != 1 {
		t.Errorf("%d pushes, want 1", srv.Pushes.Load())
	}
	ks := getObj(t, kustomizationsGVR, ns, SyncName)
	if rev, _, _ := unstructured.NestedString(ks.Object, "status", "lastAppliedRevision"); rev != res.Revision {
		t.Errorf("lastAppliedRevision %s, want %s", rev, res.Revision)
	}
	entries, _, _ := unstructured.NestedSlice(ks.Object, "status", "inventory", "entries")
	var ids []string
	for _, e := range entries {
		id, _ := e.(map[string]any)["id"].(string)
		ids = append(ids, id)
	}
	for _, want := range []string{ns + "_converge-agent_apps_Deployment", ns + "_flux-system_kustomize.toolkit.fluxcd.io_Kustomization",
		ns + "_flux-system_source.toolkit.fluxcd.io_GitRepository", "_gitrepositories.source.toolkit.fluxcd.io_apiextensions.k8s.io_CustomResourceDefinition"} {
		if !slices.Contains(ids, want) {
			t.Errorf("the Kustomization flux-system does not manage %s: %v", want, ids)
		}
	}
	before := resourceVersions(t, ns)

	// Again: nothing to commit, nothing to apply, the Secret and its key kept, no new confirmation.
	res, err = run(opts)
	if err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, "second run", res)
	if res.Secret != SecretKept || len(confirmed) != 1 || srv.Pushes.Load() != 1 {
		t.Errorf("second run: secret %s, %d confirmations, %d pushes", res.Secret, len(confirmed), srv.Pushes.Load())
	}
	after := resourceVersions(t, ns)
	delete(before, "Deployment") // the test's kubelet writes the Deployment's pods, not its spec
	delete(after, "Deployment")
	if !mapsEqual(before, after) {
		t.Errorf("objects changed: %v -> %v", before, after)
	}

	// A new version: one commit, which the agent applies from Git.
	v2 := opts
	v2.Install.Version = "v0.2.0"
	res, err = run(v2)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Commits) != 1 {
		t.Errorf("upgrade commits %v", res.Commits)
	}
	ks = getObj(t, kustomizationsGVR, ns, SyncName)
	if rev, _, _ := unstructured.NestedString(ks.Object, "status", "lastAppliedRevision"); rev != res.Revision {
		t.Errorf("after the upgrade lastAppliedRevision %s, want %s", rev, res.Revision)
	}
	d, _ := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), install.AgentName, metav1.GetOptions{})
	if img := d.Spec.Template.Spec.Containers[0].Image; img != install.DefaultImage+":v0.2.0" {
		t.Errorf("image %s", img)
	}
	if got := gitLog(t, bare, "main")[0]; got != "Update converge component manifests to v0.2.0" {
		t.Errorf("remote head %q", got)
	}
}

// TestBootstrapSSHPrivateKey: --private-key-file with a passphrase pushes and becomes the deploy key
// (no confirmation); a re-run verifies the server against the stored known_hosts; a path synced by
// another installation is refused, the same installation on a rebuilt cluster only warned about.
func TestBootstrapSSHPrivateKey(t *testing.T) {
	ctx := context.Background()
	const ns = "boot-key"
	root := t.TempDir()
	bare := bareRepo(t, root, "fleet")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(block)
	signer, _ := ssh.NewSignerFromKey(priv)
	srv := sourcetest.StartSSHGitServer(t, root, signer.PublicKey())
	c := clients(t)
	opts := Options{
		Clock: clock.RealClock{},
		URL:   srv.URL("fleet"), Branch: "fleet", Path: "clusters/a",
		Install:          install.Options{Namespace: ns, Version: "v0.1.0"},
		Credentials:      Credentials{PrivateKey: keyPEM, Password: "passphrase"},
		ConfirmDeployKey: func(context.Context, string) error { t.Error("confirmation asked for a given key"); return nil },
	}
	noPass := opts
	noPass.Credentials.Password = ""
	if _, err := Run(ctx, c, noPass); err == nil || !strings.Contains(err.Error(), "the private key is encrypted") {
		t.Errorf("encrypted key without passphrase: %v", err)
	}

	res, err := Run(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Commits) != 3 || res.DeployKey != "" || res.Secret != SecretCreated || len(res.Warnings) != 0 {
		t.Errorf("first run: %d commits, deploy key %q, secret %s, warnings %v", len(res.Commits), res.DeployKey, res.Secret, res.Warnings)
	}
	if got := gitLog(t, bare, "fleet"); len(got) != 3 {
		t.Errorf("branch fleet: %q", got)
	}
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, SyncName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["identity"]) != string(keyPEM) || string(s.Data["password"]) != "passphrase" ||
		string(s.Data["identity.pub"]) != string(ssh.MarshalAuthorizedKey(signer.PublicKey())) || string(s.Data["known_hosts"]) != srv.KnownHosts() {
		t.Errorf("Secret data: %v", s.Data)
	}

	// Again with the same key: the Secret is rewritten with what it holds, so nothing changes.
	res, err = Run(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, "second run", res)
	if res.Secret != SecretUnchanged {
		t.Errorf("secret %s", res.Secret)
	}

	// The stored known_hosts is what the server is checked against: a changed host key is refused.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(other)
	s.Data["known_hosts"] = []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, otherSigner.PublicKey()) + "\n")
	if _, err := cluster.Client.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, c, opts); err == nil || !strings.Contains(err.Error(), "host key") {
		t.Errorf("changed host key: %v", err)
	}

	// Another installation (namespace) on the same path: refused before anything is written.
	other2 := opts
	other2.Install.Namespace = "boot-key-other"
	head := sourcetest.RunGit(t, bare, "rev-parse", "fleet")
	if _, err := Run(ctx, c, other2); err == nil || !strings.Contains(err.Error(), "another cluster probably syncs from ./clusters/a") {
		t.Errorf("path of another installation: %v", err)
	}
	if sourcetest.RunGit(t, bare, "rev-parse", "fleet") != head {
		t.Error("the refused bootstrap pushed")
	}
	if _, err := cluster.Client.CoreV1().Namespaces().Get(ctx, "boot-key-other", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused bootstrap applied: %v", err)
	}
	// The same installation on a cluster that lost its objects (rebuilt): a warning, and it proceeds.
	if err := c.Dynamic.Resource(kustomizationsGVR).Namespace(ns).Delete(ctx, SyncName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client.CoreV1().Secrets(ns).Delete(ctx, SyncName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err = Run(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "already exists but this cluster has no Kustomization boot-key/flux-system") ||
		len(res.Commits) != 0 || res.Secret != SecretCreated {
		t.Errorf("rebuilt cluster: warnings %q, commits %v, secret %s", res.Warnings, res.Commits, res.Secret)
	}
}

// TestBootstrapSSHHostname: --ssh-hostname is the host the GitRepository syncs from (its host key
// scanned and stored beside the pushed-to host's), and --ssh-hostkey-algos restricts the host key
// algorithms offered: one the server lacks fails the scan.
func TestBootstrapSSHHostname(t *testing.T) {
	ctx := context.Background()
	const ns = "boot-sshhost"
	root := t.TempDir()
	bareRepo(t, root, "fleet")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	srv := sourcetest.StartSSHGitServer(t, root, signer.PublicKey())
	_, port, _ := net.SplitHostPort(srv.Addr)
	opts := Options{
		Clock: clock.RealClock{}, URL: srv.URL("fleet"), Path: "clusters/a",
		Install:     install.Options{Namespace: ns, Version: "v0.1.0"},
		Credentials: Credentials{PrivateKey: pem.EncodeToMemory(block)},
		SSHHostname: "localhost:" + port, HostKeyAlgorithms: []string{ssh.KeyAlgoRSA},
	}
	if _, err := Run(ctx, clients(t), opts); err == nil || !strings.Contains(err.Error(), "scanning the SSH host key") {
		t.Errorf("host key algorithm the server lacks: %v", err)
	}
	opts.HostKeyAlgorithms = []string{srv.HostKey.Type()}
	if _, err := Run(ctx, clients(t), opts); err != nil {
		t.Fatal(err)
	}
	repo := getObj(t, gitRepositoriesGVR, ns, SyncName)
	if u, _, _ := unstructured.NestedString(repo.Object, "spec", "url"); u != "ssh://git@localhost:"+port+"/fleet.git" {
		t.Errorf("GitRepository url %s", u)
	}
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, SyncName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kh := string(s.Data["known_hosts"])
	if !strings.Contains(kh, "[localhost]:"+port+" ") || !strings.Contains(kh, "[127.0.0.1]:"+port+" ") {
		t.Errorf("known_hosts:\n%s", kh)
	}
}

// TestBootstrapBearerTokenAndCA: --with-bearer-token pushes with "Authorization: Bearer" and stores the
// token as bearerToken; --ca-file trusts a self-signed HTTPS server and is stored as ca.crt. git's
// http-backend takes basic authentication only, so a TLS front in this test turns the bearer token it
// checks into the backend's basic credentials; the Git server behind it is the real one.
func TestBootstrapBearerTokenAndCA(t *testing.T) {
	ctx := context.Background()
	const ns = "boot-bearer"
	backend := sourcetest.StartAuthGitServer(t, "git", "basic-pw")
	bare := filepath.Join(backend.Root, "fleet.git")
	sourcetest.RunGit(t, backend.Root, "init", "-q", "--bare", bare)
	target, err := url.Parse(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var bearerRequests atomic.Int64
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok3n" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		bearerRequests.Add(1)
		r.SetBasicAuth("git", "basic-pw")
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw})
	opts := Options{Clock: clock.RealClock{}, URL: front.URL + "/fleet.git", Path: "clusters/a",
		Install: install.Options{Namespace: ns, Version: "v0.1.0"}, Credentials: Credentials{BearerToken: "tok3n"}}
	if _, err := Run(ctx, clients(t), opts); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("self-signed server without the CA: %v", err)
	}
	opts.CA = ca
	if _, err := Run(ctx, clients(t), opts); err != nil {
		t.Fatal(err)
	}
	if log := gitLog(t, bare, "main"); len(log) != 3 || bearerRequests.Load() == 0 {
		t.Errorf("history %q, %d requests with the bearer token", log, bearerRequests.Load())
	}
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, SyncName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["bearerToken"]) != "tok3n" || string(s.Data["ca.crt"]) != string(ca) || len(s.Data["username"]) > 0 || len(s.Data["password"]) > 0 {
		t.Errorf("Secret %v", s.Data)
	}
	// A re-run without credentials keeps the Secret and pushes with its token and CA.
	again := opts
	again.Credentials, again.CA = Credentials{}, nil
	res, err := Run(ctx, clients(t), again)
	if err != nil {
		t.Fatal(err)
	}
	if res.Secret != SecretKept || len(res.Commits) != 0 {
		t.Errorf("re-run: secret %s, %d commits", res.Secret, len(res.Commits))
	}
}
