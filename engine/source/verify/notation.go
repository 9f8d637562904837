package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
)

// Notary Project signature formats.
const (
	// NotationArtifactType is the artifactType of a notation signature manifest (an OCI referrer).
	NotationArtifactType = "application/vnd.cncf.notary.signature"
	// JWSMediaType is the media type of a JWS signature envelope.
	JWSMediaType = "application/jose+json"
	// COSEMediaType is the media type of a COSE signature envelope.
	COSEMediaType = "application/cose"
	// NotationPayloadType is the cty of a notation JWS: the signed payload's media type.
	NotationPayloadType = "application/vnd.cncf.notary.payload.v1+json"

	headerSigningScheme        = "io.cncf.notary.signingScheme"
	headerSigningTime          = "io.cncf.notary.signingTime"
	headerAuthenticSigningTime = "io.cncf.notary.authenticSigningTime"
	headerExpiry               = "io.cncf.notary.expiry"
	headerVerificationPlugin   = "io.cncf.notary.verificationPlugin"
	headerVerificationPluginV  = "io.cncf.notary.verificationPluginMinVersion"

	schemeX509                 = "notary.x509"
	schemeX509SigningAuthority = "notary.x509.signingAuthority"

	// maxNotationAttempts is how many signatures are tried, as Flux configures notation.
	maxNotationAttempts = 3
)

// Notation verifies Notary Project signatures with a trust policy and trusted certificates.
type Notation struct {
	Policy *TrustPolicyDocument
	// Certs are every certificate of the Secret: as Flux, each named trust store holds all of them.
	Certs []*x509.Certificate
}

// NotationFromSecret reads trustpolicy.json and the "*.crt" and "*.pem" certificates of s, as Flux.
func NotationFromSecret(s *corev1.Secret) (*Notation, error) {
	data, ok := s.Data[TrustPolicyKey]
	if !ok {
		return nil, fmt.Errorf("'%s' not found in Secret %s/%s", TrustPolicyKey, s.Namespace, s.Name)
	}
	doc, err := ParseTrustPolicy(data)
	if err != nil {
		return nil, fmt.Errorf("Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	n := &Notation{Policy: doc}
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		if strings.HasSuffix(k, ".crt") || strings.HasSuffix(k, ".pem") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		certs, err := parseCerts(s.Data[k])
		if err != nil {
			return nil, fmt.Errorf("Secret %s/%s key %q: %w", s.Namespace, s.Name, k, err)
		}
		n.Certs = append(n.Certs, certs...)
	}
	if len(n.Certs) == 0 {
		return nil, fmt.Errorf("no certificates found in Secret %s/%s (data keys ending in .crt or .pem)", s.Namespace, s.Name)
	}
	return n, nil
}

// parseCerts reads PEM certificates, or one DER certificate.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block is a %q, not a CERTIFICATE", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		certs, err := x509.ParseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("not PEM or DER certificates: %w", err)
		}
		out = certs
	}
	return out, nil
}

// NotationResult is the outcome of notation verification.
type NotationResult struct {
	// Verified is false when the level is skip or a logged (not enforced) authenticity check failed:
	// the artifact is used, but not marked verified, as Flux does.
	Verified bool
	// Level is the applied statement's verification level.
	Level string
	// Logged are the failures of checks the policy only logs.
	Logged []string
}

// Verify checks the notation signatures of the manifest dig names (found as OCI referrers, or the
// referrers tag where the registry has no referrers API) as the trust policy statement for its
// repository asks, at now. A signature that passes every enforced check verifies; up to three
// signatures are tried. An error says why none did.
func (n *Notation) Verify(ctx context.Context, dig name.Digest, now time.Time, opts ...remote.Option) (*NotationResult, error) {
	pol, err := n.Policy.For(dig.Repository.Name())
	if err != nil {
		return nil, err
	}
	if pol.SignatureVerification.Level == LevelSkip {
		return &NotationResult{Level: LevelSkip}, nil
	}
	opts = append(opts, remote.WithContext(ctx))
	target, err := remote.Head(dig, opts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dig, err)
	}
	idx, err := remote.Referrers(dig, append(opts, remote.WithFilter("artifactType", NotationArtifactType))...)
	if err != nil {
		return nil, fmt.Errorf("listing the signatures of %s: %w", dig, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("listing the signatures of %s: %w", dig, err)
	}
	var sigs []v1.Descriptor
	for _, d := range im.Manifests {
		if d.ArtifactType == NotationArtifactType {
			sigs = append(sigs, d)
		}
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("no signature is associated with %q, make sure the artifact was signed successfully", dig.String())
	}
	var problems []string
	for i, d := range sigs {
		if i >= maxNotationAttempts {
			problems = append(problems, fmt.Sprintf("signature evaluation stopped: the limit of %d signatures to verify per artifact was reached", maxNotationAttempts))
			break
		}
		res, err := n.verifySignature(dig, *target, d, pol, now, opts)
		if err != nil {
			problems = append(problems, fmt.Sprintf("signature %s: %v", d.Digest, err))
			continue
		}
		return res, nil
	}
	return nil, fmt.Errorf("signature verification failed for all the signatures associated with %s: %s", dig, strings.Join(problems, "; "))
}

