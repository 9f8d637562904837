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
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// No cloud can run here: the servers below are loopback fakes of exactly the identity endpoints the
// chains call (STS, EKS Pod Identity, IMDS, GCE metadata, Google OAuth2/STS, Entra ID, Azure IMDS,
// ECR, ACR), each checking what the real service would require of the request.

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testEnv returns an Env over vars, a fake clock at t0 and files under a temp dir.
func testEnv(vars map[string]string) (Env, *clocktesting.FakePassiveClock) {
	clk := clocktesting.NewFakePassiveClock(t0)
	return Env{Getenv: func(k string) string { return vars[k] }, Clock: clk}, clk
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// fake is a loopback server counting its calls.
type fake struct {
	*httptest.Server
	calls atomic.Int32
}

func newFake(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *fake {
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func TestSignV4Vector(t *testing.T) {
	// AWS's published SigV4 test suite, case "get-vanilla".
	req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/", nil)
	creds := AWSCredentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	SignV4(req, nil, creds, "us-east-1", "service", time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC))
	want := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, " +
		"Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	if got := req.Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization\n got %s\nwant %s", got, want)
	}
	// "get-vanilla-query-order-key-case": parameters sorted by name and value.
	req, _ = http.NewRequest(http.MethodGet, "https://example.amazonaws.com/?Param2=value2&Param1=value1", nil)
	SignV4(req, nil, creds, "us-east-1", "service", time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC))
	if got := req.Header.Get("Authorization"); !strings.HasSuffix(got, "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") {
		t.Fatalf("query order: %s", got)
	}
}

func TestAWSCredentials(t *testing.T) {
	sts := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Method != http.MethodPost || r.Form.Get("Action") != "AssumeRoleWithWebIdentity" || r.Form.Get("Version") != "2011-06-15" ||
			r.Form.Get("RoleArn") != "arn:aws:iam::123456789012:role/flux" || r.Form.Get("WebIdentityToken") != "projected-sa-token" ||
			r.Form.Get("RoleSessionName") == "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `<ErrorResponse><Error><Code>InvalidIdentityToken</Code></Error></ErrorResponse>`)
			return
		}
		fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>
<Credentials><AccessKeyId>ASIAWEB</AccessKeyId><SecretAccessKey>websecret</SecretAccessKey><SessionToken>websession</SessionToken>
<Expiration>%s</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`, t0.Add(time.Hour).Format(time.RFC3339))
	})
	podIdentity := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "eks-pod-identity-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"AccessKeyId":"ASIAPOD","SecretAccessKey":"podsecret","Token":"podsession","Expiration":%q}`, t0.Add(time.Hour).Format(time.RFC3339))
	})
	imds := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" && r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") != "":
			fmt.Fprint(w, "imds-session")
		case r.Header.Get("X-Aws-Ec2-Metadata-Token") != "imds-session":
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
			fmt.Fprint(w, "node-role\n")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/node-role":
			fmt.Fprintf(w, `{"Code":"Success","AccessKeyId":"ASIANODE","SecretAccessKey":"nodesecret","Token":"nodesession","Expiration":%q}`, t0.Add(time.Hour).Format(time.RFC3339))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	tokenFile := writeFile(t, "token", "projected-sa-token\n")
	podTokenFile := writeFile(t, "eks-pod-identity-token", "eks-pod-identity-token")
	tests := []struct {
		name    string
		vars    map[string]string
		server  *fake
		wantKey string
		wantErr string
	}{
		{name: "environment", vars: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ROLE_ARN": "ignored"}, wantKey: "AKIAENV"},
		{name: "half environment", vars: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV"}, wantErr: "must both be set"},
		{name: "IRSA web identity", server: sts, vars: map[string]string{"AWS_REGION": "eu-west-1", "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/flux",
			"AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ENDPOINT_URL_STS": sts.URL}, wantKey: "ASIAWEB"},
		{name: "web identity refused", server: sts, vars: map[string]string{"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/other",
			"AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ENDPOINT_URL_STS": sts.URL}, wantErr: "HTTP 400: <ErrorResponse><Error><Code>InvalidIdentityToken"},
		{name: "EKS Pod Identity", server: podIdentity, vars: map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": podIdentity.URL + "/v1/credentials",
			"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": podTokenFile}, wantKey: "ASIAPOD"},
		{name: "EKS Pod Identity without its token", vars: map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": podIdentity.URL}, wantErr: "HTTP 401"},
		{name: "IMDSv2", server: imds, vars: map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.URL}, wantKey: "ASIANODE"},
		{name: "nothing", vars: map[string]string{"AWS_EC2_METADATA_DISABLED": "true"}, wantErr: "no AWS credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, clk := testEnv(tc.vars)
			id := New(env)
			c, err := id.AWSCredentials(context.Background(), "")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.AccessKeyID != tc.wantKey {
				t.Fatalf("key %q, want %q", c.AccessKeyID, tc.wantKey)
			}
			if tc.server == nil {
				return
			}
			// Cached until five minutes before expiry, fetched again after.
			before := tc.server.calls.Load()
			clk.SetTime(t0.Add(54 * time.Minute))
			if _, err := id.AWSCredentials(context.Background(), ""); err != nil || tc.server.calls.Load() != before {
				t.Fatalf("not cached: %v, calls %d -> %d", err, before, tc.server.calls.Load())
			}
			clk.SetTime(t0.Add(56 * time.Minute))
			if _, err := id.AWSCredentials(context.Background(), ""); err != nil || tc.server.calls.Load() == before {
				t.Fatalf("not renewed near expiry: %v", err)
			}
		})
	}
}

