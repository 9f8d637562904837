package cloud

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Registry providers, as spec.provider spells them.
const (
	ProviderAWS   = "aws"
	ProviderGCP   = "gcp"
	ProviderAzure = "azure"
)

// The registry host patterns Flux accepts for each provider.
const (
	ecrPattern   = `([0-9+]*).dkr[.-]ecr(?:-fips)?\.([^/.]*)\.(amazonaws\.com[.cn]*|amazonaws\.eu|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov|on\.aws)`
	publicECR    = "public.ecr.aws"
	gcrPattern   = `^(((.+\.)?gcr\.io)|(.+-docker\.pkg\.dev)|(docker\.s3nsregistry\.fr))$`
	acrPattern   = `^.+\.(azurecr\.io|azurecr\.cn|azurecr\.de|azurecr\.us)$`
	acrUsername  = "00000000-0000-0000-0000-000000000000"
	gcrUsername  = "oauth2accesstoken"
	ecrUserToken = "AWS"
)

var (
	ecrRegexp = regexp.MustCompile(ecrPattern)
	gcrRegexp = regexp.MustCompile(gcrPattern)
	acrRegexp = regexp.MustCompile(acrPattern)
)

// RegistryLogin is a username and password for a registry, and when they expire.
type RegistryLogin struct {
	Username, Password string
	Expires            time.Time
}

// IsCloudProvider says whether provider is aws, gcp or azure.
func IsCloudProvider(provider string) bool {
	return provider == ProviderAWS || provider == ProviderGCP || provider == ProviderAzure
}

// CheckRegistry refuses a registry host (as in an image reference: host[:port]) that provider cannot
// log in to, with Flux's patterns: ECR hosts (<account>.dkr.ecr.<region>.amazonaws.com…) or
// public.ecr.aws for aws; *.gcr.io, *-docker.pkg.dev for gcp; *.azurecr.io (.cn, .de, .us) for azure.
func CheckRegistry(provider, host string) error {
	switch provider {
	case ProviderAWS:
		if host != publicECR && ecrRegion(host) == "" {
			return fmt.Errorf("invalid AWS registry: '%s'. must match %s", host, ecrPattern)
		}
	case ProviderGCP:
		if !gcrRegexp.MatchString(host) {
			return fmt.Errorf("invalid GCP registry: '%s'. must match %s", host, gcrPattern)
		}
	case ProviderAzure:
		if !acrRegexp.MatchString(host) {
			return fmt.Errorf("invalid Azure registry: '%s'. must match %s", host, acrPattern)
		}
	default:
		return fmt.Errorf("provider %q has no registry login: must be one of aws, azure, gcp", provider)
	}
	return nil
}

func ecrRegion(host string) string {
	m := ecrRegexp.FindStringSubmatch(host)
	if len(m) < 3 {
		return ""
	}
	return m[2]
}

// RegistryLogin returns credentials for the registry host through provider's workload identity:
// aws calls ECR GetAuthorizationToken in the registry's region (ECR Public's in us-east-1 for
// public.ecr.aws) with AWSCredentials; gcp uses GCPToken as the password of oauth2accesstoken; azure
// exchanges an AzureToken for the ACR scope at https://<host>/oauth2/exchange for a registry refresh
// token. The host must pass CheckRegistry. Logins are cached until five minutes before they expire.
func (i *Identity) RegistryLogin(ctx context.Context, provider, host string) (RegistryLogin, error) {
	i = i.orDefault()
	if err := CheckRegistry(provider, host); err != nil {
		return RegistryLogin{}, err
	}
	return cachedValue(i, "registry/"+provider+"/"+host, func() (RegistryLogin, time.Time, error) {
		var l RegistryLogin
		var err error
		switch provider {
		case ProviderAWS:
			l, err = i.ecrLogin(ctx, host)
		case ProviderGCP:
			var t Token
			t, err = i.GCPToken(ctx)
			l = RegistryLogin{Username: gcrUsername, Password: t.AccessToken, Expires: t.Expires}
		case ProviderAzure:
			l, err = i.acrLogin(ctx, host)
		}
		if err != nil {
			err = fmt.Errorf("%s registry login to %s: %w", provider, host, err)
		}
		return l, l.Expires, err
	})
}

