// Package agentimage builds converge's container image in-process with go-containerregistry (no Docker):
// an OCI index with one image per platform and, beside each, an SBOM attestation.
//
// Each platform image has two layers. The first, the same for every platform, holds /etc/passwd and
// /etc/group (root, nonroot 65532 and nobody 65534) and /etc/ssl/certs/ca-certificates.crt, copied from the
// build host (Options.CACertificates, by default Debian's bundle from the ca-certificates package). The
// second holds the static binary at /converge, the entrypoint. Nothing else: no shell, no package manager.
// The config sets os/architecture (containerd refuses a config without them), user 65534:65534 (nobody,
// as Flux's controller images and the Deployment converge install writes) and the
// org.opencontainers.image.* labels.
//
// The SBOM is an SPDX 2.3 JSON document made from the Go build information embedded in the binary (its
// modules and toolchain). It is stored the way BuildKit stores attestations: a manifest in the same index,
// with platform unknown/unknown, annotated vnd.docker.reference.type=attestation-manifest and
// vnd.docker.reference.digest=<the image's digest>, whose layer is an in-toto statement with the SPDX
// document as predicate. Kept in the index rather than pushed as an OCI referrer so that one digest names
// the image and its SBOM, one push writes both (no referrers API or fallback tag is needed from the
// registry), and Build stays a pure function of its inputs. Runtimes ignore the unknown/unknown entries.
//
// Every timestamp (file mtimes, config created, SBOM created) is Options.Created, so the same inputs give
// the same digest.
package agentimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Fixed parts of the image.
const (
	// DefaultCACertificates is where Debian's ca-certificates package keeps the bundle the image ships.
	DefaultCACertificates = "/etc/ssl/certs/ca-certificates.crt"
	// Entrypoint is the binary's path in the image.
	Entrypoint = "/converge"
	// User is the image's user and group, nobody in /etc/passwd (as Flux's images and install's Deployment).
	User = "65534:65534"
	// DefaultTitle is the org.opencontainers.image.title label's default.
	DefaultTitle = "converge"

	// AttestationPlatform is the os and architecture of an index entry that carries an attestation.
	AttestationPlatform = "unknown"
	// ReferenceTypeAnnotation and ReferenceDigestAnnotation link an attestation manifest to its image.
	ReferenceTypeAnnotation   = "vnd.docker.reference.type"
	ReferenceDigestAnnotation = "vnd.docker.reference.digest"
	// AttestationManifest is the value of ReferenceTypeAnnotation on an attestation.
	AttestationManifest = "attestation-manifest"
	// InTotoMediaType is the media type of the attestation layer, an in-toto statement.
	InTotoMediaType types.MediaType = "application/vnd.in-toto+json"
	// PredicateTypeAnnotation names the statement's predicate type on the attestation layer.
	PredicateTypeAnnotation = "in-toto.io/predicate-type"
	// SPDXPredicateType is the predicate type of an SPDX document.
	SPDXPredicateType   = "https://spdx.dev/Document"
	inTotoStatementType = "https://in-toto.io/Statement/v0.1"
)

// OCI label (and index annotation) keys the image carries.
const (
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
	LabelCreated  = "org.opencontainers.image.created"
	LabelTitle    = "org.opencontainers.image.title"
	LabelLicenses = "org.opencontainers.image.licenses"
)

// Platforms are the platforms Build accepts, as "os/arch", with the ELF machine their binary must have.
var platforms = map[string]elf.Machine{
	"linux/amd64": elf.EM_X86_64,
	"linux/arm64": elf.EM_AARCH64,
}

