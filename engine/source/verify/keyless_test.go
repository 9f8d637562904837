package verify

import (
	"strings"
	"testing"
)

func TestParseTrustedRoot(t *testing.T) {
	const mt = `"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"`
	for doc, want := range map[string]string{
		`{`:                                "not a Sigstore trusted root JSON document",
		`{"mediaType":"application/json"}`: `mediaType "application/json"`,
		`{` + mt + `}`:                     "no certificateAuthorities",
		`{` + mt + `,"certificateAuthorities":[{"certChain":{}}]}`:                                     "certificateAuthorities[0].certChain has no certificates",
		`{` + mt + `,"certificateAuthorities":[{"certChain":{"certificates":[{"rawBytes":"AA=="}]}}]}`: "certificateAuthorities[0].certChain.certificates[0]",
		`{` + mt + `,"tlogs":[{"publicKey":{"rawBytes":"AA=="}}]}`:                                     "tlogs[0].publicKey",
	} {
		if _, err := ParseTrustedRoot([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", doc, err, want)
		}
	}
}

// FuzzParseTrustedRoot: any document parses or fails, never panics.
func FuzzParseTrustedRoot(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[{"publicKey":{"rawBytes":"AA=="}}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseTrustedRoot(data)
	})
}

// FuzzParseRekorBundle: any bundle parses or fails, never panics; a parsed one canonicalizes.
func FuzzParseRekorBundle(f *testing.F) {
	f.Add([]byte(`{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":2,"logID":"ab"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseRekorBundle(data)
		if err == nil {
			if _, err := b.canonicalPayload(); err != nil {
				t.Fatal(err)
			}
			_ = checkRekorBody(b.Payload.Body, nil, nil, nil)
		}
	})
}

// FuzzParseSCTList and tbsWithoutSCT: any input parses or fails, never panics.
func FuzzParseSCTList(f *testing.F) {
	f.Add([]byte{0x04, 0x02, 0x00, 0x00})
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseSCTList(data)
		_, _ = tbsWithoutSCT(data)
	})
}

// FuzzParseSigstoreBundle: any bundle parses or fails, never panics; a parsed one is checked.
func FuzzParseSigstoreBundle(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"tlogEntries":[{"logIndex":"1","integratedTime":"2","inclusionPromise":{"signedEntryTimestamp":"AA=="},"canonicalizedBody":"e30="}]},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseSigstoreBundle(data)
		if err == nil {
			_ = b.checkStatement("00")
			_, _ = (&Keyless{Root: &TrustedRoot{}}).verifyBundle(b)
		}
	})
}

func TestParseSigstoreBundle(t *testing.T) {
	const mt = `"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"`
	for doc, want := range map[string]string{
		`[`:                                  "the Sigstore bundle is not JSON",
		`{"mediaType":"x"}`:                  `the bundle mediaType "x" is not a Sigstore bundle`,
		`{` + mt + `,"messageSignature":{}}`: "message signature bundles are not supported",
		`{` + mt + `}`:                       "the bundle has no dsseEnvelope",
		`{` + mt + `,"dsseEnvelope":{"payload":""}}`: "has no signatures",
		`{` + mt + `,"verificationMaterial":{"tlogEntries":[{"logIndex":"x","inclusionPromise":{}}]},"dsseEnvelope":{"signatures":[{"sig":"AA=="}]}}`: `logIndex "x"`,
	} {
		if _, err := ParseSigstoreBundle([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", doc, err, want)
		}
	}
}
