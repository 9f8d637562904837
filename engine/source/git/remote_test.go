package git

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestRemotePush clones, commits and pushes through Remote with each kind of Flux credentials Secret,
// against real Git servers: HTTPS with a private CA and a client certificate (standard and legacy
// keys), HTTP basic and bearer authentication, SSH, through an HTTP proxy.
func TestRemotePush(t *testing.T) {
	root := t.TempDir()
	newHistory(t, root)
	runGit(t, filepath.Join(root, "app.git"), "config", "http.receivepack", "true")
	clientCA, clientCert, clientKey := newClientCA(t)
	mtls := startHTTPSGitServer(t, root, clientCA)
	basic := startHTTPGitServer(t, root, httpAuth{user: "alice", password: "s3cret"})
	bearer := startHTTPGitServer(t, root, httpAuth{token: "t0ken"})
	client, key := newSigner(t)
	sshSrv := sourcetest.StartSSHGitServer(t, root, client.PublicKey())
	identity := privateKeyPEM(t, key, "")
	caPEM := mtls.serverCAPEM()
	proxy := sourcetest.StartProxy(t, "p", "pw")
	viaProxy := map[string][]byte{"address": []byte(proxy.URL), "username": []byte("p"), "password": []byte("pw")}

	for _, tt := range []struct {
		name    string
		url     string
		data    map[string][]byte
		proxy   map[string][]byte
		wantErr string
	}{
		{name: "HTTPS through a proxy", url: mtls.URL + "/app.git", proxy: viaProxy,
			data: map[string][]byte{"ca.crt": caPEM, "tls.crt": clientCert, "tls.key": clientKey}},
		{name: "HTTP through a proxy", url: basic.URL + "/app.git", proxy: viaProxy,
			data: map[string][]byte{"username": []byte("alice"), "password": []byte("s3cret")}},
		{name: "wrong proxy password", url: basic.URL + "/app.git",
			proxy: map[string][]byte{"address": []byte(proxy.URL), "username": []byte("p"), "password": []byte("nope")},
			data:  map[string][]byte{"username": []byte("alice"), "password": []byte("s3cret")}, wantErr: "407"},
		{name: "SSH through a proxy", url: sshSrv.URL("app"), proxy: viaProxy,
			data: map[string][]byte{"identity": identity, "known_hosts": []byte(sshSrv.KnownHosts())}, wantErr: "a proxy is supported for http(s):// URLs only"},
		{name: "HTTPS with ca.crt and a client pair", url: mtls.URL + "/app.git",
			data: map[string][]byte{"ca.crt": caPEM, "tls.crt": clientCert, "tls.key": clientKey}},
		{name: "HTTPS with the legacy keys", url: mtls.URL + "/app.git",
			data: map[string][]byte{"caFile": caPEM, "certFile": clientCert, "keyFile": clientKey}},
		{name: "HTTPS without the client pair", url: mtls.URL + "/app.git",
			data: map[string][]byte{"ca.crt": caPEM}, wantErr: "certificate required"},
		{name: "HTTPS without the CA", url: mtls.URL + "/app.git",
			data: map[string][]byte{"tls.crt": clientCert, "tls.key": clientKey}, wantErr: "certificate signed by unknown authority"},
		{name: "half a client pair", url: mtls.URL + "/app.git",
			data: map[string][]byte{"ca.crt": caPEM, "tls.key": clientKey}, wantErr: `secret default/creds has "tls.key" without "tls.crt"`},
		{name: "basic authentication", url: basic.URL + "/app.git",
			data: map[string][]byte{"username": []byte("alice"), "password": []byte("s3cret")}},
		{name: "wrong password", url: basic.URL + "/app.git",
			data: map[string][]byte{"username": []byte("alice"), "password": []byte("nope")}, wantErr: "authentication"},
		{name: "bearer token", url: bearer.URL + "/app.git", data: map[string][]byte{"bearerToken": []byte("t0ken")}},
		{name: "SSH", url: sshSrv.URL("app"), data: map[string][]byte{"identity": identity, "known_hosts": []byte(sshSrv.KnownHosts())}},
		{name: "SSH without known_hosts", url: sshSrv.URL("app"), data: map[string][]byte{"identity": identity},
			wantErr: `Secret default/creds has no "known_hosts" key`},
		{name: "GitHub App keys", url: basic.URL + "/app.git", data: map[string][]byte{"githubAppID": []byte("1")},
			wantErr: `Secret default/creds has GitHub App data ("githubAppID") but spec.provider is not github`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "creds"}, Data: tt.data}
			var proxySecret *corev1.Secret
			if tt.proxy != nil {
				proxySecret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "proxy"}, Data: tt.proxy}
			}
			before := proxy.Requests.Load()
			err := pushOnce(ctx, t, tt.url, secret, proxySecret, tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := runGit(t, filepath.Join(root, "app.git"), "log", "-1", "--format=%s", "master"); got != tt.name {
				t.Errorf("master's last commit is %q, want %q", got, tt.name)
			}
			if through := proxy.Requests.Load() - before; (tt.proxy != nil) != (through > 0) {
				t.Errorf("%d requests went through the proxy", through)
			}
		})
	}
}