// Options are the inputs of Build; the same Options (and file contents) give the same index digest.
type Options struct {
	// Binaries maps a platform ("linux/amd64", "linux/arm64") to the path of a static converge binary
	// built for it (CGO_ENABLED=0). At least one is required.
	Binaries map[string]string
	// Version is the org.opencontainers.image.version label; required.
	Version string
	// Revision is the VCS revision (org.opencontainers.image.revision), omitted when empty.
	Revision string
	// Source is the source repository URL (org.opencontainers.image.source), omitted when empty.
	Source string
	// Created is every timestamp in the image (SOURCE_DATE_EPOCH or the commit time); required, so that
	// nothing depends on the clock.
	Created time.Time
	// Title is org.opencontainers.image.title (default "converge").
	Title string
	// Licenses is an SPDX license expression (org.opencontainers.image.licenses), omitted when empty.
	Licenses string
	// CACertificates is the PEM bundle copied to /etc/ssl/certs/ca-certificates.crt (default
	// DefaultCACertificates, the build host's).
	CACertificates string
}

// Platforms returns the platforms Build accepts.
func Platforms() []string {
	out := make([]string, 0, len(platforms))
	for p := range platforms {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (o Options) validate() error {
	if len(o.Binaries) == 0 {
		return errors.New("no binaries: want at least one of " + strings.Join(Platforms(), ", "))
	}
	for p, path := range o.Binaries {
		if _, ok := platforms[p]; !ok {
			return fmt.Errorf("binary %s: platform %q: want one of %s", path, p, strings.Join(Platforms(), ", "))
		}
		if path == "" {
			return fmt.Errorf("platform %s: empty binary path", p)
		}
	}
	if o.Version == "" {
		return errors.New("version is required")
	}
	if o.Created.IsZero() {
		return errors.New("created time is required (SOURCE_DATE_EPOCH or the commit time), so that the image is reproducible")
	}
	return nil
}

// Labels returns the OCI labels of the image built from o.
func (o Options) Labels() map[string]string {
	title := o.Title
	if title == "" {
		title = DefaultTitle
	}
	l := map[string]string{
		LabelVersion: o.Version,
		LabelCreated: o.Created.UTC().Format(time.RFC3339),
		LabelTitle:   title,
	}
	for k, v := range map[string]string{LabelRevision: o.Revision, LabelSource: o.Source, LabelLicenses: o.Licenses} {
		if v != "" {
			l[k] = v
		}
	}
	return l
}

// Build returns the image index: one image per platform of o.Binaries, in platform order, each followed by
// its SBOM attestation. It reads the binaries and the CA bundle; it writes nothing.
func Build(ctx context.Context, o Options) (v1.ImageIndex, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	caPath := o.CACertificates
	if caPath == "" {
		caPath = DefaultCACertificates
	}
	ca, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w (on Debian: apt-get install ca-certificates)", err)
	}
	if !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("CA certificates %s: no PEM certificate in it", caPath)
	}
	created := o.Created.UTC().Truncate(time.Second)
	base, err := layer(created, []file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
	})
	if err != nil {
		return nil, err
	}
	labels := o.Labels()
	var adds []mutate.IndexAddendum
	for _, p := range Platforms() {
		path, ok := o.Binaries[p]
		if !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, sbom, err := platformImage(o, p, path, created, base, labels)
		if err != nil {
			return nil, err
		}
		os, arch, _ := strings.Cut(p, "/")
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: os, Architecture: arch}}})
		adds = append(adds, sbom)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	out, ok := mutate.Annotations(idx, labels).(v1.ImageIndex)
	if !ok {
		return nil, errors.New("annotating the index: not an index")
	}
	return out, nil
}

