package cloud

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// GCPScopeCloudPlatform is the OAuth2 scope Flux asks Google for.
const GCPScopeCloudPlatform = "https://www.googleapis.com/auth/cloud-platform"

// GCPToken returns a Google access token as Application Default Credentials find one: the JSON file
// GOOGLE_APPLICATION_CREDENTIALS names (a service account key, signed into a JWT and exchanged at its
// token_uri; or an external_account for workload identity federation: a subject token from a file or
// URL exchanged at Google's STS, then optionally impersonating a service account); else the metadata
// server (GCE_METADATA_HOST, else 169.254.169.254), which is what GKE Workload Identity serves.
func (i *Identity) GCPToken(ctx context.Context) (Token, error) {
	i = i.orDefault()
	return cachedValue(i, "gcp", func() (Token, time.Time, error) {
		t, err := i.gcpToken(ctx)
		return t, t.Expires, err
	})
}

func (i *Identity) gcpToken(ctx context.Context) (Token, error) {
	e := i.env
	if f := e.getenv("GOOGLE_APPLICATION_CREDENTIALS"); f != "" {
		b, err := e.readFile(f)
		if err != nil {
			return Token{}, fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS: %w", err)
		}
		t, err := i.gcpFromJSON(ctx, b)
		if err != nil {
			return Token{}, fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS %s: %w", f, err)
		}
		return t, nil
	}
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	host := e.getenv("GCE_METADATA_HOST")
	if host == "" {
		host = "169.254.169.254"
	}
	what := "GCP metadata server " + host
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/computeMetadata/v1/instance/service-accounts/default/token", nil)
	if err != nil {
		return Token{}, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Metadata-Flavor", "Google")
	body, err := e.do(req, what)
	if err != nil {
		return Token{}, fmt.Errorf("no GCP credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, and %w", err)
	}
	return e.oauthToken(body, what)
}

// oauthToken decodes {"access_token": …, "expires_in": …}.
func (e Env) oauthToken(body []byte, what string) (Token, error) {
	var out struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return Token{}, fmt.Errorf("%s: decoding the token: %w", what, err)
	}
	if out.AccessToken == "" {
		return Token{}, fmt.Errorf("%s: the answer has no access_token", what)
	}
	// Azure IMDS sends expires_in as a string, the others as a number.
	var secs int64
	_ = json.Unmarshal(out.ExpiresIn, &secs)
	if secs == 0 {
		var s string
		if json.Unmarshal(out.ExpiresIn, &s) == nil {
			_, _ = fmt.Sscan(s, &secs)
		}
	}
	return Token{AccessToken: out.AccessToken, Expires: e.expiresIn(secs)}, nil
}