// verifySignature reads one signature manifest and checks its envelope.
func (n *Notation) verifySignature(dig name.Digest, target, sig v1.Descriptor, pol *TrustPolicy, now time.Time, opts []remote.Option) (*NotationResult, error) {
	img, err := remote.Image(dig.Context().Digest(sig.Digest.String()), opts...)
	if err != nil {
		return nil, fmt.Errorf("reading the signature manifest: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the signature manifest: %w", err)
	}
	if len(m.Layers) != 1 {
		return nil, fmt.Errorf("the signature manifest has %d layers, not 1", len(m.Layers))
	}
	mt := string(m.Layers[0].MediaType)
	parse := ParseJWSEnvelope
	switch mt {
	case JWSMediaType:
	case COSEMediaType:
		parse = ParseCOSEEnvelope
	default:
		return nil, fmt.Errorf("the signature envelope media type %q is not %s nor %s", mt, JWSMediaType, COSEMediaType)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	raw, err := readLayer(layers[0])
	if err != nil {
		return nil, fmt.Errorf("reading the signature envelope: %w", err)
	}
	env, err := parse(raw)
	if err != nil {
		return nil, err
	}
	return n.check(env, target, pol, now)
}

// Envelope is a notation signature envelope (JWS or COSE), parsed.
type Envelope struct {
	// Format is "JWS" or "COSE".
	Format       string
	Protected    map[string]any
	Alg          string
	Scheme       string
	SigningTime  time.Time // signingTime or authenticSigningTime
	Expiry       time.Time // zero when none
	Payload      []byte
	SigningInput []byte
	Signature    []byte
	Chain        []*x509.Certificate // leaf first
	Timestamped  bool                // carries a timestamp countersignature
}

// ParseJWSEnvelope reads a notation JWS envelope: the protected header (alg, cty, crit and notation's
// signing scheme and times), the payload, the x5c certificate chain and the signature. Headers marked
// critical that notation does not define, and signatures that need a verification plugin, are refused.
func ParseJWSEnvelope(data []byte) (*Envelope, error) {
	var raw struct {
		Payload   string `json:"payload"`
		Protected string `json:"protected"`
		Header    struct {
			X5C                [][]byte `json:"x5c"`
			SigningAgent       string   `json:"io.cncf.notary.signingAgent"`
			TimestampSignature []byte   `json:"io.cncf.notary.timestampSignature"`
		} `json:"header"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("the signature envelope is not JWS JSON: %w", err)
	}
	b64 := base64.RawURLEncoding
	protected, err := b64.DecodeString(raw.Protected)
	if err != nil {
		return nil, fmt.Errorf("the JWS protected header is not base64url: %w", err)
	}
	env := &Envelope{Format: "JWS", SigningInput: []byte(raw.Protected + "." + raw.Payload), Timestamped: len(raw.Header.TimestampSignature) > 0}
	if env.Payload, err = b64.DecodeString(raw.Payload); err != nil {
		return nil, fmt.Errorf("the JWS payload is not base64url: %w", err)
	}
	if env.Signature, err = b64.DecodeString(raw.Signature); err != nil {
		return nil, fmt.Errorf("the JWS signature is not base64url: %w", err)
	}
	if err := json.Unmarshal(protected, &env.Protected); err != nil || env.Protected == nil {
		return nil, errors.New("the JWS protected header is not a JSON object")
	}
	if err := env.readProtected(); err != nil {
		return nil, err
	}
	if err := env.readChain(raw.Header.X5C); err != nil {
		return nil, err
	}
	return env, nil
}

// readProtected reads the protected header (JWS names; COSE's mapped to them, times as RFC 3339).
func (env *Envelope) readProtected() error {
	var err error
	f := env.Format
	str := func(k string) string { s, _ := env.Protected[k].(string); return s }
	env.Alg, env.Scheme = str("alg"), str(headerSigningScheme)
	if cty := str("cty"); cty != NotationPayloadType {
		return fmt.Errorf("the %s cty %q is not %s", f, cty, NotationPayloadType)
	}
	crit, _ := env.Protected["crit"].([]any)
	critical := map[string]bool{}
	for _, c := range crit {
		s, _ := c.(string)
		switch s {
		case headerSigningScheme, headerExpiry, headerAuthenticSigningTime:
			critical[s] = true
		case headerVerificationPlugin, headerVerificationPluginV:
			return fmt.Errorf("the signature needs notation verification plugin %q, which is %w", str(headerVerificationPlugin), ErrUnsupported)
		default:
			return fmt.Errorf("the %s marks %q critical, which notation does not define", f, s)
		}
	}
	if !critical[headerSigningScheme] {
		return fmt.Errorf("the %s does not mark %s critical", f, headerSigningScheme)
	}
	timeHeader := headerSigningTime
	switch env.Scheme {
	case schemeX509:
	case schemeX509SigningAuthority:
		timeHeader = headerAuthenticSigningTime
		if !critical[headerAuthenticSigningTime] {
			return fmt.Errorf("the %s does not mark %s critical", f, headerAuthenticSigningTime)
		}
	default:
		return fmt.Errorf("signing scheme %q is not %s nor %s", env.Scheme, schemeX509, schemeX509SigningAuthority)
	}
	if env.SigningTime, err = time.Parse(time.RFC3339, str(timeHeader)); err != nil {
		return fmt.Errorf("the %s %s: %w", f, timeHeader, err)
	}
	if _, ok := env.Protected[headerExpiry]; ok {
		if !critical[headerExpiry] {
			return fmt.Errorf("the %s does not mark %s critical", f, headerExpiry)
		}
		if env.Expiry, err = time.Parse(time.RFC3339, str(headerExpiry)); err != nil {
			return fmt.Errorf("the %s %s: %w", f, headerExpiry, err)
		}
	}
	return nil
}

// readChain parses the x5c (JWS) or x5chain (COSE) certificates, leaf first.
func (env *Envelope) readChain(ders [][]byte) error {
	if len(ders) == 0 {
		return fmt.Errorf("the %s has no certificate chain", env.Format)
	}
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("the %s certificate chain[%d]: %w", env.Format, i, err)
		}
		env.Chain = append(env.Chain, c)
	}
	return nil
}

// notationPayload is what a notation signature signs.
type notationPayload struct {
	TargetArtifact struct {
		MediaType string  `json:"mediaType"`
		Digest    v1.Hash `json:"digest"`
		Size      int64   `json:"size"`
	} `json:"targetArtifact"`
}

// check runs notation's checks in order with the actions pol gives them.
func (n *Notation) check(env *Envelope, target v1.Descriptor, pol *TrustPolicy, now time.Time) (*NotationResult, error) {
	res := &NotationResult{Level: pol.SignatureVerification.Level}
	authenticityFailed := false
	for _, c := range checkOrder {
		action := pol.Action(c)
		if action == ActionSkip {
			continue
		}
		var err error
		switch c {
		case CheckIntegrity:
			err = checkIntegrity(env, target)
		case CheckAuthenticity:
			err = n.checkAuthenticity(env, pol)
		case CheckAuthenticTimestamp:
			at := now
			if env.Scheme == schemeX509SigningAuthority {
				at = env.SigningTime
			}
			for _, cert := range env.Chain {
				if at.Before(cert.NotBefore) || at.After(cert.NotAfter) {
					err = fmt.Errorf("certificate %q is not valid at %s (valid %s to %s)", cert.Subject, at.UTC().Format(time.RFC3339),
						cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
					break
				}
			}
		case CheckExpiry:
			if !env.Expiry.IsZero() && now.After(env.Expiry) {
				err = fmt.Errorf("the signature expired at %s", env.Expiry.UTC().Format(time.RFC3339))
			}
		case CheckRevocation:
			for _, cert := range env.Chain {
				if len(cert.OCSPServer) > 0 || len(cert.CRLDistributionPoints) > 0 {
					err = fmt.Errorf("certificate %q names OCSP or CRL endpoints: revocation checking is %w offline (override revocation with log or skip in %s)", cert.Subject, ErrUnsupported, TrustPolicyKey)
					break
				}
			}
		}
		if err == nil {
			continue
		}
		if action == ActionEnforce {
			return nil, fmt.Errorf("%s check failed: %w", c, err)
		}
		res.Logged = append(res.Logged, fmt.Sprintf("%s: %v", c, err))
		if c == CheckAuthenticity {
			authenticityFailed = true
		}
	}
	res.Verified = !authenticityFailed
	return res, nil
}

// checkIntegrity verifies the JWS signature with the leaf certificate's key and checks that the
// payload signs the target manifest.
func checkIntegrity(env *Envelope, target v1.Descriptor) error {
	if err := verifyEnvelopeSignature(env.Chain[0].PublicKey, env.Alg, env.SigningInput, env.Signature); err != nil {
		return err
	}
	var p notationPayload
	if err := json.Unmarshal(env.Payload, &p); err != nil {
		return fmt.Errorf("the signed payload is not notation's JSON: %w", err)
	}
	t := p.TargetArtifact
	if t.Digest != target.Digest || t.Size != target.Size || t.MediaType != string(target.MediaType) {
		return fmt.Errorf("the signature is for %s (%s, %d bytes), not %s (%s, %d bytes)", t.Digest, t.MediaType, t.Size,
			target.Digest, target.MediaType, target.Size)
	}
	return nil
}

// verifyEnvelopeSignature checks a signature by its JWS alg name (PS256/384/512, ES256/384/512; COSE
// algorithms are mapped to these), the alg matching the key as notation requires.
func verifyEnvelopeSignature(key crypto.PublicKey, alg string, input, sig []byte) error {
	hashes := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	if len(alg) != 5 {
		return fmt.Errorf("signature algorithm %q is not supported", alg)
	}
	h, ok := hashes[alg[2:]]
	if !ok {
		return fmt.Errorf("signature algorithm %q is not supported", alg)
	}
	d := h.New()
	d.Write(input)
	sum := d.Sum(nil)
	switch k := key.(type) {
	case *rsa.PublicKey:
		want := map[int]string{2048: "PS256", 3072: "PS384", 4096: "PS512"}[k.N.BitLen()]
		if alg != want {
			return fmt.Errorf("signature algorithm %q does not match the %d-bit RSA certificate key (%s)", alg, k.N.BitLen(), want)
		}
		if err := rsa.VerifyPSS(k, h, sum, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			return fmt.Errorf("the envelope signature does not verify with the certificate's key: %w", err)
		}
		return nil
	case *ecdsa.PublicKey:
		want := map[elliptic.Curve]string{elliptic.P256(): "ES256", elliptic.P384(): "ES384", elliptic.P521(): "ES512"}[k.Curve]
		if alg != want {
			return fmt.Errorf("signature algorithm %q does not match the certificate's %s key (%s)", alg, k.Curve.Params().Name, want)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return errors.New("the envelope's ECDSA signature has the wrong length")
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(k, sum, r, s) {
			return errors.New("the envelope signature does not verify with the certificate's key")
		}
		return nil
	}
	return fmt.Errorf("%T certificate keys are not supported (RSA, ECDSA)", key)
}

// checkAuthenticity checks the x5c chain (each certificate signed by the next, the last self-signed,
// the leaf a code signing certificate), that it holds a certificate of the Secret for a trust store
// type the signing scheme uses, and the leaf's subject against the trusted identities.
func (n *Notation) checkAuthenticity(env *Envelope, pol *TrustPolicy) error {
	storeType := "ca"
	if env.Scheme == schemeX509SigningAuthority {
		storeType = "signingAuthority"
	}
	if !pol.hasStoreType(storeType) {
		return fmt.Errorf("trust policy %q has no trust store of type %s, which signing scheme %s needs", pol.Name, storeType, env.Scheme)
	}
	chain := env.Chain
	leaf := chain[0]
	if leaf.IsCA {
		return errors.New("the signing certificate is a CA certificate")
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errors.New("the signing certificate's key usage lacks digitalSignature")
	}
	if len(leaf.ExtKeyUsage) > 0 && !hasEKU(leaf, x509.ExtKeyUsageCodeSigning) {
		return errors.New("the signing certificate's extended key usage lacks codeSigning")
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return fmt.Errorf("x5c[%d] is not signed by x5c[%d]: %w", i, i+1, err)
		}
	}
	last := chain[len(chain)-1]
	if err := last.CheckSignature(last.SignatureAlgorithm, last.RawTBSCertificate, last.Signature); err != nil || !bytes.Equal(last.RawIssuer, last.RawSubject) {
		return errors.New("the x5c chain does not end with a self-signed root certificate")
	}
	trusted := false
	for _, t := range n.Certs {
		for _, c := range chain {
			if t.Equal(c) {
				trusted = true
			}
		}
	}
	if !trusted {
		return fmt.Errorf("the signature's certificate chain (root %q) holds no certificate of the trust store", last.Subject)
	}
	if !pol.trusts(leaf) {
		return fmt.Errorf("the signing certificate's subject %q is not among the trusted identities of trust policy %q", leaf.Subject, pol.Name)
	}
	return nil
}

func hasEKU(c *x509.Certificate, want x509.ExtKeyUsage) bool {
	for _, u := range c.ExtKeyUsage {
		if u == want {
			return true
		}
	}
	return false
}
