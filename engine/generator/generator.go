package generator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/converge-gitops/converge/crds/sourceext/v1beta1"
	"github.com/converge-gitops/converge/engine/source"
)

// Why a generator or one of its copy operations failed; test with errors.Is.
var (
	// ErrInvalid: the spec is malformed (a bad from/to/revision syntax, a bad glob, an unknown strategy).
	ErrInvalid = errors.New("invalid spec")
	// ErrUnknownAlias: a copy, revision or originRevision names an alias no source has.
	ErrUnknownAlias = errors.New("unknown source alias")
	// ErrDuplicate: two sources share an alias, or two artifacts a name.
	ErrDuplicate = errors.New("duplicate")
	// ErrNoMatch: a glob matches nothing, a path does not exist, or every match was excluded.
	ErrNoMatch = errors.New("nothing matches")
	// ErrEscape: a path leaves the source or the artifact (".." elements, absolute paths, symlinks).
	ErrEscape = errors.New("path escapes")
	// ErrUnsupported: a feature converge does not implement.
	ErrUnsupported = errors.New("not supported")
)

// Error is a failure of one generator, naming the artifact (Artifact >= 0) and copy operation
// (Copy >= 0) it concerns.
type Error struct {
	// Generator is "namespace/name".
	Generator string
	// Field locates the failing entry, e.g. "artifacts[1] (apps): copy[0]" or "sources[2]".
	Field string
	Err   error
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("ArtifactGenerator %s: %v", e.Generator, e.Err)
	}
	return fmt.Sprintf("ArtifactGenerator %s: %s: %v", e.Generator, e.Field, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Source is the content of one generator input.
type Source struct {
	// Dir holds the source's files; it is only read.
	Dir string
	// Archive, used when Dir is empty, is a tar.gz holding the source's files: a HelmChart's chart
	// archive, whose files are under the chart's name as Helm packages them (so "@chart/podinfo/**").
	// Generate extracts it into its work folder.
	Archive string
	// Revision is the source artifact's revision (e.g. "main@sha1:<hex>").
	Revision string
	// OriginRevision is the artifact's org.opencontainers.image.revision metadata, if any.
	OriginRevision string
}

// Artifact is one generated output artifact.
type Artifact struct {
	// Name of the ExternalArtifact.
	Name string
	// Dir holds the artifact's files.
	Dir string
	// Archive is its canonical tarball (engine/source.WriteTarGz).
	Archive string
	// Digest is "sha256:<hex>" of Archive; Size its length.
	Digest string
	Size   int64
	// Revision is "latest@<Digest>", or the revision of the source spec.artifacts[].revision names.
	Revision string
	// Metadata holds org.opencontainers.image.revision when spec.artifacts[].originRevision is set.
	Metadata map[string]string
	// Labels are the pathPattern captures of the folder the artifact was generated for (lowercased),
	// which its ExternalArtifact carries as labels.
	Labels map[string]string
}

// Validate checks what can be checked without the sources' files: aliases and artifact names unique,
// artifact names valid object names, every alias referenced defined, from/to/exclude syntax. The error
// is an *Error naming the entry.
func Validate(gen *v1beta1.ArtifactGenerator) error {
	id := gen.Namespace + "/" + gen.Name
	fail := func(field string, err error) error { return &Error{Generator: id, Field: field, Err: err} }
	if len(gen.Spec.Sources) == 0 {
		return fail("spec.sources", fmt.Errorf("%w: no sources", ErrInvalid))
	}
	aliases := map[string]bool{}
	for i, s := range gen.Spec.Sources {
		field := fmt.Sprintf("sources[%d] (%s)", i, s.Alias)
		if s.Alias == "" {
			return fail(field, fmt.Errorf("%w: empty alias", ErrInvalid))
		}
		if aliases[s.Alias] {
			return fail(field, fmt.Errorf("%w source alias '%s'", ErrDuplicate, s.Alias))
		}
		aliases[s.Alias] = true
		switch s.Kind {
		case "GitRepository", "OCIRepository", "Bucket", "HelmChart", "ExternalArtifact":
		default:
			return fail(field, fmt.Errorf("%w: source kind %q is not one of GitRepository, OCIRepository, Bucket, HelmChart, ExternalArtifact", ErrInvalid, s.Kind))
		}
	}
	// With pathPattern the artifacts are templates: they are checked rendered with a stand-in value
	// for every capture.
	var standIn map[string]string
	if gen.Spec.PathPattern != "" {
		p, err := parsePathPattern(gen.Spec.PathPattern, aliases)
		if err != nil {
			return fail("spec.pathPattern", err)
		}
		standIn = map[string]string{}
		for _, name := range p.names {
			standIn[name] = "x"
		}
	}
	if len(gen.Spec.OutputArtifacts) == 0 {
		return fail("spec.artifacts", fmt.Errorf("%w: no artifacts", ErrInvalid))
	}
	names := map[string]int{}
	for i, a := range gen.Spec.OutputArtifacts {
		field := fmt.Sprintf("artifacts[%d] (%s)", i, a.Name)
		if j, dup := names[a.Name]; dup {
			return fail(field, fmt.Errorf("%w artifact name '%s' (also artifacts[%d])", ErrDuplicate, a.Name, j))
		}
		names[a.Name] = i
		if standIn != nil {
			rendered, err := renderArtifact(a, standIn, standIn)
			if err != nil {
				return fail(field, err)
			}
			a = rendered
		}
		if errs := validation.IsDNS1123Subdomain(a.Name); len(errs) > 0 {
			return fail(field, fmt.Errorf("%w: artifact name %q is not a valid object name: %s", ErrInvalid, a.Name, strings.Join(errs, "; ")))
		}
		for what, ref := range map[string]string{"revision": a.Revision, "originRevision": a.OriginRevision} {
			if ref == "" {
				continue
			}
			alias, ok := strings.CutPrefix(ref, "@")
			if !ok || alias == "" {
				return fail(field, fmt.Errorf("%w: %s %q: want @alias", ErrInvalid, what, ref))
			}
			if !aliases[alias] {
				return fail(field, fmt.Errorf("%w '%s' in %s", ErrUnknownAlias, alias, what))
			}
		}
		if len(a.Copy) == 0 {
			return fail(field, fmt.Errorf("%w: no copy operations", ErrInvalid))
		}
		for j, op := range a.Copy {
			if _, err := parseOp(op, aliases); err != nil {
				return fail(fmt.Sprintf("%s: copy[%d]", field, j), err)
			}
		}
	}
	return nil
}

// Generate builds every artifact of gen from sources (keyed by alias) under workDir: the files of
// artifact NAME in workDir/NAME, its tarball in workDir/NAME.tar.gz. Artifacts are returned in spec
// order; with spec.pathPattern, each artifact template once per matching folder, in path order. Copy operations run in order, later ones overwriting (or, with strategy Merge, merging into)
// files of earlier ones. A failure is an *Error naming the artifact and copy operation.
func Generate(ctx context.Context, gen *v1beta1.ArtifactGenerator, sources map[string]Source, workDir string) ([]Artifact, error) {
	if err := Validate(gen); err != nil {
		return nil, err
	}
	id := gen.Namespace + "/" + gen.Name
	sources = maps.Clone(sources)
	for i, s := range gen.Spec.Sources {
		field := fmt.Sprintf("sources[%d] (%s)", i, s.Alias)
		in, ok := sources[s.Alias]
		if !ok || in.Dir == "" && in.Archive == "" {
			return nil, &Error{Generator: id, Field: field, Err: fmt.Errorf("the files of %s %s were not provided", s.Kind, s.Name)}
		}
		if in.Dir == "" {
			// "_" cannot start an artifact name, so this folder never meets an artifact's.
			dir := filepath.Join(workDir, "_sources", s.Alias)
			if err := extractArchive(in.Archive, dir); err != nil {
				return nil, &Error{Generator: id, Field: field, Err: fmt.Errorf("extracting the artifact of %s %s: %w", s.Kind, s.Name, err)}
			}
			in.Dir = dir
			sources[s.Alias] = in
		}
	}
	plans, err := expand(gen, sources)
	if err != nil {
		return nil, err
	}
	out := make([]Artifact, 0, len(plans))
	for _, plan := range plans {
		field := plan.field
		art, err := generateOne(ctx, plan.spec, sources, workDir)
		if err != nil {
			var ce *copyError
			if errors.As(err, &ce) {
				field = fmt.Sprintf("%s: copy[%d] (from %q to %q)", field, ce.index, ce.op.From, ce.op.To)
				err = ce.err
			}
			return nil, &Error{Generator: id, Field: field, Err: err}
		}
		art.Labels = plan.labels
		out = append(out, *art)
	}
	return out, nil
}

type copyError struct {
	index int
	op    v1beta1.CopyOperation
	err   error
}

func (e *copyError) Error() string { return e.err.Error() }

func generateOne(ctx context.Context, spec v1beta1.OutputArtifact, sources map[string]Source, workDir string) (*Artifact, error) {
	dir := filepath.Join(workDir, spec.Name)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	staging, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer staging.Close()
	for j, op := range spec.Copy {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, err := parseOp(op, nil)
		if err == nil {
			err = p.run(ctx, sources[p.alias].Dir, staging)
		}
		if err != nil {
			return nil, &copyError{index: j, op: op, err: err}
		}
	}
	archive := dir + ".tar.gz"
	digest, size, err := writeArchive(dir, archive)
	if err != nil {
		return nil, fmt.Errorf("archiving: %w", err)
	}
	art := &Artifact{Name: spec.Name, Dir: dir, Archive: archive, Digest: digest, Size: size, Revision: "latest@" + digest}
	if alias, ok := strings.CutPrefix(spec.Revision, "@"); ok && alias != "" {
		art.Revision = sources[alias].Revision
	}
	if alias, ok := strings.CutPrefix(spec.OriginRevision, "@"); ok && alias != "" {
		s := sources[alias]
		rev := s.OriginRevision
		if rev == "" {
			rev = s.Revision
		}
		art.Metadata = map[string]string{v1beta1.ArtifactOriginRevisionAnnotation: rev}
	}
	return art, nil
}

// extractArchive extracts the tar.gz file into dir (emptied first) with engine/source's safe extraction.
func extractArchive(file, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return source.ExtractTarGz(f, dir, source.ExtractOptions{})
}
