package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

// signingKeys are real keys made by gpg and ssh-keygen, which git signs with as a user's git does.
type signingKeys struct {
	gnupgHome string
	pgpID     string // long key ID, upper case
	pgpPublic []byte // armored
	sshKey    string // private key file
	sshPublic []byte // authorized_keys line
	otherSSH  string // a key the Secret does not trust
}

func runTool(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			out = append(out, ee.Stderr...)
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func newSigningKeys(t testing.TB) *signingKeys {
	t.Helper()
	// A short home: gpg-agent's socket path must fit in a sockaddr.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"GNUPGHOME=" + home}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		_ = os.RemoveAll(home)
	})
	k := &signingKeys{gnupgHome: home}
	runTool(t, env, "gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key", "Signer <signer@example.com>", "ed25519", "sign", "never")
	for _, line := range strings.Split(runTool(t, env, "gpg", "--batch", "--with-colons", "--list-keys"), "\n") {
		if f := strings.Split(line, ":"); f[0] == "pub" {
			k.pgpID = strings.ToUpper(f[4])
		}
	}
	k.pgpPublic = []byte(runTool(t, env, "gpg", "--batch", "--armor", "--export"))
	dir := t.TempDir()
	for _, name := range []string{"trusted", "other"} {
		runTool(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", filepath.Join(dir, name))
	}
	k.sshKey, k.otherSSH = filepath.Join(dir, "trusted"), filepath.Join(dir, "other")
	k.sshPublic, err = os.ReadFile(k.sshKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// gitSigned runs git in dir signing with gpg (format "openpgp") or the SSH key file.
func (k *signingKeys) git(t testing.TB, dir, format, key string, args ...string) string {
	t.Helper()
	cfg := []string{"-c", "gpg.format=" + format, "-c", "user.signingkey=" + key}
	cmd := exec.Command("git", append(cfg, args...)...)
	cmd.Dir = dir
	cmd.Env = append(gitEnv(), "GNUPGHOME="+k.gnupgHome)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func sshFingerprint(t testing.TB, pubFile string) string {
	out := runTool(t, nil, "ssh-keygen", "-l", "-E", "sha256", "-f", pubFile)
	return strings.Fields(out)[1]
}

// TestVerify fetches commits and tags signed by git with real OpenPGP and SSH keys from a real Git
// server: what the mode asks is verified and named in the message; unsigned, untrusted and tampered
// objects are refused with Flux's reasons, and the previous artifact is kept.
func TestVerify(t *testing.T) {
	keys := newSigningKeys(t)
	root := t.TempDir()
	r := newTestRepo(t, root, "signed")
	srv := startHTTPGitServer(t, root, httpAuth{})
	url := srv.URL + "/signed.git"

	// branch ssh: a commit signed with the trusted SSH key; tag v1.0.0: an SSH-signed tag of it.
	r.write(map[string]string{"app.yaml": "ssh"})
	r.git("add", "-A")
	keys.git(t, r.work, "ssh", keys.sshKey, "commit", "-q", "-S", "-m", "ssh signed")
	sshHash := r.git("rev-parse", "HEAD")
	r.push("HEAD:refs/heads/ssh")
	keys.git(t, r.work, "ssh", keys.sshKey, "tag", "-s", "-m", "release", "v1.0.0")
	// branch pgp: a commit signed with gpg; tag v2.0.0: a gpg-signed tag of an unsigned commit.
	r.write(map[string]string{"app.yaml": "pgp"})
	r.git("add", "-A")
	keys.git(t, r.work, "openpgp", keys.pgpID, "commit", "-q", "-S", "-m", "pgp signed")
	pgpHash := r.git("rev-parse", "HEAD")
	r.push("HEAD:refs/heads/pgp")
	unsignedHash := r.commit("unsigned", map[string]string{"app.yaml": "unsigned"})
	r.push("HEAD:refs/heads/unsigned")
	keys.git(t, r.work, "openpgp", keys.pgpID, "tag", "-s", "-m", "release", "v2.0.0")
	r.git("tag", "v3.0.0")                         // lightweight
	r.git("tag", "-a", "-m", "unsigned", "v4.0.0") // annotated, unsigned
	// branch untrusted: signed with a key the Secret does not hold.
	r.write(map[string]string{"app.yaml": "other"})
	r.git("add", "-A")
	keys.git(t, r.work, "ssh", keys.otherSSH, "commit", "-q", "-S", "-m", "other key")
	r.push("HEAD:refs/heads/untrusted")
	// branch tampered: the SSH-signed commit with another message and the same signature.
	raw := r.git("cat-file", "commit", sshHash)
	forged := strings.Replace(raw, "ssh signed", "forged", 1)
	cmd := exec.Command("git", "hash-object", "-t", "commit", "-w", "--stdin")
	cmd.Dir, cmd.Env, cmd.Stdin = r.work, gitEnv(), strings.NewReader(forged+"\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	r.push(strings.TrimSpace(string(out)) + ":refs/heads/tampered")
	r.push("--tags")

	t.Run("local refs in push mode", func(t *testing.T) {
		w, err := DetectWorkTree(r.work)
		if err != nil {
			t.Fatal(err)
		}
		lf := &Fetcher{Store: newStore(t), Secrets: secretStore{}.add("keys", map[string][]byte{"signer.sshpub": keys.sshPublic})}
		local := func(ref sourcev1.GitRepositoryRef, mode sourcev1.GitVerificationMode) (*source.Artifact, error) {
			obj := gitRepository("local", url, withRef(ref))
			obj.Spec.Verification = &sourcev1.GitRepositoryVerification{Mode: mode, SecretRef: meta.LocalObjectReference{Name: "keys"}}
			a, _, err := lf.LocalRef(context.Background(), w, "origin", obj)
			return a, err
		}
		a, err := local(sourcev1.GitRepositoryRef{Tag: "v1.0.0"}, "TagAndHEAD")
		if err != nil || !strings.Contains(a.Verified, "commit '"+sshHash+"' with key '"+sshFingerprint(t, keys.sshKey+".pub")+"'") {
			t.Fatalf("signed local tag: %v, %v", a, err)
		}
		if _, err := local(sourcev1.GitRepositoryRef{Tag: "v4.0.0"}, "Tag"); err == nil || !strings.Contains(err.Error(), "tag 'v4.0.0' since it is not signed") {
			t.Errorf("unsigned local tag: %v", err)
		}
		if _, err := local(sourcev1.GitRepositoryRef{Tag: "v2.0.0"}, "HEAD"); err == nil || !strings.Contains(err.Error(), "commit '"+unsignedHash+"' failed: the object is not signed") {
			t.Errorf("unsigned local commit: %v", err)
		}
	})

	secrets := secretStore{}.
		add("keys", map[string][]byte{"signer.asc": keys.pgpPublic, "signer.sshpub": keys.sshPublic}).
		add("ssh-only", map[string][]byte{"signer.sshpub": keys.sshPublic}).
		add("bad", map[string][]byte{"signer.sshpub": []byte("not a key")}).
		add("empty", map[string][]byte{})
	f := &Fetcher{Store: newStore(t), Secrets: secrets}
	sshFP := sshFingerprint(t, keys.sshKey+".pub")

	tests := []struct {
		name   string
		ref    sourcev1.GitRepositoryRef
		mode   sourcev1.GitVerificationMode
		secret string
		reason string   // "" when verified
		want   []string // in the message or error
	}{
		{"ssh commit", sourcev1.GitRepositoryRef{Branch: "ssh"}, "HEAD", "keys", "",
			[]string{"verified signature of\n\t- commit '" + sshHash + "' with key '" + sshFP + "'"}},
		{"pgp commit", sourcev1.GitRepositoryRef{Branch: "pgp"}, "HEAD", "keys", "",
			[]string{"commit '" + pgpHash + "' with key '" + keys.pgpID + "'"}},
		{"empty mode is HEAD", sourcev1.GitRepositoryRef{Branch: "pgp"}, "", "keys", "", []string{"commit '" + pgpHash + "'"}},
		{"ssh tag", sourcev1.GitRepositoryRef{Tag: "v1.0.0"}, "Tag", "keys", "", []string{"- tag 'v1.0.0@", "' with key '" + sshFP + "'"}},
		{"pgp tag of an unsigned commit", sourcev1.GitRepositoryRef{SemVer: "2.x"}, "Tag", "keys", "", []string{"- tag 'v2.0.0@", keys.pgpID}},
		{"tag and head", sourcev1.GitRepositoryRef{Tag: "v1.0.0"}, "TagAndHEAD", "keys", "",
			[]string{"- tag 'v1.0.0@", "\n\t- commit '" + sshHash + "' with key '" + sshFP + "'"}},
		{"tag by reference name", sourcev1.GitRepositoryRef{Name: "refs/tags/v1.0.0"}, "Tag", "keys", "", []string{"- tag 'v1.0.0@"}},

		{"unsigned commit", sourcev1.GitRepositoryRef{Branch: "unsigned"}, "HEAD", "keys", "InvalidCommitSignature",
			[]string{"signature verification of commit '" + unsignedHash + "' failed: the object is not signed"}},
		{"untrusted key", sourcev1.GitRepositoryRef{Branch: "untrusted"}, "HEAD", "keys", "InvalidCommitSignature",
			[]string{"SSH signature made by key " + sshFingerprint(t, keys.otherSSH+".pub") + ", which is not among the Secret's keys"}},
		{"tampered commit", sourcev1.GitRepositoryRef{Branch: "tampered"}, "HEAD", "keys", "InvalidCommitSignature",
			[]string{"does not verify"}},
		{"pgp signature, ssh keys only", sourcev1.GitRepositoryRef{Branch: "pgp"}, "HEAD", "ssh-only", "InvalidCommitSignature",
			[]string{"OpenPGP signature but no OpenPGP public keys in the Secret"}},
		{"tag and head, unsigned commit", sourcev1.GitRepositoryRef{Tag: "v2.0.0"}, "TagAndHEAD", "keys", "InvalidCommitSignature",
			[]string{"commit '" + unsignedHash + "' failed"}},
		{"tag mode on a branch", sourcev1.GitRepositoryRef{Branch: "ssh"}, "Tag", "keys", "InvalidVerificationMode",
			[]string{"spec.ref does not name a tag"}},
		{"lightweight tag", sourcev1.GitRepositoryRef{Tag: "v3.0.0"}, "Tag", "keys", "InvalidGitObject",
			[]string{"tag 'v3.0.0' since it is not signed"}},
		{"unsigned annotated tag", sourcev1.GitRepositoryRef{Tag: "v4.0.0"}, "Tag", "keys", "InvalidGitObject",
			[]string{"tag 'v4.0.0' since it is not signed"}},
		{"missing secret", sourcev1.GitRepositoryRef{Branch: "ssh"}, "HEAD", "missing", "VerificationError",
			[]string{"public keys secret error", "not found"}},
		{"malformed key", sourcev1.GitRepositoryRef{Branch: "ssh"}, "HEAD", "bad", "VerificationError",
			[]string{`Secret default/bad key "signer.sshpub": line 1: not an SSH public key`}},
		{"no keys", sourcev1.GitRepositoryRef{Branch: "ssh"}, "HEAD", "empty", "VerificationError",
			[]string{"Secret default/empty holds no public keys"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("verify-%d", i)
			// A verified artifact first: a refused fetch must keep it.
			prev, err := f.Fetch(context.Background(), gitRepository(name, url, withRef(sourcev1.GitRepositoryRef{Branch: "unsigned"})))
			if err != nil {
				t.Fatal(err)
			}
			obj := gitRepository(name, url, withRef(tt.ref))
			obj.Spec.Verification = &sourcev1.GitRepositoryVerification{Mode: tt.mode, SecretRef: meta.LocalObjectReference{Name: tt.secret}}
			for round := 0; round < 2; round++ { // the second fetch reuses the cache and verifies again
				art, err := f.Fetch(context.Background(), obj)
				if tt.reason == "" {
					if err != nil {
						t.Fatal(err)
					}
					for _, w := range tt.want {
						if !strings.Contains(art.Verified, w) {
							t.Errorf("round %d: message %q does not contain %q", round, art.Verified, w)
						}
					}
					continue
				}
				assertFetchError(t, err, tt.reason, tt.want[0], prev)
				for _, w := range tt.want[1:] {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				var fe *source.FetchError
				if errors.As(err, &fe) && !fe.Unverified {
					t.Errorf("round %d: the failure is not marked Unverified", round)
				}
				if cur, _ := f.Store.Current(source.Ref{Kind: "GitRepository", Namespace: "default", Name: name}); cur == nil || cur.Digest != prev.Digest {
					t.Errorf("the stored artifact changed after a refused fetch: %v", cur)
				}
			}
		})
	}
}
