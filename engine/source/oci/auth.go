package oci

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
)

// DockerConfig holds registry credentials in the format of a docker config.json, the content of a
// kubernetes.io/dockerconfigjson Secret's .dockerconfigjson key. It is an authn.Keychain.
type DockerConfig struct {
	auths map[string]dockerAuth // key as written: "host[:port]", "https://host/v1/", "host/path", ...
}

type dockerAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// ParseDockerConfig reads a docker config.json ({"auths": {...}}) or the legacy .dockercfg layout (the
// auths map alone). Entries whose "auth" field is not base64 "user:password" are an error.
func ParseDockerConfig(data []byte) (*DockerConfig, error) {
	var cfg struct {
		Auths map[string]dockerAuth `json:"auths"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("parsing docker config: %w", err)
	}
	if cfg.Auths == nil {
		// legacy .dockercfg: the map of registries at the top level
		if err := json.Unmarshal(data, &cfg.Auths); err != nil {
			return nil, fmt.Errorf("parsing docker config: no \"auths\" and not a legacy .dockercfg: %w", err)
		}
	}
	for key, a := range cfg.Auths {
		if a.Auth == "" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return nil, fmt.Errorf("docker config entry %q: auth is not base64: %w", key, err)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, fmt.Errorf("docker config entry %q: auth is not \"username:password\"", key)
		}
		if a.Username == "" {
			a.Username = user
		}
		if a.Password == "" {
			a.Password = pass
		}
		cfg.Auths[key] = a
	}
	return &DockerConfig{auths: cfg.Auths}, nil
}

// dockerHubAliases are the names Docker Hub credentials are stored under.
var dockerHubAliases = []string{"index.docker.io", "docker.io", "registry-1.docker.io"}

// Resolve implements authn.Keychain: the entry whose key names the registry (scheme and a trailing /v1/ or
// /v2/ ignored), or a registry path that prefixes the repository (the longest such prefix wins, as with
// Kubernetes image pull secrets); anonymous when none matches.
func (c *DockerConfig) Resolve(target authn.Resource) (authn.Authenticator, error) {
	host := target.RegistryStr()
	full := target.String() // "host/repository" for a repository, "host" for a registry
	best, bestLen := dockerAuth{}, -1
	for key, a := range c.auths {
		k := normaliseAuthKey(key)
		khost, kpath, _ := strings.Cut(k, "/")
		if !sameRegistry(khost, host) {
			continue
		}
		if kpath != "" {
			_, repo, _ := strings.Cut(full, "/")
			if repo != kpath && !strings.HasPrefix(repo, kpath+"/") {
				continue
			}
		}
		if len(kpath) > bestLen {
			best, bestLen = a, len(kpath)
		}
	}
	if bestLen < 0 {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: best.Username, Password: best.Password,
		IdentityToken: best.IdentityToken, RegistryToken: best.RegistryToken,
	}), nil
}

func normaliseAuthKey(key string) string {
	k := strings.TrimSpace(key)
	if i := strings.Index(k, "://"); i >= 0 {
		k = k[i+3:]
	}
	k = strings.TrimSuffix(k, "/")
	for _, suffix := range []string{"/v1", "/v2"} {
		k = strings.TrimSuffix(k, suffix)
	}
	return strings.ToLower(k)
}

func sameRegistry(a, b string) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	if a == b {
		return true
	}
	hub := func(s string) bool {
		for _, alias := range dockerHubAliases {
			if s == alias {
				return true
			}
		}
		return false
	}
	return hub(a) && hub(b)
}

// keychainFromSecret reads the credentials of a docker-registry Secret (.dockerconfigjson, or the legacy
// .dockercfg).
func keychainFromSecret(secret *corev1.Secret) (*DockerConfig, error) {
	for _, key := range []string{corev1.DockerConfigJsonKey, corev1.DockerConfigKey} {
		if data, ok := secret.Data[key]; ok {
			cfg, err := ParseDockerConfig(data)
			if err != nil {
				return nil, fmt.Errorf("secret %s/%s key %s: %w", secret.Namespace, secret.Name, key, err)
			}
			return cfg, nil
		}
	}
	return nil, fmt.Errorf("secret %s/%s has neither %s nor %s", secret.Namespace, secret.Name, corev1.DockerConfigJsonKey, corev1.DockerConfigKey)
}
