package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

// cosign's signature format: a "sha256-<hex>.sig" tag next to the signed manifest, an image whose
// layers are simple signing payloads, each signed in an annotation.
const (
	// CosignKeySuffix marks the public keys in a spec.verify.secretRef Secret.
	CosignKeySuffix = ".pub"
	// CosignSignatureAnnotation holds the base64 signature of a layer's payload.
	CosignSignatureAnnotation = "dev.cosignproject.cosign/signature"
	// SimpleSigningMediaType is the media type of a signature layer.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// CosignSignatureType is the critical.type of a cosign simple signing payload.
	CosignSignatureType = "cosign container image signature"
	// maxCosignPayload bounds a payload read from the registry.
	maxCosignPayload = 1 << 20
	// maxCosignLayers bounds how many signatures of one manifest are tried.
	maxCosignLayers = 100
)

// CosignKey is a trusted cosign public key and the Secret data key it came from.
type CosignKey struct {
	Name string
	Key  crypto.PublicKey
}

// CosignKeysFromSecret reads every "*.pub" key of s as a PEM public key (ECDSA, Ed25519 or RSA). A key
// that does not parse is an error naming the Secret and its data key; so is a Secret without keys.
func CosignKeysFromSecret(s *corev1.Secret) ([]CosignKey, error) {
	var keys []CosignKey
	names := make([]string, 0, len(s.Data))
	for k := range s.Data {
		if strings.HasSuffix(k, CosignKeySuffix) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		pub, err := ParsePublicKeyPEM(s.Data[k])
		if err != nil {
			return nil, fmt.Errorf("Secret %s/%s key %q: %w", s.Namespace, s.Name, k, err)
		}
		keys = append(keys, CosignKey{Name: k, Key: pub})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("Secret %s/%s holds no cosign public keys (data keys ending in %s)", s.Namespace, s.Name, CosignKeySuffix)
	}
	return keys, nil
}

// ParsePublicKeyPEM reads a PEM "PUBLIC KEY" (PKIX) block holding an ECDSA, Ed25519 or RSA key.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM public key")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block is a %q, not a \"PUBLIC KEY\"", block.Type)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the public key: %w", err)
	}
	switch pub.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey:
		return pub, nil
	}
	return nil, fmt.Errorf("%T keys are not supported (ECDSA, Ed25519, RSA)", pub)
}

// verifyRaw checks sig over payload with key as cosign signs: ECDSA (ASN.1) and RSA (PKCS #1 v1.5) over
// SHA-256, Ed25519 over the payload itself.
func verifyRaw(key crypto.PublicKey, payload, sig []byte) error {
	sum := sha256.Sum256(payload)
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, sum[:], sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig)
	case ed25519.PublicKey:
		if !ed25519.Verify(k, payload, sig) {
			return errors.New("Ed25519 signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("%T keys are not supported", key)
}

// SimpleSigning is cosign's signed payload.
type SimpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// ParseSimpleSigning reads a payload and checks it is a cosign image signature.
func ParseSimpleSigning(payload []byte) (*SimpleSigning, error) {
	var p SimpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, fmt.Errorf("signature payload is not simple signing JSON: %w", err)
	}
	if p.Critical.Type != CosignSignatureType {
		return nil, fmt.Errorf("signature payload type is %q, not %q", p.Critical.Type, CosignSignatureType)
	}
	if _, err := v1.NewHash(p.Critical.Image.DockerManifestDigest); err != nil {
		return nil, fmt.Errorf("signature payload digest %q: %w", p.Critical.Image.DockerManifestDigest, err)
	}
	return &p, nil
}

// SignatureTag is the tag cosign stores the signatures of digest under: "sha256-<hex>.sig".
func SignatureTag(repo name.Repository, digest v1.Hash) name.Tag {
	return repo.Tag(digest.Algorithm + "-" + digest.Hex + ".sig")
}

