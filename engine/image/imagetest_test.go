package image

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

const (
	regUser = "scanner"
	regPass = "s3cret"
)

// privateRegistry starts a registry requiring basic auth and pushes one small random image under every
// tag of tags to repository; it returns the registry host and the pushed manifest digest.
func privateRegistry(t testing.TB, repository string, tags []string) (host, digest string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(regPass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	reg := sourcetest.StartRegistry(t, fmt.Sprintf("%s:%s\n", regUser, hash))
	return reg.Host, pushTags(t, reg.Host+"/"+repository, tags)
}

func pushTags(t testing.TB, repository string, tags []string) string {
	t.Helper()
	repo, err := name.NewRepository(repository, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: regUser, Password: regPass})
	if err := remote.Write(repo.Tag(tags[0]), img, auth); err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags[1:] {
		if err := remote.Tag(repo.Tag(tag), img, auth); err != nil {
			t.Fatal(err)
		}
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// dockerConfigSecret is a kubernetes.io/dockerconfigjson Secret for host.
func dockerConfigSecret(namespace, secretName, host, user, pass string) *corev1.Secret {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: namespace},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{".dockerconfigjson": fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, host, auth)},
	}
}

// secrets is a source.Secrets over a fixed set.
type secrets map[string]*corev1.Secret

func (s secrets) GetSecret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	if sec, ok := s[namespace+"/"+name]; ok {
		return sec, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (s secrets) add(sec *corev1.Secret) secrets {
	s[sec.Namespace+"/"+sec.Name] = sec
	return s
}

func openStore(t testing.TB) *source.Store {
	t.Helper()
	st, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}