func rsaKeyPEM(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// verifyJWT checks an RS256 JWT against pub and returns its claims.
func verifyJWT(tok string, pub *rsa.PublicKey) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return nil, err
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	return claims, json.Unmarshal(b, &claims)
}

func TestGCPToken(t *testing.T) {
	key, keyPEM := rsaKeyPEM(t)
	metadata := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" || r.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/token" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		fmt.Fprint(w, `{"access_token":"gke-token","expires_in":3599,"token_type":"Bearer"}`)
	})
	oauth := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		switch r.URL.Path {
		case "/token": // service account JWT grant
			claims, err := verifyJWT(r.Form.Get("assertion"), &key.PublicKey)
			if err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" ||
				claims["iss"] != "flux@project.iam.gserviceaccount.com" || claims["scope"] != GCPScopeCloudPlatform || claims["aud"] != "http://"+r.Host+"/token" {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":"invalid_grant","detail":"%v %v"}`, err, claims)
				return
			}
			fmt.Fprint(w, `{"access_token":"sa-token","expires_in":3600}`)
		case "/v1/token": // STS token exchange
			if r.Form.Get("subject_token") != "k8s-oidc-token" || r.Form.Get("audience") != "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k" ||
				r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, `{"access_token":"federated-token","expires_in":3600}`)
		case "/v1/projects/-/serviceAccounts/flux@project.iam.gserviceaccount.com:generateAccessToken":
			if r.Header.Get("Authorization") != "Bearer federated-token" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			fmt.Fprintf(w, `{"accessToken":"impersonated-token","expireTime":%q}`, t0.Add(time.Hour).Format(time.RFC3339))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "flux@project.iam.gserviceaccount.com",
		"private_key": keyPEM, "private_key_id": "k1", "token_uri": oauth.URL + "/token"})
	subject := writeFile(t, "oidc", "k8s-oidc-token")
	ext := func(impersonate bool) string {
		m := map[string]any{"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k",
			"subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": oauth.URL + "/v1/token",
			"credential_source": map[string]any{"file": subject}}
		if impersonate {
			m["service_account_impersonation_url"] = oauth.URL + "/v1/projects/-/serviceAccounts/flux@project.iam.gserviceaccount.com:generateAccessToken"
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name, want, wantErr string
		vars                map[string]string
	}{
		{name: "GKE metadata server", vars: map[string]string{"GCE_METADATA_HOST": strings.TrimPrefix(metadata.URL, "http://")}, want: "gke-token"},
		{name: "service account key", vars: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": writeFile(t, "sa.json", string(sa))}, want: "sa-token"},
		{name: "workload identity federation", vars: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": writeFile(t, "ext.json", ext(false))}, want: "federated-token"},
		{name: "federation with impersonation", vars: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": writeFile(t, "ext2.json", ext(true))}, want: "impersonated-token"},
		{name: "authorized_user", vars: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": writeFile(t, "u.json", `{"type":"authorized_user"}`)},
			wantErr: `credentials type "authorized_user" is not supported`},
		{name: "no metadata server", vars: map[string]string{"GCE_METADATA_HOST": strings.TrimPrefix(oauth.URL, "http://")}, wantErr: "no GCP credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := testEnv(tc.vars)
			tok, err := New(env).GCPToken(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || tok.AccessToken != tc.want || tok.Expires.Before(t0.Add(59*time.Minute)) {
				t.Fatalf("got %+v, %v; want %s", tok, err, tc.want)
			}
		})
	}
}

func TestAzureToken(t *testing.T) {
	entra := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		ok := r.URL.Path == "/tenant-1/oauth2/v2.0/token" && r.Form.Get("client_id") == "client-1" && r.Form.Get("grant_type") == "client_credentials" &&
			r.Form.Get("scope") == AzureScopeKeyVault
		switch {
		case ok && r.Form.Get("client_assertion") == "azure-federated-token" &&
			r.Form.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
			fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"wi-token"}`)
		case ok && r.Form.Get("client_secret") == "s3cret":
			fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"sp-token"}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
		}
	})
	imds := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" || r.URL.Query().Get("resource") != "https://vault.azure.net" || r.URL.Query().Get("api-version") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"access_token":"mi-token-%s","expires_in":"3599","token_type":"Bearer"}`, r.URL.Query().Get("client_id"))
	})
	fedFile := writeFile(t, "azure-identity-token", "azure-federated-token")
	wi := map[string]string{"AZURE_CLIENT_ID": "client-1", "AZURE_TENANT_ID": "tenant-1", "AZURE_FEDERATED_TOKEN_FILE": fedFile, "AZURE_AUTHORITY_HOST": entra.URL + "/"}
	tests := []struct {
		name, want, wantErr string
		vars                map[string]string
	}{
		{name: "workload identity", vars: wi, want: "wi-token"},
		{name: "service principal secret", vars: map[string]string{"AZURE_CLIENT_ID": "client-1", "AZURE_TENANT_ID": "tenant-1",
			"AZURE_CLIENT_SECRET": "s3cret", "AZURE_AUTHORITY_HOST": entra.URL}, want: "sp-token"},
		{name: "wrong secret", vars: map[string]string{"AZURE_CLIENT_ID": "client-1", "AZURE_TENANT_ID": "tenant-1",
			"AZURE_CLIENT_SECRET": "bad", "AZURE_AUTHORITY_HOST": entra.URL}, wantErr: "HTTP 401: {\"error\":\"invalid_client\"}"},
		{name: "managed identity", vars: map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": imds.URL}, want: "mi-token-"},
		{name: "user-assigned managed identity", vars: map[string]string{"AZURE_CLIENT_ID": "c2", "AZURE_POD_IDENTITY_AUTHORITY_HOST": imds.URL}, want: "mi-token-c2"},
		{name: "no identity", vars: map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": entra.URL}, wantErr: "no Azure credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := testEnv(tc.vars)
			tok, err := New(env).AzureToken(context.Background(), AzureScopeKeyVault)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || tok.AccessToken != tc.want || !tok.Expires.Equal(t0.Add(3599*time.Second)) {
				t.Fatalf("got %+v, %v; want %s", tok, err, tc.want)
			}
		})
	}
}

