package plugin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Manifest describes one plugin of the catalog: its executable and its versions, newest first.
type Manifest struct {
	APIVersion  string    `json:"apiVersion"`
	Kind        string    `json:"kind"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Homepage    string    `json:"homepage,omitempty"`
	Source      string    `json:"source,omitempty"`
	Bin         string    `json:"bin"`
	Versions    []Version `json:"versions"`
}

// Version is one release of a plugin with its downloads.
type Version struct {
	Version   string     `json:"version"`
	Platforms []Platform `json:"platforms"`
}

// Platform is the download of one version for one OS and architecture; Checksum is "sha256:<hex>"
// and ExtractPath names the executable inside an archive.
type Platform struct {
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	URL         string `json:"url"`
	Checksum    string `json:"checksum"`
	ExtractPath string `json:"extractPath,omitempty"`
}

// Catalog lists the plugins that can be installed.
type Catalog struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Plugins    []CatalogEntry `json:"plugins"`
}

// CatalogEntry is one plugin of the catalog.
type CatalogEntry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Homepage    string `json:"homepage"`
	Source      string `json:"source"`
	License     string `json:"license"`
}

// maxDocument bounds catalog documents.
const maxDocument = 10 << 20

// Client reads the catalog at BaseURL (ending in "/": <BaseURL>catalog.yaml, <BaseURL><name>.yaml).
type Client struct {
	BaseURL    string
	HTTPClient *http.Client
}

func (c *Client) get(ctx context.Context, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d from %s", resp.StatusCode, url)
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit))
}

func (c *Client) base() string {
	if strings.HasSuffix(c.BaseURL, "/") {
		return c.BaseURL
	}
	return c.BaseURL + "/"
}

// Catalog reads catalog.yaml.
func (c *Client) Catalog(ctx context.Context) (*Catalog, error) {
	body, err := c.get(ctx, c.base()+"catalog.yaml", maxDocument)
	if err != nil {
		return nil, fmt.Errorf("fetching the plugin catalog: %w", err)
	}
	return ParseCatalog(body)
}

// ParseCatalog decodes and checks catalog.yaml.
func ParseCatalog(body []byte) (*Catalog, error) {
	var cat Catalog
	if err := yaml.UnmarshalStrict(body, &cat); err != nil {
		return nil, fmt.Errorf("plugin catalog: %w", err)
	}
	if cat.APIVersion != APIVersion || cat.Kind != CatalogKind {
		return nil, fmt.Errorf("plugin catalog: apiVersion %q kind %q, want %s %s", cat.APIVersion, cat.Kind, APIVersion, CatalogKind)
	}
	return &cat, nil
}

// Manifest reads <name>.yaml.
func (c *Client) Manifest(ctx context.Context, name string) (*Manifest, error) {
	if name == "" || strings.ContainsAny(name, "/\\") || name != filepath.Base(name) {
		return nil, fmt.Errorf("invalid plugin name %q", name)
	}
	body, err := c.get(ctx, c.base()+name+".yaml", maxDocument)
	if err != nil {
		return nil, fmt.Errorf("plugin %q not found in catalog: %w", name, err)
	}
	return ParseManifest(name, body)
}

// ParseManifest decodes and checks the manifest of plugin name.
func ParseManifest(name string, body []byte) (*Manifest, error) {
	var m Manifest
	if err := yaml.UnmarshalStrict(body, &m); err != nil {
		return nil, fmt.Errorf("plugin %q manifest: %w", name, err)
	}
	if m.APIVersion != APIVersion || m.Kind != PluginKind {
		return nil, fmt.Errorf("plugin %q manifest: apiVersion %q kind %q, want %s %s", name, m.APIVersion, m.Kind, APIVersion, PluginKind)
	}
	if m.Bin == "" || m.Bin != filepath.Base(m.Bin) || !filepath.IsLocal(m.Bin) || !strings.HasPrefix(m.Bin, Prefix) {
		return nil, fmt.Errorf("plugin %q manifest: bin %q must be a plain file name starting with %q", name, m.Bin, Prefix)
	}
	if len(m.Versions) == 0 {
		return nil, fmt.Errorf("plugin %q manifest: no versions", name)
	}
	return &m, nil
}

// Resolve picks the version (the newest when ref is "", or the one holding a "sha256:" digest) and
// its download for goos/goarch.
func (m *Manifest) Resolve(ref, goos, goarch string) (*Version, *Platform, error) {
	if strings.HasPrefix(ref, "sha256:") {
		for i := range m.Versions {
			for j := range m.Versions[i].Platforms {
				p := &m.Versions[i].Platforms[j]
				if p.OS == goos && p.Arch == goarch && p.Checksum == ref {
					return &m.Versions[i], p, nil
				}
			}
		}
		return nil, nil, fmt.Errorf("digest %q not found for plugin %q on %s/%s", ref, m.Name, goos, goarch)
	}
	var v *Version
	if ref == "" {
		v = &m.Versions[0]
	}
	for i := range m.Versions {
		if v == nil && m.Versions[i].Version == ref {
			v = &m.Versions[i]
		}
	}
	if v == nil {
		return nil, nil, fmt.Errorf("version %q not found for plugin %q", ref, m.Name)
	}
	for j := range v.Platforms {
		if v.Platforms[j].OS == goos && v.Platforms[j].Arch == goarch {
			return v, &v.Platforms[j], nil
		}
	}
	return nil, nil, fmt.Errorf("plugin %q v%s has no binary for %s/%s", m.Name, v.Version, goos, goarch)
}
