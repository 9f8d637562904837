// Package migrate rewrites the apiVersion of Flux objects in YAML files to the versions a Flux minor
// release serves, as `flux migrate -f` does.
package migrate

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/converge-gitops/converge/engine/kinds"
)

// Versions are the Flux minor versions files can be migrated to, newest first.
var Versions = []string{"2.9", "2.8", "2.7", "2.6"}

// LatestVersions returns the served version of each Flux kind in Flux minor release fluxVersion ("" is
// the newest), from the kinds registry; 2.6 served the image kinds as v1beta2 and no ArtifactGenerator.
func LatestVersions(fluxVersion string) (map[schema.GroupKind]string, error) {
	if fluxVersion == "" {
		fluxVersion = Versions[0]
	}
	if !slices.Contains(Versions, fluxVersion) {
		return nil, fmt.Errorf("version %s is not supported, supported versions are: %s",
			fluxVersion, strings.Join(Versions, ", "))
	}
	out := map[schema.GroupKind]string{}
	for _, k := range kinds.All() {
		gk := schema.GroupKind{Group: k.Resource.Group, Kind: k.Kind}
		out[gk] = k.Resource.Version
		if fluxVersion == "2.6" {
			switch k.Resource.Group {
			case "image.toolkit.fluxcd.io":
				out[gk] = "v1beta2"
			case "source.extensions.fluxcd.io":
				delete(out, gk)
			}
		}
	}
	return out, nil
}

// Upgrade is one apiVersion line to rewrite.
type Upgrade struct {
	// Line is 1-based.
	Line       int    `json:"line"`
	Kind       string `json:"kind"`
	OldVersion string `json:"oldVersion"`
	NewVersion string `json:"newVersion"`
}

// FileUpgrades are the upgrades of one file.
type FileUpgrades struct {
	File     string    `json:"file"`
	Upgrades []Upgrade `json:"upgrades"`
}

// Result is what Files found (and, unless dry run, rewrote).
type Result struct {
	Files []FileUpgrades
	// Warnings name lines whose apiVersion does not parse and irregular files skipped.
	Warnings []string
}

// Options select the files and the target versions.
type Options struct {
	// Path is a directory walked recursively or one file.
	Path string
	// Extensions are the file name suffixes considered (".yaml", ".yml").
	Extensions []string
	// Latest maps each Flux kind to its served version (LatestVersions).
	Latest map[schema.GroupKind]string
}

// Detect lists the apiVersion lines of Flux kinds under opts.Path that are not the served version. As Flux,
// it reads line by line: an "apiVersion: G/V" line directly followed by a "kind: K" line.
func Detect(opts Options) (*Result, error) {
	path := filepath.Clean(opts.Path)
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("failed to stat path %s: %w", path, err)
	}
	res := &Result{}
	var files []string
	if !info.IsDir() {
		if !matches(path, opts.Extensions) {
			return nil, fmt.Errorf("file %s does not match the specified extensions: %s", path, strings.Join(opts.Extensions, ", "))
		}
		if !info.Mode().IsRegular() {
			return nil, fmt.Errorf("file %s is irregular", path)
		}
		files = []string{path}
	} else {
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !matches(p, opts.Extensions) {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.Mode().IsRegular() {
				files = append(files, p)
			} else if !fi.IsDir() {
				res.Warnings = append(res.Warnings, "skipping irregular file "+p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("failed to walk directory %s: %w", path, err)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("failed to read file %s: %w", f, err)
		}
		ups, warns := detectLines(f, strings.Split(string(b), "\n"), opts.Latest)
		res.Warnings = append(res.Warnings, warns...)
		if len(ups) > 0 {
			res.Files = append(res.Files, FileUpgrades{File: f, Upgrades: ups})
		}
	}
	return res, nil
}

func matches(file string, exts []string) bool {
	for _, e := range exts {
		if strings.HasSuffix(file, e) {
			return true
		}
	}
	return false
}

func detectLines(file string, lines []string, latest map[schema.GroupKind]string) ([]Upgrade, []string) {
	var ups []Upgrade
	var warns []string
	for i, l := range lines {
		apiVersion, ok := value(l, "apiVersion: ")
		if !ok {
			continue
		}
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil {
			warns = append(warns, fmt.Sprintf("%s:%d: %v", file, i+1, err))
			continue
		}
		if i+1 >= len(lines) {
			continue
		}
		kind, ok := value(lines[i+1], "kind: ")
		if !ok {
			continue
		}
		v, ok := latest[schema.GroupKind{Group: gv.Group, Kind: kind}]
		if !ok || v == gv.Version {
			continue
		}
		ups = append(ups, Upgrade{Line: i + 1, Kind: kind, OldVersion: gv.Version, NewVersion: v})
	}
	return ups, warns
}

// value returns the first word after prefix in line.
func value(line, prefix string) (string, bool) {
	idx := strings.Index(line, prefix)
	if idx == -1 {
		return "", false
	}
	return strings.Split(strings.TrimSpace(line[idx+len(prefix):]), " ")[0], true
}

// Rewrite rewrites the detected lines of each file in place, keeping its mode. A file whose line no
// longer holds the old version (changed since Detect) is an error and is not written.
func Rewrite(files []FileUpgrades) error {
	for _, fu := range files {
		info, err := os.Stat(fu.File)
		if err != nil {
			return fmt.Errorf("failed to stat file %s: %w", fu.File, err)
		}
		b, err := os.ReadFile(fu.File)
		if err != nil {
			return fmt.Errorf("failed to read file %s: %w", fu.File, err)
		}
		lines := strings.Split(string(b), "\n")
		for _, u := range fu.Upgrades {
			if u.Line > len(lines) || !strings.Contains(lines[u.Line-1], u.OldVersion) {
				return fmt.Errorf("%s:%d: %s apiVersion %s changed since it was read", fu.File, u.Line, u.Kind, u.OldVersion)
			}
			lines[u.Line-1] = strings.Replace(lines[u.Line-1], u.OldVersion, u.NewVersion, 1)
		}
		if err := os.WriteFile(fu.File, []byte(strings.Join(lines, "\n")), info.Mode()); err != nil {
			return fmt.Errorf("failed to write file %s: %w", fu.File, err)
		}
	}
	return nil
}
