package bootstrap

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

var (
	cluster *testenv.Cluster
	// gitea is a real Gitea server, started by the first test that needs it.
	gitea sourcetest.SharedGitea
)

func TestMain(m *testing.M) {
	code := testenv.Main(m, &cluster)
	gitea.Stop()
	os.Exit(code)
}

func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ios, in, out, errOut := cmdutil.Test()
	in.WriteString(stdin)
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{Version: "v9.9.9"})
	f.Timeout = 2 * time.Minute
	cmd := NewCmdBootstrap(f)
	f.KubeFlags.AddFlags(cmd.PersistentFlags())
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	cmd.SetArgs(append(args, "--kubeconfig", kc))
	cmd.SetIn(in)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"git", "--url", "ssh://git@example.com/x.git", "--token-auth", "--password", "t"}, "--token-auth needs an https:// URL"},
		{[]string{"git", "--url", "https://example.com/x.git", "--token-auth"}, "--token-auth needs the token as --password"},
		{[]string{"git", "--url", "https://example.com/x.git", "--private-key-file", "k"}, "--private-key-file needs an ssh:// URL"},
		{[]string{"git", "--url", "ssh://git@example.com/x.git", "--private-key-file", "/does/not/exist"}, "no such file"},
		{[]string{"git", "--url", "ssh://git@example.com/x.git", "--ssh-key-algorithm", "dsa"}, `unknown SSH key algorithm "dsa"`},
		{[]string{"git", "--path", "clusters/a"}, "URL is required"},
		{[]string{"git", "--url", "git@example.com:x.git"}, "scp-like"},
		{[]string{"git", "--url", "https://example.com/x.git", "--path", "../x"}, "must not leave the repository"},
		{[]string{"git", "--url", "http://example.com/x.git"}, "pass --allow-insecure-http"},
		{[]string{"git", "--url", "https://example.com/x.git", "--ssh-hostname", "ssh.example.com"}, "--ssh-hostname needs an ssh:// URL"},
		{[]string{"git", "--url", "ssh://git@example.com/x.git", "--path", "clusters/a", "--sparse-checkout", "infra"}, "leaves out the cluster's path"},
		{[]string{"git", "--url", "ssh://git@example.com/x.git", "--ssh-ecdsa-curve", "p999"}, "--ssh-ecdsa-curve \"p999\""},
		{[]string{"git", "--url", "ssh://git@example.com/x.git", "--secret-name", "Bad_Name"}, `secret name "Bad_Name"`},
		{[]string{"git", "--url", "https://example.com/x.git", "--ca-file", "/does/not/exist"}, "--ca-file"},
		{[]string{"git", "--url", "https://example.com/x.git", "--shards", "a,a"}, `shard "a" given twice`},
		{[]string{"git", "--url", "https://example.com/x.git", "--shards", "A_b"}, `shard "A_b"`},
	} {
		_, _, err := run(t, "", tc.args...)
		var fe *cmdutil.FlagError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !asFlagError(err, &fe) {
			t.Errorf("%v: %v (%T), want a usage error with %q", tc.args, err, err, tc.want)
		}
	}
}

func asFlagError(err error, target **cmdutil.FlagError) bool {
	fe, ok := err.(*cmdutil.FlagError)
	*target = fe
	return ok
}

func serveAgent(t *testing.T, keyring agent.Agent) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "agent-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait(); os.RemoveAll(dir) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); _ = agent.ServeAgent(keyring, c) }()
		}
	}()
	return sock
}

