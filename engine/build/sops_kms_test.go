package build

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/kms"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/engine/cloud"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// fakeKMS is the master key of the loopback KMS fakes below: they "encrypt" a data key with AES-GCM
// under it, as a real KMS would under its key.
type fakeKMS struct{ aead cipher.AEAD }

func newFakeKMS(t *testing.T) *fakeKMS {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeKMS{aead: aead}
}

func (f *fakeKMS) seal(plain []byte) []byte {
	nonce := make([]byte, f.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return f.aead.Seal(nonce, nonce, plain, nil)
}

func (f *fakeKMS) open(ct []byte) ([]byte, error) {
	n := f.aead.NonceSize()
	if len(ct) < n {
		return nil, fmt.Errorf("short ciphertext")
	}
	return f.aead.Open(nil, ct[:n], ct[n:], nil)
}

// TestSOPSCloudKMS decrypts SOPS documents (encrypted with the sops library) whose data key is held by
// AWS KMS, GCP KMS, Azure Key Vault or Vault transit. No cloud or Vault server runs here: loopback
// FAKES of exactly the endpoints used (KMS Decrypt, Cloud KMS decrypt, Key Vault unwrapKey, transit
// decrypt, and the token endpoints behind them) hold the key, and check the credentials the decryption
// Secret (Flux's sops.aws-kms, sops.azure-kv, sops.vault-token entries) or the workload identity gives.
func TestSOPSCloudKMS(t *testing.T) {
	master := newFakeKMS(t)
	const awsKey = "arn:aws:kms:eu-west-1:111122223333:key/sops"
	const gcpKey = "projects/p/locations/global/keyRings/r/cryptoKeys/sops"
	fail := func(w http.ResponseWriter, code int, msg string) {
		w.WriteHeader(code)
		fmt.Fprint(w, msg)
	}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Header.Get("X-Amz-Target") == "TrentService.Decrypt":
			authz := r.Header.Get("Authorization")
			if !strings.Contains(authz, "/eu-west-1/kms/aws4_request") ||
				!(strings.Contains(authz, "Credential=AKIASECRET/") || strings.Contains(authz, "Credential=AKIAAMBIENT/")) {
				fail(w, http.StatusBadRequest, `{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}`)
				return
			}
			var in struct {
				CiphertextBlob    []byte
				KeyId             string
				EncryptionContext map[string]string
			}
			_ = json.Unmarshal(body, &in)
			key, err := master.open(in.CiphertextBlob)
			if err != nil || in.KeyId != awsKey || in.EncryptionContext["app"] != "converge" {
				fail(w, http.StatusBadRequest, `{"__type":"InvalidCiphertextException","message":"bad ciphertext or context"}`)
				return
			}
			out, _ := json.Marshal(map[string]any{"Plaintext": key, "KeyId": awsKey})
			_, _ = w.Write(out)
		case r.URL.Path == "/computeMetadata/v1/instance/service-accounts/default/token":
			fmt.Fprint(w, `{"access_token":"gcp-token","expires_in":3600}`)
		case r.URL.Path == "/metadata/identity/oauth2/token" && r.URL.Query().Get("resource") == "https://vault.azure.net":
			fmt.Fprint(w, `{"access_token":"azure-mi-token","expires_in":"3600"}`)
		case r.URL.Path == "/tenant/oauth2/v2.0/token":
			form, _ := url.ParseQuery(string(body))
			if form.Get("client_secret") != "kv-secret" || form.Get("scope") != "https://vault.azure.net/.default" {
				fail(w, http.StatusUnauthorized, `{"error":"invalid_client"}`)
				return
			}
			fmt.Fprint(w, `{"access_token":"azure-sp-token","expires_in":3600}`)
		case r.URL.Path == "/keys/sops/v1/unwrapkey":
			if a := r.Header.Get("Authorization"); a != "Bearer azure-mi-token" && a != "Bearer azure-sp-token" {
				fail(w, http.StatusUnauthorized, `{"error":{"code":"Unauthorized"}}`)
				return
			}
			var in struct{ Alg, Value string }
			_ = json.Unmarshal(body, &in)
			ct, _ := base64.RawURLEncoding.DecodeString(in.Value)
			key, err := master.open(ct)
			if err != nil || in.Alg != "RSA-OAEP-256" {
				fail(w, http.StatusBadRequest, `{"error":{"code":"BadParameter"}}`)
				return
			}
			fmt.Fprintf(w, `{"kid":"x","value":%q}`, base64.RawURLEncoding.EncodeToString(key))
		case r.URL.Path == "/v1/transit/decrypt/sops":
			if r.Header.Get("X-Vault-Token") != "vault-token" {
				fail(w, http.StatusForbidden, `{"errors":["permission denied"]}`)
				return
			}
			var in struct{ Ciphertext string }
			_ = json.Unmarshal(body, &in)
			ct, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(in.Ciphertext, "vault:v1:"))
			key, err := master.open(ct)
			if err != nil {
				fail(w, http.StatusBadRequest, `{"errors":["invalid ciphertext"]}`)
				return
			}
			// Transit's plaintext is base64, in and out.
			fmt.Fprintf(w, `{"data":{"plaintext":%q}}`, base64.StdEncoding.EncodeToString(key))
		default:
			fail(w, http.StatusNotFound, "not found")
		}
	}))
	t.Cleanup(plain.Close)
	// Cloud KMS is reached at https://cloudkms.googleapis.com: this fake answers under that name.
	gcp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Ciphertext []byte }
		_ = json.NewDecoder(r.Body).Decode(&in)
		if r.URL.Path != "/v1/"+gcpKey+":decrypt" || r.Header.Get("Authorization") != "Bearer gcp-token" {
			fail(w, http.StatusForbidden, `{"error":{"status":"PERMISSION_DENIED"}}`)
			return
		}
		key, err := master.open(in.Ciphertext)
		if err != nil {
			fail(w, http.StatusBadRequest, `{"error":{"status":"INVALID_ARGUMENT"}}`)
			return
		}
		out, _ := json.Marshal(map[string]any{"plaintext": key})
		_, _ = w.Write(out)
	}))
	t.Cleanup(gcp.Close)
	pool := x509.NewCertPool()
	pool.AddCert(gcp.Certificate())
	tr := sourcetest.RedirectTransport(strings.TrimPrefix(gcp.URL, "https://"), "cloudkms.googleapis.com")
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "example.com", MinVersion: tls.VersionTLS12}
	ambient := map[string]string{"AWS_ACCESS_KEY_ID": "AKIAAMBIENT", "AWS_SECRET_ACCESS_KEY": "x", "AWS_ENDPOINT_URL_KMS": plain.URL,
		"GCE_METADATA_HOST": strings.TrimPrefix(plain.URL, "http://"), "AZURE_POD_IDENTITY_AUTHORITY_HOST": plain.URL}
	identity := func(env map[string]string) *cloud.Identity {
		return cloud.New(cloud.Env{Getenv: func(k string) string { return env[k] }, HTTP: &http.Client{Transport: tr}})
	}

	// One document per key type, encrypted by the sops library for an AWS KMS key, its key entry then
	// written as SOPS writes each type.
	document := func(t *testing.T, keyType string) []byte {
		dataKey := make([]byte, 32)
		_, _ = rand.Read(dataKey)
		app := "converge"
		mk := kms.NewMasterKeyFromArn(awsKey, map[string]*string{"app": &app}, "")
		mk.EncryptedKey = base64.StdEncoding.EncodeToString(master.seal(dataKey))
		doc := encryptSOPSWithKey(t, []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: kms\n  namespace: apps\nstringData:\n  password: kms-protected-value\n"),
			formats.Yaml, k8sRegex, nil, dataKey, mk)
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatal(err)
		}
		sopsMeta := m["sops"].(map[string]any)
		entry := sopsMeta["kms"].([]any)[0].(map[string]any)
		created := entry["created_at"]
		switch keyType {
		case "gcp_kms":
			entry = map[string]any{"resource_id": gcpKey, "created_at": created, "enc": entry["enc"]}
		case "azure_kv":
			entry = map[string]any{"vault_url": plain.URL, "name": "sops", "version": "v1", "created_at": created,
				"enc": base64.RawURLEncoding.EncodeToString(master.seal(dataKey))}
		case "hc_vault":
			entry = map[string]any{"vault_address": plain.URL, "engine_path": "transit", "key_name": "sops", "created_at": created,
				"enc": "vault:v1:" + base64.StdEncoding.EncodeToString(master.seal(dataKey))}
		}
		delete(sopsMeta, "kms")
		sopsMeta[keyType] = []any{entry}
		out, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	secret := func(data map[string]string) *LocalResources {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sops-keys", Namespace: "flux-system"}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		l := NewLocalResources()
		l.AddSecret(s)
		return l
	}
	const ref = "  path: ./s\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-keys\n"
	const noRef = "  path: ./s\n  decryption:\n    provider: sops\n"
	tests := []struct {
		name, keyType, spec string
		secrets             *LocalResources
		env                 map[string]string
		want                string // error text; "" decrypts
	}{
		{name: "AWS KMS with sops.aws-kms", keyType: "kms", spec: ref, env: map[string]string{"AWS_ENDPOINT_URL_KMS": plain.URL},
			secrets: secret(map[string]string{"sops.aws-kms": "aws_access_key_id: AKIASECRET\naws_secret_access_key: s\n"})},
		{name: "AWS KMS with the workload identity", keyType: "kms", spec: noRef, env: ambient},
		{name: "AWS KMS refuses the key", keyType: "kms", spec: ref, env: map[string]string{"AWS_ENDPOINT_URL_KMS": plain.URL},
			secrets: secret(map[string]string{"sops.aws-kms": "aws_access_key_id: AKIAOTHER\naws_secret_access_key: s\n"}),
			want:    "AWS KMS arn:aws:kms:eu-west-1:111122223333:key/sops: AWS TrentService.Decrypt: HTTP 400: UnrecognizedClientException"},
		{name: "malformed sops.aws-kms", keyType: "kms", spec: ref, secrets: secret(map[string]string{"sops.aws-kms": "aws_access_key_id: A\n"}),
			want: "failed to import 'sops.aws-kms' data from decryption Secret flux-system/sops-keys: aws_access_key_id and aws_secret_access_key are required"},
		{name: "GCP KMS with the workload identity", keyType: "gcp_kms", spec: noRef, env: ambient},
		{name: "Azure Key Vault with sops.azure-kv", keyType: "azure_kv", spec: ref,
			secrets: secret(map[string]string{"sops.azure-kv": fmt.Sprintf(`{"tenantId":"tenant","clientId":"app","clientSecret":"kv-secret","authorityHost":%q}`, plain.URL)})},
		{name: "Azure Key Vault with the managed identity", keyType: "azure_kv", spec: noRef, env: ambient},
		{name: "Azure Key Vault with a wrong secret", keyType: "azure_kv", spec: ref,
			secrets: secret(map[string]string{"sops.azure-kv": fmt.Sprintf(`{"tenantId":"tenant","clientId":"app","clientSecret":"nope","authorityHost":%q}`, plain.URL)}),
			want:    `HTTP 401: {"error":"invalid_client"}`},
		{name: "Vault transit with sops.vault-token", keyType: "hc_vault", spec: ref, secrets: secret(map[string]string{"sops.vault-token": "vault-token\n"})},
		{name: "Vault transit without a token", keyType: "hc_vault", spec: noRef, want: "no Vault token: set sops.vault-token in the decryption Secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "s"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "s", "secret.yaml"), document(t, tt.keyType), 0o644); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"AWS_EC2_METADATA_DISABLED": "true"}
			for k, v := range tt.env {
				env[k] = v
			}
			b := &Builder{Strict: true, Cloud: identity(env)}
			if tt.secrets != nil {
				b.Secrets = tt.secrets
			}
			res, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("t", tt.spec)), root)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out := renderObjects(t, res); !strings.Contains(out, "kms-protected-value") || strings.Contains(out, "ENC[") {
				t.Fatalf("not decrypted:\n%s", out)
			}
		})
	}
}
