package build

import (
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/kms"
	"github.com/getsops/sops/v3/pgp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// -sops-fixtures re-creates the test keys (when missing) and re-encrypts the SOPS fixtures of
// testdata/build/repo/sops; encryption is not reproducible, so this only runs when asked.
var sopsFixtures = flag.Bool("sops-fixtures", false, "re-encrypt the SOPS test fixtures")

const keysDir = "../../testdata/build/keys"

// testKeys are the test-only keys committed in testdata/build/keys.
type testKeys struct {
	age      *age.X25519Identity
	wrongAge *age.X25519Identity
	pgp      *openpgp.Entity
}

func (k *testKeys) ageRecipient(t testing.TB) keys.MasterKey {
	return ageRecipient(t, k.age.Recipient().String())
}

func ageRecipient(t testing.TB, recipient string) keys.MasterKey {
	t.Helper()
	mk, err := sopsage.MasterKeyFromRecipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

func (k *testKeys) pgpRecipient() keys.MasterKey {
	return pgp.NewMasterKeyFromFingerprint(fmt.Sprintf("%X", k.pgp.PrimaryKey.Fingerprint))
}

// loadTestKeys reads the committed test keys, creating them first with -sops-fixtures.
func loadTestKeys(t testing.TB) *testKeys {
	t.Helper()
	if *sopsFixtures {
		writeTestKeys(t)
	}
	k := &testKeys{}
	for name, dst := range map[string]**age.X25519Identity{"test.agekey": &k.age, "wrong.agekey": &k.wrongAge} {
		data, err := os.ReadFile(filepath.Join(keysDir, name))
		if err != nil {
			t.Fatalf("%v (go test ./engine/build -run TestSOPSFixtures -sops-fixtures)", err)
		}
		ids, err := age.ParseIdentities(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		*dst = ids[0].(*age.X25519Identity)
	}
	data, err := os.ReadFile(filepath.Join(keysDir, "test.asc"))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	k.pgp = ring[0]
	return k
}

func writeTestKeys(t testing.TB) {
	t.Helper()
	if err := os.MkdirAll(keysDir, 0o755); err != nil {
		t.Fatal(err)
	}
	const header = "# TEST-ONLY key for converge's SOPS tests; never use it for anything else.\n"
	ageKeys := map[string][]byte{}
	for _, name := range []string{"test.agekey", "wrong.agekey"} {
		p := filepath.Join(keysDir, name)
		if data, err := os.ReadFile(p); err == nil {
			ageKeys[name] = data
			continue
		}
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		data := []byte(header + "# public key: " + id.Recipient().String() + "\n" + id.String() + "\n")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ageKeys[name] = data
	}
	ascPath := filepath.Join(keysDir, "test.asc")
	asc, err := os.ReadFile(ascPath)
	if err != nil {
		e, err := openpgp.NewEntity("converge test", "TEST ONLY", "sops-test@converge.invalid", nil)
		if err != nil {
			t.Fatal(err)
		}
		asc = armoredPrivateKey(t, e, nil)
		if err := os.WriteFile(ascPath, asc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sec := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "sops-keys", Namespace: "flux-system"},
		Data:       map[string][]byte{"identity.agekey": ageKeys["test.agekey"], "private.asc": asc, "README": []byte("test-only keys\n")}}
	out, err := yaml.Marshal(sec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keysDir, "sops-keys.yaml"), append([]byte("# TEST-ONLY keys (Flux's naming: *.agekey, *.asc)\n"), out...), 0o644); err != nil {
		t.Fatal(err)
	}
}

func armoredPrivateKey(t testing.TB, e *openpgp.Entity, passphrase []byte) []byte {
	t.Helper()
	if passphrase != nil {
		if err := e.EncryptPrivateKeys(passphrase, nil); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if passphrase != nil {
		err = e.SerializePrivateWithoutSigning(w, nil)
	} else {
		err = e.SerializePrivate(w, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// encryptSOPS encrypts plain as the sops CLI would (format, key groups, encrypted_regex), with one
// key group holding recipients. PGP recipients are encrypted to with pgpKey, in memory.
func encryptSOPS(t testing.TB, plain []byte, format formats.Format, encryptedRegex string, pgpKey *openpgp.Entity, recipients ...keys.MasterKey) []byte {
	t.Helper()
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		t.Fatal(err)
	}
	return encryptSOPSWithKey(t, plain, format, encryptedRegex, pgpKey, dataKey, recipients...)
}

// encryptSOPSWithKey is encryptSOPS with the given data key (for KMS recipients whose encrypted key
// the test set).
func encryptSOPSWithKey(t testing.TB, plain []byte, format formats.Format, encryptedRegex string, pgpKey *openpgp.Entity, dataKey []byte, recipients ...keys.MasterKey) []byte {
	t.Helper()
	store := storeFor(format)
	branches, err := store.LoadPlainFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recipients {
		switch mk := r.(type) {
		case *pgp.MasterKey:
			var buf bytes.Buffer
			aw, err := armor.Encode(&buf, "PGP MESSAGE", nil)
			if err != nil {
				t.Fatal(err)
			}
			pw, err := openpgp.Encrypt(aw, []*openpgp.Entity{pgpKey}, nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = pw.Write(dataKey)
			_ = pw.Close()
			_ = aw.Close()
			mk.SetEncryptedDataKey(buf.Bytes())
		case *kms.MasterKey:
			// left as the test set it: no KMS is reachable
		default:
			if err := r.Encrypt(dataKey); err != nil {
				t.Fatal(err)
			}
		}
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups: []sops.KeyGroup{recipients}, EncryptedRegex: encryptedRegex, Version: "3.13.3"}}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		t.Fatal(err)
	}
	tree.Metadata.LastModified = time.Now().UTC().Truncate(time.Second)
	tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		t.Fatal(err)
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sopsFixture is one encrypted file of testdata/build/repo/sops; secrets are values that must not
// appear in the encrypted file.
type sopsFixture struct {
	path    string
	format  formats.Format
	regex   string
	pgp     bool
	plain   string
	secrets []string
}

const k8sRegex = "^(data|stringData)$"

var sopsFixtureFiles = []sopsFixture{
	{path: "age/db-credentials.enc.yaml", format: formats.Yaml, regex: k8sRegex, plain: `apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: apps
type: Opaque
stringData:
  username: app
  password: correct-horse-battery-staple
data:
  ca.crt: ZmFrZS1jYS1mb3ItdGVzdHMK
`, secrets: []string{"correct-horse-battery-staple", "ZmFrZS1jYS1mb3ItdGVzdHMK"}},
	{path: "age/settings.enc.json", format: formats.Json, regex: k8sRegex, plain: `{
  "apiVersion": "v1",
  "kind": "Secret",
  "metadata": {"name": "json-settings", "namespace": "apps"},
  "stringData": {"api_key": "json-api-key-42", "region": "${region:=eu-west-1}"}
}
`, secrets: []string{"json-api-key-42"}},
	{path: "age/app.env", format: formats.Dotenv, plain: "LOG_LEVEL=debug\nSMTP_PASSWORD=dotenv-smtp-pass\n", secrets: []string{"dotenv-smtp-pass"}},
	{path: "age/config.ini", format: formats.Ini, plain: "[database]\nhost = db.internal\npassword = ini-db-pass\n", secrets: []string{"ini-db-pass"}},
	{path: "age/tls.key.enc", format: formats.Binary, plain: "-----BEGIN FAKE KEY-----\nbinary-tls-key-material\n-----END FAKE KEY-----\n", secrets: []string{"binary-tls-key-material"}},
	{path: "age/patch.enc.yaml", format: formats.Yaml, regex: k8sRegex, plain: `apiVersion: v1
kind: Secret
metadata:
  name: embedded
  namespace: apps
stringData:
  patched: from-an-encrypted-patch
`, secrets: []string{"from-an-encrypted-patch"}},
	{path: "pgp/api-token.enc.yaml", format: formats.Yaml, regex: k8sRegex, pgp: true, plain: `apiVersion: v1
kind: Secret
metadata:
  name: api-token
  namespace: apps
stringData:
  token: pgp-protected-token
`, secrets: []string{"pgp-protected-token"}},
}

// embeddedDotenv is the plain form of the dotenv file embedded, encrypted, in a Secret data entry.
const embeddedDotenv = "EMBEDDED_TOKEN=embedded-dotenv-value\n"

func writeSOPSFixtures(t testing.TB, k *testKeys) {
	t.Helper()
	dir := filepath.Join(repo, "sops")
	for _, f := range sopsFixtureFiles {
		r := k.ageRecipient(t)
		if f.pgp {
			r = k.pgpRecipient()
		}
		out := encryptSOPS(t, []byte(f.plain), f.format, f.regex, k.pgp, r)
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f.path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.path), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	enc := encryptSOPS(t, []byte(embeddedDotenv), formats.Dotenv, "", nil, k.ageRecipient(t))
	sec := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "embedded", Namespace: "apps"},
		Data:       map[string][]byte{"app.env": enc, "plain": []byte("not encrypted\n")}}
	out, err := yaml.Marshal(sec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "age/embedded.yaml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSOPSFixtures checks that the committed fixtures are encrypted: each has SOPS metadata and
// none of its secret values in clear. With -sops-fixtures it re-encrypts them first.
func TestSOPSFixtures(t *testing.T) {
	k := loadTestKeys(t)
	if *sopsFixtures {
		writeSOPSFixtures(t, k)
	}
	for _, f := range sopsFixtureFiles {
		data, err := os.ReadFile(filepath.Join(repo, "sops", f.path))
		if err != nil {
			t.Fatalf("%v (go test ./engine/build -run TestSOPSFixtures -sops-fixtures)", err)
		}
		if !bytes.Contains(data, markerOf(f.format)) {
			t.Errorf("%s: no SOPS metadata", f.path)
		}
		for _, s := range f.secrets {
			if strings.Contains(string(data), s) {
				t.Errorf("%s holds %q in clear", f.path, s)
			}
		}
	}
}
