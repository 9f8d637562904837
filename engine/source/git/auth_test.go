package git

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/agent"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

type authCase struct {
	name    string
	secret  map[string][]byte // nil: no secretRef
	missing bool              // secretRef to a Secret that does not exist
	ref     sourcev1.GitRepositoryRef
	reason  string // "" for success
	msg     string // revision prefix on success, error text on failure
}

func runAuthCases(t *testing.T, f *Fetcher, secrets secretStore, url string, tests []authCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := gitRepository(objectName(t), url, withRef(tt.ref))
			switch {
			case tt.missing:
				obj.Spec.SecretRef = withSecretRef("missing")
			case tt.secret != nil:
				secrets.add(obj.Name, tt.secret)
				obj.Spec.SecretRef = withSecretRef(obj.Name)
			}
			art, err := f.Fetch(context.Background(), obj)
			if tt.reason != "" {
				assertFetchError(t, err, tt.reason, tt.msg, nil)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(art.Revision, tt.msg) {
				t.Errorf("revision %q, want prefix %q", art.Revision, tt.msg)
			}
			if artifactFiles(t, art)["version.txt"] == "" {
				t.Error("no version.txt in the artifact")
			}
		})
	}
}

func TestHTTPAuth(t *testing.T) {
	root := t.TempDir()
	newHistory(t, root)
	basic := startHTTPGitServer(t, root, httpAuth{user: "alice", password: "s3cret"})
	bearer := startHTTPGitServer(t, root, httpAuth{token: "t0ken"})
	secrets := secretStore{}
	f := &Fetcher{Store: newStore(t), Secrets: secrets}

	runAuthCases(t, f, secrets, basic.URL+"/app.git", []authCase{
		{name: "right password", secret: map[string][]byte{"username": []byte("alice"), "password": []byte("s3cret")}, msg: "master@sha1:"},
		{name: "wrong password", secret: map[string][]byte{"username": []byte("alice"), "password": []byte("nope")},
			reason: "AuthenticationFailed", msg: "authentication failed for " + basic.URL + "/app.git"},
		{name: "no credentials", reason: "AuthenticationFailed", msg: "authentication failed for"},
		{name: "missing Secret", missing: true, reason: "AuthenticationFailed", msg: "reading Secret default/missing"},
		{name: "password without username", secret: map[string][]byte{"password": []byte("s3cret")},
			reason: "AuthenticationFailed", msg: `has "password" without "username"`},
	})
	runAuthCases(t, f, secrets, bearer.URL+"/app.git", []authCase{
		{name: "bearer token", secret: map[string][]byte{"bearerToken": []byte("t0ken")}, ref: sourcev1.GitRepositoryRef{Tag: "v1.1.0"}, msg: "v1.1.0@sha1:"},
		{name: "wrong bearer token", secret: map[string][]byte{"bearerToken": []byte("other")}, reason: "AuthenticationFailed", msg: "authentication failed"},
	})
}

func TestHTTPS(t *testing.T) {
	root := t.TempDir()
	newHistory(t, root)
	tlsSrv := startHTTPSGitServer(t, root, nil)
	clientCA, clientCert, clientKey := newClientCA(t)
	mtlsSrv := startHTTPSGitServer(t, root, clientCA)
	secrets := secretStore{}
	f := &Fetcher{Store: newStore(t), Secrets: secrets}
	ca := tlsSrv.serverCAPEM()

	runAuthCases(t, f, secrets, tlsSrv.URL+"/app.git", []authCase{
		{name: "test CA in ca.crt", secret: map[string][]byte{"ca.crt": ca}, msg: "master@sha1:"},
		{name: "test CA in caFile", secret: map[string][]byte{"caFile": ca}, ref: sourcev1.GitRepositoryRef{SemVer: "1.x"}, msg: "v1.1.0@sha1:"},
		{name: "unknown CA", reason: "GitOperationFailed", msg: "certificate signed by unknown authority"},
		{name: "not a certificate", secret: map[string][]byte{"ca.crt": []byte("junk")}, reason: "AuthenticationFailed", msg: `"ca.crt" holds no PEM certificate`},
	})
	runAuthCases(t, f, secrets, mtlsSrv.URL+"/app.git", []authCase{
		{name: "client certificate", secret: map[string][]byte{"ca.crt": mtlsSrv.serverCAPEM(), "tls.crt": clientCert, "tls.key": clientKey}, msg: "master@sha1:"},
		{name: "no client certificate", secret: map[string][]byte{"ca.crt": mtlsSrv.serverCAPEM()}, reason: "GitOperationFailed", msg: "certificate required"},
		{name: "certificate without key", secret: map[string][]byte{"ca.crt": mtlsSrv.serverCAPEM(), "tls.crt": clientCert},
			reason: "AuthenticationFailed", msg: `has "tls.crt" without "tls.key"`},
	})
}

