package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

// The annotations of a keyless cosign v2 signature layer.
const (
	// CosignCertificateAnnotation holds the PEM Fulcio certificate that signed the layer.
	CosignCertificateAnnotation = "dev.sigstore.cosign/certificate"
	// CosignChainAnnotation holds the PEM chain above it (not trusted: the trusted root's is used).
	CosignChainAnnotation = "dev.sigstore.cosign/chain"
	// CosignBundleAnnotation holds the Rekor bundle: the log entry and its signed entry timestamp.
	CosignBundleAnnotation = "dev.sigstore.cosign/bundle"
)

// Certificate extensions Fulcio and CT logs write.
var (
	oidFulcioIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidFulcioIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	oidSCTList        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
)

// Identity is one spec.verify.matchOIDCIdentity entry, compiled. As cosign, the expressions are not
// anchored: "^...$" asks for a whole match.
type Identity struct {
	Issuer, Subject *regexp.Regexp
}

// CompileIdentities compiles matchOIDCIdentity; a bad expression is an error naming its field.
func CompileIdentities(field string, m []sourcev1.OIDCIdentityMatch) ([]Identity, error) {
	var out []Identity
	for i, id := range m {
		iss, err := regexp.Compile(id.Issuer)
		if err != nil {
			return nil, fmt.Errorf("%s.matchOIDCIdentity[%d].issuer: %w", field, i, err)
		}
		sub, err := regexp.Compile(id.Subject)
		if err != nil {
			return nil, fmt.Errorf("%s.matchOIDCIdentity[%d].subject: %w", field, i, err)
		}
		out = append(out, Identity{Issuer: iss, Subject: sub})
	}
	return out, nil
}

// Keyless verifies cosign keyless signatures offline against a trusted root.
type Keyless struct {
	Root *TrustedRoot
	// Identities accepted; none accepts any identity, as Flux does with no matchOIDCIdentity.
	Identities []Identity
}

// RekorBundle is cosign's dev.sigstore.cosign/bundle annotation: a Rekor log entry and the log's
// signed entry timestamp (SET) over it.
type RekorBundle struct {
	SignedEntryTimestamp []byte `json:"SignedEntryTimestamp"`
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	} `json:"Payload"`
}

// ParseRekorBundle reads a bundle annotation.
func ParseRekorBundle(data []byte) (*RekorBundle, error) {
	var b RekorBundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("the Rekor bundle is not JSON: %w", err)
	}
	if len(b.SignedEntryTimestamp) == 0 {
		return nil, errors.New("the Rekor bundle has no SignedEntryTimestamp")
	}
	if b.Payload.Body == "" || b.Payload.LogID == "" {
		return nil, errors.New("the Rekor bundle has no Payload.body or Payload.logID")
	}
	return &b, nil
}

// canonicalPayload is the canonical JSON of the bundle's payload, what the SET signs (keys sorted,
// no spaces).
func (b *RekorBundle) canonicalPayload() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogID          string `json:"logID"`
		LogIndex       int64  `json:"logIndex"`
	}{b.Payload.Body, b.Payload.IntegratedTime, b.Payload.LogID, b.Payload.LogIndex}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// hashedRekord is the Rekor entry kind cosign v2 writes for a signature.
type hashedRekord struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Data struct {
			Hash struct {
				Algorithm string `json:"algorithm"`
				Value     string `json:"value"`
			} `json:"hash"`
		} `json:"data"`
		Signature struct {
			Content   string `json:"content"`
			PublicKey struct {
				Content string `json:"content"`
			} `json:"publicKey"`
		} `json:"signature"`
	} `json:"spec"`
}

