package sourcetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/cryptobyte"
)

// TestSigstore is a test signer standing in for a Sigstore instance, which cannot run here: a
// Fulcio-like root and intermediate CA issuing short-lived code signing certificates with Fulcio's
// OIDC extensions, a Rekor-like log key signing entry timestamps (SETs), and a CT-log-like key
// signing the certificates' embedded SCTs. It signs the way `cosign sign` (v2 layout) stores a
// keyless signature; TrustedRootJSON is the trusted_root.json a Flux user would put in a Secret.
type TestSigstore struct {
	Root, Intermediate *x509.Certificate
	rootKey, interKey  *ecdsa.PrivateKey
	RekorKey, CTKey    *ecdsa.PrivateKey
	// Now is the time certificates are issued and entries integrated at.
	Now time.Time
}

// NewTestSigstore creates the test CA and log keys, valid around now.
func NewTestSigstore(t testing.TB, now time.Time) *TestSigstore {
	t.Helper()
	s := &TestSigstore{Now: now}
	var err error
	gen := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	s.rootKey, s.interKey, s.RekorKey, s.CTKey = gen(), gen(), gen(), gen()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"test sigstore"}, CommonName: "test fulcio root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &s.rootKey.PublicKey, s.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	if s.Root, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	interTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{Organization: []string{"test sigstore"}, CommonName: "test fulcio intermediate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	if der, err = x509.CreateCertificate(rand.Reader, interTmpl, s.Root, &s.interKey.PublicKey, s.rootKey); err != nil {
		t.Fatal(err)
	}
	if s.Intermediate, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	return s
}

// TrustedRootJSON is a Sigstore trusted root naming this signer's CA, log and CT log. rekorKey, when
// not nil, replaces the Rekor key (a root that does not trust the log).
func (s *TestSigstore) TrustedRootJSON(t testing.TB, rekorKey *ecdsa.PrivateKey) []byte {
	t.Helper()
	if rekorKey == nil {
		rekorKey = s.RekorKey
	}
	log := func(k *ecdsa.PrivateKey, url string) map[string]any {
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		id := sha256.Sum256(der)
		return map[string]any{"baseUrl": url, "hashAlgorithm": "SHA2_256",
			"publicKey": map[string]any{"rawBytes": der, "keyDetails": "PKIX_ECDSA_P256_SHA_256",
				"validFor": map[string]any{"start": s.Now.Add(-time.Hour).UTC().Format(time.RFC3339)}},
			"logId": map[string]any{"keyId": id[:]}}
	}
	doc := map[string]any{
		"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
		"tlogs":     []any{log(rekorKey, "https://rekor.test.invalid")},
		"ctlogs":    []any{log(s.CTKey, "https://ctfe.test.invalid")},
		"certificateAuthorities": []any{map[string]any{
			"subject":   map[string]any{"organization": "test sigstore", "commonName": "test fulcio"},
			"uri":       "https://fulcio.test.invalid",
			"certChain": map[string]any{"certificates": []any{map[string]any{"rawBytes": s.Intermediate.Raw}, map[string]any{"rawBytes": s.Root.Raw}}},
			"validFor":  map[string]any{"start": s.Now.Add(-time.Hour).UTC().Format(time.RFC3339)},
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// KeylessSignature says how TestSigstore.Sign signs.
type KeylessSignature struct {
	// Issuer is the OIDC issuer in the certificate's Fulcio extensions.
	Issuer string
	// Subject is the certificate's identity: a URI when it has "://", an email otherwise.
	Subject string
	// Edit, when not nil, changes the payload after it is signed and logged (a tampered signature).
	Edit func([]byte) []byte
	// NoBundle leaves out the Rekor bundle annotation.
	NoBundle bool
	// NoSCT issues the certificate without an embedded SCT.
	NoSCT bool
	// IntegratedTime, when not zero, is the log entry's time instead of Now.
	IntegratedTime time.Time
}

// Sign stores a keyless cosign signature of dig in its ".sig" tag: the simple signing payload signed
// by a fresh key whose certificate the test Fulcio issued, the certificate, chain and Rekor bundle in
// the layer's annotations.
func (s *TestSigstore) Sign(t testing.TB, dig name.Digest, o KeylessSignature, opts ...remote.Option) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := s.issue(t, &key.PublicKey, o)
	payload := simpleSigning(dig)
	sum := sha256.Sum256(payload)
	sig, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	chainPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Intermediate.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Root.Raw})...)
	ann := map[string]string{
		"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig),
		"dev.sigstore.cosign/certificate":    string(certPEM),
		"dev.sigstore.cosign/chain":          string(chainPEM),
	}
	if !o.NoBundle {
		ann["dev.sigstore.cosign/bundle"] = string(s.bundle(t, payload, sig, certPEM, o.IntegratedTime))
	}
	if o.Edit != nil {
		payload = o.Edit(payload)
	}
	AppendCosignLayer(t, dig, payload, ann, opts...)
}