func TestSSH(t *testing.T) {
	root := t.TempDir()
	h := newHistory(t, root)
	client, clientKey := newSigner(t)
	stranger, strangerKey := newSigner(t)
	srv := sourcetest.StartSSHGitServer(t, root, client.PublicKey())
	other := sourcetest.StartSSHGitServer(t, root, client.PublicKey())
	secrets := secretStore{}
	f := &Fetcher{Store: newStore(t), Secrets: secrets}
	identity := privateKeyPEM(t, clientKey, "")
	known := []byte(srv.KnownHosts())

	runAuthCases(t, f, secrets, srv.URL("app"), []authCase{
		{name: "key and known_hosts", secret: map[string][]byte{"identity": identity, "known_hosts": known}, msg: "master@sha1:" + h.c3},
		{name: "annotated tag", secret: map[string][]byte{"identity": identity, "known_hosts": known}, ref: sourcev1.GitRepositoryRef{Tag: "v1.1.0"}, msg: "v1.1.0@sha1:" + h.c2},
		{name: "pull request reference", secret: map[string][]byte{"identity": identity, "known_hosts": known}, ref: sourcev1.GitRepositoryRef{Name: "refs/pull/1/head"}, msg: "refs/pull/1/head@sha1:" + h.c5},
		{name: "commit on a branch", secret: map[string][]byte{"identity": identity, "known_hosts": known}, ref: sourcev1.GitRepositoryRef{Branch: "master", Commit: h.c1}, msg: "master@sha1:" + h.c1},
		{name: "encrypted key with its password", secret: map[string][]byte{"identity": privateKeyPEM(t, clientKey, "pw"), "password": []byte("pw"), "known_hosts": known}, msg: "master@sha1:"},
		{name: "encrypted key without password", secret: map[string][]byte{"identity": privateKeyPEM(t, clientKey, "pw"), "known_hosts": known},
			reason: "AuthenticationFailed", msg: "the private key is encrypted"},
		{name: "wrong host key", secret: map[string][]byte{"identity": identity, "known_hosts": []byte(srv.KnownHostsFor(stranger.PublicKey()))},
			reason: "AuthenticationFailed", msg: "does not match known_hosts"},
		{name: "host not in known_hosts", secret: map[string][]byte{"identity": identity, "known_hosts": []byte(other.KnownHosts())},
			reason: "AuthenticationFailed", msg: "is not in known_hosts"},
		{name: "no known_hosts", secret: map[string][]byte{"identity": identity},
			reason: "AuthenticationFailed", msg: `has no "known_hosts" key: SSH host keys are always verified`},
		{name: "no identity", secret: map[string][]byte{"known_hosts": known}, reason: "AuthenticationFailed", msg: `has no "identity" key`},
		{name: "key not authorized", secret: map[string][]byte{"identity": privateKeyPEM(t, strangerKey, ""), "known_hosts": known},
			reason: "AuthenticationFailed", msg: "authentication failed for " + srv.URL("app")},
		{name: "no secretRef", reason: "AuthenticationFailed", msg: "needs SSH credentials"},
		{name: "missing Secret", missing: true, reason: "AuthenticationFailed", msg: "reading Secret default/missing"},
	})
	runAuthCases(t, f, secrets, srv.URL("missing"), []authCase{
		{name: "missing repository", secret: map[string][]byte{"identity": identity, "known_hosts": known}, reason: "GitOperationFailed", msg: "repository not found at"},
	})
	runAuthCases(t, f, secrets, "ssh://git@"+closedAddr(t)+"/app.git", []authCase{
		{name: "unreachable", secret: map[string][]byte{"identity": identity, "known_hosts": known}, reason: "GitOperationFailed", msg: "cannot reach ssh://"},
	})

	// Over SSH too, an unchanged source asks only for references.
	secrets.add("reuse", map[string][]byte{"identity": identity, "known_hosts": known})
	obj := gitRepository("ssh-reuse", srv.URL("app"), withSecret("reuse"))
	first, err := f.Fetch(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	execs, packs := srv.UploadPacks.Load(), srv.PackRequests.Load()
	again, err := f.Fetch(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if srv.UploadPacks.Load() != execs+1 || srv.PackRequests.Load() != packs || again.Digest != first.Digest {
		t.Errorf("unchanged SSH fetch: %d sessions, %d pack requests (want 1, 0)", srv.UploadPacks.Load()-execs, srv.PackRequests.Load()-packs)
	}
}

// TestLocalAuth is push mode's fallback: the user's SSH agent and known_hosts, git credential helpers.
func TestLocalAuth(t *testing.T) {
	root := t.TempDir()
	newHistory(t, root)
	client, clientKey := newSigner(t)
	sshSrv := sourcetest.StartSSHGitServer(t, root, client.PublicKey())
	httpSrv := startHTTPGitServer(t, root, httpAuth{user: "alice", password: "s3cret"})

	// a real agent protocol server on a unix socket, holding the client key
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: clientKey}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(sshSrv.KnownHosts()), 0o600); err != nil {
		t.Fatal(err)
	}
	// git credential helpers configured the way a user would, through a global git config
	gitConfig := func(credentials string) []string {
		store := filepath.Join(t.TempDir(), "credentials")
		if err := os.WriteFile(store, []byte(credentials), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(t.TempDir(), "gitconfig")
		if err := os.WriteFile(cfg, []byte("[credential]\n\thelper = store --file="+store+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"GIT_CONFIG_GLOBAL=" + cfg, "GIT_CONFIG_NOSYSTEM=1"}
	}
	httpURL := strings.Replace(httpSrv.URL, "http://", "http://alice:s3cret@", 1)
	httpWrong := strings.Replace(httpSrv.URL, "http://", "http://alice:wrong@", 1)

	tests := []struct {
		name   string
		url    string
		local  *LocalAuth
		secret bool // a secretRef to a missing Secret
		reason string
		msg    string
	}{
		{"ssh agent", sshSrv.URL("app"), &LocalAuth{SSHAgentSocket: sock, KnownHostsFiles: []string{knownHosts}}, false, "", ""},
		{"ssh agent when the Secret is missing", sshSrv.URL("app"), &LocalAuth{SSHAgentSocket: sock, KnownHostsFiles: []string{knownHosts}}, true, "", ""},
		{"no known_hosts file", sshSrv.URL("app"), &LocalAuth{SSHAgentSocket: sock, KnownHostsFiles: []string{filepath.Join(dir, "none")}}, false,
			"AuthenticationFailed", "no known_hosts file"},
		{"no agent", sshSrv.URL("app"), &LocalAuth{KnownHostsFiles: []string{knownHosts}}, false, "AuthenticationFailed", "SSH_AUTH_SOCK is not set"},
		{"off", sshSrv.URL("app"), nil, false, "AuthenticationFailed", "needs SSH credentials"},
		{"git credential fill", httpSrv.URL + "/app.git", &LocalAuth{HTTPCredentials: GitCredentialFill(gitConfig(httpURL + "\n"))}, false, "", ""},
		{"git credential fill with a stale password", httpSrv.URL + "/app.git", &LocalAuth{HTTPCredentials: GitCredentialFill(gitConfig(httpWrong + "\n"))}, false,
			"AuthenticationFailed", "authentication failed"},
		{"no credential helper", httpSrv.URL + "/app.git", &LocalAuth{HTTPCredentials: GitCredentialFill(gitConfig(""))}, false,
			"AuthenticationFailed", "git credential fill"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Fetcher{Store: newStore(t), Secrets: secretStore{}, Local: tt.local}
			obj := gitRepository(fmt.Sprintf("local-%d", i), tt.url)
			if tt.secret {
				obj.Spec.SecretRef = withSecretRef("missing")
			}
			art, err := f.Fetch(context.Background(), obj)
			if tt.reason != "" {
				assertFetchError(t, err, tt.reason, tt.msg, nil)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(art.Revision, "master@sha1:") {
				t.Errorf("revision %s", art.Revision)
			}
		})
	}
}