func TestCheckRegistry(t *testing.T) {
	tests := []struct{ provider, host, wantErr string }{
		{"aws", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", ""},
		{"aws", "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", ""},
		{"aws", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", ""},
		{"aws", "public.ecr.aws", ""},
		{"aws", "ghcr.io", "invalid AWS registry: 'ghcr.io'. must match"},
		{"gcp", "gcr.io", ""},
		{"gcp", "eu.gcr.io", ""},
		{"gcp", "europe-west1-docker.pkg.dev", ""},
		{"gcp", "europe-west1-docker.pkg.dev:5000", "invalid GCP registry"},
		{"gcp", "docker.io", "invalid GCP registry: 'docker.io'"},
		{"azure", "flux.azurecr.io", ""},
		{"azure", "flux.azurecr.cn", ""},
		{"azure", "azurecr.io", "invalid Azure registry"},
		{"azure", "flux.azurecr.io.evil.com", "invalid Azure registry"},
		{"generic", "ghcr.io", `provider "generic" has no registry login`},
	}
	for _, tc := range tests {
		err := CheckRegistry(tc.provider, tc.host)
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s %s: error %v, want %q", tc.provider, tc.host, err, tc.wantErr)
		}
	}
}

func TestRegistryLogin(t *testing.T) {
	ecr := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Amz-Target") != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" ||
			!strings.Contains(r.Header.Get("Authorization"), "Credential=AKIAENV/20260102/eu-west-1/ecr/aws4_request") ||
			r.Header.Get("X-Amz-Security-Token") != "tok" || string(body) != "{}" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token included in the request is invalid."}`)
			return
		}
		// The fake checks the signature as ECR would: re-signing the request must give the same header.
		check, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
		_, signed, _ := strings.Cut(r.Header.Get("Authorization"), "SignedHeaders=")
		signed, _, _ = strings.Cut(signed, ",")
		for _, h := range strings.Split(signed, ";") {
			if h != "host" && h != "x-amz-date" {
				check.Header.Set(h, r.Header.Get(h))
			}
		}
		SignV4(check, body, AWSCredentials{AccessKeyID: "AKIAENV", SecretAccessKey: "envsecret", SessionToken: "tok"}, "eu-west-1", "ecr", t0)
		if check.Header.Get("Authorization") != r.Header.Get("Authorization") {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"__type":"InvalidSignatureException","message":"signature mismatch"}`)
			return
		}
		tok := base64.StdEncoding.EncodeToString([]byte("AWS:ecr-password"))
		fmt.Fprintf(w, `{"authorizationData":[{"authorizationToken":%q,"expiresAt":%d.5,"proxyEndpoint":"https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"}]}`,
			tok, t0.Add(12*time.Hour).Unix())
	})
	refresh := "x." + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d}`, t0.Add(3*time.Hour).Unix()))) + ".y"
	acr := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.URL.Path != "/oauth2/exchange" || r.Form.Get("grant_type") != "access_token" || r.Form.Get("service") != "flux.azurecr.io" ||
			r.Form.Get("access_token") != "mi-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"refresh_token":%q}`, refresh)
	})
	azureIMDS := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("resource") != "https://containerregistry.azure.net" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, `{"access_token":"mi-token","expires_in":"3600"}`)
	})
	gce := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"access_token":"gcp-token","expires_in":3600}`)
	})
	// The ACR exchange goes to https://<registry host>: this client sends it to the fake instead.
	toACR := &http.Client{Transport: rewriteTransport{to: acr.URL}}
	tests := []struct {
		name, provider, host string
		vars                 map[string]string
		client               *http.Client
		want                 RegistryLogin
		wantErr              string
	}{
		{name: "ECR", provider: "aws", host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
			vars: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_SESSION_TOKEN": "tok", "AWS_ENDPOINT_URL_ECR": ecr.URL},
			want: RegistryLogin{Username: "AWS", Password: "ecr-password", Expires: t0.Add(12*time.Hour + 500*time.Millisecond)}},
		{name: "ECR refuses the key", provider: "aws", host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
			vars:    map[string]string{"AWS_ACCESS_KEY_ID": "AKIAOTHER", "AWS_SECRET_ACCESS_KEY": "x", "AWS_ENDPOINT_URL_ECR": ecr.URL},
			wantErr: "aws registry login to 123456789012.dkr.ecr.eu-west-1.amazonaws.com: AWS AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken: HTTP 400: UnrecognizedClientException: The security token"},
		{name: "GCR", provider: "gcp", host: "europe-docker.pkg.dev", vars: map[string]string{"GCE_METADATA_HOST": strings.TrimPrefix(gce.URL, "http://")},
			want: RegistryLogin{Username: "oauth2accesstoken", Password: "gcp-token", Expires: t0.Add(time.Hour)}},
		{name: "ACR", provider: "azure", host: "flux.azurecr.io", vars: map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": azureIMDS.URL}, client: toACR,
			want: RegistryLogin{Username: "00000000-0000-0000-0000-000000000000", Password: refresh, Expires: t0.Add(3 * time.Hour)}},
		{name: "wrong host", provider: "azure", host: "ghcr.io", wantErr: "invalid Azure registry: 'ghcr.io'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := testEnv(tc.vars)
			env.HTTP = tc.client
			if tc.client != nil {
				// Only the exchange goes to the rewritten host; the managed identity fake is reached directly.
				env.HTTP = &http.Client{Transport: hostSplit{imds: azureIMDS.URL, rest: toACR.Transport}}
			}
			got, err := New(env).RegistryLogin(context.Background(), tc.provider, tc.host)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got.Username != tc.want.Username || got.Password != tc.want.Password || !got.Expires.Equal(tc.want.Expires) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// rewriteTransport sends every request to the server at `to`, keeping path and query.
type rewriteTransport struct{ to string }

func (rt rewriteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = "http", strings.TrimPrefix(rt.to, "http://")
	return http.DefaultTransport.RoundTrip(r)
}

// hostSplit sends requests for the imds server as they are and the rest through rest.
type hostSplit struct {
	imds string
	rest http.RoundTripper
}

func (h hostSplit) RoundTrip(r *http.Request) (*http.Response, error) {
	if "http://"+r.URL.Host == h.imds {
		return http.DefaultTransport.RoundTrip(r)
	}
	return h.rest.RoundTrip(r)
}

// FuzzParsers: the parsers of answers and Secret entries never panic, and a JWT expiry they accept is
// the one in the claims.
func FuzzParsers(f *testing.F) {
	f.Add([]byte(`{"exp":1767323045}`), []byte("aws_access_key_id: A\naws_secret_access_key: B\n"))
	f.Add([]byte(`{"exp":"x"}`), []byte(`{"tenantId":"t","clientId":"c","clientSecret":"s"}`))
	f.Add([]byte(`{}`), []byte(`{"type":"external_account","credential_source":{"file":"/x"}}`))
	f.Fuzz(func(t *testing.T, claims, entry []byte) {
		tok := "h." + base64.RawURLEncoding.EncodeToString(claims) + ".s"
		if exp, err := jwtExpiry(tok); err == nil {
			var c struct{ Exp float64 }
			if json.Unmarshal(claims, &c) != nil || exp.Unix() != int64(c.Exp) {
				t.Fatalf("expiry %v from %s", exp, claims)
			}
		}
		_, _ = ParseAWSKMSCredentials(entry)
		_, _ = ParseAzureKVConfig(entry)
		env, _ := testEnv(map[string]string{})
		env.ReadFile = func(string) ([]byte, error) { return nil, os.ErrNotExist }
		env.HTTP = &http.Client{Transport: rewriteTransport{to: "http://127.0.0.1:1"}}
		_, _ = New(env).gcpFromJSON(context.Background(), entry)
	})
}
