package image

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// sshKeySecret returns a signing Secret holding key in OpenSSH format (encrypted when password is set)
// and the key's authorized_keys line.
func sshKeySecret(t *testing.T, key crypto.PrivateKey, password string) (*corev1.Secret, string) {
	t.Helper()
	var (
		block *pem.Block
		err   error
	)
	if password != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(key, "bot", []byte(password))
	} else {
		block, err = ssh.MarshalPrivateKey(key, "bot")
	}
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{"identity": pem.EncodeToMemory(block)}
	if password != "" {
		data["password"] = []byte(password)
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ssh-signing", Namespace: "flux-system"}, Data: data},
		strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
}

// sshVerify checks sig over message with ssh-keygen -Y verify for the principal bot@example.com.
func sshVerify(t *testing.T, authorized string, message, sig []byte) error {
	t.Helper()
	dir := t.TempDir()
	signers := filepath.Join(dir, "allowed_signers")
	sigFile := filepath.Join(dir, "msg.sig")
	if err := os.WriteFile(signers, []byte("bot@example.com "+authorized+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", signers, "-I", "bot@example.com", "-n", "git", "-s", sigFile)
	cmd.Stdin = strings.NewReader(string(message))
	if out, err := cmd.CombinedOutput(); err != nil {
		return &exec.ExitError{ProcessState: cmd.ProcessState, Stderr: out}
	}
	return nil
}

func needSSHKeygen(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed")
	}
}

func TestSSHSignerVerifiesWithSSHKeygen(t *testing.T) {
	needSSHKeygen(t)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		key      crypto.PrivateKey
		password string
	}{
		{"ed25519", ed, ""},
		{"ed25519 with password", ed, "pw"},
		{"ecdsa p256", p256, ""},
		{"ecdsa p384", p384, ""},
		{"ecdsa p521", p521, ""},
		{"rsa 2048", rsa2048, ""},
	}
	message := []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor Image Bot <bot@example.com> 1 +0000\n\nupdate\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec, authorized := sshKeySecret(t, tt.key, tt.password)
			s, err := commitSigner(sec, imagev1.SigningKeyTypeSSH)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := s.Sign(strings.NewReader(string(message)))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(sig), "-----BEGIN SSH SIGNATURE-----\n") {
				t.Fatalf("signature %q", sig)
			}
			if err := sshVerify(t, authorized, message, sig); err != nil {
				t.Fatalf("ssh-keygen -Y verify: %v: %s", err, err.(*exec.ExitError).Stderr)
			}
			// The same signature over another message must not verify.
			if err := sshVerify(t, authorized, append(message, 'x'), sig); err == nil {
				t.Fatal("a signature over another message verified")
			}
		})
	}
}

func TestSSHSigningKeyBadInput(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	encrypted, _ := sshKeySecret(t, ed, "pw")
	delete(encrypted.Data, "password")
	wrongPassword, _ := sshKeySecret(t, ed, "pw")
	wrongPassword.Data["password"] = []byte("nope")
	small, _ := sshKeySecret(t, rsa1024, "")
	gpgOnly := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gpg", Namespace: "flux-system"}, Data: map[string][]byte{"git.asc": []byte("x")}}
	tests := []struct {
		name   string
		secret *corev1.Secret
		typ    imagev1.SigningKeyType
		want   string
	}{
		{"no identity", gpgOnly, imagev1.SigningKeyTypeSSH, "signing key secret flux-system/gpg has no identity (type ssh)"},
		{"encrypted without password", encrypted, imagev1.SigningKeyTypeSSH, "the SSH key is encrypted and there is no password"},
		{"wrong password", wrongPassword, imagev1.SigningKeyTypeSSH, "flux-system/ssh-signing: identity:"},
		{"small rsa", small, imagev1.SigningKeyTypeSSH, "RSA signing keys need at least 2048 bits"},
		{"gpg type on an ssh secret", wrongPassword, "", "has no git.asc"},
		{"unknown type", gpgOnly, "x509", `unknown signing key type "x509"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := commitSigner(tt.secret, tt.typ); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// TestAutomationSSHSigning pushes an SSH-signed commit and has git itself verify it (gpg.format=ssh).
func TestAutomationSSHSigning(t *testing.T) {
	needSSHKeygen(t)
	repo := pushableRepo(t)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	sec, authorized := sshKeySecret(t, ed, "")
	auto := automation(func(a *imagev1.ImageUpdateAutomation) {
		a.Spec.GitSpec.Commit.SigningKey = &imagev1.SigningKey{SecretRef: meta.LocalObjectReference{Name: sec.Name}, Type: imagev1.SigningKeyTypeSSH}
	})
	res, err := (&Automation{Clock: clock.RealClock{}, Secrets: secrets{}.add(sec)}).Run(context.Background(), auto, gitRepository(repo.URL), Policies{"flux-system/app": {Name: "registry.example/org/app", Tag: "1.5.0"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, r, head := remoteFile(t, repo, "main", "apps/deploy.yaml")
	c, _ := r.CommitObject(head)
	if head.String() != res.Commit || !strings.HasPrefix(c.PGPSignature, "-----BEGIN SSH SIGNATURE-----") {
		t.Fatalf("head %s commit %s signature %q", head, res.Commit, c.PGPSignature)
	}

	dir := t.TempDir()
	signers := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(signers, []byte("bot@example.com "+authorized+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sourcetest.RunGit(t, dir, "clone", "-q", "--branch", "main", repo.URL, "work")
	verify := func(allowed string) (string, error) {
		cmd := exec.Command("git", "-C", filepath.Join(dir, "work"), "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", "-v", res.Commit)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(signers); err != nil || !strings.Contains(out, `Good "git" signature for bot@example.com`) {
		t.Fatalf("git verify-commit: %v\n%s", err, out)
	}
	// Another key is not trusted for the principal: git refuses the signature.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	_, otherAuthorized := sshKeySecret(t, other, "")
	otherSigners := filepath.Join(dir, "other_signers")
	if err := os.WriteFile(otherSigners, []byte("bot@example.com "+otherAuthorized+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(otherSigners); err == nil {
		t.Fatalf("verify-commit accepted a signature by an untrusted key:\n%s", out)
	}
}
