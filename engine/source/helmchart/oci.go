package helmchart

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/cloud"
)

// ociRepository is a HelmRepository of type oci: charts are <url>/<chart>:<version> in a registry.
type ociRepository struct {
	url       *url.URL // oci://host/path, no trailing slash
	client    *registry.Client
	transport *http.Transport
	// username, password and plainHTTP reach the registry for signature verification.
	username, password string
	plainHTTP          bool
}

// ctxTransport binds every request to ctx: helm's registry client does not take a context, so this is
// how cancellation and spec.timeout reach it.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}

// ociSetup validates an OCI HelmRepository (oci:// URL, readable credentials) and returns a registry
// client for it bound to ctx.
func (f *Fetcher) ociSetup(ctx context.Context, obj *sourcev1.HelmRepository) (*ociRepository, error) {
	u, err := normalizeURL(obj.Spec.URL)
	if err != nil || u.Scheme != "oci" {
		return nil, withReason(sourcev1.URLInvalidReason, fmt.Errorf("invalid OCI registry URL: %s", obj.Spec.URL))
	}
	if u.Host == "" {
		return nil, withReason(sourcev1.URLInvalidReason, fmt.Errorf("invalid OCI registry URL: %s: no registry host", obj.Spec.URL))
	}
	p := obj.Spec.Provider
	if p != "" && p != "generic" && !cloud.IsCloudProvider(p) {
		return nil, withReason(sourcev1.AuthenticationFailedReason, fmt.Errorf("spec.provider '%s' is not supported, must be one of: generic, aws, azure, gcp", p))
	}
	creds, err := f.repoCredentials(ctx, obj)
	if err != nil {
		return nil, withReason(sourcev1.AuthenticationFailedReason, err)
	}
	username, password, err := registryLogin(creds.authSecret, u.Host)
	if err != nil {
		return nil, withReason(sourcev1.AuthenticationFailedReason, fmt.Errorf("failed to configure OCI registry authentication: %w", err))
	}
	if cloud.IsCloudProvider(p) && obj.Spec.SecretRef == nil {
		// As Flux: the provider's workload identity logs in when no secretRef gives credentials.
		login, err := f.Cloud.RegistryLogin(ctx, p, u.Host)
		if err != nil {
			return nil, withReason(sourcev1.AuthenticationFailedReason, fmt.Errorf("failed to get credential from '%s': %w", p, err))
		}
		username, password = login.Username, login.Password
	}

	var t *http.Transport
	if f.Transport != nil {
		t = f.Transport.Clone()
	} else {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	if creds.tls != nil {
		t.TLSClientConfig = creds.tls.Clone()
	}
	httpClient := &http.Client{Transport: ctxTransport{ctx: ctx, base: t}}
	authorizer := auth.Client{
		Client: httpClient,
		Header: http.Header{"User-Agent": {f.userAgent()}},
		Cache:  auth.NewCache(),
		Credential: func(context.Context, string) (auth.Credential, error) {
			if username == "" {
				return auth.EmptyCredential, nil
			}
			return auth.Credential{Username: username, Password: password}, nil
		},
	}
	configDir := f.RegistryConfigDir
	if configDir == "" {
		if configDir, err = f.Store.CacheDir("helm-registry", "config"); err != nil {
			return nil, withReason(sourcev1.DirCreationFailedReason, err)
		}
	}
	opts := []registry.ClientOption{
		registry.ClientOptWriter(io.Discard),
		registry.ClientOptHTTPClient(httpClient),
		registry.ClientOptAuthorizer(authorizer),
		registry.ClientOptCredentialsFile(filepath.Join(configDir, "config.json")),
	}
	if obj.Spec.Insecure {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	client, err := registry.NewClient(opts...)
	if err != nil {
		return nil, withReason(sourcev1.AuthenticationFailedReason, fmt.Errorf("failed to construct Helm client: %w", err))
	}
	return &ociRepository{url: u, client: client, transport: t, username: username, password: password, plainHTTP: obj.Spec.Insecure}, nil
}

func (r *ociRepository) close() { r.transport.CloseIdleConnections() }

// chartRef is "host/path/<chart>" without scheme.
func (r *ociRepository) chartRef(name string) string {
	u := *r.url
	u.Path = path.Join(u.Path, name)
	return strings.TrimPrefix(u.String(), "oci://")
}

// resolve finds the tag for name and versionRange as Flux does: a valid version is used as the tag
// without listing; otherwise the registry's SemVer tags are matched (exact string first, then the
// range; "" and "*" mean the latest stable version).
func (r *ociRepository) resolve(_ context.Context, name, versionRange string) (*repo.ChartVersion, error) {
	ref := r.chartRef(name)
	cv := func(tag string) *repo.ChartVersion {
		return &repo.ChartVersion{URLs: []string{"oci://" + ref + ":" + tag}, Metadata: &chart.Metadata{Name: name, Version: tag}}
	}
	if _, err := parseStrictVersion(versionRange); err == nil {
		return cv(versionRange), nil
	}
	tags, err := r.client.Tags(ref)
	if err != nil {
		return nil, fmt.Errorf("could not fetch tags for %q: %w", "oci://"+ref, err)
	}
	if len(tags) == 0 {
		return nil, fmt.Errorf("unable to locate any tags in provided repository: %s", name)
	}
	tag, err := matchTag(name, tags, versionRange)
	if err != nil {
		return nil, err
	}
	return cv(tag), nil
}

// matchTag picks the tag Flux would: an exact match, else the highest version in the range.
func matchTag(name string, tags []string, versionRange string) (string, error) {
	if versionRange != "" {
		for _, t := range tags {
			if t == versionRange {
				return t, nil
			}
		}
	}
	rng := versionRange
	if rng == "" {
		rng = "*"
	}
	constraint, err := semver.NewConstraint(rng)
	if err != nil {
		return "", fmt.Errorf("invalid version range '%s': %w", versionRange, err)
	}
	var matching []*semver.Version
	for _, t := range tags {
		v, err := parseStrictVersion(t)
		if err != nil || !constraint.Check(v) {
			continue
		}
		matching = append(matching, v)
	}
	if len(matching) == 0 {
		return "", &NoMatchingVersionError{Chart: name, Range: rng, Available: tags}
	}
	sort.Sort(sort.Reverse(semver.Collection(matching)))
	return matching[0].Original(), nil
}

// download pulls the chart layer of cv.
func (r *ociRepository) download(_ context.Context, cv *repo.ChartVersion) ([]byte, error) {
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("chart '%s' has no downloadable URLs", cv.Name)
	}
	res, err := r.client.Pull(strings.TrimPrefix(cv.URLs[0], "oci://"), registry.PullOptWithChart(true))
	if err != nil {
		return nil, fmt.Errorf("failed to get '%s': %w", cv.URLs[0], err)
	}
	if int64(len(res.Chart.Data)) > MaxChartSize {
		return nil, fmt.Errorf("chart '%s' of %d bytes exceeds the limit of %d bytes", cv.URLs[0], len(res.Chart.Data), MaxChartSize)
	}
	return res.Chart.Data, nil
}
