package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Azure scopes Flux asks for.
const (
	AzureScopeContainerRegistry = "https://containerregistry.azure.net/.default"
	AzureScopeKeyVault          = "https://vault.azure.net/.default"
	AzureScopeStorage           = "https://storage.azure.com/.default"
)

// AzureToken returns a Microsoft Entra access token for scope as Flux's default Azure credential
// finds one: a service principal secret (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET);
// else workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE and
// AZURE_AUTHORITY_HOST: the projected token is the client assertion); else the managed identity of
// the instance metadata service (AZURE_POD_IDENTITY_AUTHORITY_HOST, else 169.254.169.254), with
// AZURE_CLIENT_ID as the user-assigned identity when set.
func (i *Identity) AzureToken(ctx context.Context, scope string) (Token, error) {
	i = i.orDefault()
	return cachedValue(i, "azure/"+scope, func() (Token, time.Time, error) {
		t, err := i.azureToken(ctx, scope)
		return t, t.Expires, err
	})
}

func (i *Identity) azureToken(ctx context.Context, scope string) (Token, error) {
	e := i.env
	tenant, client := e.getenv("AZURE_TENANT_ID"), e.getenv("AZURE_CLIENT_ID")
	if secret := e.getenv("AZURE_CLIENT_SECRET"); secret != "" && tenant != "" && client != "" {
		return i.azureClientCredentials(ctx, tenant, client, scope, url.Values{"client_secret": {secret}}, "service principal "+client)
	}
	if e.getenv("AZURE_CLIENT_CERTIFICATE_PATH") != "" && tenant != "" && client != "" {
		return Token{}, errors.New("azure: AZURE_CLIENT_CERTIFICATE_PATH (service principal certificate) is not supported by converge: use AZURE_CLIENT_SECRET or workload identity")
	}
	file, authority := e.getenv("AZURE_FEDERATED_TOKEN_FILE"), e.getenv("AZURE_AUTHORITY_HOST")
	if client != "" && tenant != "" && file != "" && authority != "" {
		assertion, err := e.readFile(file)
		if err != nil {
			return Token{}, fmt.Errorf("azure workload identity: reading AZURE_FEDERATED_TOKEN_FILE: %w", err)
		}
		return i.azureClientCredentials(ctx, tenant, client, scope, url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {strings.TrimSpace(string(assertion))},
		}, "workload identity "+client)
	}
	t, err := i.azureIMDS(ctx, scope, client)
	if err != nil {
		return Token{}, fmt.Errorf("no Azure credentials: no AZURE_CLIENT_SECRET, workload identity environment (AZURE_CLIENT_ID, AZURE_TENANT_ID, "+
			"AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST) incomplete, and managed identity failed: %w", err)
	}
	return t, nil
}

// azureClientCredentials is the OAuth2 client credentials grant at the tenant's v2.0 token endpoint.
func (i *Identity) azureClientCredentials(ctx context.Context, tenant, client, scope string, cred url.Values, who string) (Token, error) {
	e := i.env
	authority := e.getenv("AZURE_AUTHORITY_HOST")
	if authority == "" {
		authority = "https://login.microsoftonline.com/"
	}
	endpoint := strings.TrimSuffix(authority, "/") + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
	form := url.Values{"client_id": {client}, "scope": {scope}, "grant_type": {"client_credentials"}}
	for k, v := range cred {
		form[k] = v
	}
	what := "Azure token for " + who
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, err := e.do(req, what)
	if err != nil {
		return Token{}, err
	}
	return e.oauthToken(body, what)
}

func (i *Identity) azureIMDS(ctx context.Context, scope, client string) (Token, error) {
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	e := i.env
	base := strings.TrimSuffix(e.getenv("AZURE_POD_IDENTITY_AUTHORITY_HOST"), "/")
	if base == "" {
		base = "http://169.254.169.254"
	}
	q := url.Values{"api-version": {"2018-02-01"}, "resource": {strings.TrimSuffix(scope, "/.default")}}
	if client != "" {
		q.Set("client_id", client)
	}
	what := "Azure managed identity " + base
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metadata/identity/oauth2/token?"+q.Encode(), nil)
	if err != nil {
		return Token{}, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Metadata", "true")
	body, err := e.do(req, what)
	if err != nil {
		return Token{}, err
	}
	return e.oauthToken(body, what)
}
