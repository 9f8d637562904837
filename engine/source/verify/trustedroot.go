package verify

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// TrustedRootKey is the data key of a spec.verify.trustedRootSecretRef Secret, as Flux reads it.
const TrustedRootKey = "trusted_root.json"

// maxTrustedRoot bounds a trusted root document.
const maxTrustedRoot = 1 << 20

// TrustedRoot is the part of a Sigstore trusted root ("trusted_root.json", media type
// application/vnd.dev.sigstore.trustedroot+json) keyless verification uses offline: the Fulcio
// certificate authorities, the Rekor transparency logs whose signed entry timestamps are checked, and
// the certificate transparency logs whose SCTs are checked.
type TrustedRoot struct {
	CertificateAuthorities []CertificateAuthority
	Tlogs                  []TransparencyLog
	CTLogs                 []TransparencyLog
}

// CertificateAuthority is a Fulcio CA: its root, the intermediates under it and when it issued.
type CertificateAuthority struct {
	URI           string
	Root          *x509.Certificate
	Intermediates []*x509.Certificate
	Start, End    time.Time // End is zero when open
}

// TransparencyLog is a Rekor or CT log: its public key, its log ID (the SHA-256 of the key's DER)
// and when the key was in use.
type TransparencyLog struct {
	BaseURL    string
	Key        crypto.PublicKey
	LogID      string // hex
	Start, End time.Time
}

// validAt reports whether t is within [start, end] (end zero: open).
func validAt(start, end, t time.Time) bool {
	return !t.Before(start) && (end.IsZero() || !t.After(end))
}

type trustedRootJSON struct {
	MediaType              string     `json:"mediaType"`
	Tlogs                  []tlogJSON `json:"tlogs"`
	CertificateAuthorities []struct {
		URI       string `json:"uri"`
		CertChain struct {
			Certificates []struct {
				RawBytes []byte `json:"rawBytes"`
			} `json:"certificates"`
		} `json:"certChain"`
		ValidFor validityJSON `json:"validFor"`
	} `json:"certificateAuthorities"`
	Ctlogs []tlogJSON `json:"ctlogs"`
}

type tlogJSON struct {
	BaseURL   string `json:"baseUrl"`
	PublicKey struct {
		RawBytes   []byte       `json:"rawBytes"`
		KeyDetails string       `json:"keyDetails"`
		ValidFor   validityJSON `json:"validFor"`
	} `json:"publicKey"`
	LogID struct {
		KeyID []byte `json:"keyId"`
	} `json:"logId"`
}

type validityJSON struct {
	Start *time.Time `json:"start"`
	End   *time.Time `json:"end"`
}

func (v validityJSON) bounds() (time.Time, time.Time) {
	var s, e time.Time
	if v.Start != nil {
		s = *v.Start
	}
	if v.End != nil {
		e = *v.End
	}
	return s, e
}

// ParseTrustedRoot reads a Sigstore trusted root JSON document. Every CA certificate chain and log
// key must parse; a root without a certificate authority or a Rekor log is refused, since keyless
// verification needs both.
func ParseTrustedRoot(data []byte) (*TrustedRoot, error) {
	if len(data) > maxTrustedRoot {
		return nil, fmt.Errorf("larger than %d bytes", maxTrustedRoot)
	}
	var doc trustedRootJSON
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a Sigstore trusted root JSON document: %w", err)
	}
	const mediaPrefix = "application/vnd.dev.sigstore.trustedroot"
	if len(doc.MediaType) < len(mediaPrefix) || doc.MediaType[:len(mediaPrefix)] != mediaPrefix {
		return nil, fmt.Errorf("mediaType %q is not %s+json;version=0.1", doc.MediaType, mediaPrefix)
	}
	tr := &TrustedRoot{}
	for i, ca := range doc.CertificateAuthorities {
		certs := ca.CertChain.Certificates
		if len(certs) == 0 {
			return nil, fmt.Errorf("certificateAuthorities[%d].certChain has no certificates", i)
		}
		c := CertificateAuthority{URI: ca.URI}
		c.Start, c.End = ca.ValidFor.bounds()
		for j, raw := range certs {
			cert, err := x509.ParseCertificate(raw.RawBytes)
			if err != nil {
				return nil, fmt.Errorf("certificateAuthorities[%d].certChain.certificates[%d]: %w", i, j, err)
			}
			if j == len(certs)-1 {
				c.Root = cert
			} else {
				c.Intermediates = append(c.Intermediates, cert)
			}
		}
		tr.CertificateAuthorities = append(tr.CertificateAuthorities, c)
	}
	parseLogs := func(field string, logs []tlogJSON) ([]TransparencyLog, error) {
		var out []TransparencyLog
		for i, l := range logs {
			key, err := x509.ParsePKIXPublicKey(l.PublicKey.RawBytes)
			if err != nil {
				return nil, fmt.Errorf("%s[%d].publicKey: %w", field, i, err)
			}
			sum := sha256.Sum256(l.PublicKey.RawBytes)
			id := hex.EncodeToString(sum[:])
			if len(l.LogID.KeyID) > 0 && hex.EncodeToString(l.LogID.KeyID) != id {
				return nil, fmt.Errorf("%s[%d].logId.keyId is not the SHA-256 of its public key", field, i)
			}
			t := TransparencyLog{BaseURL: l.BaseURL, Key: key, LogID: id}
			t.Start, t.End = l.PublicKey.ValidFor.bounds()
			out = append(out, t)
		}
		return out, nil
	}
	var err error
	if tr.Tlogs, err = parseLogs("tlogs", doc.Tlogs); err != nil {
		return nil, err
	}
	if tr.CTLogs, err = parseLogs("ctlogs", doc.Ctlogs); err != nil {
		return nil, err
	}
	if len(tr.CertificateAuthorities) == 0 {
		return nil, errors.New("no certificateAuthorities: keyless signatures need the Fulcio root")
	}
	if len(tr.Tlogs) == 0 {
		return nil, errors.New("no tlogs: keyless signatures need the Rekor public key")
	}
	return tr, nil
}

// findLog returns the log with the hex id among logs.
func findLog(logs []TransparencyLog, id string) *TransparencyLog {
	for i := range logs {
		if logs[i].LogID == id {
			return &logs[i]
		}
	}
	return nil
}