func (i *Identity) ecrLogin(ctx context.Context, host string) (RegistryLogin, error) {
	region, id, signing, target, hostPrefix := ecrRegion(host), "ECR", "ecr",
		"AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken", "api.ecr"
	public := host == publicECR
	if public {
		// ECR Public hands out tokens in us-east-1 only.
		region, id, signing, target, hostPrefix = "us-east-1", "ECR PUBLIC", "ecr-public",
			"SpencerFrontendService.GetAuthorizationToken", "api.ecr-public"
	}
	creds, err := i.AWSCredentials(ctx, region)
	if err != nil {
		return RegistryLogin{}, err
	}
	type data struct {
		AuthorizationToken string  `json:"authorizationToken"`
		ExpiresAt          float64 `json:"expiresAt"`
	}
	var out struct {
		AuthorizationData json.RawMessage `json:"authorizationData"`
	}
	if err := i.awsJSON(ctx, creds, i.env.awsEndpoint(id, hostPrefix, region), region, signing, target, struct{}{}, &out); err != nil {
		return RegistryLogin{}, err
	}
	var d data
	if public {
		_ = json.Unmarshal(out.AuthorizationData, &d)
	} else {
		var list []data
		_ = json.Unmarshal(out.AuthorizationData, &list)
		if len(list) > 0 {
			d = list[0]
		}
	}
	if d.AuthorizationToken == "" {
		return RegistryLogin{}, errors.New("no authorization data returned")
	}
	if d.ExpiresAt == 0 {
		return RegistryLogin{}, errors.New("authorization token expiration is nil")
	}
	b, err := base64.StdEncoding.DecodeString(d.AuthorizationToken)
	if err != nil {
		return RegistryLogin{}, fmt.Errorf("failed to parse authorization token: %w", err)
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok || strings.Contains(pass, ":") {
		return RegistryLogin{}, errors.New("invalid authorization token format")
	}
	sec := int64(d.ExpiresAt)
	return RegistryLogin{Username: user, Password: pass, Expires: time.Unix(sec, int64((d.ExpiresAt-float64(sec))*1e9))}, nil
}

// acrScope is the Entra scope for an ACR host of the public, China or US Government cloud.
func acrScope(host string) string {
	switch {
	case strings.HasSuffix(host, ".azurecr.cn"):
		return "https://containerregistry.azure.cn/.default"
	case strings.HasSuffix(host, ".azurecr.us"):
		return "https://containerregistry.azure.us/.default"
	}
	return AzureScopeContainerRegistry
}

func (i *Identity) acrLogin(ctx context.Context, host string) (RegistryLogin, error) {
	t, err := i.AzureToken(ctx, acrScope(host))
	if err != nil {
		return RegistryLogin{}, err
	}
	what := "ACR token exchange at " + host
	form := url.Values{"grant_type": {"access_token"}, "service": {host}, "access_token": {t.AccessToken}}
	if tenant := i.env.getenv("AZURE_TENANT_ID"); tenant != "" {
		form.Set("tenant", tenant)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+host+"/oauth2/exchange", strings.NewReader(form.Encode()))
	if err != nil {
		return RegistryLogin{}, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, err := i.env.do(req, what)
	if err != nil {
		return RegistryLogin{}, err
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.RefreshToken == "" {
		return RegistryLogin{}, fmt.Errorf("%s: the answer has no refresh_token", what)
	}
	exp, err := jwtExpiry(out.RefreshToken)
	if err != nil {
		return RegistryLogin{}, fmt.Errorf("%s: refresh token: %w", what, err)
	}
	return RegistryLogin{Username: acrUsername, Password: out.RefreshToken, Expires: exp}, nil
}

// jwtExpiry reads the exp claim of a JWT without verifying it (the registry verifies it).
func jwtExpiry(tok string) (time.Time, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, fmt.Errorf("claims: %w", err)
	}
	var c struct {
		Exp *float64 `json:"exp"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return time.Time{}, fmt.Errorf("claims: %w", err)
	}
	if c.Exp == nil {
		return time.Time{}, errors.New("no exp claim")
	}
	return time.Unix(int64(*c.Exp), 0), nil
}