// pushOnce clones master of url with secret (through the proxy of proxySecret), commits a file with msg and pushes master.
func pushOnce(ctx context.Context, t *testing.T, url string, secret, proxySecret *corev1.Secret, msg string) error {
	tmp := t.TempDir()
	r, err := RemoteFromSecret(url, secret, proxySecret, tmp)
	if err != nil {
		return err
	}
	if _, err := r.List(ctx); err != nil {
		return err
	}
	dir := filepath.Join(tmp, "work")
	repo, err := r.Clone(ctx, dir, plumbing.NewBranchReferenceName("master"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "pushed.txt"), []byte(msg), 0o644); err != nil {
		return err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if _, err := wt.Add("pushed.txt"); err != nil {
		return err
	}
	sig := &object.Signature{Name: "test", Email: "test@example.com", When: time.Unix(1700000000, 0)}
	if _, err := wt.Commit(msg, &gogit.CommitOptions{Author: sig, Committer: sig}); err != nil {
		return err
	}
	if err := r.Fetch(ctx, repo, "+refs/heads/master:refs/remotes/origin/master"); err != nil {
		return err
	}
	return r.Push(ctx, repo, []config.RefSpec{"refs/heads/master:refs/heads/master"}, nil)
}

// TestFetchThroughProxy fetches GitRepositories with spec.proxySecretRef through a real forward proxy.
func TestFetchThroughProxy(t *testing.T) {
	root := t.TempDir()
	newHistory(t, root)
	basic := startHTTPGitServer(t, root, httpAuth{user: "alice", password: "s3cret"})
	proxy := sourcetest.StartProxy(t, "p", "pw")
	secrets := secretStore{}
	secrets.add("creds", map[string][]byte{"username": []byte("alice"), "password": []byte("s3cret")})
	secrets.add("proxy", map[string][]byte{"address": []byte(proxy.URL), "username": []byte("p"), "password": []byte("pw")})
	secrets.add("bad-proxy", map[string][]byte{"address": []byte(proxy.URL), "username": []byte("p"), "password": []byte("nope")})
	secrets.add("no-address", map[string][]byte{"username": []byte("p")})
	f := &Fetcher{Store: newStore(t), Secrets: secrets}
	withProxy := func(name string) func(*sourcev1.GitRepository) {
		return func(r *sourcev1.GitRepository) { r.Spec.ProxySecretRef = withSecretRef(name) }
	}
	for _, tt := range []struct {
		name, proxySecret, wantErr string
	}{
		{name: "through the proxy", proxySecret: "proxy"},
		{name: "refused by the proxy", proxySecret: "bad-proxy", wantErr: "407"},
		{name: "proxy Secret without address", proxySecret: "no-address", wantErr: "spec.proxySecretRef: secret default/no-address has no address"},
		{name: "missing proxy Secret", proxySecret: "missing", wantErr: "reading proxy Secret default/missing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := proxy.Requests.Load()
			obj := gitRepository(objectName(t), basic.URL+"/app.git", withSecret("creds"), withProxy(tt.proxySecret))
			art, err := f.Fetch(context.Background(), obj)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(art.Revision, "master@sha1:") {
				t.Errorf("revision %s", art.Revision)
			}
			if proxy.Requests.Load() == before {
				t.Error("nothing went through the proxy")
			}
		})
	}
}

// FuzzCredentialsFromSecret reads arbitrary Secret values: never a panic, and every refusal names the
// Secret.
func FuzzCredentialsFromSecret(f *testing.F) {
	f.Add([]byte("alice"), []byte("pw"), []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), []byte("host ssh-ed25519 AAAA"), []byte("junk"), true)
	f.Add([]byte(""), []byte("pw"), []byte(""), []byte(""), []byte(""), false)
	f.Fuzz(func(t *testing.T, user, pass, identity, known, ca []byte, ssh bool) {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}, Data: map[string][]byte{
			"username": user, "password": pass, "identity": identity, "known_hosts": known, "ca.crt": ca}}
		c, err := CredentialsFromSecret(s)
		if err != nil {
			if !strings.Contains(err.Error(), "ns/s") {
				t.Errorf("error does not name the Secret: %v", err)
			}
			return
		}
		u, _ := url.Parse("https://example.com/repo.git")
		if ssh {
			u, _ = url.Parse("ssh://git@example.com/repo.git")
		}
		if _, err := c.Auth(u, t.TempDir()); err != nil && !strings.Contains(err.Error(), "ns/s") {
			t.Errorf("error does not name the Secret: %v", err)
		}
	})
}
