package oci

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

func fetchErr(t *testing.T, err error) *source.FetchError {
	t.Helper()
	var fe *source.FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("want *source.FetchError, got %T: %v", err, err)
	}
	return fe
}

func TestPushThenFetchRoundTrip(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"apps/app.yaml":     "kind: ConfigMap\n",
		"apps/nested/x.yml": "x: 1\n",
		".git/HEAD":         "ref: refs/heads/main\n",
		"logo.png":          "png",
	})
	if err := os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("apps/app.yaml", filepath.Join(src, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	pushed, err := Push(context.Background(), PushOptions{Clock: clock.RealClock{},
		URL: "oci://" + reg.Host + "/manifests/app:v1.0.0", Path: src,
		Source: "https://github.com/example/app.git", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
		Created: created,
	})
	if err != nil {
		t.Fatal(err)
	}
	digest := pushed.Digest
	if !strings.HasPrefix(digest, "sha256:") || len(digest) != 71 {
		t.Fatalf("digest = %q", digest)
	}

	// The manifest has Flux's media types and annotations.
	ref, _ := name.ParseReference(reg.Host + "/manifests/app:v1.0.0")
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || string(m.Config.MediaType) != ConfigMediaType ||
		len(m.Layers) != 1 || string(m.Layers[0].MediaType) != ContentMediaType {
		t.Errorf("manifest media types: %s, config %s, layers %+v", m.MediaType, m.Config.MediaType, m.Layers)
	}
	wantAnn := map[string]string{
		CreatedAnnotation:  "2026-03-04T05:06:07Z",
		SourceAnnotation:   "https://github.com/example/app.git",
		RevisionAnnotation: "main@sha1:0123456789abcdef0123456789abcdef01234567",
	}
	for k, v := range wantAnn {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}

	f := newFetcher(t, nil)
	a, err := f.Fetch(context.Background(), ociRepository("app", "oci://"+reg.Host+"/manifests/app", func(s *sourcev1.OCIRepositorySpec) {
		s.Reference = &sourcev1.OCIRepositoryRef{Tag: "v1.0.0"}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if a.Revision != "v1.0.0@"+digest {
		t.Errorf("revision = %q, want %q", a.Revision, "v1.0.0@"+digest)
	}
	for k, v := range wantAnn {
		if a.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, a.Metadata[k], v)
		}
	}
	got := readTree(t, a.Dir)
	want := map[string]string{"apps/app.yaml": "kind: ConfigMap\n", "apps/nested/x.yml": "x: 1\n", "run.sh": "#!/bin/sh\n"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("artifact files = %v, want %v (no .git, no png, no symlink)", got, want)
	}
	if fi, err := os.Stat(filepath.Join(a.Dir, "run.sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("run.sh lost its executable bit: %v %v", fi, err)
	}
}

func TestPushIsReproducibleAndChecksOptions(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	src := t.TempDir()
	writeTree(t, src, map[string]string{"a.yaml": "a: 1\n", "keep.png": "png", "skip/me.yaml": "x"})
	opts := PushOptions{Clock: clock.RealClock{},
		URL: "oci://" + reg.Host + "/repro:one", Path: src, Source: "s", Revision: "r",
		Created: time.Unix(1700000000, 0), Ignore: []string{"skip/"},
	}
	d1, err := Push(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.URL = reg.Host + "/repro:two" // the oci:// prefix is optional
	d2, err := Push(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if d1.Digest != d2.Digest {
		t.Errorf("same folder and annotations pushed twice gave %s and %s", d1, d2)
	}
	a, err := newFetcher(t, nil).Fetch(context.Background(), ociRepository("repro", "oci://"+reg.Host+"/repro", func(s *sourcev1.OCIRepositorySpec) {
		s.Reference = &sourcev1.OCIRepositoryRef{Tag: "one"}
		s.Ignore = ptr("!*.png\n") // any rule of its own replaces the default exclusions
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, a.Dir); fmt.Sprint(got) != fmt.Sprint(map[string]string{"a.yaml": "a: 1\n", "keep.png": "png"}) {
		t.Errorf("explicit Ignore: files = %v", got)
	}

	for _, tc := range []struct {
		name string
		opts PushOptions
		want string
	}{
		{"no source", PushOptions{Clock: clock.RealClock{}, URL: reg.Host + "/x:1", Path: src, Revision: "r"}, "source"},
		{"no revision", PushOptions{Clock: clock.RealClock{}, URL: reg.Host + "/x:1", Path: src, Source: "s"}, "revision"},
		{"digest URL", PushOptions{Clock: clock.RealClock{}, URL: reg.Host + "/x@sha256:" + strings.Repeat("a", 64), Path: src, Source: "s", Revision: "r"}, "digest"},
		{"missing path", PushOptions{Clock: clock.RealClock{}, URL: reg.Host + "/x:1", Path: filepath.Join(src, "nope"), Source: "s", Revision: "r"}, "no such file"},
		{"bad docker config", PushOptions{Clock: clock.RealClock{}, URL: reg.Host + "/x:1", Path: src, Source: "s", Revision: "r", DockerConfig: []byte("{")}, "docker config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Push(context.Background(), tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestFetchReferenceForms(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	repo := reg.Host + "/forms/app"
	digests := map[string]string{}
	for _, tag := range []string{"latest", "v1.0.0", "v1.1.0", "1.2.0", "v2.0.0-rc.1", "not-semver", "v3"} {
		blob := tarGz(t, tarEntry{name: "version.txt", body: tag})
		digests[tag] = pushImage(t, repo+":"+tag, nil, nil, testLayer{ContentMediaType, blob}).String()
	}
	cases := []struct {
		name    string
		ref     *sourcev1.OCIRepositoryRef
		wantTag string // content and revision tag; "" for a digest revision
		digest  string // the pinned digest's tag, for the digest form
	}{
		{name: "no ref is latest", ref: nil, wantTag: "latest"},
		{name: "empty ref is latest", ref: &sourcev1.OCIRepositoryRef{}, wantTag: "latest"},
		{name: "tag", ref: &sourcev1.OCIRepositoryRef{Tag: "v1.0.0"}, wantTag: "v1.0.0"},
		{name: "semver range picks the highest", ref: &sourcev1.OCIRepositoryRef{SemVer: ">=1.0.0 <2.0.0"}, wantTag: "1.2.0"},
		{name: "semver skips prereleases", ref: &sourcev1.OCIRepositoryRef{SemVer: ">=1.0.0"}, wantTag: "1.2.0"},
		{name: "semver with prereleases", ref: &sourcev1.OCIRepositoryRef{SemVer: ">=1.0.0-0"}, wantTag: "v2.0.0-rc.1"},
		{name: "semverFilter", ref: &sourcev1.OCIRepositoryRef{SemVer: ">=1.0.0", SemverFilter: "^v1"}, wantTag: "v1.1.0"},
		{name: "semver wins over tag", ref: &sourcev1.OCIRepositoryRef{Tag: "v1.0.0", SemVer: "~1.1"}, wantTag: "v1.1.0"},
		{name: "digest wins over everything", ref: &sourcev1.OCIRepositoryRef{Tag: "v1.0.0", SemVer: ">=1.0.0", Digest: digests["not-semver"]}, digest: "not-semver"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFetcher(t, nil)
			a, err := f.Fetch(context.Background(), ociRepository("forms", "oci://"+repo, func(s *sourcev1.OCIRepositorySpec) { s.Reference = tc.ref }))
			if err != nil {
				t.Fatal(err)
			}
			wantRev, content := tc.wantTag+"@"+digests[tc.wantTag], tc.wantTag
			if tc.digest != "" {
				wantRev, content = digests[tc.digest], tc.digest
			}
			if a.Revision != wantRev {
				t.Errorf("revision = %q, want %q", a.Revision, wantRev)
			}
			if b, err := os.ReadFile(filepath.Join(a.Dir, "version.txt")); err != nil || string(b) != content {
				t.Errorf("content = %q %v, want %q", b, err, content)
			}
		})
	}
}

func TestFetchResolutionErrors(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	repo := reg.Host + "/errs/app"
	for _, tag := range []string{"v1.0.0", "v1.1.0", "latest"} {
		pushImage(t, repo+":"+tag, nil, nil, testLayer{ContentMediaType, tarGz(t, tarEntry{name: "a", body: tag})})
	}
	cases := []struct {
		name      string
		url       string
		edit      func(*sourcev1.OCIRepositorySpec)
		reason    string
		wantInErr []string
	}{
		{
			name: "semver without a match lists the tags", url: "oci://" + repo,
			edit:   func(s *sourcev1.OCIRepositorySpec) { s.Reference = &sourcev1.OCIRepositoryRef{SemVer: ">=2.0.0"} },
			reason: sourcev1.ReadOperationFailedReason, wantInErr: []string{`">=2.0.0"`, "tags: latest, v1.0.0, v1.1.0"},
		},
		{
			name: "semverFilter leaves nothing", url: "oci://" + repo,
			edit: func(s *sourcev1.OCIRepositorySpec) {
				s.Reference = &sourcev1.OCIRepositoryRef{SemVer: "*", SemverFilter: "^rc"}
			},
			reason: sourcev1.ReadOperationFailedReason, wantInErr: []string{`semverFilter "^rc"`, "v1.1.0"},
		},
		{
			name: "invalid semverFilter", url: "oci://" + repo,
			edit: func(s *sourcev1.OCIRepositorySpec) {
				s.Reference = &sourcev1.OCIRepositoryRef{SemVer: "*", SemverFilter: "("}
			},
			reason: sourcev1.ReadOperationFailedReason, wantInErr: []string{"semverFilter"},
		},
		{
			name: "invalid semver", url: "oci://" + repo,
			edit:   func(s *sourcev1.OCIRepositorySpec) { s.Reference = &sourcev1.OCIRepositoryRef{SemVer: "not a range"} },
			reason: sourcev1.ReadOperationFailedReason, wantInErr: []string{"not a range"},
		},
		{
			name: "missing tag", url: "oci://" + repo,
			edit:   func(s *sourcev1.OCIRepositorySpec) { s.Reference = &sourcev1.OCIRepositoryRef{Tag: "v9"} },
			reason: sourcev1.OCIPullFailedReason, wantInErr: []string{"v9"},
		},
		{
			name: "invalid digest", url: "oci://" + repo,
			edit:   func(s *sourcev1.OCIRepositorySpec) { s.Reference = &sourcev1.OCIRepositoryRef{Digest: "sha256:nope"} },
			reason: sourcev1.ReadOperationFailedReason, wantInErr: []string{"sha256:nope"},
		},
		{name: "not an oci URL", url: "https://" + repo, reason: sourcev1.URLInvalidReason, wantInErr: []string{"oci://"}},
		{name: "URL with a tag", url: "oci://" + repo + ":v1.0.0", reason: sourcev1.URLInvalidReason, wantInErr: []string{"must not contain a tag; remove ':v1.0.0'"}},
		{name: "URL with a digest", url: "oci://" + repo + "@sha256:" + strings.Repeat("0", 64), reason: sourcev1.URLInvalidReason, wantInErr: []string{"must not contain a digest"}},
		{name: "URL without repository", url: "oci://" + reg.Host, reason: sourcev1.URLInvalidReason, wantInErr: []string{"oci://<domain>/<org>/<repo>"}},
		{
			name: "cloud provider for a registry that is not the cloud's", url: "oci://" + repo,
			edit:   func(s *sourcev1.OCIRepositorySpec) { s.Provider = sourcev1.AmazonOCIProvider },
			reason: sourcev1.AuthenticationFailedReason, wantInErr: []string{"spec.provider: invalid AWS registry: '" + reg.Host + "'"},
		},
		{
			name: "keyless verification", url: "oci://" + repo,
			edit: func(s *sourcev1.OCIRepositorySpec) {
				s.Verify = &sourcev1.OCIRepositoryVerification{Provider: "cosign"}
			},
			reason: sourcev1.VerificationError, wantInErr: []string{"spec.verify.secretRef is not set", "keyless cosign", "is not supported offline", "spec.verify.trustedRootSecretRef"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFetcher(t, nil)
			obj := ociRepository("errs", tc.url)
			if tc.edit != nil {
				tc.edit(&obj.Spec)
			}
			_, err := f.Fetch(context.Background(), obj)
			fe := fetchErr(t, err)
			if fe.Reason != tc.reason {
				t.Errorf("reason = %q, want %q (%v)", fe.Reason, tc.reason, err)
			}
			if fe.Source != (source.Ref{Kind: "OCIRepository", Namespace: testNamespace, Name: "errs"}) {
				t.Errorf("source = %+v", fe.Source)
			}
			msg := err.Error()
			for _, s := range append(tc.wantInErr, "OCIRepository/flux-system/errs") {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
		})
	}
}

func TestFetchAuthentication(t *testing.T) {
	reg := sourcetest.StartRegistry(t, htpasswd(t, "flux", "s3cret"))
	repo := reg.Host + "/private/app"
	good := dockerConfigSecret("good", reg.Host, "flux", "s3cret")
	kc, err := keychainFromSecret(good)
	if err != nil {
		t.Fatal(err)
	}
	digest := pushImage(t, repo+":v1", nil, kc, testLayer{ContentMediaType, tarGz(t, tarEntry{name: "a.yaml", body: "a"})})
	legacy := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: testNamespace}, Data: map[string][]byte{
		corev1.DockerConfigKey: []byte(fmt.Sprintf(`{"https://%s/v1/": {"username": "flux", "password": "s3cret"}}`, reg.Host)),
	}}
	secrets := secretStore{
		"good":       good,
		"legacy":     legacy,
		"wrong":      dockerConfigSecret("wrong", reg.Host, "flux", "guess"),
		"other-host": dockerConfigSecret("other-host", "registry.example.com", "flux", "s3cret"),
		"not-docker": {ObjectMeta: metav1.ObjectMeta{Name: "not-docker", Namespace: testNamespace}, Data: map[string][]byte{"username": []byte("flux")}},
		"bad-json":   {ObjectMeta: metav1.ObjectMeta{Name: "bad-json", Namespace: testNamespace}, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte("{nope")}},
	}
	cases := []struct {
		name, secret string
		wantErr      []string // empty: success
	}{
		{name: "docker config secret", secret: "good"},
		{name: "legacy dockercfg secret", secret: "legacy"},
		{name: "no credentials", secret: "", wantErr: []string{"authentication failed", "UNAUTHORIZED"}},
		{name: "wrong password", secret: "wrong", wantErr: []string{"authentication failed"}},
		{name: "credentials for another registry", secret: "other-host", wantErr: []string{"authentication failed"}},
		{name: "missing secret", secret: "absent", wantErr: []string{"flux-system/absent", "not found"}},
		{name: "secret without docker config", secret: "not-docker", wantErr: []string{".dockerconfigjson"}},
		{name: "malformed docker config", secret: "bad-json", wantErr: []string{"parsing docker config"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFetcher(t, secrets)
			a, err := f.Fetch(context.Background(), ociRepository("private", "oci://"+repo, func(s *sourcev1.OCIRepositorySpec) {
				s.Reference = &sourcev1.OCIRepositoryRef{Tag: "v1"}
				if tc.secret != "" {
					s.SecretRef = secretRef(tc.secret)
				}
			}))
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if a.Revision != "v1@"+digest.String() {
					t.Errorf("revision = %s", a.Revision)
				}
				return
			}
			fe := fetchErr(t, err)
			if fe.Reason != sourcev1.AuthenticationFailedReason {
				t.Errorf("reason = %q, want AuthenticationFailed (%v)", fe.Reason, err)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}

	// Push with credentials; without them the registry refuses.
	src := t.TempDir()
	writeTree(t, src, map[string]string{"p.yaml": "p"})
	cfg := good.Data[corev1.DockerConfigJsonKey]
	if _, err := Push(context.Background(), PushOptions{Clock: clock.RealClock{}, URL: repo + ":pushed", Path: src, Source: "s", Revision: "r", DockerConfig: cfg}); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(context.Background(), PushOptions{Clock: clock.RealClock{}, URL: repo + ":anon", Path: src, Source: "s", Revision: "r"}); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("anonymous push to an authenticated registry: %v", err)
	}
}

func TestFetchLayerSelection(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	repo := reg.Host + "/layers/app"
	const otherType = "application/vnd.example.other.v1.tar+gzip"
	other := tarGz(t, tarEntry{name: "other.yaml", body: "other"})
	content := tarGz(t, tarEntry{name: "content.yaml", body: "content"}, tarEntry{name: "logo.png", body: "png"})
	pushImage(t, repo+":latest", map[string]string{SourceAnnotation: "src"}, nil, testLayer{otherType, other}, testLayer{ContentMediaType, content})
	cases := []struct {
		name      string
		selector  *sourcev1.OCILayerSelector
		wantFiles map[string]string
		wantErr   string
	}{
		{name: "first layer by default", wantFiles: map[string]string{"other.yaml": "other"}},
		{name: "by media type, extracted, default exclusions", selector: &sourcev1.OCILayerSelector{MediaType: ContentMediaType}, wantFiles: map[string]string{"content.yaml": "content"}},
		{name: "explicit extract", selector: &sourcev1.OCILayerSelector{MediaType: otherType, Operation: "extract"}, wantFiles: map[string]string{"other.yaml": "other"}},
		{name: "copy", selector: &sourcev1.OCILayerSelector{MediaType: ContentMediaType, Operation: "copy"}, wantFiles: map[string]string{CopiedLayerFile: string(content)}},
		{name: "copy of the first layer", selector: &sourcev1.OCILayerSelector{Operation: "copy"}, wantFiles: map[string]string{CopiedLayerFile: string(other)}},
		{name: "unknown media type", selector: &sourcev1.OCILayerSelector{MediaType: "application/x-none"}, wantErr: otherType + ", " + ContentMediaType},
		{name: "unknown operation", selector: &sourcev1.OCILayerSelector{Operation: "explode"}, wantErr: `unsupported layer operation "explode"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := newFetcher(t, nil).Fetch(context.Background(), ociRepository("layers", "oci://"+repo, func(s *sourcev1.OCIRepositorySpec) {
				s.LayerSelector = tc.selector
			}))
			if tc.wantErr != "" {
				fe := fetchErr(t, err)
				if fe.Reason != sourcev1.OCILayerOperationFailedReason || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v (%s), want OCIArtifactLayerOperationFailed mentioning %q", err, fe.Reason, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readTree(t, a.Dir); fmt.Sprint(got) != fmt.Sprint(tc.wantFiles) {
				t.Errorf("files = %q, want %q", got, tc.wantFiles)
			}
			if a.Metadata[SourceAnnotation] != "src" {
				t.Errorf("metadata = %v", a.Metadata)
			}
		})
	}
}

func TestFetchIgnoreRules(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	files := map[string]string{"apps/a.yaml": "a", "apps/a.png": "png", "docs/readme.md": "doc", ".gitignore": "x"}
	plain := t.TempDir()
	writeTree(t, plain, files)
	withSourceIgnore := t.TempDir()
	writeTree(t, withSourceIgnore, files)
	writeTree(t, withSourceIgnore, map[string]string{"sub/.sourceignore": "secret.yaml\n", "sub/secret.yaml": "s", "sub/ok.yaml": "ok"})
	for tag, dir := range map[string]string{"plain": plain, "sourceignore": withSourceIgnore} {
		// Ignore: nothing, so that the layer holds every file and the fetch side decides.
		if _, err := Push(context.Background(), PushOptions{Clock: clock.RealClock{}, URL: reg.Host + "/ign/app:" + tag, Path: dir, Source: "s", Revision: "r", Ignore: []string{}}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, tag string
		ignore    *string
		want      []string
	}{
		{name: "default exclusions", tag: "plain", want: []string{"apps/a.yaml", "docs/readme.md"}},
		// Rules of the artifact's own replace the default exclusions (the png stays); VCS files still go.
		{name: "spec.ignore replaces the defaults", tag: "plain", ignore: ptr("docs/\n"), want: []string{"apps/a.png", "apps/a.yaml"}},
		{name: "a .sourceignore replaces the defaults", tag: "sourceignore", want: []string{"apps/a.png", "apps/a.yaml", "docs/readme.md", "sub/.sourceignore", "sub/ok.yaml"}},
		{name: "spec.ignore overrides a .sourceignore", tag: "sourceignore", ignore: ptr("docs/\n!sub/secret.yaml\n"), want: []string{"apps/a.png", "apps/a.yaml", "sub/.sourceignore", "sub/ok.yaml", "sub/secret.yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := newFetcher(t, nil).Fetch(context.Background(), ociRepository("ign", "oci://"+reg.Host+"/ign/app", func(s *sourcev1.OCIRepositorySpec) {
				s.Reference = &sourcev1.OCIRepositoryRef{Tag: tc.tag}
				s.Ignore = tc.ignore
			}))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for p := range readTree(t, a.Dir) {
				got = append(got, p)
			}
			if fmt.Sprint(sorted(got)) != fmt.Sprint(tc.want) {
				t.Errorf("files = %v, want %v", sorted(got), tc.want)
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestFetchRefusesEscapingLayer(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	for _, tc := range []struct {
		name  string
		layer []byte
		entry string
	}{
		{"parent path", tarGz(t, tarEntry{name: "ok.yaml", body: "ok"}, tarEntry{name: "../../../evil.yaml", body: "evil"}), "../../../evil.yaml"},
		{"absolute path", tarGz(t, tarEntry{name: "/tmp/evil.yaml", body: "evil"}), "/tmp/evil.yaml"},
		{"hard link out", tarGz(t, tarEntry{name: "passwd", link: "/etc/passwd", typ: '1'}), "passwd"},
		{"device", tarGz(t, tarEntry{name: "null", typ: '3'}), "null"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := reg.Host + "/evil/" + strings.ReplaceAll(tc.name, " ", "-")
			pushImage(t, repo+":latest", nil, nil, testLayer{ContentMediaType, tc.layer})
			parent := t.TempDir()
			store, err := source.OpenStore(filepath.Join(parent, "store"))
			if err != nil {
				t.Fatal(err)
			}
			f := &Fetcher{Store: store}
			_, err = f.Fetch(context.Background(), ociRepository("bad", "oci://"+repo))
			fe := fetchErr(t, err)
			var entryErr *source.ArchiveEntryError
			if fe.Reason != sourcev1.OCILayerOperationFailedReason || !errors.As(err, &entryErr) || entryErr.Entry != tc.entry {
				t.Fatalf("err = %v (%s), want a refused entry %q", err, fe.Reason, tc.entry)
			}
			// Nothing besides the store exists beside it, and the store kept no work folder or artifact.
			entries, _ := os.ReadDir(parent)
			if len(entries) != 1 {
				t.Errorf("written beside the store: %v", entries)
			}
			for _, d := range []string{"tmp", "objects", "sources"} {
				if left, _ := os.ReadDir(filepath.Join(store.Root, d)); len(left) != 0 {
					t.Errorf("store %s/ not empty after a refused layer: %v", d, left)
				}
			}
			_ = filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
				if err == nil && strings.Contains(d.Name(), "evil") || d != nil && d.Name() == "passwd" {
					t.Errorf("refused entry written: %s", p)
				}
				return nil
			})
		})
	}
}

// TestFetchReusesStoredArtifact proves the second fetch does not download the layer: the layer blob is
// deleted from the registry in between, so only a re-pull could fail.
func TestFetchReusesStoredArtifact(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	repo := reg.Host + "/reuse/app"
	blob := tarGz(t, tarEntry{name: "a.yaml", body: "a"})
	pushImage(t, repo+":v1", nil, nil, testLayer{ContentMediaType, blob})
	f := newFetcher(t, nil)
	obj := ociRepository("reuse", "oci://"+repo, func(s *sourcev1.OCIRepositorySpec) { s.Reference = &sourcev1.OCIRepositoryRef{Tag: "v1"} })
	first, err := f.Fetch(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}

	ref, _ := name.ParseReference(repo + ":v1")
	img, _ := remote.Image(ref)
	layers, _ := img.Layers()
	layerDigest, _ := layers[0].Digest()
	req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("http://%s/v2/reuse/app/blobs/%s", reg.Host, layerDigest), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deleting the layer blob: %v %v", err, resp)
	}
	resp.Body.Close()
	if resp, err := http.Get(fmt.Sprintf("http://%s/v2/reuse/app/blobs/%s", reg.Host, layerDigest)); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the blob is still served: %v %v", err, resp)
	}

	second, err := f.Fetch(context.Background(), obj)
	if err != nil {
		t.Fatalf("second fetch downloaded the layer again: %v", err)
	}
	if second.Digest != first.Digest || second.Revision != first.Revision || second.Dir != first.Dir {
		t.Errorf("second fetch = %+v, want the stored %+v", second, first)
	}

	// A changed ignore rule must rebuild the artifact, which now fails for the missing blob, keeping the
	// last good artifact as Previous.
	obj.Spec.Ignore = ptr("*.md\n")
	_, err = f.Fetch(context.Background(), obj)
	fe := fetchErr(t, err)
	if fe.Previous == nil || fe.Previous.Digest != first.Digest {
		t.Errorf("Previous = %+v, want the first artifact", fe.Previous)
	}
}

func TestFetchUnreachableAndTimeout(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	pushImage(t, reg.Host+"/net/app:latest", nil, nil, testLayer{ContentMediaType, tarGz(t, tarEntry{name: "a", body: "a"})})
	f := newFetcher(t, nil)
	good, err := f.Fetch(context.Background(), ociRepository("net", "oci://"+reg.Host+"/net/app"))
	if err != nil {
		t.Fatal(err)
	}

	closed := fmt.Sprintf("127.0.0.1:%d", sourcetest.FreePort(t))
	_, err = f.Fetch(context.Background(), ociRepository("net", "oci://"+closed+"/net/app"))
	fe := fetchErr(t, err)
	if fe.Reason != sourcev1.OCIPullFailedReason || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("unreachable: %v (%s)", err, fe.Reason)
	}
	if fe.Previous == nil || fe.Previous.Digest != good.Digest {
		t.Errorf("unreachable: Previous = %+v, want the last good artifact", fe.Previous)
	}

	// A server that accepts connections and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	_, err = f.Fetch(context.Background(), ociRepository("net", "oci://"+l.Addr().String()+"/net/app", func(s *sourcev1.OCIRepositorySpec) {
		s.Timeout = &metav1.Duration{Duration: 300 * time.Millisecond}
	}))
	fe = fetchErr(t, err)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timeout of 300ms exceeded") {
		t.Errorf("silent server: %v", err)
	}
	if fe.Previous == nil {
		t.Error("silent server: the last good artifact was not kept")
	}

	// Cancellation by the caller is honoured too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Fetch(ctx, ociRepository("net", "oci://"+reg.Host+"/net/app")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// tlsProxy serves the registry at upstream over TLS with the PKI's server certificate, asking for a client
// certificate when clientAuth is set.
func tlsProxy(t *testing.T, upstream string, p *pki, clientAuth bool) string {
	t.Helper()
	u, _ := url.Parse("http://" + upstream)
	srv := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(u))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.serverCert}}
	if clientAuth {
		srv.TLS.ClientAuth, srv.TLS.ClientCAs = tls.RequireAndVerifyClientCert, p.pool
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://")
}

func TestFetchTLSAndInsecure(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	digest := pushImage(t, reg.Host+"/tls/app:latest", nil, nil, testLayer{ContentMediaType, tarGz(t, tarEntry{name: "a", body: "a"})})
	p := newPKI(t)
	tlsHost := tlsProxy(t, reg.Host, p, false)
	mtlsHost := tlsProxy(t, reg.Host, p, true)
	// registry.converge.test is not a local name, so go-containerregistry speaks plain HTTP to it only when
	// insecure is set.
	_, port, _ := net.SplitHostPort(reg.Host)
	plainName := "registry.converge.test:" + port
	secrets := secretStore{
		"ca":     {ObjectMeta: metav1.ObjectMeta{Name: "ca"}, Data: map[string][]byte{"ca.crt": p.caPEM}},
		"client": {ObjectMeta: metav1.ObjectMeta{Name: "client"}, Data: map[string][]byte{"ca.crt": p.caPEM, "tls.crt": p.clientCertPEM, "tls.key": p.clientKey}},
		"half":   {ObjectMeta: metav1.ObjectMeta{Name: "half"}, Data: map[string][]byte{"tls.crt": p.clientCertPEM}},
		"junk":   {ObjectMeta: metav1.ObjectMeta{Name: "junk"}, Data: map[string][]byte{"ca.crt": []byte("not pem")}},
	}
	cases := []struct {
		name, host, certSecret string
		insecure               bool
		wantErr                string
	}{
		{name: "unknown CA", host: tlsHost, wantErr: "certificate"},
		{name: "CA from certSecretRef", host: tlsHost, certSecret: "ca"},
		{name: "insecure skips verification", host: tlsHost, insecure: true},
		{name: "client certificate required, none given", host: mtlsHost, certSecret: "ca", wantErr: "certificate"},
		{name: "client certificate", host: mtlsHost, certSecret: "client"},
		{name: "tls.crt without tls.key", host: tlsHost, certSecret: "half", wantErr: "must be given together"},
		{name: "ca.crt without PEM", host: tlsHost, certSecret: "junk", wantErr: "no PEM certificate"},
		{name: "plain HTTP refused without insecure", host: plainName, wantErr: "HTTP response to HTTPS client"},
		{name: "plain HTTP with insecure", host: plainName, insecure: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFetcher(t, secrets)
			f.Transport = hostDialer(map[string]string{plainName: reg.Host})
			a, err := f.Fetch(context.Background(), ociRepository("tls", "oci://"+tc.host+"/tls/app", func(s *sourcev1.OCIRepositorySpec) {
				s.Insecure = tc.insecure
				if tc.certSecret != "" {
					s.CertSecretRef = secretRef(tc.certSecret)
				}
			}))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Revision != "latest@"+digest.String() {
				t.Errorf("revision = %s", a.Revision)
			}
		})
	}
}

func TestFetchProxySecret(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	pushImage(t, reg.Host+"/proxied/app:latest", nil, nil, testLayer{ContentMediaType, tarGz(t, tarEntry{name: "a", body: "a"})})
	// A forward proxy that counts the requests it carries; the registry URL names an unresolvable host
	// that only the proxy knows.
	var carried atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := proxyAuth(r); !ok || user != "u" || pass != "p" {
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		carried.Add(1)
		r.URL.Host = reg.Host
		r.RequestURI = ""
		r.Header.Del("Proxy-Authorization")
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	secrets := secretStore{
		"proxy":  {ObjectMeta: metav1.ObjectMeta{Name: "proxy"}, Data: map[string][]byte{"address": []byte(proxy.URL), "username": []byte("u"), "password": []byte("p")}},
		"noaddr": {ObjectMeta: metav1.ObjectMeta{Name: "noaddr"}, Data: map[string][]byte{"username": []byte("u")}},
	}
	f := newFetcher(t, secrets)
	obj := ociRepository("proxied", "oci://only-the-proxy-knows.invalid/proxied/app", func(s *sourcev1.OCIRepositorySpec) {
		s.Insecure = true
		s.ProxySecretRef = secretRef("proxy")
	})
	if _, err := f.Fetch(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	if carried.Load() == 0 {
		t.Error("the proxy carried no request")
	}
	obj.Spec.ProxySecretRef = secretRef("noaddr")
	if _, err := f.Fetch(context.Background(), obj); err == nil || !strings.Contains(err.Error(), "no address") {
		t.Errorf("proxy secret without address: %v", err)
	}
}

func proxyAuth(r *http.Request) (string, string, bool) {
	h := r.Header.Get("Proxy-Authorization")
	if h == "" {
		return "", "", false
	}
	req := &http.Request{Header: http.Header{"Authorization": {h}}}
	return req.BasicAuth()
}

func BenchmarkFetchUnchanged(b *testing.B) {
	reg := sourcetest.StartRegistry(b, "")
	pushImage(b, reg.Host+"/bench/app:latest", nil, nil, testLayer{ContentMediaType, tarGz(b, tarEntry{name: "a.yaml", body: "a"})})
	f := newFetcher(b, nil)
	obj := ociRepository("bench", "oci://"+reg.Host+"/bench/app")
	if _, err := f.Fetch(context.Background(), obj); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.Fetch(context.Background(), obj); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFetchNew(b *testing.B) {
	reg := sourcetest.StartRegistry(b, "")
	var entries []tarEntry
	for i := range 200 {
		entries = append(entries, tarEntry{name: fmt.Sprintf("d%d/f%d.yaml", i%10, i), body: strings.Repeat("key: value\n", 50)})
	}
	pushImage(b, reg.Host+"/bench/app:latest", nil, nil, testLayer{ContentMediaType, tarGz(b, entries...)})
	obj := ociRepository("bench", "oci://"+reg.Host+"/bench/app")
	for b.Loop() {
		if _, err := newFetcher(b, nil).Fetch(context.Background(), obj); err != nil {
			b.Fatal(err)
		}
	}
}
