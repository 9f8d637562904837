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