// verifyLayer checks one keyless signature layer: the Rekor bundle's SET with a log of the trusted
// root, that the entry is this signature, certificate and payload, the certificate chain to a Fulcio
// root at the entry's integrated time, the embedded SCT, the identity, and the signature itself. It
// returns the identity that matched.
func (k *Keyless) verifyLayer(ann map[string]string, payload, sig []byte) (string, error) {
	certPEM, ok := ann[CosignCertificateAnnotation]
	if !ok {
		return "", fmt.Errorf("no %s annotation: not a keyless signature", CosignCertificateAnnotation)
	}
	leaf, err := parseCertPEM([]byte(certPEM))
	if err != nil {
		return "", fmt.Errorf("%s: %w", CosignCertificateAnnotation, err)
	}
	raw, ok := ann[CosignBundleAnnotation]
	if !ok {
		return "", fmt.Errorf("no %s annotation: checking the signature's transparency log entry would need an online Rekor lookup, which converge does not do (sign with the transparency log upload on so the bundle is stored)", CosignBundleAnnotation)
	}
	bundle, err := ParseRekorBundle([]byte(raw))
	if err != nil {
		return "", err
	}
	integrated := time.Unix(bundle.Payload.IntegratedTime, 0)
	if err := k.verifySET(bundle, integrated); err != nil {
		return "", err
	}
	if err := checkRekorBody(bundle.Payload.Body, leaf, payload, sig); err != nil {
		return "", err
	}
	issuer, err := k.verifyChain(leaf, integrated)
	if err != nil {
		return "", err
	}
	if err := verifyEmbeddedSCT(leaf, issuer, k.Root.CTLogs); err != nil {
		return "", err
	}
	who, err := matchIdentity(leaf, k.Identities)
	if err != nil {
		return "", err
	}
	cert, err := x509.ParseCertificate(leaf)
	if err != nil {
		return "", err
	}
	if err := verifyRaw(cert.PublicKey, payload, sig); err != nil {
		return "", fmt.Errorf("the signature does not verify with the certificate's key: %w", err)
	}
	return who, nil
}

// verifySET checks the signed entry timestamp with the trusted root's log that has its log ID.
func (k *Keyless) verifySET(b *RekorBundle, integrated time.Time) error {
	log := findLog(k.Root.Tlogs, strings.ToLower(b.Payload.LogID))
	if log == nil {
		return fmt.Errorf("the Rekor bundle's log %s is not among the trusted root's tlogs", b.Payload.LogID)
	}
	if !validAt(log.Start, log.End, integrated) {
		return fmt.Errorf("the Rekor log %s key was not valid at the entry's integrated time %s", log.LogID, integrated.UTC().Format(time.RFC3339))
	}
	canon, err := b.canonicalPayload()
	if err != nil {
		return err
	}
	if err := verifyRaw(log.Key, canon, b.SignedEntryTimestamp); err != nil {
		return fmt.Errorf("the Rekor bundle's signed entry timestamp does not verify with the trusted log key: %w", err)
	}
	return nil
}

// checkRekorBody checks that the signed log entry records this signature, certificate and payload.
func checkRekorBody(body string, leaf []byte, payload, sig []byte) error {
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return fmt.Errorf("the Rekor entry body is not base64: %w", err)
	}
	var e hashedRekord
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("the Rekor entry is not JSON: %w", err)
	}
	if e.Kind != "hashedrekord" {
		return fmt.Errorf("the Rekor entry kind %q is not supported (hashedrekord)", e.Kind)
	}
	got, err := base64.StdEncoding.DecodeString(e.Spec.Signature.Content)
	if err != nil || !bytes.Equal(got, sig) {
		return errors.New("the Rekor entry records another signature")
	}
	keyPEM, err := base64.StdEncoding.DecodeString(e.Spec.Signature.PublicKey.Content)
	if err != nil {
		return errors.New("the Rekor entry's public key is not base64")
	}
	cert, err := parseCertPEM(keyPEM)
	if err != nil || !bytes.Equal(cert, leaf) {
		return errors.New("the Rekor entry records another certificate")
	}
	sum := sha256.Sum256(payload)
	if e.Spec.Data.Hash.Algorithm != "sha256" || !strings.EqualFold(e.Spec.Data.Hash.Value, hex.EncodeToString(sum[:])) {
		return errors.New("the Rekor entry records another payload digest")
	}
	return nil
}

