// Package plugin manages CLI plugins as Flux's CLI does: executables named flux-<name> in a plugin
// directory ($FLUXCD_PLUGINS, else ~/.fluxcd/plugins) run as `converge <name>`, installed from Flux's
// plugin catalog ($FLUXCD_PLUGIN_CATALOG, else the latest release of fluxcd/plugins) with a receipt
// (flux-<name>.yaml) recording the installed version. converge also runs converge-<name> executables
// from that directory.
package plugin

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const (
	// APIVersion is the apiVersion of catalog and plugin manifests.
	APIVersion = "cli.fluxcd.io/v1beta1"
	// PluginKind and CatalogKind are the kinds of a plugin manifest and of the catalog.
	PluginKind  = "Plugin"
	CatalogKind = "PluginCatalog"
	// DefaultCatalog is the base URL of Flux's plugin catalog.
	DefaultCatalog = "https://github.com/fluxcd/plugins/releases/latest/download/"
	// EnvDir and EnvCatalog override the plugin directory and the catalog's base URL.
	EnvDir     = "FLUXCD_PLUGINS"
	EnvCatalog = "FLUXCD_PLUGIN_CATALOG"
	// Prefix is the file name prefix of the executables Flux installs and runs.
	Prefix = "flux-"
	// ConvergePrefix is converge's own plugin prefix, run as Prefix is.
	ConvergePrefix = "converge-"
)

// reserved names are never plugins.
var reserved = []string{"plugin", "help"}

// Plugin is one executable found in the plugin directory.
type Plugin struct {
	Name string
	Path string
}

// Dir is the plugin directory: $FLUXCD_PLUGINS, else ~/.fluxcd/plugins ("" when there is no home).
func Dir(getenv func(string) string, home func() (string, error)) string {
	if d := getenv(EnvDir); d != "" {
		return d
	}
	h, err := home()
	if err != nil || h == "" {
		return ""
	}
	return filepath.Join(h, ".fluxcd", "plugins")
}

// Name is the plugin name of an executable's file name, "" when it is none.
func Name(file string) string {
	for _, p := range []string{Prefix, ConvergePrefix} {
		if n, ok := strings.CutPrefix(file, p); ok && n != "" && !strings.HasSuffix(n, ".yaml") {
			return n
		}
	}
	return ""
}

// Discover lists the executables of dir that are plugins, by name, leaving out the names of builtin
// commands and reserved names; flux-<name> wins over converge-<name>. A missing dir has none.
func Discover(dir string, builtins []string) []Plugin {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	skip := map[string]bool{}
	for _, n := range append(builtins, reserved...) {
		skip[n] = true
	}
	byName := map[string]Plugin{}
	for _, e := range entries {
		name := Name(e.Name())
		if name == "" || skip[name] {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, err := os.Stat(path)
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			continue
		}
		if old, ok := byName[name]; ok && strings.HasPrefix(filepath.Base(old.Path), Prefix) {
			continue
		}
		byName[name] = Plugin{Name: name, Path: path}
	}
	out := make([]Plugin, 0, len(byName))
	for _, p := range byName {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
