package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// sshSign signs message with a new ed25519 key by OpenSSH's ssh-keygen -Y sign in namespace, and
// returns the armored signature and the key's authorized_keys line.
func sshSign(t *testing.T, namespace string, message []byte) ([]byte, []byte) {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	msg := filepath.Join(dir, "message")
	if err := os.WriteFile(msg, message, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", namespace, msg).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
	sig, err := os.ReadFile(msg + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return sig, pub
}

// TestVerifySSHSignature checks signatures OpenSSH made: the right key, message and namespace verify;
// anything else is refused with the reason.
func TestVerifySSHSignature(t *testing.T) {
	message := []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nsigned\n")
	sig, pub := sshSign(t, "git", message)
	fileSig, _ := sshSign(t, "file", message)
	_, otherPub := sshSign(t, "git", message)
	trusted, err := parseAuthorizedKeys(pub)
	if err != nil {
		t.Fatal(err)
	}
	other, err := parseAuthorizedKeys(otherPub)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		keys    []ssh.PublicKey
		sig     []byte
		message []byte
		want    string // "" verifies
	}{
		{"verifies", trusted, sig, message, ""},
		{"among other keys", append(other, trusted...), sig, message, ""},
		{"another message", trusted, sig, []byte("forged\n"), "does not verify"},
		{"another key", other, sig, message, "which is not among the Secret's keys"},
		{"another namespace", trusted, fileSig, message, `namespace "file", not "git"`},
		{"not armored", trusted, []byte("-----BEGIN PGP SIGNATURE-----\n"), message, "does not start with -----BEGIN SSH SIGNATURE-----"},
		{"truncated", trusted, sig[:len(sig)-40], message, "SSH signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := VerifySSHSignature(tt.keys, "git", tt.sig, tt.message)
			if tt.want == "" {
				if err != nil || ssh.FingerprintSHA256(k) != ssh.FingerprintSHA256(trusted[0]) {
					t.Fatalf("key %v, error %v", k, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestGitKeysFromSecret(t *testing.T) {
	_, pub := sshSign(t, "git", []byte("x"))
	secret := func(data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "keys"}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	tests := []struct {
		name    string
		data    map[string]string
		ssh     int
		wantErr string
	}{
		{"ssh keys with comments", map[string]string{"a.sshpub": "# team\n" + string(pub) + "\n" + string(pub)}, 2, ""},
		{"no keys", map[string]string{}, 0, "Secret ns/keys holds no public keys"},
		{"an empty ssh key file", map[string]string{"a.sshpub": "# nothing\n"}, 0, `Secret ns/keys key "a.sshpub": no SSH public key`},
		{"not an ssh key", map[string]string{"a.sshpub": "ssh-ed25519 nope"}, 0, `key "a.sshpub": line 1: not an SSH public key`},
		{"not a PGP key", map[string]string{"a.asc": "nope"}, 0, `key "a.asc": not an armored OpenPGP public key`},
		{"no suffix is read as PGP", map[string]string{"key": string(pub)}, 0, `key "key": not an armored OpenPGP public key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := GitKeysFromSecret(secret(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(keys.SSH) != tt.ssh {
				t.Fatalf("keys %+v, error %v", keys, err)
			}
		})
	}
}

func TestVerifyGitSignatureTypes(t *testing.T) {
	keys := &GitKeys{}
	tests := []struct{ sig, want string }{
		{"", "the object is not signed"},
		{"-----BEGIN PGP SIGNATURE-----\n", "no OpenPGP public keys in the Secret"},
		{"-----BEGIN SSH SIGNATURE-----\n", "no SSH public keys in the Secret"},
		{"-----BEGIN SIGNED MESSAGE-----\n", "x509 signatures are not supported"},
		{"garbage", "unknown signatures are not supported"},
	}
	for _, tt := range tests {
		if _, err := keys.VerifyGit(tt.sig, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.sig, err, tt.want)
		}
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	pemOf := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	for _, pub := range []any{&ec.PublicKey, ed, &rs.PublicKey} {
		if _, err := ParsePublicKeyPEM(pemOf(pub)); err != nil {
			t.Errorf("%T: %v", pub, err)
		}
	}
	for data, want := range map[string]string{
		"nope": "not a PEM public key",
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})): `is a "EC PRIVATE KEY"`,
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})):     "parsing the public key",
	} {
		if _, err := ParsePublicKeyPEM([]byte(data)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", data, err, want)
		}
	}
}

func TestParseSimpleSigning(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for payload, want := range map[string]string{
		`{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"` + digest + `"},"type":"cosign container image signature"}}`: "",
		`{"critical":{"image":{"docker-manifest-digest":"` + digest + `"},"type":"atomic container signature"}}`:                                           `type is "atomic container signature"`,
		`{"critical":{"image":{"docker-manifest-digest":"sha256:nope"},"type":"cosign container image signature"}}`:                                        `digest "sha256:nope"`,
		`not json`: "not simple signing JSON",
	} {
		p, err := ParseSimpleSigning([]byte(payload))
		if want == "" {
			if err != nil || p.Critical.Image.DockerManifestDigest != digest {
				t.Errorf("%s: %+v, %v", payload, p, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", payload, err, want)
		}
	}
}

// FuzzParseSSHSignature: any input parses or fails, never panics.
func FuzzParseSSHSignature(f *testing.F) {
	f.Add([]byte(sshArmorStart + "\nU1NIU0lHAAAAAQ==\n" + sshArmorEnd))
	f.Add([]byte(sshArmorStart + "\n" + sshArmorEnd))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sig, err := ParseSSHSignature(data)
		if err == nil {
			_, _ = sig.signedData([]byte("message"))
			_, _ = VerifySSHSignature(nil, "git", data, []byte("message"))
		}
	})
}

// FuzzParseSimpleSigning: any payload parses or fails, never panics.
func FuzzParseSimpleSigning(f *testing.F) {
	f.Add([]byte(`{"critical":{"image":{"docker-manifest-digest":"sha256:00"},"type":"cosign container image signature"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseSimpleSigning(data)
	})
}
