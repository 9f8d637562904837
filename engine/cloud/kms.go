package cloud

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"sigs.k8s.io/yaml"
)

// KMSCredentials are the KMS credentials of a SOPS decryption Secret, as Flux reads its entries:
// sops.aws-kms (YAML aws_access_key_id, aws_secret_access_key, aws_session_token), sops.gcp-kms (a
// Google credentials JSON), sops.azure-kv (JSON or YAML tenantId, clientId, clientSecret; or clientId
// alone for a managed identity) and sops.vault-token. A nil or empty field means the process's own
// workload identity (and VAULT_TOKEN for Vault).
type KMSCredentials struct {
	AWS        *AWSCredentials
	GCPJSON    []byte
	Azure      *AzureKVConfig
	VaultToken string
}

// Empty says whether no credential is set.
func (c *KMSCredentials) Empty() bool {
	return c == nil || (c.AWS == nil && len(c.GCPJSON) == 0 && c.Azure == nil && c.VaultToken == "")
}

// AzureKVConfig is the sops.azure-kv entry of a decryption Secret.
type AzureKVConfig struct {
	TenantID          string `json:"tenantId,omitempty"`
	ClientID          string `json:"clientId,omitempty"`
	ClientSecret      string `json:"clientSecret,omitempty"`
	ClientCertificate string `json:"clientCertificate,omitempty"`
	AuthorityHost     string `json:"authorityHost,omitempty"`
	// The az CLI's service principal output: appId, tenant, password.
	AppID    string `json:"appId,omitempty"`
	Tenant   string `json:"tenant,omitempty"`
	Password string `json:"password,omitempty"`
}

// ParseAWSKMSCredentials reads a sops.aws-kms entry.
func ParseAWSKMSCredentials(b []byte) (*AWSCredentials, error) {
	var d struct {
		AccessKeyID     string `json:"aws_access_key_id"`
		SecretAccessKey string `json:"aws_secret_access_key"`
		SessionToken    string `json:"aws_session_token"`
	}
	if err := yaml.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("failed to unmarshal AWS credentials file: %w", err)
	}
	if d.AccessKeyID == "" || d.SecretAccessKey == "" {
		return nil, errors.New("aws_access_key_id and aws_secret_access_key are required")
	}
	return &AWSCredentials{AccessKeyID: d.AccessKeyID, SecretAccessKey: d.SecretAccessKey, SessionToken: d.SessionToken, Source: "decryption Secret"}, nil
}

// ParseAzureKVConfig reads a sops.azure-kv entry (JSON or YAML).
func ParseAzureKVConfig(b []byte) (*AzureKVConfig, error) {
	var c AzureKVConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("failed to unmarshal Azure authentication file: %w", err)
	}
	switch {
	case c.TenantID != "" && c.ClientID != "" && c.ClientSecret != "":
	case c.TenantID != "" && c.ClientID != "" && c.ClientCertificate != "":
		return nil, errors.New("clientCertificate is not supported by converge: use clientSecret, or workload identity")
	case c.Tenant != "" && c.AppID != "" && c.Password != "":
		c.TenantID, c.ClientID, c.ClientSecret = c.Tenant, c.AppID, c.Password
	case c.ClientID != "":
	default:
		return nil, errors.New("invalid data: requires a 'clientId' field, a combination of 'tenantId', 'clientId' and 'clientSecret', or 'tenant', 'appId' and 'password'")
	}
	return &c, nil
}

// AWSKMSDecrypt decrypts a SOPS data key (enc: base64 of the KMS ciphertext blob) with KMS Decrypt
// under the key arn, in the ARN's region, with encCtx as encryption context; creds nil means
// AWSCredentials. AWS_ENDPOINT_URL_KMS moves the endpoint.
func (i *Identity) AWSKMSDecrypt(ctx context.Context, creds *AWSCredentials, arn, enc string, encCtx map[string]string) ([]byte, error) {
	i = i.orDefault()
	parts := strings.Split(arn, ":")
	if len(parts) < 6 || parts[0] != "arn" || parts[3] == "" {
		return nil, fmt.Errorf("AWS KMS key %q: not a key ARN with a region", arn)
	}
	region := parts[3]
	if creds == nil {
		c, err := i.AWSCredentials(ctx, region)
		if err != nil {
			return nil, err
		}
		creds = &c
	}
	in := map[string]any{"CiphertextBlob": enc, "KeyId": arn}
	if len(encCtx) > 0 {
		in["EncryptionContext"] = encCtx
	}
	var out struct {
		Plaintext []byte `json:"Plaintext"`
	}
	if err := i.awsJSON(ctx, *creds, i.env.awsEndpoint("KMS", "kms", region), region, "kms", "TrentService.Decrypt", in, &out); err != nil {
		return nil, err
	}
	if len(out.Plaintext) == 0 {
		return nil, errors.New("AWS KMS Decrypt: the answer has no Plaintext")
	}
	return out.Plaintext, nil
}

