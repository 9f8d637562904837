package helmchart

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

// Secret keys of basic authentication, as Flux reads them. The TLS keys are source.TLSDataFromSecret's.
const (
	keyUsername = "username"
	keyPassword = "password"
)

// credentials are what a HelmRepository's Secrets provide.
type credentials struct {
	// username and password come from secretRef; helm sends them only when both are non-empty.
	username, password string
	// tls is nil when no Secret configures TLS.
	tls *tls.Config
	// deprecatedTLS is true when TLS came from secretRef instead of certSecretRef.
	deprecatedTLS bool
	// authSecret is the secretRef Secret, for OCI registry credentials.
	authSecret *corev1.Secret
}

func (c *credentials) hasBasicAuth() bool { return c.username != "" && c.password != "" }

// repoCredentials reads the Secrets of repo: certSecretRef for TLS first, then secretRef for basic auth
// and (deprecated) TLS when certSecretRef gave none.
func (f *Fetcher) repoCredentials(ctx context.Context, repo *sourcev1.HelmRepository) (*credentials, error) {
	c := &credentials{}
	if ref := repo.Spec.CertSecretRef; ref != nil {
		s, err := f.getSecret(ctx, repo.Namespace, ref.Name)
		if err != nil {
			return nil, fmt.Errorf("failed to get TLS authentication secret '%s/%s': %w", repo.Namespace, ref.Name, err)
		}
		cfg, err := source.TLSConfigFromSecret(s)
		if err != nil {
			return nil, fmt.Errorf("failed to construct Helm client's TLS config from secret '%s/%s': %w", repo.Namespace, ref.Name, err)
		}
		c.tls = cfg
	}
	if ref := repo.Spec.SecretRef; ref != nil {
		s, err := f.getSecret(ctx, repo.Namespace, ref.Name)
		if err != nil {
			return nil, fmt.Errorf("failed to get authentication secret '%s/%s': %w", repo.Namespace, ref.Name, err)
		}
		c.authSecret = s
		_, hasUser := s.Data[keyUsername]
		_, hasPass := s.Data[keyPassword]
		switch {
		case hasUser && hasPass:
			c.username, c.password = string(s.Data[keyUsername]), string(s.Data[keyPassword])
		case hasUser:
			return nil, fmt.Errorf("secret '%s/%s': malformed basic auth: '%s' present but '%s' missing", repo.Namespace, ref.Name, keyUsername, keyPassword)
		case hasPass:
			return nil, fmt.Errorf("secret '%s/%s': malformed basic auth: '%s' present but '%s' missing", repo.Namespace, ref.Name, keyPassword, keyUsername)
		}
		if c.tls == nil {
			cfg, err := source.TLSConfigFromSecret(s)
			switch {
			case err == nil:
				c.tls, c.deprecatedTLS = cfg, true
			case errors.Is(err, source.ErrNoTLSData), errors.Is(err, source.ErrIncompleteKeyPair):
				// Flux ignores incomplete TLS data in secretRef.
			default:
				return nil, fmt.Errorf("secret '%s/%s': %w", repo.Namespace, ref.Name, err)
			}
		}
	}
	return c, nil
}

func (f *Fetcher) getSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if f.Secrets == nil {
		return nil, errors.New("no Secrets source configured")
	}
	return f.Secrets.GetSecret(ctx, namespace, name)
}

// registryLogin returns the username and password for an OCI registry host from the secretRef Secret:
// a kubernetes.io/dockerconfigjson Secret's entry for host, or the username/password keys. Both empty
// means anonymous access.
func registryLogin(s *corev1.Secret, host string) (username, password string, err error) {
	if s == nil {
		return "", "", nil
	}
	if s.Type == corev1.SecretTypeDockerConfigJson {
		username, password, err = dockerConfigLogin(s.Data[corev1.DockerConfigJsonKey], host)
		if err != nil {
			return "", "", fmt.Errorf("secret '%s/%s': %w", s.Namespace, s.Name, err)
		}
	} else {
		username, password = string(s.Data[keyUsername]), string(s.Data[keyPassword])
	}
	if (username == "") != (password == "") {
		return "", "", fmt.Errorf("invalid '%s' secret data: required fields 'username' and 'password'", s.Name)
	}
	return username, password, nil
}

// dockerConfigLogin finds host's credentials in a Docker config.json document. Keys of "auths" may be
// URLs ("https://host/v1/"); they match by host name. "auth" (base64 "user:password") is used when
// username and password are empty.
func dockerConfigLogin(data []byte, host string) (string, string, error) {
	var cfg struct {
		Auths map[string]struct {
			Username string `json:"username"`
			Password string `json:"password"`
			Auth     string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", "", fmt.Errorf("unable to load Docker config: %w", err)
	}
	// An exact key wins; then keys that reduce to host (e.g. "https://host/v1/"), in sorted order.
	keys := make([]string, 0, len(cfg.Auths))
	for key := range cfg.Auths {
		if key != host && dockerConfigHostname(key) == host {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	if _, ok := cfg.Auths[host]; ok {
		keys = append([]string{host}, keys...)
	}
	for _, key := range keys {
		a := cfg.Auths[key]
		user, pass := a.Username, a.Password
		if user == "" && pass == "" && a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return "", "", fmt.Errorf("invalid auth for '%s' in Docker config: %w", host, err)
			}
			u, p, ok := strings.Cut(string(raw), ":")
			if !ok {
				return "", "", fmt.Errorf("invalid auth for '%s' in Docker config: want user:password", host)
			}
			user, pass = u, p
		}
		return user, pass, nil
	}
	return "", "", fmt.Errorf("no auth config for '%s' in the docker-registry Secret", host)
}

// dockerConfigHostname reduces an "auths" key to a host name as docker does: without scheme and path.
func dockerConfigHostname(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "http://"), "https://")
	host, _, _ := strings.Cut(key, "/")
	return host
}
