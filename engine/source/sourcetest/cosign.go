package sourcetest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// CosignSign signs the manifest dig names with key the way `cosign sign --key --tlog-upload=false`
// stores a signature (cosign itself cannot run here): a simple signing payload as a layer of the
// "sha256-<hex>.sig" tag, its base64 signature in the layer's "dev.cosignproject.cosign/signature"
// annotation; further signatures are appended as layers. edit, when not nil, changes the payload after
// it is signed (a tampered signature).
func CosignSign(t testing.TB, dig name.Digest, key crypto.Signer, edit func([]byte) []byte, opts ...remote.Option) {
	t.Helper()
	CosignSignAs(t, dig, dig, key, edit, opts...)
}

// CosignSignAs stores a valid signature of the manifest signed as a signature of the manifest at (a
// signature moved from one artifact to another).
func CosignSignAs(t testing.TB, signed, at name.Digest, key crypto.Signer, edit func([]byte) []byte, opts ...remote.Option) {
	t.Helper()
	dig := signed
	payload := simpleSigning(dig)
	var sig []byte
	var err error
	if _, ok := key.(ed25519.PrivateKey); ok {
		sig, err = key.Sign(rand.Reader, payload, crypto.Hash(0))
	} else {
		sum := sha256.Sum256(payload)
		sig, err = key.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		payload = edit(payload)
	}
	AppendCosignLayer(t, at, payload, map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)}, opts...)
}

// AppendCosignLayer appends a signature layer (payload, annotations) to the ".sig" tag of at.
func AppendCosignLayer(t testing.TB, at name.Digest, payload []byte, annotations map[string]string, opts ...remote.Option) {
	t.Helper()
	h, err := v1.NewHash(at.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	tag := at.Repository.Tag(h.Algorithm + "-" + h.Hex + ".sig")
	img, err := remote.Image(tag, opts...)
	if err != nil {
		img = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: annotations,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		t.Fatalf("pushing the signature %s: %v", tag, err)
	}
}

// simpleSigning is the payload cosign signs for dig.
func simpleSigning(dig name.Digest) []byte {
	return []byte(fmt.Sprintf(`{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`,
		dig.Repository.Name(), dig.DigestStr()))
}

// PublicKeyPEM is key's public key as cosign writes cosign.pub: a PEM "PUBLIC KEY" block.
func PublicKeyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