// GCPKMSDecrypt decrypts a SOPS data key (enc: base64 of the ciphertext) with Cloud KMS's decrypt of
// resourceID; credsJSON (a sops.gcp-kms entry) or else GCPToken authenticates.
func (i *Identity) GCPKMSDecrypt(ctx context.Context, credsJSON []byte, resourceID, enc string) ([]byte, error) {
	i = i.orDefault()
	var tok Token
	var err error
	if len(credsJSON) > 0 {
		tok, err = i.gcpFromJSON(ctx, credsJSON)
		if err != nil {
			err = fmt.Errorf("sops.gcp-kms: %w", err)
		}
	} else {
		tok, err = i.GCPToken(ctx)
	}
	if err != nil {
		return nil, err
	}
	what := "GCP KMS decrypt with " + resourceID
	body, _ := json.Marshal(map[string]string{"ciphertext": enc})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://cloudkms.googleapis.com/v1/"+resourceID+":decrypt", strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	answer, err := i.env.do(req, what)
	if err != nil {
		return nil, err
	}
	var out struct {
		Plaintext []byte `json:"plaintext"`
	}
	if err := json.Unmarshal(answer, &out); err != nil || len(out.Plaintext) == 0 {
		return nil, fmt.Errorf("%s: the answer has no plaintext", what)
	}
	return out.Plaintext, nil
}

// AzureKVUnwrap unwraps a SOPS data key (enc: base64url of the wrapped key) with Key Vault's unwrapKey
// (RSA-OAEP-256) of key name at version in vaultURL; cfg (a sops.azure-kv entry) or else AzureToken
// authenticates.
func (i *Identity) AzureKVUnwrap(ctx context.Context, cfg *AzureKVConfig, vaultURL, name, version, enc string) ([]byte, error) {
	i = i.orDefault()
	var tok Token
	var err error
	switch {
	case cfg != nil && cfg.ClientSecret != "":
		auth := i
		if cfg.AuthorityHost != "" {
			env := i.env
			get := env.getenv
			env.Getenv = func(k string) string {
				if k == "AZURE_AUTHORITY_HOST" {
					return cfg.AuthorityHost
				}
				return get(k)
			}
			auth = New(env)
		}
		tok, err = auth.azureClientCredentials(ctx, cfg.TenantID, cfg.ClientID, AzureScopeKeyVault, url.Values{"client_secret": {cfg.ClientSecret}}, "service principal "+cfg.ClientID)
	case cfg != nil:
		tok, err = i.azureIMDS(ctx, AzureScopeKeyVault, cfg.ClientID)
	default:
		tok, err = i.AzureToken(ctx, AzureScopeKeyVault)
	}
	if err != nil {
		return nil, err
	}
	what := "Azure Key Vault unwrapKey with " + strings.TrimSuffix(vaultURL, "/") + "/keys/" + name + "/" + version
	body, _ := json.Marshal(map[string]string{"alg": "RSA-OAEP-256", "value": strings.TrimRight(enc, "=")})
	endpoint := strings.TrimSuffix(vaultURL, "/") + "/keys/" + url.PathEscape(name) + "/" + url.PathEscape(version) + "/unwrapkey?api-version=7.4"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	answer, err := i.env.do(req, what)
	if err != nil {
		return nil, err
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(answer, &out); err != nil || out.Value == "" {
		return nil, fmt.Errorf("%s: the answer has no value", what)
	}
	key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(out.Value, "="))
	if err != nil {
		return nil, fmt.Errorf("%s: value: %w", what, err)
	}
	return key, nil
}

// VaultTransitDecrypt decrypts a SOPS data key (enc: Vault's "vault:v1:…" ciphertext) with the transit
// engine at enginePath of address, key keyName; token (sops.vault-token) or else VAULT_TOKEN
// authenticates.
func (i *Identity) VaultTransitDecrypt(ctx context.Context, token, address, enginePath, keyName, enc string) ([]byte, error) {
	i = i.orDefault()
	if token == "" {
		token = i.env.getenv("VAULT_TOKEN")
	}
	if token == "" {
		return nil, errors.New("no Vault token: set sops.vault-token in the decryption Secret (or VAULT_TOKEN)")
	}
	what := "Vault transit decrypt with " + keyName + " at " + address
	body, _ := json.Marshal(map[string]string{"ciphertext": enc})
	endpoint := strings.TrimSuffix(address, "/") + "/v1/" + strings.Trim(enginePath, "/") + "/decrypt/" + url.PathEscape(keyName)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("X-Vault-Token", token)
	answer, err := i.env.do(req, what)
	if err != nil {
		return nil, err
	}
	var out struct {
		Data struct {
			Plaintext string `json:"plaintext"`
		} `json:"data"`
	}
	if err := json.Unmarshal(answer, &out); err != nil || out.Data.Plaintext == "" {
		return nil, fmt.Errorf("%s: the answer has no data.plaintext", what)
	}
	// Transit's plaintext is base64, as SOPS sent the data key.
	key, err := base64.StdEncoding.DecodeString(out.Data.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("%s: plaintext: %w", what, err)
	}
	return key, nil
}
