package create

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// runApply runs `create args...` against the test cluster, stdin answering any question, under timeout.
func runApply(t *testing.T, stdin string, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ios, in, _, errOut := cmdutil.Test()
	in.WriteString(stdin)
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	f.Timeout = timeout
	// The root's kubeconfig flags (the factory leaves --server to the root, which has no -s).
	root := &cobra.Command{Use: "converge", SilenceUsage: true, SilenceErrors: true}
	f.KubeFlags.AddFlags(root.PersistentFlags())
	root.AddCommand(NewCmdCreate(f))
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	root.SetArgs(append(append([]string{"create"}, args...), "--kubeconfig", kc))
	err := root.ExecuteContext(context.Background())
	return errOut.String(), err
}

// markReady answers for the agent, which does not run in this test: once the object exists it writes
// a Ready status with revision for its generation.
func markReady(t *testing.T, ctx context.Context, dyn dynamic.Interface, key, ns, name, revision string) {
	t.Helper()
	kind := kinds.MustByKey(key)
	go func() {
		for ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			u, err := dyn.Resource(kind.Resource).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			status := map[string]any{"observedGeneration": u.GetGeneration(),
				"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok",
					"lastTransitionTime": "2026-12-07T00:00:00Z", "observedGeneration": u.GetGeneration()}}}
			if kind.RevisionPath[1] == "artifact" {
				status["artifact"] = map[string]any{"revision": revision, "path": "x.tar.gz", "url": "http://agent/x.tar.gz",
					"digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "lastUpdateTime": "2026-12-07T00:00:00Z"}
			} else {
				_ = unstructured.SetNestedField(status, revision, kind.RevisionPath[1:]...)
			}
			u.Object["status"] = status
			if _, err := dyn.Resource(kind.Resource).Namespace(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err == nil {
				return
			}
		}
	}()
}

