package helmchart

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"
)

// Size limits, as in Flux's source-controller.
const (
	// MaxIndexSize is the largest repository index accepted.
	MaxIndexSize int64 = 50 << 20
	// MaxChartSize is the largest chart archive accepted.
	MaxChartSize int64 = 10 << 20
	// MaxChartFileSize is the largest single file loaded from a chart folder or values file.
	MaxChartFileSize int64 = 5 << 20
)

// LoadIndex parses a repository index (YAML, or JSON) the way Flux and helm do: an empty document and a
// missing apiVersion are errors, unknown fields are errors, empty and invalid chart versions are dropped
// and the entries of every chart are sorted newest first (helm's order). Unlike helm's loader it never
// logs.
func LoadIndex(data []byte) (*repo.IndexFile, error) {
	if len(data) == 0 {
		return nil, repo.ErrEmptyIndexYaml
	}
	i := &repo.IndexFile{}
	var err error
	if json.Valid(data) {
		err = json.Unmarshal(data, i)
	} else {
		err = yaml.UnmarshalStrict(data, i)
	}
	if err != nil {
		return nil, err
	}
	if i.APIVersion == "" {
		return nil, repo.ErrNoAPIVersion
	}
	for name, cvs := range i.Entries {
		for idx := len(cvs) - 1; idx >= 0; idx-- {
			cv := cvs[idx]
			if cv == nil { // Flux keeps these (and then fails sorting); helm drops them
				cvs = append(cvs[:idx], cvs[idx+1:]...)
				continue
			}
			if cv.Metadata == nil {
				cv.Metadata = &chart.Metadata{}
			}
			if cv.APIVersion == "" {
				cv.APIVersion = chart.APIVersionV1
			}
			if err := cv.Validate(); skippableValidationError(err) != nil {
				cvs = append(cvs[:idx], cvs[idx+1:]...)
			}
		}
		i.Entries[name] = cvs
	}
	sortEntries(i)
	return i, nil
}

// skippableValidationError drops the validation errors helm and Flux ignore when loading an index.
func skippableValidationError(err error) error {
	var verr chart.ValidationError
	if errors.As(err, &verr) && strings.HasPrefix(verr.Error(), "validation: more than one dependency with name or alias") {
		return nil
	}
	return err
}

// sortEntries orders every chart's versions exactly as helm's IndexFile.SortEntries (the same comparisons
// in the same algorithm), parsing each version once instead of at every comparison.
func sortEntries(i *repo.IndexFile) {
	for _, cvs := range i.Entries {
		parsed := make([]*semver.Version, len(cvs))
		for k, cv := range cvs {
			if cv != nil {
				parsed[k], _ = semver.NewVersion(cv.Version)
			}
		}
		sort.Sort(sort.Reverse(&parsedVersions{cvs: cvs, v: parsed}))
	}
}

type parsedVersions struct {
	cvs repo.ChartVersions
	v   []*semver.Version
}

func (p *parsedVersions) Len() int { return len(p.cvs) }
func (p *parsedVersions) Swap(a, b int) {
	p.cvs[a], p.cvs[b] = p.cvs[b], p.cvs[a]
	p.v[a], p.v[b] = p.v[b], p.v[a]
}
func (p *parsedVersions) Less(a, b int) bool {
	if p.v[a] == nil {
		return true
	}
	if p.v[b] == nil {
		return false
	}
	return p.v[a].LessThan(p.v[b])
}

// Index is a loaded repository index with per-chart lookup tables built on first use. It is shared
// between HelmCharts and must be treated as read-only.
type Index struct {
	// Digest is "sha256:<hex>" of the index file's bytes.
	Digest string
	// File is the parsed index.
	File *repo.IndexFile

	mu     sync.Mutex
	charts map[string][]candidate
}

// candidate is one resolvable chart version: the index entry and its parsed version.
type candidate struct {
	v  *semver.Version
	cv *repo.ChartVersion
}

// newIndex wraps a parsed index.
func newIndex(digest string, f *repo.IndexFile) *Index {
	return &Index{Digest: digest, File: f, charts: map[string][]candidate{}}
}

// candidates returns the versions of chart name that Flux can select, highest first and, among equal
// versions, the most recently created first. The table is built once per chart.
func (x *Index) candidates(name string) []candidate {
	x.mu.Lock()
	defer x.mu.Unlock()
	if c, ok := x.charts[name]; ok {
		return c
	}
	var c []candidate
	for _, cv := range x.File.Entries[name] {
		if cv == nil {
			continue
		}
		v, err := parseStrictVersion(cv.Version)
		if err != nil {
			continue
		}
		c = append(c, candidate{v: v, cv: cv})
	}
	sort.SliceStable(c, func(i, j int) bool {
		if !c[i].v.Equal(c[j].v) {
			return c[j].v.LessThan(c[i].v)
		}
		return c[j].cv.Created.Before(c[i].cv.Created)
	})
	x.charts[name] = c
	return c
}

// parseStrictVersion accepts strict SemVer 2 with an optional leading "v", as Flux's version.ParseVersion.
func parseStrictVersion(v string) (*semver.Version, error) {
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v")); err != nil {
		return nil, err
	}
	return semver.NewVersion(v)
}

// NoMatchingVersionError is returned when no version of a chart satisfies the requested range.
type NoMatchingVersionError struct {
	Chart     string
	Range     string
	Available []string // newest first
}

