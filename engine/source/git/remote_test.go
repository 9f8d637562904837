package git

import (
	"context"
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

	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestRemotePush clones, commits and pushes through Remote with each kind of Flux credentials Secret,
// against real Git servers: HTTPS with a private CA and a client certificate (standard and legacy
// keys), HTTP basic and bearer authentication, SSH.
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

	for _, tt := range []struct {
		name    string
		url     string
		data    map[string][]byte
		wantErr string
	}{
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
			wantErr: "GitHub App authentication is not supported"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "creds"}, Data: tt.data}
			err := pushOnce(ctx, t, tt.url, secret, tt.name)
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
		})
	}
}

// pushOnce clones master of url with secret, commits a file with msg and pushes master.
func pushOnce(ctx context.Context, t *testing.T, url string, secret *corev1.Secret, msg string) error {
	tmp := t.TempDir()
	r, err := RemoteFromSecret(url, secret, tmp)
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