// parseCertPEM returns the DER of the first PEM CERTIFICATE block.
func parseCertPEM(data []byte) ([]byte, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, err
	}
	return block.Bytes, nil
}

// verifyChain checks leaf against the trusted root's certificate authorities at t, and returns the
// certificate that issued it (for the SCT).
func (k *Keyless) verifyChain(der []byte, t time.Time) (*x509.Certificate, error) {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if t.Before(leaf.NotBefore) || t.After(leaf.NotAfter) {
		return nil, fmt.Errorf("the certificate was not valid at the entry's integrated time %s (valid %s to %s)",
			t.UTC().Format(time.RFC3339), leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	var errs []string
	for _, ca := range k.Root.CertificateAuthorities {
		if !validAt(ca.Start, ca.End, t) {
			continue
		}
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(ca.Root)
		for _, c := range ca.Intermediates {
			inter.AddCert(c)
		}
		chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: t,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		return chains[0][1], nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("no certificate authority of the trusted root was valid at %s", t.UTC().Format(time.RFC3339))
	}
	return nil, fmt.Errorf("the certificate does not chain to the trusted root: %s", strings.Join(errs, "; "))
}

// matchIdentity checks the certificate's OIDC issuer and subject alternative names against ids.
func matchIdentity(der []byte, ids []Identity) (string, error) {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return "", err
	}
	issuer := ""
	for _, e := range leaf.Extensions {
		switch {
		case e.Id.Equal(oidFulcioIssuerV2):
			if _, err := asn1.Unmarshal(e.Value, &issuer); err != nil {
				return "", fmt.Errorf("the certificate's OIDC issuer extension: %w", err)
			}
		case e.Id.Equal(oidFulcioIssuerV1) && issuer == "":
			issuer = string(e.Value)
		}
	}
	var sans []string
	sans = append(sans, leaf.EmailAddresses...)
	for _, u := range leaf.URIs {
		sans = append(sans, u.String())
	}
	sans = append(sans, leaf.DNSNames...)
	who := fmt.Sprintf("issuer %q subject %q", issuer, strings.Join(sans, ","))
	if len(ids) == 0 {
		return who, nil
	}
	if issuer == "" {
		return "", errors.New("the certificate has no OIDC issuer extension")
	}
	for _, id := range ids {
		if !id.Issuer.MatchString(issuer) {
			continue
		}
		for _, s := range sans {
			if id.Subject.MatchString(s) {
				return who, nil
			}
		}
	}
	return "", fmt.Errorf("the certificate's identity (%s) matches no matchOIDCIdentity", who)
}

// verifyEmbeddedSCT checks that one SCT embedded in leaf is signed by a CT log of the trusted root
// (RFC 6962 precertificate entry: the certificate without its SCT extension, the issuer's key hash).
func verifyEmbeddedSCT(der []byte, issuer *x509.Certificate, logs []TransparencyLog) error {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	var listDER []byte
	for _, e := range leaf.Extensions {
		if e.Id.Equal(oidSCTList) {
			listDER = e.Value
		}
	}
	if listDER == nil {
		return errors.New("the certificate has no embedded SCT (certificate transparency proof); detached SCTs are not supported")
	}
	scts, err := ParseSCTList(listDER)
	if err != nil {
		return err
	}
	tbs, err := tbsWithoutSCT(leaf.RawTBSCertificate)
	if err != nil {
		return fmt.Errorf("rebuilding the precertificate: %w", err)
	}
	keyHash := sha256.Sum256(issuer.RawSubjectPublicKeyInfo)
	var problems []string
	for _, s := range scts {
		log := findLog(logs, hex.EncodeToString(s.LogID))
		if log == nil {
			problems = append(problems, fmt.Sprintf("SCT of log %x is not among the trusted root's ctlogs", s.LogID))
			continue
		}
		var b cryptobyte.Builder
		b.AddUint8(0) // v1
		b.AddUint8(0) // certificate_timestamp
		b.AddUint64(s.Timestamp)
		b.AddUint16(1) // precert_entry
		b.AddBytes(keyHash[:])
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(tbs) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.Extensions) })
		signed, err := b.Bytes()
		if err != nil {
			return err
		}
		if err := verifyRaw(log.Key, signed, s.Signature); err != nil {
			problems = append(problems, fmt.Sprintf("SCT of log %s does not verify: %v", log.LogID, err))
			continue
		}
		return nil
	}
	if len(problems) == 0 {
		problems = append(problems, "the SCT list is empty")
	}
	return fmt.Errorf("certificate transparency: %s", strings.Join(problems, "; "))
}

