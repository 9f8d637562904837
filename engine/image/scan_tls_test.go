package image

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

func withCert(name string) func(*imagev1.ImageRepository) {
	return func(r *imagev1.ImageRepository) { r.Spec.CertSecretRef = &meta.LocalObjectReference{Name: name} }
}

func caSecret(name string, ca []byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "flux-system"}, Data: map[string][]byte{"ca.crt": ca}}
}

// TestScanTLSRegistry scans docker-registry serving HTTPS with a certificate of a test authority: with
// certSecretRef's ca.crt the tags are listed, without it (or with another authority) the scan fails
// naming the unknown authority.
func TestScanTLSRegistry(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte(regPass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	reg := sourcetest.StartTLSRegistry(t, fmt.Sprintf("%s:%s\n", regUser, hash))
	other := sourcetest.StartTLSRegistry(t, "")
	tags := []string{"1.0.0", "1.1.0", "2.0.0-rc.1"}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(reg.CA)
	repo, err := name.NewRepository(reg.Host + "/org/secure")
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.WithAuth(&authn.Basic{Username: regUser, Password: regPass}),
		remote.WithTransport(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})}
	for _, tag := range tags {
		if err := remote.Write(repo.Tag(tag), img, opts...); err != nil {
			t.Fatal(err)
		}
	}

	sec := secrets{}.add(dockerConfigSecret("flux-system", "regcred", reg.Host, regUser, regPass)).
		add(caSecret("registry-ca", reg.CA)).add(caSecret("other-ca", other.CA)).add(caSecret("garbage-ca", []byte("not a certificate")))
	s := &Scanner{Clock: clock.RealClock{}, Store: openStore(t), Secrets: sec}
	ctx := context.Background()
	image := reg.Host + "/org/secure"

	res, err := s.Scan(ctx, imageRepository(image, withSecret("regcred"), withCert("registry-ca")))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Tags, tags) || res.CanonicalImageName != image {
		t.Fatalf("tags %v name %s, want %v", res.Tags, res.CanonicalImageName, tags)
	}
	d, err := s.Digest(ctx, imageRepository(image, withSecret("regcred"), withCert("registry-ca")), "1.1.0")
	if want, _ := img.Digest(); err != nil || d != want.String() {
		t.Fatalf("digest %q %v, want %s", d, err, want)
	}

	for _, tt := range []struct {
		name   string
		repo   *imagev1.ImageRepository
		reason string
		msg    string
	}{
		{"no certSecretRef", imageRepository(image, withSecret("regcred")), imagev1.ReadOperationFailedReason, "certificate signed by unknown authority"},
		{"hint", imageRepository(image, withSecret("regcred")), imagev1.ReadOperationFailedReason, "set spec.certSecretRef to a Secret with its CA as ca.crt"},
		{"another authority", imageRepository(image, withSecret("regcred"), withCert("other-ca")), imagev1.ReadOperationFailedReason, "certificate signed by unknown authority"},
		{"not a certificate", imageRepository(image, withSecret("regcred"), withCert("garbage-ca")), imagev1.AuthenticationFailedReason, `certSecretRef: secret flux-system/garbage-ca: "ca.crt" holds no PEM certificate`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Scan(ctx, tt.repo)
			if err == nil || ReasonOf(err) != tt.reason || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "ImageRepository flux-system/app") {
				t.Fatalf("err %v (reason %s), want %s containing %q", err, ReasonOf(err), tt.reason, tt.msg)
			}
		})
	}
}
