package helmchart

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

// HelmChart condition reasons Flux uses that crds/source/v1 does not name.
const (
	ReasonInvalidChartReference = "InvalidChartReference"
	ReasonChartPullError        = "ChartPullError"
	ReasonMetadataPatchError    = "MetadataPatchError"
	ReasonValuesFilesError      = "ValuesFilesError"
	ReasonDependencyBuildError  = "DependencyBuildError"
	ReasonChartPackageError     = "ChartPackageError"
	ReasonSourceUnavailable     = "SourceUnavailable"
	ReasonNoSourceArtifact      = "NoSourceArtifact"
	ReasonUnsupportedSourceKind = "UnsupportedSourceKind"
)

// ChartArtifact is a fetched HelmChart: the artifact, whose folder holds one file (File, the packaged
// chart "<name>-<version>.tgz"), and what Flux records about it in the HelmChart's status.
type ChartArtifact struct {
	*source.Artifact
	// File is the chart archive's path inside Artifact.Dir.
	File string
	// Name is the chart name (status.observedChartName).
	Name string
	// Chart is the packaged chart's Chart.yaml; its version equals Artifact.Revision.
	Chart *chart.Metadata
	// SourceRevision is the revision of the source artifact used (status.observedSourceArtifactRevision):
	// the HelmRepository index digest, or the GitRepository/Bucket revision; empty for OCI repositories.
	SourceRevision string
	// ValuesFiles are the values files merged into the chart's values.yaml.
	ValuesFiles []string
	// ObservedValuesFiles is status.observedValuesFiles: ValuesFiles when ignoreMissingValuesFiles is
	// set, nil otherwise.
	ObservedValuesFiles []string
	// Packaged is true when the chart was packaged by converge rather than stored as pulled.
	Packaged bool
	// Reused is true when the previous artifact was kept because name and version are unchanged (Flux
	// does not rebuild a chart then).
	Reused bool
}

// Reason is the Ready reason Flux reports for the artifact: ChartPackageSucceeded or ChartPullSucceeded.
func (c *ChartArtifact) Reason() string {
	if c.Packaged {
		return sourcev1.ChartPackageSucceededReason
	}
	return sourcev1.ChartPullSucceededReason
}

// Message is Flux's summary, e.g. "pulled 'podinfo' chart with version '6.0.3'".
func (c *ChartArtifact) Message() string {
	action := "pulled"
	if c.Packaged {
		action = "packaged"
	}
	s := fmt.Sprintf("%s '%s' chart with version '%s'", action, c.Name, c.Revision)
	if len(c.ValuesFiles) > 0 {
		s += fmt.Sprintf(" and merged values files %v", c.ValuesFiles)
	}
	return s
}

// chartBuild is a chart ready to store.
type chartBuild struct {
	name        string
	version     string
	data        []byte
	meta        *chart.Metadata
	valuesFiles []string
	packaged    bool
}

// chartState is kept in the store's cache beside a HelmChart's artifact: what produced it.
type chartState struct {
	Fingerprint string          `json:"fingerprint"`
	Digest      string          `json:"digest"`
	Name        string          `json:"name"`
	File        string          `json:"file"`
	Chart       *chart.Metadata `json:"chart"`
	ValuesFiles []string        `json:"valuesFiles,omitempty"`
	Packaged    bool            `json:"packaged"`
}

// chartJob is one FetchChart call.
type chartJob struct {
	f           *Fetcher
	obj         *sourcev1.HelmChart
	ref         source.Ref
	fingerprint string
	valuesFiles []string
	generation  string
}

// FetchChart fetches a HelmChart: the chart named spec.chart in the version range spec.version from a
// HelmRepository (its index or OCI registry, with its credentials and timeout), or the chart folder or
// archive at spec.chart in a GitRepository or Bucket artifact, packaged. spec.valuesFiles are merged in
// order into the chart's values.yaml. The revision is the chart version, with Flux's build metadata:
// "+<generation>" when values files are merged into a chart from a HelmRepository; for Git and Bucket,
// "+<first 12 hex of the source revision>" with reconcileStrategy Revision, then ".<generation>" (or
// "+<generation>" alone) with values files. As in Flux, a chart whose name and version equal the stored
// artifact's is not rebuilt unless the HelmChart's spec or generation changed.
func (f *Fetcher) FetchChart(ctx context.Context, obj *sourcev1.HelmChart) (*ChartArtifact, error) {
	ref := refOf(sourcev1.HelmChartKind, obj.Namespace, obj.Name)
	a, err := f.fetchChart(ctx, obj, ref)
	if err != nil {
		return nil, f.failErr(ref, err)
	}
	return a, nil
}