// bundle is a Rekor bundle of a hashedrekord entry for payload, sig and certificate, its SET signed
// by the test log key.
func (s *TestSigstore) bundle(t testing.TB, payload, sig, certPEM []byte, integrated time.Time) []byte {
	t.Helper()
	if integrated.IsZero() {
		integrated = s.Now
	}
	sum := sha256.Sum256(payload)
	body, err := json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": map[string]any{
		"data":      map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(sum[:])}},
		"signature": map[string]any{"content": base64.StdEncoding.EncodeToString(sig), "publicKey": map[string]any{"content": base64.StdEncoding.EncodeToString(certPEM)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&s.RekorKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	p := struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogID          string `json:"logID"`
		LogIndex       int64  `json:"logIndex"`
	}{base64.StdEncoding.EncodeToString(body), integrated.Unix(), hex.EncodeToString(id[:]), 42}
	canon, err := json.Marshal(p) // fields in key order, no HTML characters in the values: canonical
	if err != nil {
		t.Fatal(err)
	}
	setSum := sha256.Sum256(canon)
	set, err := s.RekorKey.Sign(rand.Reader, setSum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"SignedEntryTimestamp": set, "Payload": p})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// issue makes the Fulcio-like certificate for pub: code signing, the identity as SAN, the issuer in
// the v1 (raw) and v2 (UTF8String) extensions, valid ten minutes, with an SCT by the test CT log over
// the precertificate unless o.NoSCT.
func (s *TestSigstore) issue(t testing.TB, pub crypto.PublicKey, o KeylessSignature) *x509.Certificate {
	t.Helper()
	issuerV2, err := asn1.MarshalWithParams(o.Issuer, "utf8")
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, NotBefore: s.Now.Add(-time.Minute), NotAfter: s.Now.Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}, Value: []byte(o.Issuer)},
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}, Value: issuerV2},
		}}
	if strings.Contains(o.Subject, "://") {
		u, err := url.Parse(o.Subject)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{o.Subject}
	}
	create := func() *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, s.Intermediate, pub, s.interKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if o.NoSCT {
		return create()
	}
	pre := create() // the precertificate: the same certificate without the SCT extension
	issuerHash := sha256.Sum256(s.Intermediate.RawSubjectPublicKeyInfo)
	ts := uint64(s.Now.UnixMilli())
	var signed cryptobyte.Builder
	signed.AddUint8(0)
	signed.AddUint8(0)
	signed.AddUint64(ts)
	signed.AddUint16(1)
	signed.AddBytes(issuerHash[:])
	signed.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(pre.RawTBSCertificate) })
	signed.AddUint16(0)
	data, err := signed.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sig, err := s.CTKey.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	ctDER, err := x509.MarshalPKIXPublicKey(&s.CTKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	logID := sha256.Sum256(ctDER)
	var list cryptobyte.Builder
	list.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint8(0)
			b.AddBytes(logID[:])
			b.AddUint64(ts)
			b.AddUint16(0)
			b.AddUint8(4) // sha256
			b.AddUint8(3) // ecdsa
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sig) })
		})
	})
	tls, err := list.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	ext, err := asn1.Marshal(tls)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}, Value: ext})
	return create()
}

