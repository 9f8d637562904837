package build

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// TestLocalResourceSOPS: a local resource file may be SOPS-encrypted (YAML or JSON, as the sops CLI
// writes them); it is decrypted with the local keys, and refused, naming the file, without them.
func TestLocalResourceSOPS(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, plain string, format formats.Format) string {
		p := filepath.Join(dir, name)
		enc := encryptSOPS(t, []byte(plain), format, k8sRegex, nil, ageRecipient(t, id.Recipient().String()))
		if err := os.WriteFile(p, enc, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secretFile := write("secret.enc.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: vars\n  namespace: flux-system\nstringData:\n  password: local-sops-pass\ndata:\n  token: "+
		base64.StdEncoding.EncodeToString([]byte("tok-123"))+"\n", formats.Yaml)
	configMapFile := write("vars.enc.json", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vars", "namespace": "flux-system"}, "data": {"region": "eu-north-1"}}`, formats.Json)
	dotenv := filepath.Join(dir, "vars.env")
	if err := os.WriteFile(dotenv, encryptSOPS(t, []byte("A=b\n"), formats.Dotenv, "", nil, ageRecipient(t, id.Recipient().String())), 0o644); err != nil {
		t.Fatal(err)
	}
	keysOf := func(ids ...*age.X25519Identity) *DecryptionKeys {
		k := &DecryptionKeys{}
		for _, i := range ids {
			if err := k.AddAge("test", []byte(i.String())); err != nil {
				t.Fatal(err)
			}
		}
		return k
	}
	tests := []struct {
		name, kind, file string
		keys             *DecryptionKeys
		err              string
		noKey            bool
	}{
		{name: "Secret, YAML", kind: "Secret", file: secretFile, keys: keysOf(id)},
		{name: "ConfigMap, JSON", kind: "ConfigMap", file: configMapFile, keys: keysOf(other, id)},
		{name: "no key", kind: "Secret", file: secretFile, noKey: true,
			err: "local resource " + secretFile + ": SOPS decryption: no decryption key was given; it is encrypted for age " + id.Recipient().String()},
		{name: "wrong key", kind: "Secret", file: secretFile, keys: keysOf(other), err: "local resource " + secretFile + ": SOPS decryption: none of the keys given"},
		{name: "not a manifest format", kind: "ConfigMap", file: dotenv, keys: keysOf(id), err: "local resource " + dotenv + ": SOPS-encrypted dotenv file: a manifest must be YAML or JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLocalResources()
			l.Keys = tt.keys
			err := l.AddFile(tt.kind, "flux-system", "vars", tt.file)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				if errors.Is(err, ErrNoDecryptionKey) != tt.noKey {
					t.Errorf("errors.Is(%v, ErrNoDecryptionKey) = %v", err, !tt.noKey)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tt.kind == "Secret" {
				s, err := l.GetSecret(ctx, "flux-system", "vars")
				if err != nil {
					t.Fatal(err)
				}
				if got := string(s.Data["password"]); got != "local-sops-pass" {
					t.Errorf("password %q", got)
				}
				if got := string(s.Data["token"]); got != "tok-123" {
					t.Errorf("token %q", got)
				}
				return
			}
			cm, err := l.GetConfigMap(ctx, "flux-system", "vars")
			if err != nil {
				t.Fatal(err)
			}
			if cm.Data["region"] != "eu-north-1" {
				t.Errorf("data %v", cm.Data)
			}
		})
	}
}

// TestMaskSOPS: what SOPS encrypted prints as `flux build` prints it; nothing else changes.
func TestMaskSOPS(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	const sopsFile = "sops:\n  mac: ENC[AES256_GCM,data:x]\n"
	tests := []struct {
		name, in, want string
	}{
		{name: "encrypted Secret", in: "kind: Secret\ndata:\n  a: RU5DWw==\nstringData:\n  b: ENC[x]\nsops:\n  mac: ENC[AES256_GCM,data:x]\n  age: []\n",
			want: "data:\n  a: " + b64("**SOPS**") + "\nkind: Secret\nstringData:\n  b: '**SOPS**'\n"},
		{name: "docker config", in: "kind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: " + b64("{}") + "\n" + sopsFile,
			want: "data:\n  .dockerconfigjson: " + b64(`{"mask":"**SOPS**"}`) + "\nkind: Secret\ntype: kubernetes.io/dockerconfigjson\n"},
		{name: "encrypted entries", in: "kind: Secret\ndata:\n  file: " + b64(sopsFile) + "\n  plain: " + b64("clear") + "\nstringData:\n  s: 'sops_mac=ENC[x]'\n  t: clear\n",
			want: "data:\n  file: " + b64("**SOPS**") + "\n  plain: " + b64("clear") + "\nkind: Secret\nstringData:\n  s: " + b64("**SOPS**") + "\n  t: clear\n"},
		{name: "plain Secret", in: "kind: Secret\ndata:\n  a: " + b64("clear") + "\nstringData:\n  b: clear\n",
			want: "data:\n  a: " + b64("clear") + "\nkind: Secret\nstringData:\n  b: clear\n"},
		{name: "empty data dropped", in: "kind: Secret\ndata: {}\nstringData:\n  b: clear\n", want: "kind: Secret\nstringData:\n  b: clear\n"},
		{name: "null data dropped", in: "kind: Secret\ndata:\n", want: "kind: Secret\n"},
		{name: "encrypted ConfigMap left as it is", in: "kind: ConfigMap\ndata:\n  a: ENC[x]\nsops:\n  mac: ENC[AES256_GCM,data:x]\n",
			want: "data:\n  a: ENC[x]\nkind: ConfigMap\nsops:\n  mac: ENC[AES256_GCM,data:x]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(tt.in), &obj.Object); err != nil {
				t.Fatal(err)
			}
			if err := maskSOPS(obj); err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(obj.Object)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestBuildMaskSOPS: with MaskSOPS the encrypted fixtures print the same whether the keys were given
// (decrypted only to check) or not, with no clear value and no SOPS metadata, as Flux's CLI prints
// them; a key that cannot decrypt is still an error.
func TestBuildMaskSOPS(t *testing.T) {
	withKeys := testResources()
	withKeys.AddSecret(keySecret(t))
	for _, tt := range []struct {
		name    string
		secrets *LocalResources
	}{{"keys", withKeys}, {"no keys", testResources()}, {"no cluster", nil}} {
		t.Run(tt.name, func(t *testing.T) {
			b := &Builder{Strict: true, MaskSOPS: true}
			if tt.secrets != nil {
				b.Secrets, b.ConfigMaps = tt.secrets, tt.secrets
			}
			res, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("secrets", sopsSpec)), repo)
			if err != nil {
				t.Fatal(err)
			}
			got := renderObjects(t, res)
			for _, f := range sopsFixtureFiles {
				for _, s := range f.secrets {
					if strings.Contains(got, s) {
						t.Errorf("%q in clear", s)
					}
				}
			}
			if strings.Contains(got, "ENC[") || strings.Contains(got, "sops:") {
				t.Errorf("encrypted values or metadata printed:\n%s", got)
			}
			checkGolden(t, "sops-age-masked.yaml", got)
		})
	}
	// A wrong key is still an error, masked or not.
	wrong := &DecryptionKeys{}
	if err := wrong.Add("wrong.agekey", readKey(t, "wrong.agekey")); err != nil {
		t.Fatal(err)
	}
	b := &Builder{Strict: true, MaskSOPS: true, LocalKeys: wrong}
	if _, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("secrets", sopsSpec)), repo); err == nil || !strings.Contains(err.Error(), "none of the keys given") {
		t.Errorf("wrong key: error %v", err)
	}
}
