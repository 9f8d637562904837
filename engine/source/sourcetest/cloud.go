package sourcetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/converge-gitops/converge/engine/cloud"
)

// Registry hosts of the clouds, as the registry logins of CloudLogins serve them.
const (
	ECRHost = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
	GARHost = "europe-docker.pkg.dev"
	ACRHost = "flux.azurecr.io"
)

// CloudLogins is a loopback FAKE of the cloud endpoints a registry login calls (no cloud can run
// here): ECR GetAuthorizationToken, the GCE metadata server's token, Azure IMDS's managed identity
// token and ACR's /oauth2/exchange. Each checks what the real endpoint requires and hands out the
// registry credentials in Users, which a docker-registry started with Htpasswd accepts.
type CloudLogins struct {
	// Identity reads an environment pointing at the fakes.
	Identity *cloud.Identity
	// Users maps each provider's registry username to the password its login hands out.
	Users map[string]string
}

// Htpasswd is the htpasswd content accepting every login of Users.
func (c *CloudLogins) Htpasswd(t testing.TB) string {
	var b strings.Builder
	for u, p := range c.Users {
		b.WriteString(Htpasswd(t, u, p))
	}
	return b.String()
}

// StartCloudLogins starts the fakes for the test.
func StartCloudLogins(t testing.TB) *CloudLogins {
	t.Helper()
	exp := time.Now().Add(time.Hour)
	acrToken := "h." + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d}`, exp.Unix()))) + ".s"
	c := &CloudLogins{Users: map[string]string{"AWS": "ecr-password", "oauth2accesstoken": "gcp-access-token",
		"00000000-0000-0000-0000-000000000000": acrToken}}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.Header.Get("X-Amz-Target") == "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken":
			if !strings.Contains(r.Header.Get("Authorization"), "Credential=AKIAFAKE/") || !strings.Contains(r.Header.Get("Authorization"), "/eu-west-1/ecr/aws4_request") {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}`)
				return
			}
			fmt.Fprintf(w, `{"authorizationData":[{"authorizationToken":%q,"expiresAt":%d}]}`,
				base64.StdEncoding.EncodeToString([]byte("AWS:ecr-password")), exp.Unix())
		case r.URL.Path == "/computeMetadata/v1/instance/service-accounts/default/token" && r.Header.Get("Metadata-Flavor") == "Google":
			fmt.Fprint(w, `{"access_token":"gcp-access-token","expires_in":3600}`)
		case r.URL.Path == "/metadata/identity/oauth2/token" && r.Header.Get("Metadata") == "true" &&
			r.URL.Query().Get("resource") == "https://containerregistry.azure.net":
			fmt.Fprint(w, `{"access_token":"entra-token","expires_in":"3600"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(plain.Close)
	acr := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.URL.Path != "/oauth2/exchange" || r.Form.Get("grant_type") != "access_token" || r.Form.Get("service") != ACRHost ||
			r.Form.Get("access_token") != "entra-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"refresh_token":%q}`, acrToken)
	}))
	t.Cleanup(acr.Close)
	env := map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIAFAKE", "AWS_SECRET_ACCESS_KEY": "fake", "AWS_ENDPOINT_URL_ECR": plain.URL,
		"GCE_METADATA_HOST":                 strings.TrimPrefix(plain.URL, "http://"),
		"AZURE_POD_IDENTITY_AUTHORITY_HOST": plain.URL,
	}
	// The ACR exchange goes to https://<registry host>: this client reaches the fake under that name.
	pool := x509.NewCertPool()
	pool.AddCert(acr.Certificate())
	tr := RedirectTransport(strings.TrimPrefix(acr.URL, "https://"), ACRHost)
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "example.com", MinVersion: tls.VersionTLS12}
	c.Identity = cloud.New(cloud.Env{Getenv: func(k string) string { return env[k] }, HTTP: &http.Client{Transport: tr}})
	return c
}

// RedirectTransport dials addr for every connection to one of hosts (whatever the port): a stand-in
// for DNS, so that a loopback server answers under a cloud registry's name.
func RedirectTransport(addr string, hosts ...string) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
		h, _, _ := net.SplitHostPort(a)
		for _, x := range hosts {
			if h == x {
				return d.DialContext(ctx, network, addr)
			}
		}
		return d.DialContext(ctx, network, a)
	}
	return tr
}
