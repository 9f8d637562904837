package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Sigstore bundles as cosign v3 attaches them: an OCI referrer whose one layer is the bundle JSON.
const (
	// SigstoreBundleArtifactType is the artifactType (and layer media type) of a cosign v3 bundle.
	SigstoreBundleArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// InTotoPayloadType is the DSSE payload type of an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// maxBundles bounds how many bundles of one manifest are tried.
	maxBundles = 20
)

// SigstoreBundle is a Sigstore bundle (v0.3) holding a DSSE envelope, parsed.
type SigstoreBundle struct {
	// Certificate is the DER signing certificate (keyless), nil for a key.
	Certificate []byte
	// Entries are the transparency log entries that carry an inclusion promise.
	Entries []RekorBundle
	// EntryKinds are the kinds of all entries, for messages.
	EntryKinds []string
	// PayloadType, Payload and Signatures are the DSSE envelope's.
	PayloadType string
	Payload     []byte
	Signatures  [][]byte
}

// ParseSigstoreBundle reads a bundle JSON document. A bundle with a message signature instead of a
// DSSE envelope is refused: cosign v3 signs images as DSSE in-toto statements.
func ParseSigstoreBundle(data []byte) (*SigstoreBundle, error) {
	var raw struct {
		MediaType            string `json:"mediaType"`
		VerificationMaterial struct {
			Certificate *struct {
				RawBytes []byte `json:"rawBytes"`
			} `json:"certificate"`
			X509CertificateChain *struct {
				Certificates []struct {
					RawBytes []byte `json:"rawBytes"`
				} `json:"certificates"`
			} `json:"x509CertificateChain"`
			TlogEntries []struct {
				LogIndex string `json:"logIndex"`
				LogID    struct {
					KeyID []byte `json:"keyId"`
				} `json:"logId"`
				KindVersion struct {
					Kind    string `json:"kind"`
					Version string `json:"version"`
				} `json:"kindVersion"`
				IntegratedTime   string `json:"integratedTime"`
				InclusionPromise *struct {
					SignedEntryTimestamp []byte `json:"signedEntryTimestamp"`
				} `json:"inclusionPromise"`
				CanonicalizedBody []byte `json:"canonicalizedBody"`
			} `json:"tlogEntries"`
		} `json:"verificationMaterial"`
		MessageSignature json.RawMessage `json:"messageSignature"`
		DSSEEnvelope     *struct {
			Payload     []byte `json:"payload"`
			PayloadType string `json:"payloadType"`
			Signatures  []struct {
				Sig []byte `json:"sig"`
			} `json:"signatures"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("the Sigstore bundle is not JSON: %w", err)
	}
	if !strings.HasPrefix(raw.MediaType, "application/vnd.dev.sigstore.bundle") {
		return nil, fmt.Errorf("the bundle mediaType %q is not a Sigstore bundle", raw.MediaType)
	}
	if raw.DSSEEnvelope == nil {
		if raw.MessageSignature != nil {
			return nil, fmt.Errorf("message signature bundles are %w for OCI artifacts (cosign v3 signs a DSSE envelope)", ErrUnsupported)
		}
		return nil, errors.New("the bundle has no dsseEnvelope")
	}
	b := &SigstoreBundle{PayloadType: raw.DSSEEnvelope.PayloadType, Payload: raw.DSSEEnvelope.Payload}
	for _, s := range raw.DSSEEnvelope.Signatures {
		b.Signatures = append(b.Signatures, s.Sig)
	}
	if len(b.Signatures) == 0 {
		return nil, errors.New("the bundle's DSSE envelope has no signatures")
	}
	vm := raw.VerificationMaterial
	switch {
	case vm.Certificate != nil:
		b.Certificate = vm.Certificate.RawBytes
	case vm.X509CertificateChain != nil && len(vm.X509CertificateChain.Certificates) > 0:
		b.Certificate = vm.X509CertificateChain.Certificates[0].RawBytes
	}
	for i, e := range vm.TlogEntries {
		b.EntryKinds = append(b.EntryKinds, e.KindVersion.Kind+" "+e.KindVersion.Version)
		if e.InclusionPromise == nil {
			continue
		}
		idx, err1 := strconv.ParseInt(e.LogIndex, 10, 64)
		at, err2 := strconv.ParseInt(e.IntegratedTime, 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("tlogEntries[%d]: logIndex %q or integratedTime %q is not a number", i, e.LogIndex, e.IntegratedTime)
		}
		var rb RekorBundle
		rb.SignedEntryTimestamp = e.InclusionPromise.SignedEntryTimestamp
		rb.Payload.Body = base64.StdEncoding.EncodeToString(e.CanonicalizedBody)
		rb.Payload.IntegratedTime, rb.Payload.LogIndex, rb.Payload.LogID = at, idx, hex.EncodeToString(e.LogID.KeyID)
		b.Entries = append(b.Entries, rb)
	}
	return b, nil
}

// pae is DSSE's pre-authentication encoding, what a DSSE signature signs.
func pae(payloadType string, payload []byte) []byte {
	return []byte(fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload))
}

// checkStatement checks that the bundle's payload is an in-toto statement about digest (hex SHA-256).
func (b *SigstoreBundle) checkStatement(digest string) error {
	if b.PayloadType != InTotoPayloadType {
		return fmt.Errorf("the DSSE payload type %q is not %s", b.PayloadType, InTotoPayloadType)
	}
	var st struct {
		Type    string `json:"_type"`
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(b.Payload, &st); err != nil {
		return fmt.Errorf("the DSSE payload is not an in-toto statement: %w", err)
	}
	for _, s := range st.Subject {
		if strings.EqualFold(s.Digest["sha256"], digest) {
			return nil
		}
	}
	return fmt.Errorf("the in-toto statement is not about sha256:%s", digest)
}

// verifyKeyless checks a keyless bundle as verifyLayer checks a v2 layer: a log entry with an
// inclusion promise whose SET verifies and whose dsse body records this envelope, the certificate
// chain at its integrated time, the SCT, the identity and the DSSE signature.
func (k *Keyless) verifyBundle(b *SigstoreBundle) (string, error) {
	if b.Certificate == nil {
		return "", errors.New("the bundle has no certificate: not a keyless signature")
	}
	if _, err := x509.ParseCertificate(b.Certificate); err != nil {
		return "", fmt.Errorf("the bundle's certificate: %w", err)
	}
	if len(b.Entries) == 0 {
		return "", fmt.Errorf("the bundle has no transparency log entry with an inclusion promise (entries: %s): Rekor v2 entries need an inclusion proof and a signed timestamp, which are %w yet",
			strings.Join(b.EntryKinds, ", "), ErrUnsupported)
	}
	var problems []string
	for _, e := range b.Entries {
		integrated := time.Unix(e.Payload.IntegratedTime, 0)
		if err := k.verifySET(&e, integrated); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		sig, err := checkDSSEBody(e.Payload.Body, b.Certificate, b.Payload, b.Signatures)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		issuer, err := k.verifyChain(b.Certificate, integrated)
		if err != nil {
			return "", err
		}
		if err := verifyEmbeddedSCT(b.Certificate, issuer, k.Root.CTLogs); err != nil {
			return "", err
		}
		who, err := matchIdentity(b.Certificate, k.Identities)
		if err != nil {
			return "", err
		}
		cert, _ := x509.ParseCertificate(b.Certificate)
		if err := verifyRaw(cert.PublicKey, pae(b.PayloadType, b.Payload), sig); err != nil {
			return "", fmt.Errorf("the DSSE signature does not verify with the certificate's key: %w", err)
		}
		return who, nil
	}
	return "", errors.New(strings.Join(problems, "; "))
}

// checkDSSEBody checks that a dsse log entry records this payload, certificate and one of sigs, and
// returns that signature.
func checkDSSEBody(body string, cert, payload []byte, sigs [][]byte) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("the Rekor entry body is not base64: %w", err)
	}
	var e struct {
		Kind string `json:"kind"`
		Spec struct {
			PayloadHash struct {
				Algorithm string `json:"algorithm"`
				Value     string `json:"value"`
			} `json:"payloadHash"`
			Signatures []struct {
				Signature string `json:"signature"`
				Verifier  string `json:"verifier"`
			} `json:"signatures"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("the Rekor entry is not JSON: %w", err)
	}
	if e.Kind != "dsse" {
		return nil, fmt.Errorf("the Rekor entry kind %q is not supported for bundles (dsse)", e.Kind)
	}
	sum := sha256.Sum256(payload)
	if e.Spec.PayloadHash.Algorithm != "sha256" || !strings.EqualFold(e.Spec.PayloadHash.Value, hex.EncodeToString(sum[:])) {
		return nil, errors.New("the Rekor entry records another payload digest")
	}
	for _, s := range e.Spec.Signatures {
		got, err := base64.StdEncoding.DecodeString(s.Signature)
		if err != nil {
			continue
		}
		verifier, err := base64.StdEncoding.DecodeString(s.Verifier)
		if err != nil {
			continue
		}
		der, err := parseCertPEM(verifier)
		if err != nil || !bytes.Equal(der, cert) {
			continue
		}
		for _, sig := range sigs {
			if bytes.Equal(sig, got) {
				return sig, nil
			}
		}
	}
	return nil, errors.New("the Rekor entry records another signature or certificate")
}

// sigstoreBundles reads the Sigstore bundles attached to dig as OCI referrers (or the referrers tag).
func sigstoreBundles(ctx context.Context, dig name.Digest, opts []remote.Option) ([]*SigstoreBundle, []string, error) {
	opts = append(opts, remote.WithContext(ctx))
	idx, err := remote.Referrers(dig, append(opts, remote.WithFilter("artifactType", SigstoreBundleArtifactType))...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing the Sigstore bundles of %s: %w", dig, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("listing the Sigstore bundles of %s: %w", dig, err)
	}
	var out []*SigstoreBundle
	var problems []string
	for _, d := range im.Manifests {
		if d.ArtifactType != SigstoreBundleArtifactType {
			continue
		}
		if len(out)+len(problems) >= maxBundles {
			problems = append(problems, fmt.Sprintf("only the first %d bundles were tried", maxBundles))
			break
		}
		b, err := readBundle(dig, d.Digest.String(), opts)
		if err != nil {
			problems = append(problems, fmt.Sprintf("bundle %s: %v", d.Digest, err))
			continue
		}
		out = append(out, b)
	}
	return out, problems, nil
}

func readBundle(dig name.Digest, at string, opts []remote.Option) (*SigstoreBundle, error) {
	img, err := remote.Image(dig.Context().Digest(at), opts...)
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if len(m.Layers) != 1 {
		return nil, fmt.Errorf("the bundle manifest has %d layers, not 1", len(m.Layers))
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	data, err := readLayer(layers[0])
	if err != nil {
		return nil, err
	}
	return ParseSigstoreBundle(data)
}

// cosignVerify verifies dig as Flux's cosign verifier does: with the Sigstore bundles attached as
// referrers when there are any (cosign v3), else with the .sig tag's signatures (cosign v2).
func cosignVerify(ctx context.Context, dig name.Digest, bundleCheck func(*SigstoreBundle) (string, error),
	layerCheck func(map[string]string, []byte, []byte) (string, error), opts ...remote.Option) (string, error) {
	bundles, problems, err := sigstoreBundles(ctx, dig, opts)
	if err != nil || (len(bundles) == 0 && len(problems) == 0) {
		return cosignLayers(ctx, dig, layerCheck, opts...)
	}
	digest := dig.DigestStr()
	hexDigest := digest[strings.Index(digest, ":")+1:]
	for i, b := range bundles {
		who, err := bundleCheck(b)
		if err == nil {
			err = b.checkStatement(hexDigest)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("bundle %d: %v", i, err))
			continue
		}
		return who, nil
	}
	return "", fmt.Errorf("no matching signatures were found for %s among its Sigstore bundles: %s", dig, strings.Join(problems, "; "))
}
