package plugin

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// maxDownload bounds a plugin download.
const maxDownload = 512 << 20

// Receipt records what `plugin install` put in the plugin directory (flux-<name>.yaml).
type Receipt struct {
	Name        string   `json:"name"`
	Version     string   `json:"version"`
	InstalledAt string   `json:"installedAt"`
	Platform    Platform `json:"platform"`
}

// Install downloads the platform's file, checks its sha256 checksum, takes the executable out of a
// zip, tar or tar.gz archive (or the file itself), writes it as dir/<manifest.Bin> and the receipt
// beside it. dir is created when missing. Nothing is written when a step fails.
func (c *Client) Install(ctx context.Context, dir string, m *Manifest, v *Version, p *Platform, now time.Time) error {
	body, err := c.get(ctx, p.URL, maxDownload)
	if err != nil {
		return fmt.Errorf("downloading plugin %s v%s: %w", m.Name, v.Version, err)
	}
	if sum := fmt.Sprintf("sha256:%x", sha256.Sum256(body)); sum != p.Checksum {
		return fmt.Errorf("plugin %s v%s: checksum verification failed (expected: %s, got: %s)", m.Name, v.Version, p.Checksum, sum)
	}
	target := m.Bin
	if p.ExtractPath != "" {
		target = p.ExtractPath
	}
	exe, err := extract(body, strings.ToLower(p.URL), target)
	if err != nil {
		return fmt.Errorf("plugin %s v%s from %s: %w", m.Name, v.Version, p.URL, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("plugin directory: %w", err)
	}
	receipt, err := yaml.Marshal(Receipt{Name: m.Name, Version: v.Version, InstalledAt: now.UTC().Format(time.RFC3339), Platform: *p})
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, m.Bin), exe, 0o755); err != nil {
		return err
	}
	return writeFile(receiptPath(dir, m.Name), receipt, 0o644)
}

// writeFile replaces path with data through a temporary file in its directory.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// extract returns the executable named target from an archive (by URL suffix or content), or body
// itself when it is no archive. A target with a "/" matches an entry's whole path, else its base name.
func extract(body []byte, url, target string) ([]byte, error) {
	match := func(name string) bool {
		if !filepath.IsLocal(name) {
			return false
		}
		if strings.Contains(target, "/") {
			return name == target
		}
		return filepath.Base(name) == target
	}
	isZip := strings.HasSuffix(url, ".zip") || bytes.HasPrefix(body, []byte("PK\x03\x04"))
	isGz := strings.HasSuffix(url, ".tar.gz") || strings.HasSuffix(url, ".tgz") || bytes.HasPrefix(body, []byte{0x1f, 0x8b})
	isTar := strings.HasSuffix(url, ".tar") || len(body) >= 262 && string(body[257:262]) == "ustar"
	switch {
	case isZip:
		zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			return nil, fmt.Errorf("reading zip: %w", err)
		}
		for _, f := range zr.File {
			if f.FileInfo().Mode().IsRegular() && match(f.Name) {
				rc, err := f.Open()
				if err != nil {
					return nil, err
				}
				defer rc.Close()
				return io.ReadAll(io.LimitReader(rc, maxDownload))
			}
		}
		return nil, fmt.Errorf("binary %q not found in archive", target)
	case isGz, isTar:
		var r io.Reader = bytes.NewReader(body)
		if isGz {
			gz, err := gzip.NewReader(r)
			if err != nil {
				return nil, fmt.Errorf("reading gzip: %w", err)
			}
			defer gz.Close()
			r = gz
		}
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("binary %q not found in archive", target)
			}
			if err != nil {
				return nil, fmt.Errorf("reading tar: %w", err)
			}
			if h.Typeflag == tar.TypeReg && match(h.Name) {
				return io.ReadAll(io.LimitReader(tr, maxDownload))
			}
		}
	}
	return body, nil
}

func receiptPath(dir, name string) string { return filepath.Join(dir, Prefix+name+".yaml") }

// ReadReceipt reads the receipt of plugin name; nil when it was not installed from the catalog.
func ReadReceipt(dir, name string) (*Receipt, error) {
	data, err := os.ReadFile(receiptPath(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Receipt
	if err := yaml.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", receiptPath(dir, name), err)
	}
	return &r, nil
}

// Uninstall removes plugin name's executable and receipt from dir.
func Uninstall(dir, name string) error {
	if name == "" || name != filepath.Base(name) {
		return fmt.Errorf("invalid plugin name %q", name)
	}
	bin := filepath.Join(dir, Prefix+name)
	if _, err := os.Lstat(bin); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("plugin %q is not installed", name)
	}
	if err := os.Remove(bin); err != nil {
		return fmt.Errorf("removing plugin %q: %w", name, err)
	}
	if err := os.Remove(receiptPath(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the receipt of plugin %q: %w", name, err)
	}
	return nil
}

// Update outcomes.
const (
	Updated  = "updated"
	UpToDate = "up to date"
	Manual   = "manually installed"
	Failed   = "failed"
)

// UpdateResult is what Update did for one plugin.
type UpdateResult struct {
	Name     string
	From, To string
	Outcome  string
	Err      error
}

// Update installs the newest catalog version of each named plugin installed from the catalog; plugins
// without a receipt are left alone (Manual). A failure of one plugin does not stop the others.
func (c *Client) Update(ctx context.Context, dir string, names []string, goos, goarch string, now time.Time) []UpdateResult {
	var out []UpdateResult
	for _, name := range names {
		res := UpdateResult{Name: name, Outcome: Failed}
		func() {
			receipt, err := ReadReceipt(dir, name)
			if err != nil {
				res.Err = err
				return
			}
			if receipt == nil {
				res.Outcome = Manual
				return
			}
			res.From = receipt.Version
			m, err := c.Manifest(ctx, name)
			if err != nil {
				res.Err = err
				return
			}
			res.To = m.Versions[0].Version
			if res.To == res.From {
				res.Outcome = UpToDate
				return
			}
			v, p, err := m.Resolve("", goos, goarch)
			if err != nil {
				res.Err = err
				return
			}
			if res.Err = c.Install(ctx, dir, m, v, p, now); res.Err == nil {
				res.Outcome = Updated
			}
		}()
		out = append(out, res)
	}
	return out
}
