package helmchart

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

// buildDependencies adds to c the dependencies that its Chart.yaml (or Chart.lock) declares and its
// charts/ folder lacks, as Flux's dependency manager does: local ones ("file://" or no repository)
// from root, remote ones from their repository (with the credentials of a HelmRepository of that URL in
// namespace, when HelmRepositoryByURL finds one). chartDir is the chart's folder inside root.
func (f *Fetcher) buildDependencies(ctx context.Context, namespace, root, chartDir string, c *chart.Chart) (int, error) {
	reqs := c.Metadata.Dependencies
	if c.Lock != nil {
		reqs = c.Lock.Dependencies
	}
	missing := missingDependencies(c.Dependencies(), reqs)
	if len(missing) == 0 {
		return 0, nil
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	repos := map[string]chartRepository{}
	defer func() {
		for _, r := range repos {
			r.close()
		}
	}()
	for _, name := range names {
		dep := missing[name]
		var sub *chart.Chart
		var err error
		if isLocalDependency(dep) {
			if sub, err = localDependency(root, chartDir, dep); err != nil {
				return 0, fmt.Errorf("failed to add local dependency '%s': %w", name, err)
			}
		} else if sub, err = f.remoteDependency(ctx, namespace, repos, dep); err != nil {
			return 0, fmt.Errorf("failed to add remote dependency '%s': %w", name, err)
		}
		if dep.Alias != "" {
			sub.Metadata.Name = dep.Alias
		}
		c.AddDependency(sub)
	}
	return len(missing), nil
}

// missingDependencies returns the declared dependencies (by name or alias) that are not in current.
func missingDependencies(current []*chart.Chart, reqs []*chart.Dependency) map[string]*chart.Dependency {
	if len(current) == len(reqs) {
		return nil
	}
	missing := map[string]*chart.Dependency{}
	for _, dep := range reqs {
		if dep == nil {
			continue
		}
		name := dep.Name
		if dep.Alias != "" {
			name = dep.Alias
		}
		found := false
		for _, existing := range current {
			if existing.Name() == name {
				found = true
			}
		}
		if !found {
			missing[name] = dep
		}
	}
	return missing
}

func isLocalDependency(dep *chart.Dependency) bool {
	return dep.Repository == "" || strings.HasPrefix(dep.Repository, "file://")
}

// localDependency loads a dependency from charts/<name> (no repository) or from a file:// path relative
// to the chart folder, within root, and checks its version against the declared range.
func localDependency(root, chartDir string, dep *chart.Dependency) (*chart.Chart, error) {
	relChart, err := filepath.Rel(root, chartDir)
	if err != nil {
		return nil, err
	}
	var rel string
	if dep.Repository == "" {
		rel = filepath.Join(relChart, "charts", dep.Name)
	} else {
		u, err := url.Parse(dep.Repository)
		if err != nil {
			return nil, fmt.Errorf("failed to parse alleged local chart reference: %w", err)
		}
		if u.Scheme != "" && u.Scheme != "file" {
			return nil, fmt.Errorf("'%s' is not a local chart reference", dep.Repository)
		}
		rel = filepath.Join(relChart, u.Host, u.Path)
	}
	p, err := secureJoin(root, rel)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("no chart found at '%s' (reference '%s')", rel, dep.Repository)
	}
	constraint, err := semver.NewConstraint(dep.Version)
	if err != nil {
		return nil, fmt.Errorf("invalid version/constraint format '%s': %w", dep.Version, err)
	}
	var ch *chart.Chart
	if fi.IsDir() {
		ch, err = loadChartDir(root, rel)
	} else {
		var data []byte
		if data, err = readFileLimit(p, MaxChartSize); err == nil {
			ch, err = loadArchive(data)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to load chart from '%s' (reference '%s'): %w", rel, dep.Repository, err)
	}
	v, err := semver.NewVersion(ch.Metadata.Version)
	if err != nil {
		return nil, err
	}
	if !constraint.Check(v) {
		return nil, fmt.Errorf("can't get a valid version for constraint '%s'", dep.Version)
	}
	return ch, nil
}

// remoteDependency pulls a dependency from its repository URL (http(s):// or oci://).
func (f *Fetcher) remoteDependency(ctx context.Context, namespace string, repos map[string]chartRepository, dep *chart.Dependency) (*chart.Chart, error) {
	switch {
	case strings.HasPrefix(dep.Repository, "@"):
		return nil, fmt.Errorf("aliased repository dependency is not supported: %s", dep.Repository)
	case strings.HasPrefix(dep.Repository, "oci://"), strings.HasPrefix(dep.Repository, "http://"), strings.HasPrefix(dep.Repository, "https://"):
	default:
		return nil, fmt.Errorf("invalid dependency repository URL: %s", dep.Repository)
	}
	u, err := normalizeURL(dep.Repository)
	if err != nil {
		return nil, err
	}
	key := u.String()
	r, ok := repos[key]
	if !ok {
		var obj *sourcev1.HelmRepository
		if f.HelmRepositoryByURL != nil {
			if obj, err = f.HelmRepositoryByURL(ctx, namespace, key); err != nil {
				return nil, fmt.Errorf("failed to get chart repository for URL '%s': %w", key, err)
			}
		}
		if obj == nil {
			obj = &sourcev1.HelmRepository{
				ObjectMeta: metav1.ObjectMeta{Namespace: namespace},
				Spec:       sourcev1.HelmRepositorySpec{URL: dep.Repository, Timeout: &metav1.Duration{Duration: 60 * time.Second}},
			}
			if u.Scheme == "oci" {
				obj.Spec.Type = sourcev1.HelmRepositoryTypeOCI
			}
		}
		if r, _, err = f.openRepository(ctx, obj, false); err != nil {
			return nil, fmt.Errorf("failed to get chart repository for URL '%s': %w", key, err)
		}
		repos[key] = r
	}
	cv, err := r.resolve(ctx, dep.Name, dep.Version)
	if err != nil {
		return nil, fmt.Errorf("failed to get chart '%s' version '%s' from '%s': %w", dep.Name, dep.Version, dep.Repository, err)
	}
	data, err := r.download(ctx, cv)
	if err != nil {
		return nil, fmt.Errorf("chart download of version '%s' failed: %w", cv.Version, err)
	}
	ch, err := loadArchive(data)
	if err != nil {
		return nil, fmt.Errorf("failed to load downloaded archive of version '%s': %w", cv.Version, err)
	}
	return ch, nil
}