func (e *NoMatchingVersionError) Error() string {
	return fmt.Sprintf("no '%s' chart with version matching '%s' found (available: %s)", e.Chart, e.Range, summarizeVersions(e.Available))
}

// Is makes errors.Is(err, repo.ErrNoChartVersion) true.
func (e *NoMatchingVersionError) Is(target error) bool { return target == repo.ErrNoChartVersion }

func summarizeVersions(vs []string) string {
	const show = 10
	switch {
	case len(vs) == 0:
		return "none"
	case len(vs) <= show:
		return strings.Join(vs, ", ")
	default:
		return fmt.Sprintf("%s and %d more", strings.Join(vs[:show], ", "), len(vs)-show)
	}
}

// ChartNotFoundError is returned when the index has no chart of that name.
type ChartNotFoundError struct {
	Chart string
	// Similar lists up to a few chart names of the index that contain the requested name, to help typos.
	Similar []string
	// Charts is how many charts the index has.
	Charts int
}

func (e *ChartNotFoundError) Error() string {
	msg := fmt.Sprintf("no chart named '%s' in the repository index (%d charts)", e.Chart, e.Charts)
	if len(e.Similar) > 0 {
		msg += "; similar: " + strings.Join(e.Similar, ", ")
	}
	return msg
}

// Is makes errors.Is(err, repo.ErrNoChartName) true.
func (e *ChartNotFoundError) Is(target error) bool { return target == repo.ErrNoChartName }

// Resolve picks the chart version Flux would pick for name and versionRange: an exact version string
// match first, then the highest version satisfying the SemVer range ("" and "*" mean the latest stable
// version), ties broken by the newest creation time.
func (x *Index) Resolve(name, versionRange string) (*repo.ChartVersion, error) {
	cvs, ok := x.File.Entries[name]
	if !ok {
		return nil, &ChartNotFoundError{Chart: name, Similar: similarNames(x.File, name), Charts: len(x.File.Entries)}
	}
	if len(cvs) == 0 {
		return nil, &NoMatchingVersionError{Chart: name, Range: versionRange}
	}
	if versionRange != "" {
		for _, cv := range cvs {
			if cv != nil && cv.Version == versionRange {
				return cv, nil
			}
		}
	}
	rng := versionRange
	if rng == "" {
		rng = "*"
	}
	constraint, err := semver.NewConstraint(rng)
	if err != nil {
		return nil, fmt.Errorf("invalid version range '%s': %w", versionRange, err)
	}
	for _, c := range x.candidates(name) {
		if constraint.Check(c.v) {
			return c.cv, nil
		}
	}
	available := make([]string, 0, len(cvs))
	for _, cv := range cvs {
		if cv != nil {
			available = append(available, cv.Version)
		}
	}
	return nil, &NoMatchingVersionError{Chart: name, Range: rng, Available: available}
}

func similarNames(f *repo.IndexFile, name string) []string {
	var out []string
	lower := strings.ToLower(name)
	for n := range f.Entries {
		ln := strings.ToLower(n)
		if strings.Contains(ln, lower) || strings.Contains(lower, ln) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	if len(out) > 5 {
		out = out[:5]
	}
	return out
}

// IndexCache keeps parsed repository indexes in memory by digest, so that an index is parsed once per
// process however many HelmCharts use it. Concurrent requests for the same digest wait for one load.
// The least recently used entries are evicted beyond MaxEntries. The zero value is not usable; use
// NewIndexCache. It is safe for concurrent use.
type IndexCache struct {
	maxEntries int

	mu      sync.Mutex
	entries map[string]*list.Element
	lru     *list.List
	loads   int
	hits    int
}

type cacheEntry struct {
	digest string
	done   chan struct{}
	index  *Index
	err    error
}

// NewIndexCache returns a cache holding up to maxEntries indexes (at least 1).
func NewIndexCache(maxEntries int) *IndexCache {
	if maxEntries < 1 {
		maxEntries = 1
	}
	return &IndexCache{maxEntries: maxEntries, entries: map[string]*list.Element{}, lru: list.New()}
}

// CacheStats reports how often the cache loaded an index and how often it served one it had.
type CacheStats struct {
	Loads int
	Hits  int
	Len   int
}

// Stats returns the cache's counters.
func (c *IndexCache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Loads: c.loads, Hits: c.hits, Len: c.lru.Len()}
}

// Get returns the index for digest, calling load once if it is not cached. A failed load is not cached.
func (c *IndexCache) Get(ctx context.Context, digest string, load func() (*Index, error)) (*Index, error) {
	c.mu.Lock()
	if el, ok := c.entries[digest]; ok {
		e := el.Value.(*cacheEntry)
		c.lru.MoveToFront(el)
		c.hits++
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil {
			return nil, e.err
		}
		return e.index, nil
	}
	e := &cacheEntry{digest: digest, done: make(chan struct{})}
	c.entries[digest] = c.lru.PushFront(e)
	c.loads++
	c.evictLocked()
	c.mu.Unlock()

	e.index, e.err = load()
	if e.err != nil {
		c.mu.Lock()
		if el, ok := c.entries[digest]; ok && el.Value == e {
			c.lru.Remove(el)
			delete(c.entries, digest)
		}
		c.mu.Unlock()
	}
	close(e.done)
	return e.index, e.err
}

func (c *IndexCache) evictLocked() {
	for c.lru.Len() > c.maxEntries {
		el := c.lru.Back()
		c.lru.Remove(el)
		delete(c.entries, el.Value.(*cacheEntry).digest)
	}
}
