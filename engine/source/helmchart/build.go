package helmchart

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/ignore"
	"sigs.k8s.io/yaml"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// secureJoin joins rel to root and resolves symlinks, failing when the result lies outside root.
// rel may be absolute only if it already lies inside root. A path that does not exist is returned
// lexically joined (callers then fail to stat it).
func secureJoin(root, rel string) (string, error) {
	root = filepath.Clean(root)
	if filepath.IsAbs(rel) {
		r, err := filepath.Rel(root, rel)
		if err != nil {
			return "", err
		}
		rel = r
	}
	clean := filepath.Clean(string(filepath.Separator) + rel) // never climbs above "/"
	joined := filepath.Join(root, clean)
	resolved, err := filepath.EvalSymlinks(joined)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return joined, nil
		}
		return "", err
	}
	if err := within(root, resolved); err != nil {
		return "", fmt.Errorf("path '%s': %w", rel, err)
	}
	return resolved, nil
}

// within fails unless p (symlinks resolved) is root or below it.
func within(root, p string) error {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	r, err := filepath.Rel(realRoot, p)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return errors.New("traverses outside the source root")
	}
	return nil
}

// loadChartDir loads the chart folder rel of root as helm does (.helmignore rules, UTF-8 BOM dropped),
// refusing symlinks that lead outside root, irregular files and files above MaxChartFileSize.
func loadChartDir(root, rel string) (*chart.Chart, error) {
	dir, err := secureJoin(root, rel)
	if err != nil {
		return nil, err
	}
	rules := ignore.Empty()
	if _, err := os.Stat(filepath.Join(dir, ignore.HelmIgnore)); err == nil {
		if rules, err = ignore.ParseFile(filepath.Join(dir, ignore.HelmIgnore)); err != nil {
			return nil, fmt.Errorf("cannot load ignore rules for chart: %w", err)
		}
	}
	rules.AddDefaults()

	var files []*archive.BufferedFile
	visiting := map[string]bool{}
	var walk func(abs, name string) error
	walk = func(abs, name string) error {
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return err
		}
		if visiting[real] {
			return fmt.Errorf("symlink loop at '%s'", name)
		}
		visiting[real] = true
		defer delete(visiting, real)
		entries, err := os.ReadDir(abs)
		if err != nil {
			return err
		}
		for _, e := range entries {
			childAbs := filepath.Join(abs, e.Name())
			n := path.Join(name, e.Name())
			fi, err := os.Stat(childAbs) // follows symlinks, like helm's loader
			if err != nil {
				return fmt.Errorf("cannot load '%s': %w", n, err)
			}
			if e.Type()&fs.ModeSymlink != 0 {
				target, err := filepath.EvalSymlinks(childAbs)
				if err != nil {
					return fmt.Errorf("cannot load '%s': %w", n, err)
				}
				if err := within(root, target); err != nil {
					return fmt.Errorf("cannot load '%s': %w", n, err)
				}
			}
			if fi.IsDir() {
				if rules.Ignore(n, fi) {
					continue
				}
				if err := walk(childAbs, n); err != nil {
					return err
				}
				continue
			}
			if rules.Ignore(n, fi) {
				continue
			}
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("cannot load irregular file '%s'", n)
			}
			if fi.Size() > MaxChartFileSize {
				return fmt.Errorf("cannot load file '%s' as its size (%d) exceeds the limit (%d)", n, fi.Size(), MaxChartFileSize)
			}
			data, err := os.ReadFile(childAbs)
			if err != nil {
				return fmt.Errorf("error reading '%s': %w", n, err)
			}
			files = append(files, &archive.BufferedFile{Name: n, Data: bytes.TrimPrefix(data, utf8BOM)})
		}
		return nil
	}
	if err := walk(dir, ""); err != nil {
		return nil, fmt.Errorf("failed to load files from %s: %w", rel, err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("failed to load chart from %s: %w", rel, err)
	}
	return c, nil
}

// loadArchive loads a packaged chart of at most MaxChartSize bytes.
func loadArchive(data []byte) (*chart.Chart, error) {
	if int64(len(data)) > MaxChartSize {
		return nil, fmt.Errorf("chart archive of %d bytes exceeds the limit of %d bytes", len(data), MaxChartSize)
	}
	if err := refuseLinks(data); err != nil {
		return nil, err
	}
	return loader.LoadArchive(bytes.NewReader(data))
}

// refuseLinks refuses a chart archive holding links or devices: Helm's loader would read such an entry
// as an empty file, silently; a chart folder with one is refused the same way ("irregular file").
func refuseLinks(data []byte) error {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil // not gzip: the loader says so
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	for {
		hd, err := tr.Next()
		if err != nil {
			return nil // end, or a malformed archive the loader reports
		}
		switch hd.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeXHeader, tar.TypeXGlobalHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
		default:
			what := "an irregular file"
			if hd.Typeflag == tar.TypeSymlink || hd.Typeflag == tar.TypeLink {
				what = "a link to " + hd.Linkname
			}
			return fmt.Errorf("chart archive entry '%s' is %s: a chart holds regular files only", hd.Name, what)
		}
	}
}