// SignBundle attaches a keyless Sigstore bundle to dig as `cosign sign` v3 does: a DSSE envelope of
// an in-toto statement about dig, signed by a fresh key certified by the test Fulcio, with a dsse log
// entry and its inclusion promise (SET) by the test Rekor, pushed as an OCI referrer.
// o.NoBundle leaves out the inclusion promise (a Rekor v2 entry); o.Edit changes the statement
// after it is signed.
func (s *TestSigstore) SignBundle(t testing.TB, dig name.Digest, o KeylessSignature, opts ...remote.Option) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := s.issue(t, &key.PublicKey, o)
	statement := inTotoStatement(dig)
	sig := signDSSE(t, key, statement)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	sum := sha256.Sum256(statement)
	body, err := json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "dsse", "spec": map[string]any{
		"payloadHash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(sum[:])},
		"signatures":  []any{map[string]any{"signature": base64.StdEncoding.EncodeToString(sig), "verifier": base64.StdEncoding.EncodeToString(certPEM)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	integrated := o.IntegratedTime
	if integrated.IsZero() {
		integrated = s.Now
	}
	der, err := x509.MarshalPKIXPublicKey(&s.RekorKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	logID := sha256.Sum256(der)
	entry := map[string]any{"logIndex": "7", "logId": map[string]any{"keyId": logID[:]},
		"kindVersion": map[string]any{"kind": "dsse", "version": "0.0.1"}, "integratedTime": strconv.FormatInt(integrated.Unix(), 10),
		"canonicalizedBody": body}
	if !o.NoBundle {
		canon, err := json.Marshal(struct {
			Body           string `json:"body"`
			IntegratedTime int64  `json:"integratedTime"`
			LogID          string `json:"logID"`
			LogIndex       int64  `json:"logIndex"`
		}{base64.StdEncoding.EncodeToString(body), integrated.Unix(), hex.EncodeToString(logID[:]), 7})
		if err != nil {
			t.Fatal(err)
		}
		setSum := sha256.Sum256(canon)
		set, err := s.RekorKey.Sign(rand.Reader, setSum[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		entry["inclusionPromise"] = map[string]any{"signedEntryTimestamp": set}
	} else {
		entry["kindVersion"] = map[string]any{"kind": "dsse", "version": "0.0.2"}
	}
	if o.Edit != nil {
		statement = o.Edit(statement)
	}
	pushBundle(t, dig, map[string]any{"certificate": map[string]any{"rawBytes": leaf.Raw}, "tlogEntries": []any{entry}}, statement, sig, opts...)
}

// CosignSignBundle attaches a Sigstore bundle signed with key (no transparency log) to dig, as
// `cosign sign --key --tlog-upload=false` v3 does.
func CosignSignBundle(t testing.TB, dig name.Digest, key *ecdsa.PrivateKey, opts ...remote.Option) {
	t.Helper()
	statement := inTotoStatement(dig)
	sig := signDSSE(t, key, statement)
	pushBundle(t, dig, map[string]any{"publicKey": map[string]any{"hint": "test"}}, statement, sig, opts...)
}

func inTotoStatement(dig name.Digest) []byte {
	h := dig.DigestStr()
	return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"` + dig.Repository.Name() + `","digest":{"sha256":"` +
		h[strings.Index(h, ":")+1:] + `"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`)
}

// signDSSE signs DSSE's pre-authentication encoding of an in-toto payload.
func signDSSE(t testing.TB, key *ecdsa.PrivateKey, payload []byte) []byte {
	t.Helper()
	const pt = "application/vnd.in-toto+json"
	sum := sha256.Sum256([]byte(fmt.Sprintf("DSSEv1 %d %s %d %s", len(pt), pt, len(payload), payload)))
	sig, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func pushBundle(t testing.TB, dig name.Digest, material map[string]any, statement, sig []byte, opts ...remote.Option) {
	t.Helper()
	const mt = "application/vnd.dev.sigstore.bundle.v0.3+json"
	b, err := json.Marshal(map[string]any{"mediaType": mt, "verificationMaterial": material,
		"dsseEnvelope": map[string]any{"payload": statement, "payloadType": "application/vnd.in-toto+json",
			"signatures": []any{map[string]any{"sig": sig, "keyid": ""}}}})
	if err != nil {
		t.Fatal(err)
	}
	PushReferrer(t, dig, mt, b, mt, nil, opts...)
}
