package install

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// releaseImage is the agent image of a released binary, "ghcr.io/converge-gitops/converge:<version>@sha256:…",
// set at link time by the release build (-X github.com/converge-gitops/converge/engine/install.releaseImage=…)
// and never written at run time. Empty in development builds and tests.
//
// A binary cannot carry the digest of the image it is inside (the digest depends on the binary), so the
// release builds the linux binaries and the image first (agentimage.Build is pure: the digest is known
// before anything is pushed), then the archives' binaries with this variable set. The binary inside the
// image has it empty; the agent never installs itself.
var releaseImage string

// ReleaseImage returns the image reference baked into a release binary, "" in other builds.
func ReleaseImage() string { return releaseImage }

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	tagRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// ImageRef is a parsed image reference: Repository, and Tag and Digest when given.
type ImageRef struct {
	Repository string
	Tag        string
	Digest     string
}

// String is the reference as a Pod's image: repository[:tag][@digest].
func (r ImageRef) String() string {
	s := r.Repository
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// ParseImage reads "repository", "repository:tag", "repository@sha256:<hex>" or
// "repository:tag@sha256:<hex>" (a registry host may carry a port).
func ParseImage(s string) (ImageRef, error) {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return ImageRef{}, fmt.Errorf("image %q: want repository[:tag][@sha256:digest]", s)
	}
	var r ImageRef
	rest, digest, hasDigest := strings.Cut(s, "@")
	if hasDigest {
		if !digestRE.MatchString(digest) {
			return ImageRef{}, fmt.Errorf("image %q: digest %q: want sha256: and 64 lowercase hex digits", s, digest)
		}
		r.Digest = digest
	}
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		r.Tag = rest[i+1:]
		rest = rest[:i]
		if !tagRE.MatchString(r.Tag) {
			return ImageRef{}, fmt.Errorf("image %q: tag %q: want letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'", s, r.Tag)
		}
	}
	if _, err := name.NewRepository(rest, name.StrictValidation); err != nil {
		return ImageRef{}, fmt.Errorf("image %q: repository %q: %w", s, rest, err)
	}
	r.Repository = rest
	return r, nil
}

// agentImage is the Deployment's image: Image with the tag defaulting to Version, and, for the default
// repository at the version of a release binary, the digest baked into it.
func (o Options) agentImage() (string, error) { return o.agentImageWith(releaseImage) }

// agentImageWith is agentImage with release as the image baked into the binary.
func (o Options) agentImageWith(release string) (string, error) {
	o.defaults()
	r, err := ParseImage(o.Image)
	if err != nil {
		return "", err
	}
	if r.Tag == "" {
		r.Tag = o.Version
	}
	if r.Digest == "" && r.Repository == DefaultImage && release != "" {
		rel, err := ParseImage(release)
		if err != nil {
			return "", fmt.Errorf("the image baked into this binary: %w", err)
		}
		if rel.Repository == r.Repository && rel.Tag == r.Tag {
			r.Digest = rel.Digest
		}
	}
	return r.String(), nil
}

// DigestTimeout bounds PinDigest's registry request.
const DigestTimeout = 10 * time.Second

// PinDigest returns o with Image pinned by digest: when the agent image (Image with the tag defaulting to
// Version) has no digest, it asks the image's registry for the digest of that tag (a HEAD request for the
// manifest, with credentials from keychain, e.g. authn.DefaultKeychain: the Docker config) and sets
// Image to repository:tag@digest. A loopback or private-network registry is spoken to over plain HTTP.
// When the registry cannot be reached, refuses or has no such tag, o is returned unchanged with a
// one-line warning saying the tag is kept; a digest already given (or baked into a release binary) is
// kept without asking. ropts are further remote options (transport, for tests).
func (o Options) PinDigest(ctx context.Context, keychain authn.Keychain, ropts ...remote.Option) (Options, string) {
	image, err := o.agentImage()
	if err != nil {
		return o, "" // Validate reports it
	}
	r, err := ParseImage(image)
	if err != nil || r.Digest != "" {
		return o, ""
	}
	tagged := r.String()
	ref, err := name.NewTag(tagged)
	if err != nil {
		return o, fmt.Sprintf("image %s: %v: the agent Deployment keeps the tag, not a digest", tagged, err)
	}
	ctx, cancel := context.WithTimeout(ctx, DigestTimeout)
	defer cancel()
	opts := append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain)}, ropts...)
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		return o, fmt.Sprintf("could not look up the digest of %s (%s): the agent Deployment keeps the tag, not a digest", tagged, headFailure(err))
	}
	r.Digest = desc.Digest.String()
	o.Image = r.String()
	return o, ""
}

// headFailure says on one line why a manifest HEAD request failed.
func headFailure(err error) string {
	var terr *transport.Error
	if errors.As(err, &terr) {
		status := fmt.Sprintf("%d %s", terr.StatusCode, http.StatusText(terr.StatusCode))
		switch terr.StatusCode {
		case http.StatusNotFound:
			return "the registry has no such tag: " + status
		case http.StatusUnauthorized, http.StatusForbidden:
			return "the registry refused the credentials of the Docker config, or there are none: " + status
		default:
			return "the registry answered " + status
		}
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