// loadChartMetadataDir reads Chart.yaml (and a v1 chart's requirements.yaml) of a chart folder.
func loadChartMetadataDir(dir string) (*chart.Metadata, error) {
	m := &chart.Metadata{}
	b, err := readFileLimit(filepath.Join(dir, chartutil.ChartfileName), MaxChartFileSize)
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("cannot load '%s': %w", chartutil.ChartfileName, err)
	}
	if m.APIVersion == "" {
		m.APIVersion = chart.APIVersionV1
	}
	b, err = readFileLimit(filepath.Join(dir, "requirements.yaml"), MaxChartFileSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := yaml.Unmarshal(b, m); err != nil {
			return nil, fmt.Errorf("cannot load 'requirements.yaml': %w", err)
		}
	}
	return m, nil
}

// readFileLimit reads a regular file of at most limit bytes.
func readFileLimit(p string, limit int64) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("'%s' is not a regular file", filepath.Base(p))
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("size of '%s' exceeds the %d bytes limit", filepath.Base(p), limit)
	}
	return os.ReadFile(p)
}

// mergeMaps deep-merges b over a: nested maps merge, anything else in b replaces a's value.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// effectiveValuesFiles is Flux's rule: a list holding only "values.yaml" changes nothing.
func effectiveValuesFiles(files []string) []string {
	if len(files) == 1 && filepath.Clean(files[0]) == chartutil.ValuesfileName {
		return nil
	}
	return files
}

// valuesReader returns the content of a values file, fs.ErrNotExist when it is missing.
type valuesReader func(name string) ([]byte, error)

// mergeValuesFiles merges the values files in order (later wins). Missing files fail unless
// ignoreMissing. It returns the merged values and the files that contributed.
func mergeValuesFiles(read valuesReader, files []string, ignoreMissing bool) (map[string]any, []string, error) {
	merged := map[string]any{}
	used := make([]string, 0, len(files))
	for _, name := range files {
		b, err := read(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if ignoreMissing {
					continue
				}
				return nil, nil, fmt.Errorf("no values file found at path '%s'", name)
			}
			return nil, nil, fmt.Errorf("could not read values from file '%s': %w", name, err)
		}
		vals := map[string]any{}
		if err := yaml.Unmarshal(b, &vals); err != nil {
			return nil, nil, fmt.Errorf("unmarshaling values from '%s' failed: %w", name, err)
		}
		merged = mergeMaps(merged, vals)
		used = append(used, name)
	}
	return merged, used, nil
}

// chartFileReader reads values files from a loaded chart: values.yaml is the chart's default values
// (as parsed), other names are the chart's non-template files.
func chartFileReader(c *chart.Chart) valuesReader {
	return func(name string) ([]byte, error) {
		clean := path.Clean(filepath.ToSlash(name))
		if clean == chartutil.ValuesfileName {
			return yaml.Marshal(c.Values)
		}
		for _, f := range c.Files {
			if f.Name == clean {
				return f.Data, nil
			}
		}
		return nil, fs.ErrNotExist
	}
}

// dirFileReader reads values files relative to root (the source artifact), within root.
func dirFileReader(root string) valuesReader {
	return func(name string) ([]byte, error) {
		p, err := secureJoin(root, name)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fs.ErrNotExist
		}
		return readFileLimit(p, MaxChartFileSize)
	}
}

// overwriteDefaultValues replaces the chart's values.yaml with vals. It reports whether anything
// changed; a chart without values.yaml is an error, as in Flux.
func overwriteDefaultValues(c *chart.Chart, vals map[string]any) (bool, error) {
	if vals == nil {
		return false, nil
	}
	var data []byte
	if len(vals) > 0 {
		var buf bytes.Buffer
		if err := common.Values(vals).Encode(&buf); err != nil {
			return false, err
		}
		data = buf.Bytes()
	}
	for _, f := range c.Raw {
		if f.Name != chartutil.ValuesfileName {
			continue
		}
		if reflect.DeepEqual(f.Data, data) {
			return false, nil
		}
		f.Data = data
		for _, ff := range c.Files {
			if ff.Name == chartutil.ValuesfileName {
				ff.Data = data
			}
		}
		c.Values = vals
		return true, nil
	}
	return false, fmt.Errorf("failed to locate values file: %s", chartutil.ValuesfileName)
}

// packageChart packages c as helm does, with fixed file times so that equal charts give equal bytes.
func packageChart(c *chart.Chart, workDir string) ([]byte, error) {
	tmp, err := os.MkdirTemp(workDir, "package-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	p, err := chartutil.Save(c, tmp)
	if err != nil {
		return nil, fmt.Errorf("failed to package chart: %w", err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return normalizeArchiveTimes(raw)
}

// archiveTime is the modification time given to every entry of a packaged chart.
var archiveTime = time.Unix(0, 0).UTC()

// normalizeArchiveTimes rewrites a tar.gz with every entry's times set to archiveTime, keeping the
// gzip header's comment and extra field (helm marks its archives with them).
func normalizeArchiveTimes(raw []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Header.Comment, zw.Header.Extra = zr.Header.Comment, zr.Header.Extra
	tr, tw := tar.NewReader(zr), tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		h.ModTime, h.AccessTime, h.ChangeTime = archiveTime, time.Time{}, time.Time{}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