const passwd = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
`

const group = `root:x:0:
nobody:x:65534:
nonroot:x:65532:
`

// platformImage builds the image of one platform and its SBOM attestation.
func platformImage(o Options, platform, path string, created time.Time, base v1.Layer, labels map[string]string) (v1.Image, mutate.IndexAddendum, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, mutate.IndexAddendum{}, fmt.Errorf("binary for %s: %w", platform, err)
	}
	if err := checkStatic(bin, platforms[platform]); err != nil {
		return nil, mutate.IndexAddendum{}, fmt.Errorf("binary %s for %s: %w", path, platform, err)
	}
	app, err := layer(created, []file{{name: strings.TrimPrefix(Entrypoint, "/"), mode: 0o755, data: bin}})
	if err != nil {
		return nil, mutate.IndexAddendum{}, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "converge agentimage: /etc/passwd, /etc/group, CA certificates", Comment: "CA certificates from the build host's " + caSource(o)}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "converge agentimage: static binary " + Entrypoint}},
	)
	if err != nil {
		return nil, mutate.IndexAddendum{}, fmt.Errorf("image for %s: %w", platform, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, mutate.IndexAddendum{}, fmt.Errorf("image for %s: %w", platform, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, _ = strings.Cut(platform, "/")
	cf.Created = v1.Time{Time: created}
	cf.Config.Entrypoint = []string{Entrypoint}
	cf.Config.User = User
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, mutate.IndexAddendum{}, fmt.Errorf("image for %s: %w", platform, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, mutate.IndexAddendum{}, fmt.Errorf("image for %s: %w", platform, err)
	}
	doc, err := SBOM(o, platform, bin)
	if err != nil {
		return nil, mutate.IndexAddendum{}, fmt.Errorf("SBOM of %s: %w", path, err)
	}
	att, err := attestation(o, platform, digest, doc, created)
	if err != nil {
		return nil, mutate.IndexAddendum{}, fmt.Errorf("SBOM of %s: %w", path, err)
	}
	return img, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		Platform:    &v1.Platform{OS: AttestationPlatform, Architecture: AttestationPlatform},
		Annotations: map[string]string{ReferenceTypeAnnotation: AttestationManifest, ReferenceDigestAnnotation: digest.String()},
	}}, nil
}

func caSource(o Options) string {
	if o.CACertificates != "" {
		return o.CACertificates
	}
	return DefaultCACertificates
}

// checkStatic refuses a binary that is not a static ELF executable for machine.
func checkStatic(bin []byte, machine elf.Machine) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	if f.Machine != machine {
		return fmt.Errorf("built for %s, want %s", f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (has an ELF interpreter): build with CGO_ENABLED=0")
		}
	}
	return nil
}

type file struct {
	name string
	mode int64
	dir  bool
	data []byte
}

// layer returns a gzip OCI layer of files, in the given order, owned by root, every mtime created.
func layer(created time.Time, files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: created, Typeflag: tar.TypeReg, Size: int64(len(f.data)), Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer file %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("layer file %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// attestation returns the manifest carrying the in-toto statement with the SPDX document of the image
// with digest subject.
func attestation(o Options, platform string, subject v1.Hash, doc []byte, created time.Time) (v1.Image, error) {
	stmt, err := inTotoStatement(o, platform, subject, doc)
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(stmt, InTotoMediaType),
		Annotations: map[string]string{PredicateTypeAnnotation: SPDXPredicateType},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = AttestationPlatform, AttestationPlatform
	cf.Created = v1.Time{Time: created}
	return mutate.ConfigFile(img, cf)
}

// PushOption changes how Push writes.
type PushOption func(*pushConfig)

type pushConfig struct {
	remote   []remote.Option
	insecure bool
}

// WithRemoteOptions passes go-containerregistry options (authentication, transport) to the push.
func WithRemoteOptions(opts ...remote.Option) PushOption {
	return func(c *pushConfig) { c.remote = append(c.remote, opts...) }
}

// WithInsecure pushes over plain HTTP whatever the host; loopback hosts always use plain HTTP.
func WithInsecure() PushOption { return func(c *pushConfig) { c.insecure = true } }

// Push writes idx (its images, attestations and blobs) to ref ("host:port/repo:tag") and returns the
// index digest ("sha256:…"). Loopback registries (localhost, 127.0.0.0/8, ::1) are spoken to over plain
// HTTP; credentials come from the Docker config keychain unless WithRemoteOptions sets others.
func Push(ctx context.Context, idx v1.ImageIndex, ref string, opts ...PushOption) (string, error) {
	var c pushConfig
	for _, o := range opts {
		o(&c)
	}
	var nameOpts []name.Option
	if c.insecure || loopback(ref) {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	ropts := append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, c.remote...)
	if err := remote.WriteIndex(r, idx, ropts...); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	return d.String(), nil
}

// loopback reports whether ref's registry host is localhost or a loopback IP.
func loopback(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