// SCT is one signed certificate timestamp of an embedded list.
type SCT struct {
	LogID      []byte
	Timestamp  uint64
	Extensions []byte
	Signature  []byte
}

// ParseSCTList reads the DER value of a certificate's SCT list extension (RFC 6962 3.3).
func ParseSCTList(der []byte) ([]SCT, error) {
	var tls []byte
	if rest, err := asn1.Unmarshal(der, &tls); err != nil || len(rest) > 0 {
		return nil, errors.New("the SCT list extension is not an OCTET STRING")
	}
	in := cryptobyte.String(tls)
	var list cryptobyte.String
	if !in.ReadUint16LengthPrefixed(&list) || !in.Empty() {
		return nil, errors.New("the SCT list is malformed")
	}
	var out []SCT
	for !list.Empty() {
		var raw cryptobyte.String
		var s SCT
		var version, hashAlg, sigAlg uint8
		var exts, sig cryptobyte.String
		if !list.ReadUint16LengthPrefixed(&raw) || !raw.ReadUint8(&version) || !raw.ReadBytes(&s.LogID, 32) ||
			!raw.ReadUint64(&s.Timestamp) || !raw.ReadUint16LengthPrefixed(&exts) || !raw.ReadUint8(&hashAlg) ||
			!raw.ReadUint8(&sigAlg) || !raw.ReadUint16LengthPrefixed(&sig) || !raw.Empty() {
			return nil, errors.New("an SCT is malformed")
		}
		if version != 0 {
			return nil, fmt.Errorf("SCT version %d is not supported", version)
		}
		if hashAlg != 4 { // sha256
			return nil, fmt.Errorf("SCT hash algorithm %d is not supported (SHA-256)", hashAlg)
		}
		s.Extensions, s.Signature = exts, sig
		out = append(out, s)
	}
	return out, nil
}

// tbsWithoutSCT is the DER of a TBSCertificate with the SCT list extension removed.
func tbsWithoutSCT(raw []byte) ([]byte, error) {
	in := cryptobyte.String(raw)
	var tbs cryptobyte.String
	if !in.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed TBSCertificate")
	}
	extTag := cbasn1.Tag(3).Constructed().ContextSpecific()
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for !tbs.Empty() {
			var elem cryptobyte.String
			var tag cbasn1.Tag
			if !tbs.ReadAnyASN1Element(&elem, &tag) {
				b.SetError(errors.New("malformed TBSCertificate"))
				return
			}
			if tag != extTag {
				b.AddBytes(elem)
				continue
			}
			var wrapped, exts cryptobyte.String
			if !elem.ReadASN1(&wrapped, extTag) || !wrapped.ReadASN1(&exts, cbasn1.SEQUENCE) {
				b.SetError(errors.New("malformed extensions"))
				return
			}
			b.AddASN1(extTag, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for !exts.Empty() {
						var ext, body cryptobyte.String
						var oid asn1.ObjectIdentifier
						if !exts.ReadASN1Element(&ext, cbasn1.SEQUENCE) {
							b.SetError(errors.New("malformed extension"))
							return
						}
						e := ext
						if !e.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1ObjectIdentifier(&oid) {
							b.SetError(errors.New("malformed extension"))
							return
						}
						if !oid.Equal(oidSCTList) {
							b.AddBytes(ext)
						}
					}
				})
			})
		}
	})
	return b.Bytes()
}