func (f *Fetcher) fetchChart(ctx context.Context, obj *sourcev1.HelmChart, ref source.Ref) (*ChartArtifact, error) {
	if obj.Spec.Chart == "" {
		return nil, withReason(ReasonInvalidChartReference, errors.New("invalid chart reference: spec.chart is empty"))
	}
	if obj.Spec.Verify != nil && obj.Spec.SourceRef.Kind != sourcev1.HelmRepositoryKind {
		return nil, withReason(sourcev1.VerificationError, fmt.Errorf("spec.verify: signatures are verified only for charts from an OCI HelmRepository, not from a %s: the chart is not used unverified", obj.Spec.SourceRef.Kind))
	}
	gen := obj.Generation
	if gen == 0 {
		gen = 1 // an object that never reached a cluster: the generation it would get there
	}
	j := &chartJob{f: f, obj: obj, ref: ref, valuesFiles: effectiveValuesFiles(obj.Spec.ValuesFiles), generation: strconv.FormatInt(gen, 10)}
	j.fingerprint = chartFingerprint(obj, gen)

	unlock, err := f.Store.Lock(ctx, ref.String())
	if err != nil {
		return nil, withReason(sourcev1.AcquireLockFailedReason, fmt.Errorf("failed to acquire lock: %w", err))
	}
	defer unlock()

	switch k := obj.Spec.SourceRef.Kind; k {
	case sourcev1.HelmRepositoryKind:
		return j.fromRepository(ctx)
	case sourcev1.GitRepositoryKind, sourcev1.BucketKind:
		return j.fromArtifact(ctx)
	default:
		return nil, withReason(ReasonUnsupportedSourceKind, fmt.Errorf("failed to get source: unsupported source kind '%s', must be one of: [%s %s %s]",
			k, sourcev1.HelmRepositoryKind, sourcev1.GitRepositoryKind, sourcev1.BucketKind))
	}
}