// Cosign checks that the manifest dig names has a cosign signature made by one of keys, and returns the
// name of the key that verified it. opts reach the registry (credentials, transport, context).
func Cosign(ctx context.Context, dig name.Digest, keys []CosignKey, opts ...remote.Option) (string, error) {
	digest, err := v1.NewHash(dig.DigestStr())
	if err != nil {
		return "", fmt.Errorf("%s: %w", dig, err)
	}
	tag := SignatureTag(dig.Repository, digest)
	img, err := remote.Image(tag, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("no cosign signature found for %s (tag %s is missing; Sigstore bundles stored as OCI referrers, cosign v3's default, are not verified yet: sign in the .sig tag format)", dig, tag.TagStr())
		}
		return "", fmt.Errorf("reading the cosign signatures of %s (%s): %w", dig, tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return "", fmt.Errorf("reading the cosign signatures of %s: %w", dig, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return "", fmt.Errorf("reading the cosign signatures of %s: %w", dig, err)
	}
	var problems []string
	for i, desc := range m.Layers {
		if i >= maxCosignLayers {
			problems = append(problems, fmt.Sprintf("only the first %d signatures were tried", maxCosignLayers))
			break
		}
		b64, ok := desc.Annotations[CosignSignatureAnnotation]
		if !ok {
			problems = append(problems, fmt.Sprintf("layer %d has no %s annotation", i, CosignSignatureAnnotation))
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			problems = append(problems, fmt.Sprintf("layer %d: signature is not base64", i))
			continue
		}
		payload, err := readLayer(layers[i])
		if err != nil {
			problems = append(problems, fmt.Sprintf("layer %d: %v", i, err))
			continue
		}
		// The payload is trusted only once its signature verifies.
		var signer string
		for _, k := range keys {
			if verifyRaw(k.Key, payload, sig) == nil {
				signer = k.Name
				break
			}
		}
		if signer == "" {
			problems = append(problems, fmt.Sprintf("layer %d: the signature does not verify with any key", i))
			continue
		}
		p, err := ParseSimpleSigning(payload)
		if err != nil {
			problems = append(problems, fmt.Sprintf("layer %d: %v", i, err))
			continue
		}
		if p.Critical.Image.DockerManifestDigest != digest.String() {
			problems = append(problems, fmt.Sprintf("layer %d: signed digest %s is not %s", i, p.Critical.Image.DockerManifestDigest, digest))
			continue
		}
		return signer, nil
	}
	if len(problems) == 0 {
		problems = append(problems, "no signatures")
	}
	return "", fmt.Errorf("no matching signatures were found for %s: %s", dig, strings.Join(problems, "; "))
}

// readLayer reads a signature payload, bounded, checking its digest.
func readLayer(l v1.Layer) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxCosignPayload+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCosignPayload {
		return nil, fmt.Errorf("signature payload larger than %d bytes", maxCosignPayload)
	}
	want, err := l.Digest()
	if err != nil {
		return nil, err
	}
	if got := sha256.Sum256(b); want.Algorithm != "sha256" || fmt.Sprintf("%x", got) != want.Hex {
		return nil, fmt.Errorf("signature payload does not match its digest %s", want)
	}
	return b, nil
}

// Policy is what a spec.verify of an OCIRepository, HelmChart or HelmRelease chart template asks.
type Policy struct {
	// Field names the verify field in messages, e.g. "spec.verify" or "spec.chart.spec.verify".
	Field string
	// Provider is "cosign" (the default when empty) or "notation".
	Provider string
	// Namespace is the object's namespace, where its Secrets are.
	Namespace string
	// SecretRef is the name of the Secret with the public keys, "" when unset.
	SecretRef string
	// MatchOIDCIdentity says whether identities for keyless verification are given.
	MatchOIDCIdentity bool
	// TrustedRootSecretRef is the name of the Secret with a Sigstore trusted root, "" when unset.
	TrustedRootSecretRef string
}

// ErrUnsupported marks verification that converge refuses to do (and so refuses the artifact).
var ErrUnsupported = errors.New("not supported")

// OCI verifies the manifest dig names as p asks, reading keys from secrets, and returns the message of a
// SourceVerified condition. Keyless cosign and notation are refused (errors wrapping ErrUnsupported),
// never skipped.
func OCI(ctx context.Context, p Policy, secrets source.Secrets, dig name.Digest, opts ...remote.Option) (string, error) {
	provider := p.Provider
	if provider == "" {
		provider = sourcev1.VerificationProviderCosign
	}
	switch provider {
	case sourcev1.VerificationProviderCosign:
	case sourcev1.VerificationProviderNotation:
		return "", fmt.Errorf("%s.provider: notation signatures are %w yet: the artifact is not used unverified", p.Field, ErrUnsupported)
	default:
		return "", fmt.Errorf("%s.provider: %q is not one of cosign, notation", p.Field, provider)
	}
	if p.SecretRef == "" {
		what := "keyless cosign verification"
		if p.MatchOIDCIdentity {
			what += fmt.Sprintf(" (%s.matchOIDCIdentity)", p.Field)
		}
		if p.TrustedRootSecretRef != "" {
			what += fmt.Sprintf(" with a trusted root (%s.trustedRootSecretRef)", p.Field)
		}
		return "", fmt.Errorf("%s.secretRef is not set: %s is %w yet; give cosign public keys in a Secret named by %s.secretRef",
			p.Field, what, ErrUnsupported, p.Field)
	}
	if secrets == nil {
		return "", fmt.Errorf("%s.secretRef: no Secrets can be read here", p.Field)
	}
	s, err := secrets.GetSecret(ctx, p.Namespace, p.SecretRef)
	if err != nil {
		return "", fmt.Errorf("%s.secretRef: reading Secret %s/%s: %w", p.Field, p.Namespace, p.SecretRef, err)
	}
	keys, err := CosignKeysFromSecret(s)
	if err != nil {
		return "", fmt.Errorf("%s.secretRef: %w", p.Field, err)
	}
	if _, err := Cosign(ctx, dig, keys, opts...); err != nil {
		return "", fmt.Errorf("failed to verify the signature using provider '%s': %w", provider, err)
	}
	return fmt.Sprintf("verified signature of revision %s", dig.DigestStr()), nil
}

// isNotFound reports a registry's 404 (or MANIFEST_UNKNOWN) answer.
func isNotFound(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		if terr.StatusCode == http.StatusNotFound {
			return true
		}
		for _, d := range terr.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return true
			}
		}
	}
	return false
}