// TestGitSSHPrompt: pushes with the SSH agent (SSH_AUTH_SOCK), prints a generated ed25519 deploy key on
// stdout and asks on stdin; "no" stops before the Secret, "y" finishes; a re-run asks nothing.
func TestGitSSHPrompt(t *testing.T) {
	root := t.TempDir()
	sourcetest.RunGit(t, root, "init", "-q", "--bare", filepath.Join(root, "fleet.git"))
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	srv := sourcetest.StartSSHGitServer(t, root, signer.PublicKey())
	t.Setenv("SSH_AUTH_SOCK", serveAgent(t, keyring))
	args := []string{"git", "--url", srv.URL("fleet"), "--path", "clusters/dev", "--ssh-key-algorithm", "ed25519", "--wait=false", "-n", "cmd-ssh"}

	out, errOut, err := run(t, "n\n", args...)
	if err == nil || !strings.Contains(err.Error(), "answered no") {
		t.Fatalf("answer no: %v\n%s", err, errOut)
	}
	if !strings.HasPrefix(out, "ssh-ed25519 ") || !strings.Contains(errOut, "Has the deploy key been added to the repository? [y/N]") {
		t.Errorf("stdout %q, stderr:\n%s", out, errOut)
	}
	if _, err := cluster.Client.CoreV1().Secrets("cmd-ssh").Get(context.Background(), "flux-system", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Secret after answering no: %v", err)
	}

	out, errOut, err = run(t, "y\n", args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	s, err := cluster.Client.CoreV1().Secrets("cmd-ssh").Get(context.Background(), "flux-system", metav1.GetOptions{})
	if err != nil || string(s.Data["identity.pub"]) != out {
		t.Errorf("Secret %v: identity.pub %q, printed %q", err, s.Data["identity.pub"], out)
	}
	for _, want := range []string{"✔ repository up to date: nothing to commit", "✔ Secret cmd-ssh/flux-system created", "✔ bootstrap finished\n"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	out, errOut, err = run(t, "", args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if out != "" || strings.Contains(errOut, "deploy key") || !strings.Contains(errOut, "✔ bootstrap finished: nothing changed") {
		t.Errorf("third run: stdout %q stderr:\n%s", out, errOut)
	}
}

// TestGitShards: --shards, as for install, commits and applies one more agent Deployment per shard (with
// --shard=<name>) and leaves the shards' objects out of the default agent.
func TestGitShards(t *testing.T) {
	srv := sourcetest.StartAuthGitServer(t, "git", "tok3n")
	sourcetest.RunGit(t, srv.Root, "init", "-q", "--bare", filepath.Join(srv.Root, "fleet.git"))
	_, errOut, err := run(t, "", "git", "--url", srv.URL+"/fleet.git", "--token-auth", "--password", "tok3n", "--allow-insecure-http",
		"--path", "clusters/dev", "--wait=false", "-n", "cmd-shards", "--shards", "a,b")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	components := sourcetest.RunGit(t, srv.Root, "--git-dir", filepath.Join(srv.Root, "fleet.git"), "show", "main:clusters/dev/flux-system/gotk-components.yaml")
	for _, want := range []string{"name: converge-agent-a", "--shard=a", "name: converge-agent-b", "--shard=b", "sharding.fluxcd.io/key notin (a,b)"} {
		if !strings.Contains(components, want) {
			t.Errorf("gotk-components.yaml lacks %q", want)
		}
	}
	for _, name := range []string{"converge-agent-a", "converge-agent-b"} {
		if _, err := cluster.Client.AppsV1().Deployments("cmd-shards").Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			t.Errorf("Deployment %s: %v", name, err)
		}
	}
}

// TestGitTokenAuth: --token-auth pushes over HTTP with the token as the password of user "git" and stores
// both in the Secret.
func TestGitTokenAuth(t *testing.T) {
	srv := sourcetest.StartAuthGitServer(t, "git", "tok3n")
	sourcetest.RunGit(t, srv.Root, "init", "-q", "--bare", filepath.Join(srv.Root, "fleet.git"))
	_, errOut, err := run(t, "", "git", "--url", srv.URL+"/fleet.git", "--allow-insecure-http", "--token-auth", "--password", "tok3n",
		"--path", "clusters/dev", "--wait=false", "-n", "cmd-token", "--author-name", "Ops", "--author-email", "ops@example.com")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	s, err := cluster.Client.CoreV1().Secrets("cmd-token").Get(context.Background(), "flux-system", metav1.GetOptions{})
	if err != nil || string(s.Data["username"]) != "git" || string(s.Data["password"]) != "tok3n" {
		t.Errorf("Secret: %v %v", err, s.Data)
	}
	if a := sourcetest.RunGit(t, srv.Root, "--git-dir", filepath.Join(srv.Root, "fleet.git"), "log", "-1", "--format=%an <%ae> %s", "main"); a != "Ops <ops@example.com> Add converge kustomization.yaml" {
		t.Errorf("head commit %q", a)
	}
	if !strings.Contains(errOut, "► cloning branch \"main\"") || !strings.Contains(errOut, "✔ committed \"Add converge v9.9.9 component manifests\"") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

func TestProviderFlagErrors(t *testing.T) {
	t.Setenv("GITEA_TOKEN", "")
	t.Setenv("BITBUCKET_TOKEN", "")
	t.Setenv("GITLAB_TOKEN", "tok")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"github", "--repository", "fleet"}, "--owner and --repository are required"},
		{[]string{"gitea", "--owner", "me", "--repository", "fleet", "--hostname", "git.example.com"}, "$GITEA_TOKEN is not set"},
		{[]string{"gitlab", "--owner", "me", "--repository", "fleet", "--path", "/abs"}, "want a path relative to the repository root"},
		{[]string{"gitlab", "--owner", "me", "--repository", "fleet", "--ssh-key-algorithm", "dsa"}, `unknown SSH key algorithm "dsa"`},
		{[]string{"gitlab", "--owner", "g", "--repository", "fleet", "--visibility", "secret"}, `--visibility "secret"`},
		{[]string{"gitlab", "--owner", "g", "--repository", "fleet", "--token-auth", "--deploy-token-auth"}, "exclude each other"},
		{[]string{"gitlab", "--owner", "g", "--repository", "fleet", "--token-auth", "--ssh-hostname", "h"}, "--ssh-hostname applies to an SSH sync"},
		{[]string{"gitlab", "--owner", "g", "--repository", "fleet", "--team", "ops:owner"}, `unknown permission "owner"`},
		{[]string{"gitlab", "--owner", "me", "--repository", "fleet", "--personal", "--team", "ops"}, "not to a personal one"},
		{[]string{"bitbucket-server", "--owner", "PRJ", "--repository", "fleet"}, "$BITBUCKET_TOKEN is not set"},
	} {
		_, _, err := run(t, "", tc.args...)
		var fe *cmdutil.FlagError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !asFlagError(err, &fe) {
			t.Errorf("%v: %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
	t.Setenv("GITEA_TOKEN", "tok")
	t.Setenv("BITBUCKET_TOKEN", "tok")
	for args, want := range map[string]string{
		"--owner PRJ --repository fleet":                                              "bitbucket-server has no public service: set --hostname",
		"--owner PRJ --repository fleet --hostname bb.example.com --group g:maintain": `Bitbucket Server has no "maintain" permission`,
	} {
		if _, _, err := run(t, "", append([]string{"bitbucket-server"}, strings.Fields(args)...)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bitbucket-server %s: %v, want %q", args, err, want)
		}
	}
	if _, _, err := run(t, "", "gitea", "--owner", "me", "--repository", "fleet", "--hostname="); err == nil || !strings.Contains(err.Error(), "gitea has no public service: set --hostname") {
		t.Errorf("gitea without --hostname: %v", err)
	}
}

// TestProviderGitea runs `converge bootstrap gitea` against a real Gitea server given as --hostname with
// an http:// scheme: a wrong $GITEA_TOKEN is a clear failure; then the user's public repository is
// created, the manifests pushed and a read-write deploy key registered; a re-run changes nothing.
func TestProviderGitea(t *testing.T) {
	g := gitea.Get(t)
	ctx := context.Background()
	args := []string{"gitea", "--owner", g.Admin, "--personal", "--repository", "cmd-fleet", "--private=false", "--hostname", g.URL,
		"--read-write-key", "--path", "clusters/dev", "--wait=false", "-n", "cmd-gitea"}

	t.Setenv("GITEA_TOKEN", "not-a-token")
	if _, errOut, err := run(t, "", args...); err == nil || !strings.Contains(errOut, "✗ repository "+g.Admin+"/cmd-fleet: the API token was refused") ||
		!strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v\n%s", err, errOut)
	}

	t.Setenv("GITEA_TOKEN", g.Token)
	_, errOut, err := run(t, "", args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, want := range []string{"✔ repository " + g.Admin + "/cmd-fleet created", "✔ committed \"Add converge sync manifests\"",
		"✔ deploy key \"converge-cmd-gitea-main-./clusters/dev\" registered (read-write)", "✔ bootstrap finished\n"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	var repo struct {
		Private bool `json:"private"`
	}
	var keys []struct {
		ReadOnly bool `json:"read_only"`
	}
	full := "/repos/" + g.Admin + "/cmd-fleet"
	if err := g.API(ctx, g.Token, "GET", full, nil, &repo); err != nil || repo.Private {
		t.Errorf("repository: private %v, %v", repo.Private, err)
	}
	if err := g.API(ctx, g.Token, "GET", full+"/keys", nil, &keys); err != nil || len(keys) != 1 || keys[0].ReadOnly {
		t.Errorf("deploy keys %+v, %v", keys, err)
	}

	_, errOut, err = run(t, "", args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "✔ repository "+g.Admin+"/cmd-fleet exists") || strings.Contains(errOut, "registered") ||
		!strings.Contains(errOut, "✔ bootstrap finished: nothing changed") {
		t.Errorf("second run:\n%s", errOut)
	}
}