// chartFingerprint identifies the spec a chart was built for; with the generation it plays the part of
// Flux's "generation differs from observedGeneration" rebuild trigger.
func chartFingerprint(obj *sourcev1.HelmChart, gen int64) string {
	b, _ := json.Marshal(struct {
		Generation int64
		Chart      string
		Version    string
		SourceRef  sourcev1.LocalHelmChartSourceReference
		Values     []string
		Ignore     bool
		Strategy   string
	}{gen, obj.Spec.Chart, obj.Spec.Version, obj.Spec.SourceRef, obj.Spec.ValuesFiles, obj.Spec.IgnoreMissingValuesFiles, obj.GetReconcileStrategy()})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sourceArtifact returns the current artifact of the HelmChart's source.
func (f *Fetcher) sourceArtifact(ctx context.Context, kind, namespace, name string) (*source.Artifact, error) {
	var art *source.Artifact
	var err error
	if f.SourceArtifact != nil {
		art, err = f.SourceArtifact(ctx, kind, namespace, name)
	} else {
		art, err = f.Store.Current(refOf(kind, namespace, name))
	}
	if err != nil {
		return nil, withReason(ReasonSourceUnavailable, fmt.Errorf("failed to get source: %w", err))
	}
	if art == nil {
		return nil, withReason(ReasonNoSourceArtifact, fmt.Errorf("no artifact available for %s source '%s'", kind, name))
	}
	return art, nil
}

// chartNameRE is Flux's rule for chart names in a repository.
var chartNameRE = regexp.MustCompile(`^([-a-z0-9]+/?\.?)+$`)

// chartRepository resolves and downloads charts: an HTTP repository index or an OCI registry.
type chartRepository interface {
	resolve(ctx context.Context, name, versionRange string) (*repo.ChartVersion, error)
	download(ctx context.Context, cv *repo.ChartVersion) ([]byte, error)
	close()
}

// httpRepository is an HTTP(S) chart repository with a loaded index.
type httpRepository struct {
	url    *url.URL
	index  *Index
	getter *httpGetter
}

func (r *httpRepository) resolve(_ context.Context, name, versionRange string) (*repo.ChartVersion, error) {
	return r.index.Resolve(name, versionRange)
}

func (r *httpRepository) download(ctx context.Context, cv *repo.ChartVersion) ([]byte, error) {
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("chart '%s' has no downloadable URLs", cv.Name)
	}
	href, err := resolveChartURL(r.url, cv.URLs[0])
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := r.getter.get(ctx, href, &buf, MaxChartSize, nil); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (r *httpRepository) close() { r.getter.close() }

// openRepository returns the chart repository of a HelmRepository. For type default the index is the
// HelmRepository's artifact when it has one; with needArtifact it must have one (a HelmChart's own
// source), otherwise the index is downloaded (a dependency's repository). It also returns the revision
// of the index used.
func (f *Fetcher) openRepository(ctx context.Context, obj *sourcev1.HelmRepository, needArtifact bool) (chartRepository, string, error) {
	if obj.IsOCI() {
		r, err := f.ociSetup(ctx, obj)
		if err != nil {
			return nil, "", err
		}
		return r, "", nil
	}
	u, err := normalizeURL(obj.Spec.URL)
	if err != nil {
		return nil, "", withReason(sourcev1.URLInvalidReason, fmt.Errorf("invalid Helm repository URL: %w", err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, "", withReason(meta.FailedReason, fmt.Errorf("failed to construct Helm client: scheme %q not supported", u.Scheme))
	}
	creds, err := f.repoCredentials(ctx, obj)
	if err != nil {
		return nil, "", withReason(sourcev1.AuthenticationFailedReason, err)
	}
	g := f.newHTTPGetter(u, creds, obj.Spec.PassCredentials)
	var idx *Index
	var revision string
	if obj.Name != "" || needArtifact {
		var art *source.Artifact
		if needArtifact {
			art, err = f.sourceArtifact(ctx, sourcev1.HelmRepositoryKind, obj.Namespace, obj.Name)
			if err != nil {
				g.close()
				return nil, "", err
			}
		} else {
			art, _ = f.sourceArtifact(ctx, sourcev1.HelmRepositoryKind, obj.Namespace, obj.Name)
		}
		if art != nil {
			revision = art.Revision
			idx, err = f.artifactIndex(ctx, art, u.String())
			if err != nil {
				g.close()
				return nil, "", withReason(ReasonChartPullError, fmt.Errorf("chart pull error: failed to get chart version for remote reference: failed to load index: %w", err))
			}
		}
	}
	if idx == nil {
		idx, revision, err = f.downloadedIndex(ctx, g, u)
		if err != nil {
			g.close()
			return nil, "", withReason(ReasonChartPullError, fmt.Errorf("chart pull error: failed to fetch Helm repository index: %w", err))
		}
	}
	return &httpRepository{url: u, index: idx, getter: g}, revision, nil
}

// artifactIndex loads the index of a HelmRepository artifact, keyed by its revision (the index digest).
func (f *Fetcher) artifactIndex(ctx context.Context, art *source.Artifact, cacheKey string) (*Index, error) {
	p := filepath.Join(art.Dir, IndexFile)
	digest := art.Revision
	if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
		var err error
		if digest, err = fileDigest(p); err != nil {
			return nil, err
		}
	}
	return f.loadIndex(ctx, digest, p, cacheKey)
}

// downloadedIndex downloads and loads the index of a repository that has no artifact.
func (f *Fetcher) downloadedIndex(ctx context.Context, g *httpGetter, u *url.URL) (*Index, string, error) {
	work, err := f.Store.TempDir("helm-index-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(work)
	p := filepath.Join(work, IndexFile)
	digest, err := f.downloadIndex(ctx, g, u, p)
	if err != nil {
		return nil, "", err
	}
	idx, err := f.loadIndex(ctx, digest, p, u.String())
	return idx, digest, err
}

// authFailure reports whether a chart repository error is about credentials or TLS: the words Flux
// looks for, or a registry asking for credentials that were not given.
func authFailure(err error) bool {
	if errors.Is(err, ErrUnauthorized) || errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"401", "unauthorized", "authentication required", "tls", "unknown certificate authority"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// fromRepository pulls the chart from the HelmChart's HelmRepository.
func (j *chartJob) fromRepository(ctx context.Context) (*ChartArtifact, error) {
	f, obj := j.f, j.obj
	if f.HelmRepository == nil {
		return nil, withReason(ReasonSourceUnavailable, errors.New("failed to get source: no HelmRepository lookup configured"))
	}
	repoObj, err := f.HelmRepository(ctx, obj.Namespace, obj.Spec.SourceRef.Name)
	if err != nil {
		return nil, withReason(ReasonSourceUnavailable, fmt.Errorf("failed to get source: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, repoObj.GetTimeout())
	defer cancel()

	name := obj.Spec.Chart
	if !chartNameRE.MatchString(name) {
		return nil, withReason(ReasonInvalidChartReference, fmt.Errorf("invalid chart reference: invalid chart name '%s': a valid name must be lower case letters and numbers and MAY be separated with dashes (-), slashes (/) or periods (.)", name))
	}
	cr, sourceRevision, err := f.openRepository(ctx, repoObj, true)
	if err != nil {
		return nil, err
	}
	defer cr.close()

	cv, err := cr.resolve(ctx, name, obj.Spec.Version)
	if err != nil {
		reason, summary := ReasonInvalidChartReference, "invalid chart reference"
		if repoObj.IsOCI() {
			reason, summary = ReasonChartPullError, "chart pull error"
		}
		return nil, withReason(reason, fmt.Errorf("%s: failed to get chart version for remote reference: %w", summary, err))
	}
	buildMeta := ""
	if len(j.valuesFiles) > 0 {
		buildMeta = j.generation
	}
	version, err := withBuildMetadata(cv.Version, buildMeta)
	if err != nil {
		return nil, err
	}
	verified, err := j.verify(ctx, cr, cv.URLs, cv.Version)
	if err != nil {
		return nil, err
	}
	if a := j.reuse(cv.Name, version, sourceRevision); a != nil {
		return withVerified(a, verified), nil
	}
	data, err := cr.download(ctx, cv)
	if err != nil {
		if authFailure(err) {
			return nil, withReason(sourcev1.AuthenticationFailedReason, fmt.Errorf("failed to authenticate with the Helm repository: chart pull error: failed to download chart for remote reference: %w", err))
		}
		return nil, withReason(ReasonChartPullError, fmt.Errorf("chart pull error: failed to download chart for remote reference: %w", err))
	}
	c, err := loadArchive(data)
	if err == nil {
		err = c.Metadata.Validate()
	}
	if err != nil {
		return nil, withReason(ReasonChartPullError, fmt.Errorf("chart pull error: downloaded chart '%s' version '%s' is not valid: %w", name, cv.Version, err))
	}
	b := &chartBuild{name: cv.Name, version: version, data: data, meta: c.Metadata}
	if len(j.valuesFiles) == 0 && buildMeta == "" {
		a, err := j.commit(b, sourceRevision)
		return withVerified(a, verified), err
	}
	c.Metadata.Version = version
	merged, used, err := mergeValuesFiles(chartFileReader(c), j.valuesFiles, obj.Spec.IgnoreMissingValuesFiles)
	if err != nil {
		return nil, withReason(ReasonValuesFilesError, fmt.Errorf("values files merge error: failed to merge chart values: %w", err))
	}
	if err := j.finishPackage(ctx, b, c, merged, used, "", ""); err != nil {
		return nil, err
	}
	a, err := j.commit(b, sourceRevision)
	return withVerified(a, verified), err
}

// withBuildMetadata sets SemVer build metadata on version ("" leaves it as is).
func withBuildMetadata(version, buildMeta string) (string, error) {
	if buildMeta == "" {
		return version, nil
	}
	v, err := semver.NewVersion(version)
	if err != nil {
		return "", withReason(ReasonMetadataPatchError, fmt.Errorf("chart metadata patch error: failed to parse version from chart metadata as SemVer: %w", err))
	}
	nv, err := v.SetMetadata(buildMeta)
	if err != nil {
		return "", withReason(ReasonMetadataPatchError, fmt.Errorf("chart metadata patch error: failed to set SemVer metadata on chart version: %w", err))
	}
	return nv.String(), nil
}

// revisionHash is the part of a source revision Flux puts in a chart version with reconcileStrategy
// Revision: the hash of a Git revision ("main@sha1:<hex>", "sha1:<hex>", "main/<hex>", "<hex>") or the
// hex of a Bucket digest ("sha256:<hex>"), cut to 12 characters.
func revisionHash(kind, revision string) string {
	rev := revision
	switch kind {
	case sourcev1.GitRepositoryKind:
		if i := strings.LastIndex(rev, ":"); i != -1 {
			rev = rev[i+1:]
		} else if ss := strings.Split(rev, "/"); len(ss) > 1 {
			rev = ss[len(ss)-1]
		}
	case sourcev1.BucketKind:
		if algo, hexPart, ok := strings.Cut(rev, ":"); ok && validDigest(algo, hexPart) {
			rev = hexPart
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return rev
}

// validDigest checks an OCI-style digest's algorithm and encoded part.
func validDigest(algo, encoded string) bool {
	n := map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}[algo]
	if n == 0 || len(encoded) != n {
		return false
	}
	for _, c := range encoded {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// fromArtifact packages the chart at spec.chart in a GitRepository or Bucket artifact.
func (j *chartJob) fromArtifact(ctx context.Context) (*ChartArtifact, error) {
	f, obj := j.f, j.obj
	kind := obj.Spec.SourceRef.Kind
	art, err := f.sourceArtifact(ctx, kind, obj.Namespace, obj.Spec.SourceRef.Name)
	if err != nil {
		return nil, err
	}
	buildMeta := ""
	if obj.GetReconcileStrategy() == sourcev1.ReconcileStrategyRevision {
		buildMeta = revisionHash(kind, art.Revision)
	}
	if len(j.valuesFiles) > 0 {
		if buildMeta != "" {
			buildMeta += "."
		}
		buildMeta += j.generation
	}

	root := art.Dir
	chartPath, err := secureJoin(root, obj.Spec.Chart)
	if err != nil {
		return nil, withReason(ReasonInvalidChartReference, fmt.Errorf("invalid chart reference: %w", err))
	}
	fi, err := os.Stat(chartPath)
	if err != nil {
		return nil, withReason(ReasonInvalidChartReference, fmt.Errorf("invalid chart reference: no chart at '%s' in %s '%s' (revision '%s')", obj.Spec.Chart, kind, obj.Spec.SourceRef.Name, art.Revision))
	}
	isDir := fi.IsDir()
	var md *chart.Metadata
	var archive []byte
	var loaded *chart.Chart
	if isDir {
		md, err = loadChartMetadataDir(chartPath)
	} else {
		archive, err = readFileLimit(chartPath, MaxChartSize)
		if err == nil {
			loaded, err = loadArchive(archive)
		}
		if err == nil {
			md = loaded.Metadata
		}
	}
	if err == nil {
		err = md.Validate()
	}
	if err != nil {
		return nil, withReason(ReasonInvalidChartReference, fmt.Errorf("invalid chart reference: chart at '%s': %w", obj.Spec.Chart, err))
	}
	version, err := withBuildMetadata(md.Version, buildMeta)
	if err != nil {
		return nil, err
	}
	if a := j.reuse(md.Name, version, art.Revision); a != nil {
		return a, nil
	}
	b := &chartBuild{name: md.Name, version: version, meta: md}
	if !isDir && buildMeta == "" && len(j.valuesFiles) == 0 {
		b.data = archive
		return j.commit(b, art.Revision)
	}

	var merged map[string]any
	var used []string
	if len(j.valuesFiles) > 0 {
		merged, used, err = mergeValuesFiles(dirFileReader(root), j.valuesFiles, obj.Spec.IgnoreMissingValuesFiles)
		if err != nil {
			return nil, withReason(ReasonValuesFilesError, fmt.Errorf("values files merge error: %w", err))
		}
	}
	if isDir {
		rel, _ := filepath.Rel(root, chartPath)
		if loaded, err = loadChartDir(root, rel); err != nil {
			return nil, withReason(ReasonChartPackageError, fmt.Errorf("chart package error: %w", err))
		}
	}
	loaded.Metadata.Version = version
	depRoot, depRel := "", ""
	if isDir {
		depRoot, depRel = root, chartPath
	}
	if err := j.finishPackage(ctx, b, loaded, merged, used, depRoot, depRel); err != nil {
		return nil, err
	}
	return j.commit(b, art.Revision)
}

// finishPackage overwrites the chart's default values with merged (when values files were given),
// adds missing dependencies of a chart folder (chartDir inside root), and packages the chart into b.
func (j *chartJob) finishPackage(ctx context.Context, b *chartBuild, c *chart.Chart, merged map[string]any, used []string, root, chartDir string) error {
	changed, err := overwriteDefaultValues(c, merged)
	if err != nil {
		return withReason(ReasonValuesFilesError, fmt.Errorf("values files merge error: %w", err))
	}
	if changed {
		b.valuesFiles = used
	}
	if chartDir != "" {
		if _, err := j.f.buildDependencies(ctx, j.obj.Namespace, root, chartDir, c); err != nil {
			return withReason(ReasonDependencyBuildError, fmt.Errorf("dependency build error: %w", err))
		}
	}
	work, err := j.f.Store.TempDir("helmchart-package-")
	if err != nil {
		return withReason(sourcev1.DirCreationFailedReason, err)
	}
	defer os.RemoveAll(work)
	data, err := packageChart(c, work)
	if err != nil {
		return withReason(ReasonChartPackageError, fmt.Errorf("chart package error: %w", err))
	}
	b.data, b.meta, b.packaged = data, c.Metadata, true
	return nil
}

func (j *chartJob) statePath() (string, error) {
	dir, err := j.f.Store.CacheDir("helmchart", j.ref.String())
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "state.json"), nil
}

// reuse returns the stored artifact when it was built from the same spec and generation for the same
// chart name and version, as Flux keeps a cached chart then.
func (j *chartJob) reuse(name, version, sourceRevision string) *ChartArtifact {
	cur, _ := j.f.Store.Current(j.ref)
	if cur == nil || cur.Revision != version {
		return nil
	}
	p, err := j.statePath()
	if err != nil {
		return nil
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var st chartState
	if json.Unmarshal(raw, &st) != nil || st.Fingerprint != j.fingerprint || st.Digest != cur.Digest || st.Name != name || st.Chart == nil {
		return nil
	}
	file := filepath.Join(cur.Dir, st.File)
	if _, err := os.Stat(file); err != nil {
		return nil
	}
	a := j.result(cur, file, name, st.Chart, st.ValuesFiles, st.Packaged, sourceRevision)
	a.Reused = true
	return a
}

func (j *chartJob) result(art *source.Artifact, file, name string, md *chart.Metadata, valuesFiles []string, packaged bool, sourceRevision string) *ChartArtifact {
	a := &ChartArtifact{Artifact: art, File: file, Name: name, Chart: md, SourceRevision: sourceRevision, ValuesFiles: valuesFiles, Packaged: packaged}
	if j.obj.Spec.IgnoreMissingValuesFiles {
		a.ObservedValuesFiles = valuesFiles
	}
	return a
}

// commit stores the chart as the HelmChart's artifact and records how it was built.
func (j *chartJob) commit(b *chartBuild, sourceRevision string) (*ChartArtifact, error) {
	dir, err := j.f.Store.TempDir("helmchart-")
	if err != nil {
		return nil, withReason(sourcev1.DirCreationFailedReason, err)
	}
	fileName := fmt.Sprintf("%s-%s.tgz", path.Base(b.name), b.version)
	if err := os.WriteFile(filepath.Join(dir, fileName), b.data, 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return nil, withReason(sourcev1.ArchiveOperationFailedReason, err)
	}
	art, err := j.f.Store.Commit(j.ref, b.version, dir, nil)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, withReason(sourcev1.ArchiveOperationFailedReason, err)
	}
	st := chartState{Fingerprint: j.fingerprint, Digest: art.Digest, Name: b.name, File: fileName, Chart: b.meta, ValuesFiles: b.valuesFiles, Packaged: b.packaged}
	if p, err := j.statePath(); err == nil {
		raw, _ := json.Marshal(st)
		tmp := p + ".tmp"
		if os.WriteFile(tmp, raw, 0o644) == nil {
			_ = os.Rename(tmp, p)
		}
	}
	return j.result(art, filepath.Join(art.Dir, fileName), b.name, b.meta, b.valuesFiles, b.packaged, sourceRevision), nil
}
