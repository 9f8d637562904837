package build

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/kms"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/engine/cloud"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

// keySecret is the decryption Secret of the test repository, from testdata/build/keys.
func keySecret(t *testing.T) *corev1.Secret {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(keysDir, "sops-keys.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{}
	if err := yaml.UnmarshalStrict(data, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func readKey(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(keysDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

const sopsSpec = "  path: ./sops/age\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-keys\n  postBuild:\n    substitute:\n      cluster: test\n"

func renderObjects(t *testing.T, res *Result) string {
	t.Helper()
	var out strings.Builder
	for _, o := range res.Objects {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("---\n")
		out.Write(y)
	}
	return out.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("../../testdata/build/golden", name)
	goldenfile.CheckString(t, golden, got)
}

// TestSOPSGolden builds the encrypted fixtures with keys from the decryption Secret (Flux's way) and
// from local keys only. Flux's documented result: the decrypted objects without their sops metadata,
// secretGenerator files and envs decrypted before kustomize reads them (so the generated Secret holds
// clear values), encrypted patches applied, Secret data entries holding an encrypted dotenv file
// decrypted in place, and substitution running on the decrypted values.
func TestSOPSGolden(t *testing.T) {
	plainSecrets := func() *LocalResources { l := testResources(); l.AddSecret(keySecret(t)); return l }
	localAge := &DecryptionKeys{}
	if err := localAge.Add("test.agekey", readKey(t, "test.agekey")); err != nil {
		t.Fatal(err)
	}
	localPGP := &DecryptionKeys{}
	if err := localPGP.Add("test.asc", readKey(t, "test.asc")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, spec, golden string
		secrets            *LocalResources
		local              *DecryptionKeys
	}{
		{"age from the decryption Secret", sopsSpec, "sops-age.yaml", plainSecrets(), nil},
		{"age from a local key, Secret absent", sopsSpec, "sops-age.yaml", testResources(), localAge},
		{"pgp from the decryption Secret", "  path: ./sops/pgp\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-keys\n", "sops-pgp.yaml", plainSecrets(), nil},
		{"pgp from a local key, no secretRef", "  path: ./sops/pgp\n  decryption:\n    provider: sops\n", "sops-pgp.yaml", nil, localPGP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No cloud identity: the instance metadata service is never asked.
			noCloud := cloud.New(cloud.Env{Getenv: func(k string) string { return map[string]string{"AWS_EC2_METADATA_DISABLED": "true"}[k] }})
			b := &Builder{Strict: true, LocalKeys: tt.local, Cloud: noCloud}
			if tt.secrets != nil {
				b.Secrets, b.ConfigMaps = tt.secrets, tt.secrets
			}
			res, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("secrets", tt.spec)), repo)
			if err != nil {
				t.Fatal(err)
			}
			got := renderObjects(t, res)
			if strings.Contains(got, "ENC[") || strings.Contains(got, "sops") {
				t.Errorf("output still encrypted:\n%s", got)
			}
			checkGolden(t, tt.golden, got)
		})
	}
}

func TestSOPSLeftEncrypted(t *testing.T) {
	tests := []struct{ name, spec string }{
		{"no spec.decryption", "  path: ./sops/pgp\n"},
		{"decrypt: disabled annotation", "  path: ./sops/pgp\n  decryption:\n    provider: sops\n  commonMetadata:\n    annotations:\n      unused: x\n"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := repo
			if i == 1 {
				root = t.TempDir()
				data, err := os.ReadFile(filepath.Join(repo, "sops/pgp/api-token.enc.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				data = bytes.Replace(data, []byte("    name: api-token\n"), []byte("    name: api-token\n    annotations:\n        kustomize.toolkit.fluxcd.io/decrypt: Disabled\n"), 1)
				_ = os.MkdirAll(filepath.Join(root, "sops/pgp"), 0o755)
				if err := os.WriteFile(filepath.Join(root, "sops/pgp/api-token.enc.yaml"), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b := &Builder{Strict: true} // no keys at all: decryption must not even be attempted
			res, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("plain", tt.spec)), root)
			if err != nil {
				t.Fatal(err)
			}
			if got := renderObjects(t, res); !strings.Contains(got, "ENC[AES256_GCM") || !strings.Contains(got, "sops:") {
				t.Errorf("object was decrypted:\n%s", got)
			}
		})
	}
}

func TestSOPSErrors(t *testing.T) {
	k := loadTestKeys(t)
	wrong := &DecryptionKeys{}
	if err := wrong.Add("wrong.agekey", readKey(t, "wrong.agekey")); err != nil {
		t.Fatal(err)
	}
	// A file encrypted for an AWS KMS key only, and no AWS credentials at all: the chain says so.
	kmsOnly := t.TempDir()
	kmsKey := kms.NewMasterKeyFromArn("arn:aws:kms:eu-west-1:111122223333:key/test", nil, "")
	kmsKey.EncryptedKey = "not-used"
	writeEncrypted := func(dir, name string, data []byte) {
		_ = os.MkdirAll(filepath.Join(dir, "s"), 0o755)
		if err := os.WriteFile(filepath.Join(dir, "s", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeEncrypted(kmsOnly, "secret.yaml", encryptSOPS(t, []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: kms\n  namespace: apps\nstringData:\n  a: b\n"), formats.Yaml, k8sRegex, nil, kmsKey))
	badEnv := t.TempDir()
	writeEncrypted(badEnv, "kustomization.yaml", []byte("secretGenerator:\n  - name: s\n    envs: [app.env]\n"))
	writeEncrypted(badEnv, "app.env", encryptSOPS(t, []byte("A=b\n"), formats.Dotenv, "", nil, ageRecipient(t, k.wrongAge.Recipient().String())))

	badSecret := keySecret(t)
	badSecret.Data = map[string][]byte{"broken.agekey": []byte("AGE-SECRET-KEY-1NOTAKEY")}
	pgpOnlyPublic := keySecret(t)
	var pub bytes.Buffer
	_ = k.pgp.Serialize(&pub)
	pgpOnlyPublic.Data = map[string][]byte{"public.asc": pub.Bytes()}

	withSecret := func(s *corev1.Secret) *LocalResources { l := NewLocalResources(); l.AddSecret(s); return l }
	const ref = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-keys\n"
	tests := []struct {
		name, spec, root string
		secrets          *LocalResources
		local            *DecryptionKeys
		want             []string
	}{
		{name: "wrong local key", spec: "  path: ./sops/pgp\n" + ref, local: wrong, secrets: NewLocalResources(),
			want: []string{"Kustomization flux-system/t: sops/pgp/api-token.enc.yaml: Secret apps/api-token: SOPS decryption: none of the keys given (1 age, 0 PGP, from wrong.agekey) can decrypt it: ", "PGP EC50740203DAE62C98C8C099C46243D1D8A89A36: no PGP private key given"}},
		{name: "wrong key for a secretGenerator env file", spec: "  path: ./s\n" + ref, root: badEnv, secrets: withSecret(keySecret(t)),
			want: []string{"Kustomization flux-system/t: s/app.env: SOPS decryption: none of the keys given (1 age, 1 PGP, from Secret flux-system/sops-keys entry identity.agekey, Secret flux-system/sops-keys entry private.asc) can decrypt it",
				"age age1m87q42authkcurazhsppnkqg9ecr2c7czz8d70dkn62w8hhv8pls0f6fhc: identity did not match any of the recipients"}},
		{name: "decryption Secret missing and no local key", spec: "  path: ./sops/pgp\n" + ref, secrets: NewLocalResources(),
			want: []string{"sops/pgp/api-token.enc.yaml: Secret apps/api-token: SOPS decryption: decryption Secret flux-system/sops-keys: secrets \"flux-system/sops-keys\" not found"}},
		{name: "no way to read Secrets", spec: "  path: ./sops/pgp\n" + ref,
			want: []string{"decryption Secret flux-system/sops-keys: no cluster or local resource supplies Secrets, and no local key was given"}},
		{name: "no key at all", spec: "  path: ./sops/pgp\n  decryption:\n    provider: sops\n",
			want: []string{"SOPS decryption: no decryption key was given; it is encrypted for pgp EC50740203DAE62C98C8C099C46243D1D8A89A36"}},
		{name: "malformed age key in the Secret", spec: "  path: ./sops/pgp\n" + ref, secrets: withSecret(badSecret),
			want: []string{"decryption Secret flux-system/sops-keys entry broken.agekey: age identities:"}},
		{name: "public PGP key in the Secret", spec: "  path: ./sops/pgp\n" + ref, secrets: withSecret(pgpOnlyPublic),
			want: []string{"entry public.asc: holds no PGP private key"}},
		{name: "KMS key", spec: "  path: ./s\n  decryption:\n    provider: sops\n", root: kmsOnly, local: wrong,
			want: []string{"s/secret.yaml: Secret apps/kms: SOPS decryption: none of the keys given", "AWS KMS arn:aws:kms:eu-west-1:111122223333:key/test: no AWS credentials"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No cloud identity: the instance metadata service is never asked.
			noCloud := cloud.New(cloud.Env{Getenv: func(k string) string { return map[string]string{"AWS_EC2_METADATA_DISABLED": "true"}[k] }})
			b := &Builder{Strict: true, LocalKeys: tt.local, Cloud: noCloud}
			if tt.secrets != nil {
				b.Secrets = tt.secrets
			}
			root := repo
			if tt.root != "" {
				root = tt.root
			}
			_, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("t", tt.spec)), root)
			if err == nil {
				t.Fatal("expected an error")
			}
			t.Log(err)
			var be *Error
			if !errors.As(err, &be) || be.Kustomization != "flux-system/t" {
				t.Errorf("error does not name the Kustomization: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDecryptionKeysAdd(t *testing.T) {
	k := loadTestKeys(t)
	locked, err := openpgp.NewEntity("locked", "", "locked@converge.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, data, want string
		age, pgp         int
	}{
		{name: "age file with comments", data: string(readKey(t, "test.agekey")), age: 1},
		{name: "two age identities", data: k.age.String() + "\n\n" + k.wrongAge.String() + "\n", age: 2},
		{name: "armored PGP private key", data: string(readKey(t, "test.asc")), pgp: 1},
		{name: "passphrase-protected PGP key", data: string(armoredPrivateKey(t, locked, []byte("secret"))), want: "protected by a passphrase"},
		{name: "not a key", data: "hello", want: "neither age identities"},
		{name: "broken age key", data: "AGE-SECRET-KEY-1XYZ", want: "age identities"},
		{name: "broken PGP block", data: "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n-----END PGP PRIVATE KEY BLOCK-----\n", want: "PGP key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := &DecryptionKeys{}
			err := keys.Add("f", []byte(tt.data))
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(keys.age) != tt.age || len(keys.pgp) != tt.pgp {
				t.Errorf("%d age, %d PGP keys; want %d, %d", len(keys.age), len(keys.pgp), tt.age, tt.pgp)
			}
		})
	}
}

func TestDecryptionKeysFromEnv(t *testing.T) {
	k := loadTestKeys(t)
	file := filepath.Join(keysDir, "wrong.agekey")
	env := map[string]string{"SOPS_AGE_KEY": k.age.String(), "SOPS_AGE_KEY_FILE": file}
	keys := &DecryptionKeys{}
	if err := keys.AddFromEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if len(keys.age) != 2 || keys.sources[0] != "SOPS_AGE_KEY" || keys.sources[1] != file {
		t.Errorf("keys %d from %v", len(keys.age), keys.sources)
	}
	env["SOPS_AGE_KEY_FILE"] = "/nonexistent/keys.txt"
	if err := (&DecryptionKeys{}).AddFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "SOPS_AGE_KEY_FILE") {
		t.Errorf("error %v", err)
	}
}

// TestDecryptFormats round-trips every SOPS format through encryption with the sops library and
// decryption, with both key types, and checks the recovered document is the original.
func TestDecryptFormats(t *testing.T) {
	k := loadTestKeys(t)
	keys := &DecryptionKeys{}
	if err := keys.Add("age", readKey(t, "test.agekey")); err != nil {
		t.Fatal(err)
	}
	if err := keys.Add("pgp", readKey(t, "test.asc")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		format formats.Format
		plain  string
	}{
		{formats.Yaml, "a: 1\nb:\n    c: secret\n"},
		{formats.Json, "{\n\"a\": \"secret\",\n\"n\": 2\n}\n"},
		{formats.Dotenv, "A=secret\nB=two words\n"},
		{formats.Ini, "[s]\nkey = secret\n"},
		{formats.Binary, "\x00\x01binary secret\n"},
	}
	for _, tt := range tests {
		for _, pgpKey := range []bool{false, true} {
			t.Run(formatName(tt.format)+map[bool]string{false: " age", true: " pgp"}[pgpKey], func(t *testing.T) {
				r := k.ageRecipient(t)
				if pgpKey {
					r = k.pgpRecipient()
				}
				enc := encryptSOPS(t, []byte(tt.plain), tt.format, "", k.pgp, r)
				if strings.Contains(string(enc), "secret") {
					t.Fatalf("not encrypted: %s", enc)
				}
				if f, ok := detectFormat(enc); !ok || (f != tt.format && !(tt.format == formats.Binary && f == formats.Json)) {
					t.Errorf("detected %v, %v", f, ok)
				}
				got, err := decryptDocument(keys, enc, tt.format, tt.format)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.plain {
					t.Errorf("decrypted %q, want %q", got, tt.plain)
				}
			})
		}
	}
}

// FuzzDecrypt feeds arbitrary documents to decryption in every format: it must return an error or a
// result, never panic or hang.
func FuzzDecrypt(f *testing.F) {
	for _, fx := range sopsFixtureFiles {
		data, err := os.ReadFile(filepath.Join(repo, "sops", fx.path))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(fx.format))
	}
	f.Add([]byte("sops_mac=ENC[AES256_GCM,data:,iv:,tag:,type:str]\n"), uint8(formats.Dotenv))
	f.Add([]byte("[sops]\nmac = ENC[\n"), uint8(formats.Ini))
	f.Add([]byte(`{"sops": {"mac": "ENC[x]", "age": [{"recipient": "age1", "enc": "x"}]}}`), uint8(formats.Json))
	keys := &DecryptionKeys{}
	data, err := os.ReadFile(filepath.Join(keysDir, "test.agekey"))
	if err != nil {
		f.Fatal(err)
	}
	if err := keys.Add("age", data); err != nil {
		f.Fatal(err)
	}
	d := &decryptor{loaded: true, keys: keys}
	f.Fuzz(func(t *testing.T, doc []byte, format uint8) {
		in := formats.Format(format % 5)
		out, err := d.decrypt(context.Background(), doc, in, in)
		if err == nil && out == nil {
			t.Error("no result and no error")
		}
		_, _ = detectFormat(doc)
	})
}

// FuzzDecryptionKeys feeds arbitrary key material to the key parser.
func FuzzDecryptionKeys(f *testing.F) {
	for _, name := range []string{"test.agekey", "test.asc"} {
		data, err := os.ReadFile(filepath.Join(keysDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n-----END PGP PRIVATE KEY BLOCK-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k := &DecryptionKeys{}
		if err := k.Add("fuzz", data); err == nil && k.Empty() {
			t.Error("no error and no key")
		}
	})
}
