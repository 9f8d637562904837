package sourcetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestNotary is a test signer standing in for the notation CLI, which cannot run here: a CA and a
// code signing certificate under it. Sign stores a JWS signature as `notation sign` does: an OCI
// manifest with artifactType application/vnd.cncf.notary.signature referring to the signed manifest.
type TestNotary struct {
	CA, Leaf *x509.Certificate
	leafKey  *ecdsa.PrivateKey
	// Now is the signing time.
	Now time.Time
}

// NewTestNotary creates a CA and a leaf with subject, valid around now.
func NewTestNotary(t testing.TB, subject pkix.Name, now time.Time) *TestNotary {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"},
		Organization: []string{"test notary"}, CommonName: "test notary CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: subject, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, BasicConstraintsValid: true}
	if der, err = x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey); err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &TestNotary{CA: ca, Leaf: leaf, leafKey: leafKey, Now: now}
}

// CAPEM is the CA certificate as a Flux user puts it in the Secret.
func (n *TestNotary) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: n.CA.Raw})
}

// NotarySignature says how TestNotary.Sign signs.
type NotarySignature struct {
	// Expiry, when not zero, is the signature's io.cncf.notary.expiry.
	Expiry time.Time
	// Edit, when not nil, changes the signed payload after it is signed (a tampered signature).
	Edit func([]byte) []byte
	// MediaType of the envelope; "" is application/jose+json.
	MediaType string
}

// Sign stores a notation JWS signature of dig as its OCI referrer (the registry's referrers tag where
// it has no referrers API).
func (n *TestNotary) Sign(t testing.TB, dig name.Digest, o NotarySignature, opts ...remote.Option) {
	t.Helper()
	target, err := remote.Head(dig, opts...)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(map[string]any{"targetArtifact": map[string]any{
		"mediaType": target.MediaType, "digest": target.Digest.String(), "size": target.Size}})
	if err != nil {
		t.Fatal(err)
	}
	protected := map[string]any{"alg": "ES256", "cty": "application/vnd.cncf.notary.payload.v1+json",
		"crit":                         []string{"io.cncf.notary.signingScheme"},
		"io.cncf.notary.signingScheme": "notary.x509", "io.cncf.notary.signingTime": n.Now.UTC().Format(time.RFC3339)}
	if !o.Expiry.IsZero() {
		protected["crit"] = []string{"io.cncf.notary.signingScheme", "io.cncf.notary.expiry"}
		protected["io.cncf.notary.expiry"] = o.Expiry.UTC().Format(time.RFC3339)
	}
	var env []byte
	if o.MediaType == "application/cose" {
		env = n.signCOSE(t, payload, o)
	} else {
		env = n.signJWS(t, protected, payload, o)
	}
	mt := o.MediaType
	if mt == "" {
		mt = "application/jose+json"
	}
	PushReferrer(t, dig, "application/vnd.cncf.notary.signature", env, types.MediaType(mt), map[string]string{
		"io.cncf.notary.x509chain.thumbprint#S256": thumbprints(n.Leaf, n.CA)}, opts...)
}

// signJWS is the JWS envelope of payload with the protected header.
func (n *TestNotary) signJWS(t testing.TB, protected map[string]any, payload []byte, o NotarySignature) []byte {
	t.Helper()
	ph, err := json.Marshal(protected)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding
	input := b64.EncodeToString(ph) + "." + b64.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, n.leafKey, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	if o.Edit != nil {
		payload = o.Edit(payload)
	}
	env, err := json.Marshal(map[string]any{"payload": b64.EncodeToString(payload), "protected": b64.EncodeToString(ph),
		"header":    map[string]any{"x5c": [][]byte{n.Leaf.Raw, n.CA.Raw}, "io.cncf.notary.signingAgent": "converge test notary"},
		"signature": b64.EncodeToString(sig)})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// signCOSE is the COSE_Sign1 envelope of payload as notation writes it: alg ES256, crit, content type
// and notation's headers (times as CBOR epoch times) protected, the x5chain unprotected.
func (n *TestNotary) signCOSE(t testing.TB, payload []byte, o NotarySignature) []byte {
	t.Helper()
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	crit := []any{"io.cncf.notary.signingScheme"}
	prot := map[any]any{1: -7, 3: "application/vnd.cncf.notary.payload.v1+json",
		"io.cncf.notary.signingScheme": "notary.x509", "io.cncf.notary.signingTime": cbor.Tag{Number: 1, Content: n.Now.Unix()}}
	if !o.Expiry.IsZero() {
		crit = append(crit, "io.cncf.notary.expiry")
		prot["io.cncf.notary.expiry"] = cbor.Tag{Number: 1, Content: o.Expiry.Unix()}
	}
	prot[2] = crit
	protected, err := em.Marshal(prot)
	if err != nil {
		t.Fatal(err)
	}
	toSign, err := em.Marshal([]any{"Signature1", protected, []byte{}, payload})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(toSign)
	r, s, err := ecdsa.Sign(rand.Reader, n.leafKey, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	if o.Edit != nil {
		payload = o.Edit(payload)
	}
	env, err := em.Marshal(cbor.Tag{Number: 18, Content: []any{protected,
		map[any]any{33: []any{n.Leaf.Raw, n.CA.Raw}, "io.cncf.notary.signingAgent": "converge test notary"}, payload, sig}})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func thumbprints(certs ...*x509.Certificate) string {
	var out []string
	for _, c := range certs {
		sum := sha256.Sum256(c.Raw)
		out = append(out, hex.EncodeToString(sum[:]))
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// rawManifest is a manifest pushed as it is.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// PushReferrer pushes an OCI artifact manifest of artifactType with one blob (data, mediaType) and
// the empty config, whose subject is dig.
func PushReferrer(t testing.TB, dig name.Digest, artifactType string, data []byte, mediaType types.MediaType, annotations map[string]string, opts ...remote.Option) {
	t.Helper()
	target, err := remote.Head(dig, opts...)
	if err != nil {
		t.Fatal(err)
	}
	blob := static.NewLayer(data, mediaType)
	config := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	desc := func(l v1.Layer) v1.Descriptor {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		size, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		mt, err := l.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		return v1.Descriptor{MediaType: mt, Digest: d, Size: size}
	}
	for _, l := range []v1.Layer{blob, config} {
		if err := remote.WriteLayer(dig.Repository, l, opts...); err != nil {
			t.Fatal(err)
		}
	}
	m := map[string]any{"schemaVersion": 2, "mediaType": types.OCIManifestSchema1, "artifactType": artifactType,
		"config": desc(config), "layers": []v1.Descriptor{desc(blob)},
		"subject": v1.Descriptor{MediaType: target.MediaType, Digest: target.Digest, Size: target.Size}, "annotations": annotations}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(dig.Context().Digest(h.String()), rawManifest{raw, types.OCIManifestSchema1}, opts...); err != nil {
		t.Fatalf("pushing the referrer of %s: %v", dig, err)
	}
}
