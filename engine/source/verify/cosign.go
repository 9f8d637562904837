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
	"k8s.io/utils/clock"

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
// name of the key that verified it: a Sigstore bundle attached as an OCI referrer (cosign v3) when
// there are any, else the ".sig" tag (cosign v2). opts reach the registry (credentials, transport).
func Cosign(ctx context.Context, dig name.Digest, keys []CosignKey, opts ...remote.Option) (string, error) {
	bundleCheck := func(b *SigstoreBundle) (string, error) {
		for _, sig := range b.Signatures {
			for _, k := range keys {
				if verifyRaw(k.Key, pae(b.PayloadType, b.Payload), sig) == nil {
					return k.Name, nil
				}
			}
		}
		return "", errors.New("the DSSE signature does not verify with any key")
	}
	return cosignVerify(ctx, dig, bundleCheck, func(_ map[string]string, payload, sig []byte) (string, error) {
		for _, k := range keys {
			if verifyRaw(k.Key, payload, sig) == nil {
				return k.Name, nil
			}
		}
		return "", errors.New("the signature does not verify with any key")
	}, opts...)
}

// CosignKeyless checks that the manifest dig names has a keyless cosign signature that k accepts,
// offline, and returns the identity that signed: a Sigstore bundle referrer (cosign v3) when there
// are any, else the ".sig" tag's layers with the Fulcio certificate and Rekor bundle in their
// annotations (cosign v2).
func CosignKeyless(ctx context.Context, dig name.Digest, k *Keyless, opts ...remote.Option) (string, error) {
	return cosignVerify(ctx, dig, k.verifyBundle, k.verifyLayer, opts...)
}

// cosignLayers reads the signatures of dig from its .sig tag and returns what check says of the first
// layer it accepts whose payload then signs dig. check sees the layer's annotations, payload and
// signature; the payload is trusted only once check accepts it.
func cosignLayers(ctx context.Context, dig name.Digest, check func(ann map[string]string, payload, sig []byte) (string, error), opts ...remote.Option) (string, error) {
	digest, err := v1.NewHash(dig.DigestStr())
	if err != nil {
		return "", fmt.Errorf("%s: %w", dig, err)
	}
	tag := SignatureTag(dig.Repository, digest)
	img, err := remote.Image(tag, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("no cosign signature found for %s (no Sigstore bundle among its OCI referrers, and tag %s is missing)", dig, tag.TagStr())
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
		signer, err := check(desc.Annotations, payload, sig)
		if err != nil {
			problems = append(problems, fmt.Sprintf("layer %d: %v", i, err))
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
	// SecretRef is the name of the Secret with the public keys (or notation's trust policy and
	// certificates), "" when unset.
	SecretRef string
	// MatchOIDCIdentity lists the identities accepted for keyless cosign signatures.
	MatchOIDCIdentity []sourcev1.OIDCIdentityMatch
	// TrustedRootSecretRef is the name of the Secret with a Sigstore trusted root, "" when unset.
	TrustedRootSecretRef string
	// NoTrustedRootField says the object's API has no trustedRootSecretRef (HelmChart).
	NoTrustedRootField bool
	// Clock gives the time notation checks certificates and expiry at; nil is the real clock.
	Clock clock.PassiveClock
}

// ErrUnsupported marks verification that converge refuses to do (and so refuses the artifact).
var ErrUnsupported = errors.New("not supported")

// OCI verifies the manifest dig names as p asks, reading keys, trusted roots and trust policies from
// secrets, and returns the message of a SourceVerified condition: "" when the policy says the
// result is not to be trusted nor enforced (notation's skip level, or audit and permissive
// failures), as Flux leaves the condition unset then. Verification converge cannot do offline is
// refused (errors wrapping ErrUnsupported), never skipped.
func OCI(ctx context.Context, p Policy, secrets source.Secrets, dig name.Digest, opts ...remote.Option) (string, error) {
	provider := p.Provider
	if provider == "" {
		provider = sourcev1.VerificationProviderCosign
	}
	switch provider {
	case sourcev1.VerificationProviderCosign, sourcev1.VerificationProviderNotation:
	default:
		return "", fmt.Errorf("%s.provider: %q is not one of cosign, notation", p.Field, provider)
	}
	getSecret := func(field, name string) (*corev1.Secret, error) {
		if secrets == nil {
			return nil, fmt.Errorf("%s.%s: no Secrets can be read here", p.Field, field)
		}
		s, err := secrets.GetSecret(ctx, p.Namespace, name)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: reading Secret %s/%s: %w", p.Field, field, p.Namespace, name, err)
		}
		return s, nil
	}
	failed := func(provider string, err error) error {
		return fmt.Errorf("failed to verify the signature using provider '%s': %w", provider, err)
	}
	ok := fmt.Sprintf("verified signature of revision %s", dig.DigestStr())

	if provider == sourcev1.VerificationProviderNotation {
		if p.SecretRef == "" {
			return "", fmt.Errorf("%s.secretRef: notation needs a Secret with %s and CA certificates", p.Field, TrustPolicyKey)
		}
		s, err := getSecret("secretRef", p.SecretRef)
		if err != nil {
			return "", err
		}
		n, err := NotationFromSecret(s)
		if err != nil {
			return "", fmt.Errorf("%s.secretRef: %w", p.Field, err)
		}
		clk := p.Clock
		if clk == nil {
			clk = clock.RealClock{}
		}
		res, err := n.Verify(ctx, dig, clk.Now(), opts...)
		if err != nil {
			return "", failed(provider, err)
		}
		if !res.Verified {
			return "", nil
		}
		return ok, nil
	}

	if p.SecretRef != "" {
		s, err := getSecret("secretRef", p.SecretRef)
		if err != nil {
			return "", err
		}
		keys, err := CosignKeysFromSecret(s)
		if err != nil {
			return "", fmt.Errorf("%s.secretRef: %w", p.Field, err)
		}
		if _, err := Cosign(ctx, dig, keys, opts...); err != nil {
			return "", failed(provider, err)
		}
		return ok, nil
	}

	// Keyless.
	ids, err := CompileIdentities(p.Field, p.MatchOIDCIdentity)
	if err != nil {
		return "", err
	}
	if p.TrustedRootSecretRef == "" {
		how := fmt.Sprintf("give a Sigstore trusted root in a Secret named by %s.trustedRootSecretRef (key %s)", p.Field, TrustedRootKey)
		if p.NoTrustedRootField {
			how = "this kind has no trustedRootSecretRef in Flux's API; verify with cosign public keys in a Secret named by " + p.Field + ".secretRef"
		}
		return "", fmt.Errorf("%s.secretRef is not set: keyless cosign verification against the public Sigstore instance (its TUF trusted root and Rekor keys fetched online) is %w offline: %s",
			p.Field, ErrUnsupported, how)
	}
	s, err := getSecret("trustedRootSecretRef", p.TrustedRootSecretRef)
	if err != nil {
		return "", err
	}
	data, found := s.Data[TrustedRootKey]
	if !found {
		return "", fmt.Errorf("%s.trustedRootSecretRef: '%s' not found in Secret %s/%s", p.Field, TrustedRootKey, s.Namespace, s.Name)
	}
	root, err := ParseTrustedRoot(data)
	if err != nil {
		return "", fmt.Errorf("%s.trustedRootSecretRef: Secret %s/%s key %s: %w", p.Field, s.Namespace, s.Name, TrustedRootKey, err)
	}
	if _, err := CosignKeyless(ctx, dig, &Keyless{Root: root, Identities: ids}, opts...); err != nil {
		return "", failed(provider+" keyless", err)
	}
	return ok, nil
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
