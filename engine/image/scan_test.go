package image

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

func imageRepository(image string, mutate ...func(*imagev1.ImageRepository)) *imagev1.ImageRepository {
	r := &imagev1.ImageRepository{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "flux-system"},
		Spec:       imagev1.ImageRepositorySpec{Image: image, Interval: metav1.Duration{Duration: time.Minute}, Timeout: &metav1.Duration{Duration: 10 * time.Second}},
	}
	for _, m := range mutate {
		m(r)
	}
	return r
}

func withSecret(name string) func(*imagev1.ImageRepository) {
	return func(r *imagev1.ImageRepository) { r.Spec.SecretRef = &meta.LocalObjectReference{Name: name} }
}

// TestScanPrivateRegistry scans a registry with basic auth: the default exclusion list drops the
// signature tags, the tags are kept in the artifact store, and a rescan of the same tags is no change.
func TestScanPrivateRegistry(t *testing.T) {
	host, _ := privateRegistry(t, "org/app", registryTags)
	store := openStore(t)
	sec := secrets{}.add(dockerConfigSecret("flux-system", "regcred", host, regUser, regPass)).
		add(dockerConfigSecret("flux-system", "wrong", host, regUser, "nope"))
	s := &Scanner{Clock: clock.RealClock{}, Store: store, Secrets: sec}
	ctx := context.Background()

	res, err := s.Scan(ctx, imageRepository(host+"/org/app", withSecret("regcred")))
	if err != nil {
		t.Fatal(err)
	}
	if res.TagCount != len(registryTags)-2 || slices.ContainsFunc(res.Tags, func(tag string) bool { return strings.HasSuffix(tag, ".sig") }) {
		t.Fatalf("tags %d %v: want %d without .sig", res.TagCount, res.Tags, len(registryTags)-2)
	}
	if res.CanonicalImageName != host+"/org/app" || len(res.LatestTags) != 10 || res.LatestTags[0] != "v2" || !res.Changed() {
		t.Fatalf("result %+v", res)
	}
	stored, rev, found, err := StoredTags(store, "flux-system", "app")
	if err != nil || !found || rev != res.Revision || !slices.Equal(stored, res.Tags) {
		t.Fatalf("stored %v %q %v %v", stored, rev, found, err)
	}
	again, err := s.Scan(ctx, imageRepository(host+"/org/app", withSecret("regcred")))
	if err != nil || again.Changed() {
		t.Fatalf("rescan: changed=%v err=%v", again != nil && again.Changed(), err)
	}

	// A custom exclusion list replaces the default: signatures are back, numbers gone.
	custom, err := s.Scan(ctx, imageRepository(host+"/org/app", withSecret("regcred"), func(r *imagev1.ImageRepository) {
		r.Name = "custom"
		r.Spec.ExclusionList = []string{`^[0-9]+$`}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(custom.Tags, "sha256-0123.sig") || slices.Contains(custom.Tags, "42") {
		t.Fatalf("custom exclusions: %v", custom.Tags)
	}

	// Digest of a tag.
	d, err := s.Digest(ctx, imageRepository(host+"/org/app", withSecret("regcred")), "1.2.3")
	if err != nil || !strings.HasPrefix(d, "sha256:") {
		t.Fatalf("digest %q %v", d, err)
	}

	for _, tt := range []struct {
		name   string
		repo   *imagev1.ImageRepository
		reason string
		msg    string
	}{
		// As Flux: a refused login is a failed scan (ReadOperationFailed); AuthenticationFailed is for
		// credentials that cannot be read.
		{"no credentials", imageRepository(host + "/org/app"), imagev1.ReadOperationFailedReason, "UNAUTHORIZED"},
		{"wrong password", imageRepository(host+"/org/app", withSecret("wrong")), imagev1.ReadOperationFailedReason, "UNAUTHORIZED"},
		{"missing secret", imageRepository(host+"/org/app", withSecret("absent")), imagev1.AuthenticationFailedReason, "not found"},
		{"tag in image", imageRepository(host + "/org/app:1.0"), imagev1.ImageURLInvalidReason, "must not carry a tag"},
		{"missing cert secret", imageRepository(host+"/org/app", withSecret("regcred"), func(r *imagev1.ImageRepository) {
			r.Spec.CertSecretRef = &meta.LocalObjectReference{Name: "absent"}
		}), imagev1.AuthenticationFailedReason, "certSecretRef"},
		{"bad exclusion", imageRepository(host+"/org/app", withSecret("regcred"), func(r *imagev1.ImageRepository) { r.Spec.ExclusionList = []string{"("} }), imagev1.ReadOperationFailedReason, "exclusionList"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Scan(ctx, tt.repo)
			if err == nil || ReasonOf(err) != tt.reason || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %v (reason %s), want %s containing %q", err, ReasonOf(err), tt.reason, tt.msg)
			}
			if !strings.Contains(err.Error(), "ImageRepository flux-system/app") {
				t.Errorf("error does not name the object: %v", err)
			}
		})
	}
}

func TestScanUnreachableRegistry(t *testing.T) {
	port := sourcetest.FreePort(t) // nothing listens there
	s := &Scanner{Clock: clock.RealClock{}, Store: openStore(t)}
	start := time.Now()
	_, err := s.Scan(context.Background(), imageRepository("127.0.0.1:"+itoa(port)+"/org/app", func(r *imagev1.ImageRepository) {
		r.Spec.Insecure = true
		r.Spec.Timeout = &metav1.Duration{Duration: 2 * time.Second}
	}))
	if err == nil || ReasonOf(err) != imagev1.ReadOperationFailedReason || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err %v (reason %s)", err, ReasonOf(err))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s, beyond the timeout", took)
	}
	if _, _, found, _ := StoredTags(s.Store, "flux-system", "app"); found {
		t.Error("a failed scan stored tags")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestCanonicalImageName: Docker Hub images get Flux's canonical name (index.docker.io, library/ for
// official images); a tag, digest or URL scheme is refused.
func TestCanonicalImageName(t *testing.T) {
	for _, tt := range []struct{ image, want, err string }{
		{image: "nginx", want: "index.docker.io/library/nginx"},
		{image: "docker.io/nginx", want: "index.docker.io/library/nginx"},
		{image: "fluxcd/flux", want: "index.docker.io/fluxcd/flux"},
		{image: "index.docker.io/fluxcd/flux", want: "index.docker.io/fluxcd/flux"},
		{image: "ghcr.io/org/team/app", want: "ghcr.io/org/team/app"},
		{image: "localhost:5000/app", want: "localhost:5000/app"},
		{image: "nginx:1.25", err: "must not carry a tag"},
		{image: "ghcr.io/org/app@sha256:abc", err: "must not carry a tag"},
		{image: "https://ghcr.io/org/app", err: "should not include URL scheme; remove 'https://'"},
	} {
		r, err := ParseRepository(tt.image, false)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || ReasonOf(err) != imagev1.ImageURLInvalidReason || !IsStalled(err) {
				t.Errorf("%s: err %v, want %q", tt.image, err, tt.err)
			}
			continue
		}
		if err != nil || r.Name() != tt.want {
			t.Errorf("%s: %q %v, want %q", tt.image, r.Name(), err, tt.want)
		}
	}
}