func TestCreateApply(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ns = "create-apply"
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	sshServer := sourcetest.StartSSHGitServer(t, t.TempDir())
	hostKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshServer.HostKey)))

	tests := []struct {
		name, stdin string
		args        string
		ready       []string // registry key, name, revision of the object answered as Ready
		wantErr     string
		wantOut     []string
	}{
		{name: "source git", args: "source git podinfo --url https://github.com/stefanprodan/podinfo --branch master",
			ready: []string{"git", "podinfo", "master@sha1:0123"},
			wantOut: []string{"✚ generating GitRepository source", "► applying GitRepository source", "✔ GitRepository source created",
				"◎ waiting for GitRepository source reconciliation", "✔ GitRepository source reconciliation completed",
				"✔ fetched revision: master@sha1:0123"}},
		{name: "source git again", args: "source git podinfo --url https://github.com/stefanprodan/podinfo --branch main",
			ready: []string{"git", "podinfo", "main@sha1:4567"}, wantOut: []string{"✔ GitRepository source updated", "✔ fetched revision: main@sha1:4567"}},
		{name: "source git with credentials", args: "source git private --url https://example.com/org/repo --branch main -u git -p token",
			ready:   []string{"git", "private", "main@sha1:89ab"},
			wantOut: []string{"► applying secret with repository credentials", "✔ authentication configured"}},
		{name: "deploy key refused", stdin: "n\n", args: "source git fleet --url " + sshServer.URL("fleet") + " --branch main",
			wantErr: "aborting", wantOut: []string{"✔ collected public key from SSH server:", hostKey, "✚ deploy key: ecdsa-sha2-nistp384 ",
				"Have you added the deploy key to your repository? [y/N]"}},
		{name: "deploy key added", stdin: "y\n", args: "source git fleet --url " + sshServer.URL("fleet") + " --branch main --ssh-key-algorithm ed25519",
			ready: []string{"git", "fleet", "main@sha1:cdef"}, wantOut: []string{"✚ deploy key: ssh-ed25519 ", "✔ authentication configured"}},
		{name: "kustomization", args: "kustomization apps --source GitRepository/podinfo --path ./kustomize --prune",
			ready:   []string{"kustomizations", "apps", "master@sha1:0123"},
			wantOut: []string{"✚ generating Kustomization", "✔ Kustomization created", "✔ Kustomization apps is ready", "✔ applied revision master@sha1:0123"}},
		{name: "kustomization not reconciled", args: "ks idle --source podinfo --timeout 1s",
			wantErr: "waiting for Kustomization create-apply/idle to be ready", wantOut: []string{"◎ waiting for Kustomization reconciliation"}},
		{name: "helm oci is static", args: "source helm charts --url oci://ghcr.io/stefanprodan/charts",
			wantOut: []string{"✔ source created", "✔ HelmRepository source reconciliation completed"}},
		{name: "tenant", args: "tenant team --with-namespace team-a,team-b",
			wantOut: []string{"► applying namespace team-a", "► applying service account team", "► applying role binding team-reconciler",
				"► applying namespace team-b", "✔ tenant setup completed"}},
		{name: "secret git ssh", args: "secret git ssh-auth --url " + sshServer.URL("fleet") + " --ssh-key-algorithm ecdsa --ssh-ecdsa-curve p256",
			wantOut: []string{"✚ deploy key: ecdsa-sha2-nistp256 ", "► git secret 'ssh-auth' created in 'create-apply' namespace"}},
		{name: "secret git rsa", args: "secret git rsa-auth --url " + sshServer.URL("fleet") + " --ssh-key-algorithm rsa --ssh-rsa-bits 1024",
			wantOut: []string{"✚ deploy key: ssh-rsa "}},
		{name: "secret git key file", args: "secret git file-auth --url " + sshServer.URL("fleet") + " --private-key-file " + files + "id_ed25519",
			wantOut: []string{"✚ deploy key: ssh-ed25519 AAAA"}},
		{name: "secret git bad rsa bits", args: "secret git bad --url " + sshServer.URL("fleet") + " --ssh-key-algorithm rsa --ssh-rsa-bits 1000",
			wantErr: "want a multiple of 8, at least 1024"},
		{name: "secret receiver", args: "secret receiver hook --type github --token t0k --hostname flux.example.com",
			wantOut: []string{"► receiver secret 'hook' created in 'create-apply' namespace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ready != nil {
				markReady(t, ctx, dyn, tt.ready[0], ns, tt.ready[1], tt.ready[2])
			}
			timeout := 20 * time.Second
			args := strings.Fields(tt.args)
			for i, a := range args {
				if a == "--timeout" {
					timeout, _ = time.ParseDuration(args[i+1])
					args = append(args[:i], args[i+2:]...)
					break
				}
			}
			errOut, err := runApply(t, tt.stdin, timeout, append(args, "-n", ns)...)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err %v\n%s", err, errOut)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q\n%s", err, tt.wantErr, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}

	// What the commands left in the cluster.
	get := func(key, name string) *unstructured.Unstructured {
		t.Helper()
		u, err := dyn.Resource(kinds.MustByKey(key).Resource).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	if branch, _, _ := unstructured.NestedString(get("git", "podinfo").Object, "spec", "ref", "branch"); branch != "main" {
		t.Errorf("podinfo branch %q, want main (updated)", branch)
	}
	if ref, _, _ := unstructured.NestedString(get("git", "private").Object, "spec", "secretRef", "name"); ref != "private" {
		t.Errorf("private secretRef %q", ref)
	}
	secret := func(name string) *corev1.Secret {
		t.Helper()
		s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := secret("private"); string(s.Data["username"]) != "git" || string(s.Data["password"]) != "token" {
		t.Errorf("private secret data %v", s.Data)
	}
	s := secret("fleet")
	signer, err := ssh.ParsePrivateKey(s.Data["identity"])
	if err != nil {
		t.Fatal(err)
	}
	if signer.PublicKey().Type() != ssh.KeyAlgoED25519 || string(ssh.MarshalAuthorizedKey(signer.PublicKey())) != string(s.Data["identity.pub"]) {
		t.Errorf("fleet key %s, identity.pub %s", signer.PublicKey().Type(), s.Data["identity.pub"])
	}
	if !strings.Contains(string(s.Data["known_hosts"]), hostKey) {
		t.Errorf("known_hosts %q lacks the server's host key", s.Data["known_hosts"])
	}
	if _, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, "ssh-auth", metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	if rb, err := cluster.Client.RbacV1().RoleBindings("team-b").Get(ctx, "team-reconciler", metav1.GetOptions{}); err != nil ||
		rb.RoleRef.Name != "cluster-admin" || rb.Labels["toolkit.fluxcd.io/tenant"] != "team" {
		t.Errorf("team-b role binding: %v %v", err, rb)
	}
}