type gcpCredentialsFile struct {
	Type string `json:"type"`
	// service_account
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
	// external_account
	Audience                       string `json:"audience"`
	SubjectTokenType               string `json:"subject_token_type"`
	TokenURL                       string `json:"token_url"`
	ServiceAccountImpersonationURL string `json:"service_account_impersonation_url"`
	CredentialSource               *struct {
		File    string            `json:"file"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Format  struct {
			Type                  string `json:"type"`
			SubjectTokenFieldName string `json:"subject_token_field_name"`
		} `json:"format"`
	} `json:"credential_source"`
}

func (i *Identity) gcpFromJSON(ctx context.Context, b []byte) (Token, error) {
	var f gcpCredentialsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return Token{}, fmt.Errorf("decoding: %w", err)
	}
	switch f.Type {
	case "service_account":
		return i.gcpServiceAccount(ctx, f)
	case "external_account":
		return i.gcpExternalAccount(ctx, f)
	default:
		return Token{}, fmt.Errorf("credentials type %q is not supported: use service_account or external_account", f.Type)
	}
}

func (i *Identity) gcpServiceAccount(ctx context.Context, f gcpCredentialsFile) (Token, error) {
	if f.ClientEmail == "" || f.PrivateKey == "" {
		return Token{}, errors.New("service_account: client_email and private_key are required")
	}
	key, err := parseRSAKey([]byte(f.PrivateKey))
	if err != nil {
		return Token{}, fmt.Errorf("service_account %s: private_key: %w", f.ClientEmail, err)
	}
	aud := f.TokenURI
	if aud == "" {
		aud = "https://oauth2.googleapis.com/token"
	}
	now := i.env.now()
	header := map[string]string{"alg": "RS256", "typ": "JWT"}
	if f.PrivateKeyID != "" {
		header["kid"] = f.PrivateKeyID
	}
	claims := map[string]any{"iss": f.ClientEmail, "scope": GCPScopeCloudPlatform, "aud": aud,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	jwt, err := SignRS256(key, header, claims)
	if err != nil {
		return Token{}, fmt.Errorf("service_account %s: %w", f.ClientEmail, err)
	}
	what := "GCP token for service account " + f.ClientEmail
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {jwt}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, aud, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, err := i.env.do(req, what)
	if err != nil {
		return Token{}, err
	}
	return i.env.oauthToken(body, what)
}

func parseRSAKey(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an RSA key", k)
		}
		return rk, nil
	}
	return x509.ParsePKCS1PrivateKey(block.Bytes)
}

// SignRS256 returns the JSON web token of header and claims signed with key (RS256, compact form); the
// header should name alg RS256.
func SignRS256(key *rsa.PrivateKey, header map[string]string, claims map[string]any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(unsigned))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return unsigned + "." + enc.EncodeToString(sig), nil
}

func (i *Identity) gcpExternalAccount(ctx context.Context, f gcpCredentialsFile) (Token, error) {
	e := i.env
	src := f.CredentialSource
	if src == nil || (src.File == "") == (src.URL == "") {
		return Token{}, errors.New("external_account: credential_source needs one of file or url (executable and aws sources are not supported)")
	}
	var raw []byte
	var err error
	if src.File != "" {
		raw, err = e.readFile(src.File)
		if err != nil {
			return Token{}, fmt.Errorf("external_account: credential_source.file: %w", err)
		}
	} else {
		req, rerr := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
		if rerr != nil {
			return Token{}, fmt.Errorf("external_account: credential_source.url: %w", rerr)
		}
		for k, v := range src.Headers {
			req.Header.Set(k, v)
		}
		if raw, err = e.do(req, "external_account subject token from "+src.URL); err != nil {
			return Token{}, err
		}
	}
	subject := strings.TrimSpace(string(raw))
	if src.Format.Type == "json" {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return Token{}, fmt.Errorf("external_account: subject token is not JSON: %w", err)
		}
		s, _ := m[src.Format.SubjectTokenFieldName].(string)
		if s == "" {
			return Token{}, fmt.Errorf("external_account: subject token has no field %q", src.Format.SubjectTokenFieldName)
		}
		subject = s
	}
	tokenURL := f.TokenURL
	if tokenURL == "" {
		tokenURL = "https://sts.googleapis.com/v1/token"
	}
	what := "GCP STS token exchange for " + f.Audience
	form := url.Values{
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"audience":             {f.Audience},
		"scope":                {GCPScopeCloudPlatform},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"subject_token":        {subject},
		"subject_token_type":   {f.SubjectTokenType},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, err := e.do(req, what)
	if err != nil {
		return Token{}, err
	}
	fed, err := e.oauthToken(body, what)
	if err != nil || f.ServiceAccountImpersonationURL == "" {
		return fed, err
	}
	what = "GCP service account impersonation " + f.ServiceAccountImpersonationURL
	in, _ := json.Marshal(map[string]any{"scope": []string{GCPScopeCloudPlatform}, "lifetime": "3600s"})
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, f.ServiceAccountImpersonationURL, strings.NewReader(string(in)))
	if err != nil {
		return Token{}, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+fed.AccessToken)
	body, err = e.do(req, what)
	if err != nil {
		return Token{}, err
	}
	var out struct {
		AccessToken string    `json:"accessToken"`
		ExpireTime  time.Time `json:"expireTime"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.AccessToken == "" {
		return Token{}, fmt.Errorf("%s: the answer has no accessToken (%v)", what, err)
	}
	return Token{AccessToken: out.AccessToken, Expires: out.ExpireTime}, nil
}
