package sopsdoc

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	agearmor "filippo.io/age/armor"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/kms"
	"github.com/getsops/sops/v3/stores/dotenv"
	"github.com/getsops/sops/v3/stores/ini"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
)

// The sops library is the oracle here: it encrypts, and what it writes when it decrypts is what Emit
// must write. Only tests link it.

func sopsStore(f formats.Format) sops.Store {
	switch f {
	case formats.Dotenv:
		return dotenv.NewStore(&config.DotenvStoreConfig{})
	case formats.Ini:
		return ini.NewStore(&config.INIStoreConfig{})
	case formats.Json:
		return sopsjson.NewStore(&config.JSONStoreConfig{})
	case formats.Yaml:
		return sopsyaml.NewStore(&config.YAMLStoreConfig{})
	}
	return sopsjson.NewBinaryStore(&config.JSONBinaryStoreConfig{})
}

type fixture struct {
	id       *age.X25519Identity
	recipent keys.MasterKey
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := sopsage.MasterKeyFromRecipient(id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{id: id, recipent: mk}
}

// ageDecrypt is the callback DataKey takes, for age keys only.
func (f *fixture) ageDecrypt(k MasterKey) ([]byte, error) {
	if k.Type != KeyTypeAge {
		return nil, errors.New("not age")
	}
	r, err := age.Decrypt(agearmor.NewReader(strings.NewReader(k.EncryptedKey)), f.id)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// encrypt encrypts plain with the sops library (metadata md's rules and groups; the fixture's age key
// when md has none) and returns the document and what sops writes when it decrypts it.
func encrypt(t testing.TB, f *fixture, plain string, format formats.Format, md sops.Metadata) (enc, want []byte) {
	t.Helper()
	store := sopsStore(format)
	branches, err := store.LoadPlainFile([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	if md.KeyGroups == nil {
		md.KeyGroups = []sops.KeyGroup{{f.recipent}}
	}
	md.Version = "3.13.3"
	tree := sops.Tree{Branches: branches, Metadata: md}
	dataKey := make([]byte, 32)
	_, _ = rand.Read(dataKey)
	if len(md.KeyGroups) == 1 {
		for _, k := range md.KeyGroups[0] {
			if _, ok := k.(*kms.MasterKey); !ok {
				if err := k.Encrypt(dataKey); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		t.Fatal(err)
	}
	tree.Metadata.LastModified = time.Now().UTC().Truncate(time.Second)
	if tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	if enc, err = store.EmitEncryptedFile(tree); err != nil {
		t.Fatal(err)
	}
	back, err := store.LoadEncryptedFile(enc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := back.Decrypt(dataKey, aes.NewCipher()); err != nil {
		t.Fatal(err)
	}
	if want, err = store.EmitPlainFile(back.Branches); err != nil {
		t.Fatal(err)
	}
	return enc, want
}

const yamlDoc = `# head comment
apiVersion: v1
kind: Secret
metadata:
    name: s # inline
    labels:
        app: x
stringData:
    # about the password
    password: hunter2
    count: 42
    ratio: 1.5
    on: true
    empty: ""
    nothing: null
    list:
        - a # first
        - 2
        # between
        - nested: value
    comment_unencrypted: left in clear
data:
    ca.crt: ZmFrZQ==
# foot comment
`

func TestDecryptAsSOPSWrites(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		format formats.Format
		plain  string
		md     sops.Metadata
	}{
		{"yaml default rules", formats.Yaml, yamlDoc, sops.Metadata{UnencryptedSuffix: "_unencrypted"}},
		{"yaml encrypted_regex", formats.Yaml, yamlDoc, sops.Metadata{EncryptedRegex: "^(data|stringData)$"}},
		{"yaml unencrypted_regex", formats.Yaml, yamlDoc, sops.Metadata{UnencryptedRegex: "^(metadata|kind)$"}},
		{"yaml encrypted_suffix", formats.Yaml, "a_secret: x\nb: y\n", sops.Metadata{EncryptedSuffix: "_secret"}},
		{"yaml encrypted_comment_regex", formats.Yaml, "a: 1\n# sops:enc\nb: secret\nc: 3\n", sops.Metadata{EncryptedCommentRegex: "sops:enc"}},
		{"yaml unencrypted_comment_regex", formats.Yaml, "a: 1\n# keep\nb: clear\nc: 3\n", sops.Metadata{UnencryptedCommentRegex: "keep"}},
		{"yaml mac_only_encrypted", formats.Yaml, yamlDoc, sops.Metadata{EncryptedRegex: "^stringData$", MACOnlyEncrypted: true}},
		{"yaml two documents", formats.Yaml, "a: 1\n---\nb: two\n", sops.Metadata{UnencryptedSuffix: "_unencrypted"}},
		{"json", formats.Json, `{"a": "secret", "n": 2, "f": 2.5, "b": false, "z": null, "l": [1, "x", {"k": "v"}], "m": {"x": "<&>"}}`, sops.Metadata{UnencryptedSuffix: "_unencrypted"}},
		{"dotenv", formats.Dotenv, "# comment\nA=secret\nB=two words\nC=multi\\nline\n", sops.Metadata{UnencryptedSuffix: "_unencrypted"}},
		{"ini", formats.Ini, "; top\n[s]\n# about key\nkey = secret\nother = 2\n[t]\nx = y\n", sops.Metadata{UnencryptedSuffix: "_unencrypted"}},
		{"binary", formats.Binary, "\x00\x01binary secret\n", sops.Metadata{UnencryptedSuffix: "_unencrypted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, want := encrypt(t, f, tt.plain, tt.format, tt.md)
			doc, err := Parse(enc, tt.format)
			if err != nil {
				t.Fatal(err)
			}
			key, err := doc.DataKey(f.ageDecrypt)
			if err != nil {
				t.Fatal(err)
			}
			if err := doc.Decrypt(key); err != nil {
				t.Fatal(err)
			}
			got, err := doc.Emit(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decrypted\n%s\nsops writes\n%s", got, want)
			}
		})
	}
}

// TestDecryptToOtherFormats writes a decrypted YAML document in every other structured format as sops
// writes it.
func TestDecryptToOtherFormats(t *testing.T) {
	f := newFixture(t)
	enc, _ := encrypt(t, f, "a: secret\nb:\n    c: 1\n    d: [x, 2.0]\n", formats.Yaml, sops.Metadata{UnencryptedSuffix: "_unencrypted"})
	back, err := sopsStore(formats.Yaml).LoadPlainFile([]byte("a: secret\nb:\n    c: 1\n    d: [x, 2.0]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []formats.Format{formats.Json, formats.Yaml} {
		want, err := sopsStore(out).EmitPlainFile(back)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := Parse(enc, formats.Yaml)
		if err != nil {
			t.Fatal(err)
		}
		key, err := doc.DataKey(f.ageDecrypt)
		if err != nil {
			t.Fatal(err)
		}
		if err := doc.Decrypt(key); err != nil {
			t.Fatal(err)
		}
		got, err := doc.Emit(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("format %d: got\n%s\nwant\n%s", out, got, want)
		}
	}
	doc, _ := Parse(enc, formats.Yaml)
	key, _ := doc.DataKey(f.ageDecrypt)
	_ = doc.Decrypt(key)
	if _, err := doc.Emit(formats.Dotenv); err == nil || !strings.Contains(err.Error(), "nested value") {
		t.Errorf("dotenv of a nested document: %v", err)
	}
}

// TestMAC: a value changed after encryption (here one left in clear) fails the MAC check, which
// DecryptIgnoringMAC skips.
func TestMAC(t *testing.T) {
	f := newFixture(t)
	enc, _ := encrypt(t, f, "name_unencrypted: a\npassword: secret\n", formats.Yaml, sops.Metadata{UnencryptedSuffix: "_unencrypted"})
	tests := []struct {
		name    string
		doc     []byte
		ignore  bool
		wantErr error
	}{
		{name: "intact", doc: enc},
		{name: "clear value changed", doc: bytes.Replace(enc, []byte("name_unencrypted: a"), []byte("name_unencrypted: b"), 1), wantErr: ErrMACMismatch},
		{name: "clear value changed, MAC ignored", doc: bytes.Replace(enc, []byte("name_unencrypted: a"), []byte("name_unencrypted: b"), 1), ignore: true},
		{name: "key added", doc: bytes.Replace(enc, []byte("name_unencrypted: a\n"), []byte("name_unencrypted: a\nextra_unencrypted: c\n"), 1), wantErr: ErrMACMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse(tt.doc, formats.Yaml)
			if err != nil {
				t.Fatal(err)
			}
			key, err := doc.DataKey(f.ageDecrypt)
			if err != nil {
				t.Fatal(err)
			}
			if tt.ignore {
				err = doc.DecryptIgnoringMAC(key)
			} else {
				err = doc.Decrypt(key)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			// A refused document is left as it was: still encrypted, nothing half-decrypted.
			out, eerr := doc.Emit(formats.Yaml)
			if eerr != nil {
				t.Fatal(eerr)
			}
			if encrypted := bytes.Contains(out, []byte("ENC[")); encrypted != (err != nil) {
				t.Errorf("after error %v the document still encrypted = %v:\n%s", err, encrypted, out)
			}
		})
	}
	// An encrypted value moved to another key does not decrypt: its path is authenticated.
	moved := bytes.Replace(enc, []byte("password:"), []byte("passw0rd:"), 1)
	doc, err := Parse(moved, formats.Yaml)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := doc.DataKey(f.ageDecrypt)
	if err := doc.Decrypt(key); err == nil || !strings.Contains(err.Error(), "at passw0rd") || strings.Contains(err.Error(), "ENC[") {
		t.Errorf("moved value: %v", err)
	}
}

// TestKeyGroups: keys other than age and PGP are read and named, never skipped; Shamir shares of
// several groups are combined.
func TestKeyGroups(t *testing.T) {
	f := newFixture(t)
	kmsKey := kms.NewMasterKeyFromArn("arn:aws:kms:eu-west-1:111122223333:key/test", nil, "")
	kmsKey.EncryptedKey = "not-used"
	enc, _ := encrypt(t, f, "a: b\n", formats.Yaml, sops.Metadata{UnencryptedSuffix: "_unencrypted", KeyGroups: []sops.KeyGroup{{kmsKey}}})
	doc, err := Parse(enc, formats.Yaml)
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Metadata.KeyGroups; len(got) != 1 || len(got[0]) != 1 || got[0][0].Type != KeyTypeAWSKMS || got[0][0].ID != "arn:aws:kms:eu-west-1:111122223333:key/test" {
		t.Fatalf("key groups %+v", got)
	}
	if _, err := doc.DataKey(f.ageDecrypt); err == nil || !strings.Contains(err.Error(), "AWS KMS arn:aws:kms:eu-west-1:111122223333:key/test: not age") {
		t.Errorf("KMS-only document: %v", err)
	}

	// Two groups, both needed: the document's data key is split between them.
	other := newFixture(t)
	both := func(k MasterKey) ([]byte, error) {
		if b, err := f.ageDecrypt(k); err == nil {
			return b, nil
		}
		return other.ageDecrypt(k)
	}
	store := sopsStore(formats.Yaml)
	branches, _ := store.LoadPlainFile([]byte("a: shared secret\n"))
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{UnencryptedSuffix: "_unencrypted", Version: "3.13.3",
		KeyGroups: []sops.KeyGroup{{f.recipent}, {other.recipent}}, ShamirThreshold: 2}}
	dataKey, errs := tree.GenerateDataKey()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		t.Fatal(err)
	}
	tree.Metadata.LastModified = time.Now().UTC().Truncate(time.Second)
	tree.Metadata.MessageAuthenticationCode, _ = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	shamirDoc, err := store.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		decrypt func(MasterKey) ([]byte, error)
		want    string
	}{
		{"both groups", both, ""},
		{"one group of two", f.ageDecrypt, "1 of 2 key groups decrypted, 2 needed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse(shamirDoc, formats.Yaml)
			if err != nil {
				t.Fatal(err)
			}
			key, err := doc.DataKey(tt.decrypt)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := doc.Decrypt(key); err != nil {
				t.Fatal(err)
			}
			if got, _ := doc.Emit(formats.Yaml); string(got) != "a: shared secret\n" {
				t.Errorf("decrypted %q", got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		format formats.Format
		want   string
	}{
		{"no metadata", "a: b\n", formats.Yaml, "sops metadata not found"},
		{"no keys", "a: b\nsops:\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: x\n", formats.Yaml, "no keys found"},
		{"bad lastmodified", "a: b\nsops:\n    lastmodified: yesterday\n    age: []\n", formats.Yaml, "lastmodified"},
		{"two rules", "sops_lastmodified=2024-01-01T00:00:00Z\nsops_encrypted_regex=a\nsops_unencrypted_regex=b\nsops_age__list_0__map_recipient=age1\n", formats.Dotenv, "more than one of"},
		{"dotenv line without =", "A=b\nsecret-without-equals\n", formats.Dotenv, "without '='"},
		{"json array", `[1]`, formats.Json, "not a JSON object"},
		{"yaml sequence", "- a\n", formats.Yaml, "not valid YAML"},
		{"duplicate keys", "a: 1\na: 2\n", formats.Yaml, "already defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.doc), tt.format)
			if err == nil {
				_, err = doc.Metadata.rules()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret-without-equals") {
				t.Errorf("error quotes the document: %v", err)
			}
		})
	}
}

// FuzzParse feeds arbitrary documents to Parse, Decrypt and Emit in every format: errors, never a panic
// or a hang.
func FuzzParse(f *testing.F) {
	fx := newFixture(f)
	for i, format := range []formats.Format{formats.Binary, formats.Dotenv, formats.Ini, formats.Json, formats.Yaml} {
		plain := []string{"bin", "A=b\n#c\n", "[s]\nk = v\n", `{"a": [1, {"b": true}]}`, yamlDoc}[i]
		enc, _ := encrypt(f, fx, plain, format, sops.Metadata{UnencryptedSuffix: "_unencrypted"})
		f.Add(enc, uint8(format))
	}
	f.Add([]byte("sops_a__list_1=x\nsops_a__list_0__map_b=y\n"), uint8(formats.Dotenv))
	f.Add([]byte("[sops]\nage__list_0__map_enc = x\\ny\n"), uint8(formats.Ini))
	f.Fuzz(func(t *testing.T, data []byte, format uint8) {
		in := formats.Format(format % 5)
		doc, err := Parse(data, in)
		if err != nil {
			return
		}
		if key, err := doc.DataKey(fx.ageDecrypt); err == nil {
			_ = doc.Decrypt(key)
		} else {
			_ = doc.DecryptIgnoringMAC(make([]byte, 32))
		}
		for out := formats.Format(0); out < 5; out++ {
			_, _ = doc.Emit(out)
		}
	})
}
