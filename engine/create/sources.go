// Package create builds the Flux objects and Secrets `converge create` writes, as Flux's CLI builds them:
// the same fields from the same inputs, refusing what Flux refuses.
package create

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

// Meta is what every created object has: its name, namespace and labels ("key=value").
type Meta struct {
	Name      string
	Namespace string
	Labels    []string
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9\-]){0,61}[a-z0-9]$`)

// ObjectMeta validates the name (RFC 1123, as Flux's CLI wants it) and labels.
func (m Meta) ObjectMeta() (metav1.ObjectMeta, error) {
	om := metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace}
	if !nameRE.MatchString(m.Name) {
		return om, fmt.Errorf("name '%s' is invalid, it should adhere to standard defined in RFC 1123, the name can only contain alphanumeric characters or '-'", m.Name)
	}
	for _, l := range m.Labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.Contains(v, "=") {
			return om, fmt.Errorf("invalid label format '%s', must be key=value", l)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return om, fmt.Errorf("invalid label '%s': %v", k, errs)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return om, fmt.Errorf("invalid label value '%s': %v", v, errs)
		}
		if om.Labels == nil {
			om.Labels = map[string]string{}
		}
		om.Labels[k] = v
	}
	return om, nil
}

func localRef(name string) *meta.LocalObjectReference {
	if name == "" {
		return nil
	}
	return &meta.LocalObjectReference{Name: name}
}

func optDuration(d time.Duration) *metav1.Duration {
	if d <= 0 {
		return nil
	}
	return &metav1.Duration{Duration: d}
}

func ignore(paths []string) *string {
	if len(paths) == 0 {
		return nil
	}
	s := strings.Join(paths, "\n")
	return &s
}

// GitRepositoryOptions are the inputs of `create source git`.
type GitRepositoryOptions struct {
	Meta
	Interval, FetchTimeout                      time.Duration
	URL                                         string
	Branch, Tag, SemVer, Commit, RefName        string
	IgnorePaths, SparseCheckoutPaths            []string
	RecurseSubmodules                           bool
	SecretRef, ProxySecretRef, Provider, CAFile string
}

// GitRepository returns the GitRepository o describes.
func GitRepository(o GitRepositoryOptions) (*sourcev1.GitRepository, error) {
	if o.URL == "" {
		return nil, fmt.Errorf("url is required")
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("git URL parse failed: %w", err)
	}
	if u.Scheme != "ssh" && u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("git URL scheme '%s' not supported, can be: ssh, http and https", u.Scheme)
	}
	if o.Branch == "" && o.Tag == "" && o.SemVer == "" && o.Commit == "" && o.RefName == "" {
		return nil, fmt.Errorf("a Git ref is required, use one of the following: --branch, --tag, --commit, --ref-name or --tag-semver")
	}
	if o.CAFile != "" && u.Scheme == "ssh" {
		return nil, fmt.Errorf("specifying a CA file is not supported for Git over SSH")
	}
	if o.Provider != "" && !slices.Contains([]string{"generic", "github", "aws", "azure"}, o.Provider) {
		return nil, fmt.Errorf("--provider %q: want one of generic, github, aws, azure", o.Provider)
	}
	om, err := o.ObjectMeta()
	if err != nil {
		return nil, err
	}
	ref := &sourcev1.GitRepositoryRef{}
	switch {
	case o.Commit != "":
		ref.Commit, ref.Branch = o.Commit, o.Branch
	case o.RefName != "":
		ref.Name = o.RefName
	case o.SemVer != "":
		ref.SemVer = o.SemVer
	case o.Tag != "":
		ref.Tag = o.Tag
	default:
		ref.Branch = o.Branch
	}
	return &sourcev1.GitRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: sourcev1.GitRepositoryKind},
		ObjectMeta: om,
		Spec: sourcev1.GitRepositorySpec{
			URL: o.URL, Interval: metav1.Duration{Duration: o.Interval}, Timeout: optDuration(o.FetchTimeout),
			Reference: ref, Ignore: ignore(o.IgnorePaths), SparseCheckout: o.SparseCheckoutPaths,
			RecurseSubmodules: o.RecurseSubmodules, SecretRef: localRef(o.SecretRef), ProxySecretRef: localRef(o.ProxySecretRef),
			Provider: o.Provider,
		},
	}, nil
}

// HelmRepositoryOptions are the inputs of `create source helm`.
type HelmRepositoryOptions struct {
	Meta
	Interval, FetchTimeout      time.Duration
	URL, SecretRef, OCIProvider string
	PassCredentials             bool
}

// HelmRepository returns the HelmRepository o describes.
func HelmRepository(o HelmRepositoryOptions) (*sourcev1.HelmRepository, error) {
	if o.URL == "" {
		return nil, fmt.Errorf("url is required")
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("url parse failed: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "oci" {
		return nil, fmt.Errorf("url scheme '%s' not supported, can be: http, https and oci", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("url host is required")
	}
	om, err := o.ObjectMeta()
	if err != nil {
		return nil, err
	}
	r := &sourcev1.HelmRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: sourcev1.HelmRepositoryKind},
		ObjectMeta: om,
		Spec: sourcev1.HelmRepositorySpec{URL: o.URL, Interval: metav1.Duration{Duration: o.Interval},
			Timeout: optDuration(o.FetchTimeout), SecretRef: localRef(o.SecretRef)},
	}
	if u.Scheme == "oci" {
		r.Spec.Type, r.Spec.Provider = "oci", o.OCIProvider
	}
	if o.SecretRef != "" {
		r.Spec.PassCredentials = o.PassCredentials
	}
	return r, nil
}

// OCIRepositoryOptions are the inputs of `create source oci`.
type OCIRepositoryOptions struct {
	Meta
	Interval, FetchTimeout                                           time.Duration
	URL, Tag, SemVer, Digest, Provider, LayerSelector                string
	SecretRef, ServiceAccount, CertSecretRef, ProxySecretRef         string
	VerifyProvider, VerifySecretRef, VerifyOIDCIssuer, VerifySubject string
	IgnorePaths                                                      []string
	Insecure                                                         bool
}

// OCIRepository returns the OCIRepository o describes.
func OCIRepository(o OCIRepositoryOptions) (*sourcev1.OCIRepository, error) {
	if o.URL == "" {
		return nil, fmt.Errorf("url is required")
	}
	if o.SemVer == "" && o.Tag == "" && o.Digest == "" {
		return nil, fmt.Errorf("--tag, --tag-semver or --digest is required")
	}
	if !slices.Contains([]string{"generic", "aws", "azure", "gcp"}, o.Provider) {
		return nil, fmt.Errorf("--provider %q: want one of generic, aws, azure, gcp", o.Provider)
	}
	var selector *sourcev1.OCILayerSelector
	if o.LayerSelector != "" {
		mt, op, found := strings.Cut(o.LayerSelector, ":")
		if !found || mt == "" || op == "" {
			return nil, fmt.Errorf("invalid --layer-selector %q: must be in the format '<media-type>:<operation>'", o.LayerSelector)
		}
		if op != "extract" && op != "copy" {
			return nil, fmt.Errorf("invalid --layer-selector %q: operation must be %q or %q", o.LayerSelector, "extract", "copy")
		}
		selector = &sourcev1.OCILayerSelector{MediaType: mt, Operation: op}
	}
	om, err := o.ObjectMeta()
	if err != nil {
		return nil, err
	}
	r := &sourcev1.OCIRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: sourcev1.OCIRepositoryKind},
		ObjectMeta: om,
		Spec: sourcev1.OCIRepositorySpec{
			Provider: o.Provider, URL: o.URL, Insecure: o.Insecure, Interval: metav1.Duration{Duration: o.Interval},
			Reference: &sourcev1.OCIRepositoryRef{Digest: o.Digest, SemVer: o.SemVer, Tag: o.Tag}, Ignore: ignore(o.IgnorePaths),
			LayerSelector: selector, Timeout: optDuration(o.FetchTimeout), ServiceAccountName: o.ServiceAccount,
			SecretRef: localRef(o.SecretRef), ProxySecretRef: localRef(o.ProxySecretRef), CertSecretRef: localRef(o.CertSecretRef),
		},
	}
	switch {
	case o.VerifyProvider != "":
		if o.VerifyProvider != "cosign" {
			return nil, fmt.Errorf("--verify-provider %q: want cosign", o.VerifyProvider)
		}
		r.Spec.Verify = &sourcev1.OCIRepositoryVerification{Provider: o.VerifyProvider, SecretRef: localRef(o.VerifySecretRef)}
		if o.VerifyOIDCIssuer != "" || o.VerifySubject != "" {
			r.Spec.Verify.MatchOIDCIdentity = []sourcev1.OIDCIdentityMatch{{Issuer: o.VerifyOIDCIssuer, Subject: o.VerifySubject}}
		}
	case o.VerifySecretRef != "":
		return nil, fmt.Errorf("a verification provider must be specified when a secret is specified")
	case o.VerifyOIDCIssuer != "" || o.VerifySubject != "":
		return nil, fmt.Errorf("a verification provider must be specified when OIDC issuer/subject is specified")
	}
	return r, nil
}

// BucketOptions are the inputs of `create source bucket`.
type BucketOptions struct {
	Meta
	Interval, FetchTimeout                                            time.Duration
	BucketName, Endpoint, Region, Provider, SecretRef, ProxySecretRef string
	IgnorePaths                                                       []string
	Insecure                                                          bool
}

// Bucket returns the Bucket o describes.
func Bucket(o BucketOptions) (*sourcev1.Bucket, error) {
	if o.BucketName == "" {
		return nil, fmt.Errorf("bucket-name is required")
	}
	if o.Endpoint == "" {
		return nil, fmt.Errorf("endpoint is required")
	}
	if !slices.Contains([]string{"generic", "aws", "azure", "gcp"}, o.Provider) {
		return nil, fmt.Errorf("--provider %q: want one of generic, aws, azure, gcp", o.Provider)
	}
	om, err := o.ObjectMeta()
	if err != nil {
		return nil, err
	}
	return &sourcev1.Bucket{
		TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: sourcev1.BucketKind},
		ObjectMeta: om,
		Spec: sourcev1.BucketSpec{BucketName: o.BucketName, Provider: o.Provider, Insecure: o.Insecure, Endpoint: o.Endpoint,
			Region: o.Region, Interval: metav1.Duration{Duration: o.Interval}, Ignore: ignore(o.IgnorePaths),
			Timeout: optDuration(o.FetchTimeout), SecretRef: localRef(o.SecretRef), ProxySecretRef: localRef(o.ProxySecretRef)},
	}, nil
}

// HelmChartOptions are the inputs of `create source chart`.
type HelmChartOptions struct {
	Meta
	Interval                                                         time.Duration
	Source, Chart, ChartVersion, ReconcileStrategy                   string
	VerifyProvider, VerifySecretRef, VerifyOIDCIssuer, VerifySubject string
}

// ValidStrategy reports whether s is a HelmChart reconcile strategy.
func ValidStrategy(s string) bool { return s == "ChartVersion" || s == "Revision" }

// HelmChart returns the HelmChart o describes.
func HelmChart(o HelmChartOptions) (*sourcev1.HelmChart, error) {
	if o.Chart == "" {
		return nil, fmt.Errorf("chart name or path is required")
	}
	kind, name, _, err := ParseSource(o.Source, "", []string{"HelmRepository", "GitRepository", "Bucket"})
	if err != nil {
		return nil, err
	}
	if !ValidStrategy(o.ReconcileStrategy) {
		return nil, fmt.Errorf("'%s' is an invalid reconcile strategy(valid: Revision, ChartVersion)", o.ReconcileStrategy)
	}
	om, err := o.ObjectMeta()
	if err != nil {
		return nil, err
	}
	c := &sourcev1.HelmChart{
		TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: sourcev1.HelmChartKind},
		ObjectMeta: om,
		Spec: sourcev1.HelmChartSpec{Chart: o.Chart, Version: o.ChartVersion, Interval: metav1.Duration{Duration: o.Interval},
			ReconcileStrategy: o.ReconcileStrategy, SourceRef: sourcev1.LocalHelmChartSourceReference{Kind: kind, Name: name}},
	}
	switch {
	case o.VerifyProvider != "":
		if o.VerifyProvider != "cosign" {
			return nil, fmt.Errorf("--verify-provider %q: want cosign", o.VerifyProvider)
		}
		c.Spec.Verify = &sourcev1.HelmChartVerification{Provider: o.VerifyProvider, SecretRef: localRef(o.VerifySecretRef)}
		if o.VerifyOIDCIssuer != "" || o.VerifySubject != "" {
			c.Spec.Verify.MatchOIDCIdentity = []sourcev1.OIDCIdentityMatch{{Issuer: o.VerifyOIDCIssuer, Subject: o.VerifySubject}}
		}
	case o.VerifySecretRef != "":
		return nil, fmt.Errorf("a verification provider must be specified when a secret is specified")
	case o.VerifyOIDCIssuer != "" || o.VerifySubject != "":
		return nil, fmt.Errorf("a verification provider must be specified when OIDC issuer/subject is specified")
	}
	return c, nil
}

// ParseSource parses '[<kind>/]<name>[.<namespace>]'; kind, matched case-insensitively against kinds,
// defaults to defaultKind ("" makes it required).
func ParseSource(s, defaultKind string, kinds []string) (kind, name, namespace string, err error) {
	if strings.TrimSpace(s) == "" {
		return "", "", "", fmt.Errorf("source is required")
	}
	kind, rest, ok := strings.Cut(s, "/")
	if !ok {
		kind, rest = "", s
	}
	name, namespace, _ = strings.Cut(rest, ".")
	if name == "" {
		return "", "", "", fmt.Errorf("no name given for source of kind '%s'", kind)
	}
	if kind == "" {
		if defaultKind == "" {
			return "", "", "", fmt.Errorf("invalid source '%s', must be in format <kind>/<name>", s)
		}
		kind = defaultKind
	}
	i := slices.IndexFunc(kinds, func(k string) bool { return strings.EqualFold(k, kind) })
	if i < 0 {
		return "", "", "", fmt.Errorf("source kind '%s' is not supported, must be one of: %s", kind, strings.Join(kinds, ", "))
	}
	return kinds[i], name, namespace, nil
}
