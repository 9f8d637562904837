package verify

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
)

func policyJSON(statements string) string {
	return `{"version":"1.0","trustPolicies":[` + statements + `]}`
}

const validStatement = `{"name":"a","registryScopes":["registry.test/app"],"signatureVerification":{"level":"strict"},
	"trustStores":["ca:a"],"trustedIdentities":["x509.subject: C=US, ST=WA, O=Org, CN=app"]}`

func TestParseTrustPolicy(t *testing.T) {
	tests := []struct {
		name, doc, want string // want "" parses
	}{
		{"valid", policyJSON(validStatement), ""},
		{"wildcard scope and identity", policyJSON(`{"name":"w","registryScopes":["*"],"signatureVerification":{"level":"audit"},"trustStores":["signingAuthority:s"],"trustedIdentities":["*"]}`), ""},
		{"skip drops stores", policyJSON(`{"name":"s","registryScopes":["*"],"signatureVerification":{"level":"skip"},"trustStores":["bogus"]}`), ""},
		{"override", policyJSON(`{"name":"o","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"revocation":"skip","expiry":"log"}},"trustStores":["ca:a"],"trustedIdentities":["*"]}`), ""},
		{"not JSON", "{", "error occurred while parsing trustpolicy.json"},
		{"unknown field", `{"version":"1.0","trustPolicies":[],"extra":1}`, `unknown field "extra"`},
		{"version", `{"version":"2.0","trustPolicies":[` + validStatement + `]}`, `version "2.0" is not supported`},
		{"no statements", policyJSON(""), "no trustPolicies"},
		{"duplicate name", policyJSON(validStatement + "," + strings.Replace(validStatement, "registry.test/app", "registry.test/b", 1)), `name "a" is used twice`},
		{"level", policyJSON(strings.Replace(validStatement, "strict", "lenient", 1)), `signatureVerification.level "lenient"`},
		{"integrity override", policyJSON(`{"name":"o","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"integrity":"log"}},"trustStores":["ca:a"],"trustedIdentities":["*"]}`), "integrity cannot be overridden"},
		{"bad override action", policyJSON(`{"name":"o","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"expiry":"warn"}},"trustStores":["ca:a"],"trustedIdentities":["*"]}`), `override expiry: "warn"`},
		{"scope with tag", policyJSON(strings.Replace(validStatement, "registry.test/app", "registry.test/app:v1", 1)), `registry scope "registry.test/app:v1" is not a repository`},
		{"scope twice", policyJSON(validStatement + "," + strings.Replace(validStatement, `"name":"a"`, `"name":"b"`, 1)), `registry scope "registry.test/app" is also in trust policy "a"`},
		{"wildcard not alone", policyJSON(strings.Replace(validStatement, `["registry.test/app"]`, `["*","registry.test/app"]`, 1)), `"*" must be alone`},
		{"store type", policyJSON(strings.Replace(validStatement, "ca:a", "x509:a", 1)), `trust store "x509:a" is not type:name`},
		{"no stores", policyJSON(strings.Replace(validStatement, `"ca:a"`, ``, 1)), "no trustStores"},
		{"identity without O", policyJSON(strings.Replace(validStatement, "O=Org, ", "", 1)), "has no O attribute"},
		{"identity not x509", policyJSON(strings.Replace(validStatement, "x509.subject: ", "", 1)), `is not "*" nor x509.subject`},
		{"identity attribute twice", policyJSON(strings.Replace(validStatement, "CN=app", "CN=app, CN=b", 1)), "attribute CN is given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTrustPolicy([]byte(tt.doc))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestTrustPolicyForAndIdentities(t *testing.T) {
	doc, err := ParseTrustPolicy([]byte(policyJSON(validStatement + `,{"name":"rest","registryScopes":["*"],"signatureVerification":{"level":"audit"},"trustStores":["ca:a"],"trustedIdentities":["*"]}`)))
	if err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string]string{"registry.test/app": "a", "registry.test/other": "rest"} {
		p, err := doc.For(repo)
		if err != nil || p.Name != want {
			t.Errorf("%s: %v %v, want %s", repo, p, err, want)
		}
	}
	a, _ := doc.For("registry.test/app")
	cert := func(n pkix.Name) *x509.Certificate { return &x509.Certificate{Subject: n} }
	base := pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Org"}, CommonName: "app"}
	base.Names = nil
	for _, tt := range []struct {
		name  pkix.Name
		trust bool
	}{
		{base, true},
		{pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Org"}, CommonName: "app", OrganizationalUnit: []string{"extra"}}, true},
		{pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Org"}, CommonName: "other"}, false},
		{pkix.Name{Country: []string{"US"}, Organization: []string{"Org"}, CommonName: "app"}, false},
	} {
		// Names is what a parsed certificate carries.
		n := tt.name
		c := cert(n)
		c.Subject.Names = nameATVs(n)
		if got := a.trusts(c); got != tt.trust {
			t.Errorf("%s: trusted %v, want %v", n, got, tt.trust)
		}
	}
	only, _ := ParseTrustPolicy([]byte(policyJSON(validStatement)))
	if _, err := only.For("registry.test/else"); err == nil || !strings.Contains(err.Error(), "has no applicable trust policy") {
		t.Errorf("error %v", err)
	}
}

// nameATVs is the attribute list of n as a parsed certificate has it.
func nameATVs(n pkix.Name) []pkix.AttributeTypeAndValue {
	var out []pkix.AttributeTypeAndValue
	for _, rdn := range n.ToRDNSequence() {
		out = append(out, rdn...)
	}
	return out
}

// FuzzParseTrustPolicy: any document parses or fails, never panics; one that parses answers For.
func FuzzParseTrustPolicy(f *testing.F) {
	f.Add([]byte(policyJSON(validStatement)))
	f.Add([]byte(policyJSON(`{"name":"s","registryScopes":["*"],"signatureVerification":{"level":"skip"}}`)))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ParseTrustPolicy(data)
		if err == nil {
			_, _ = doc.For("registry.test/app")
		}
	})
}

// FuzzParseJWSEnvelope: any envelope parses or fails, never panics.
func FuzzParseJWSEnvelope(f *testing.F) {
	f.Add([]byte(`{"payload":"e30","protected":"eyJhbGciOiJFUzI1NiIsImN0eSI6ImFwcGxpY2F0aW9uL3ZuZC5jbmNmLm5vdGFyeS5wYXlsb2FkLnYxK2pzb24iLCJjcml0IjpbImlvLmNuY2Yubm90YXJ5LnNpZ25pbmdTY2hlbWUiXSwiaW8uY25jZi5ub3Rhcnkuc2lnbmluZ1NjaGVtZSI6Im5vdGFyeS54NTA5IiwiaW8uY25jZi5ub3Rhcnkuc2lnbmluZ1RpbWUiOiIyMDI2LTAxLTAxVDAwOjAwOjAwWiJ9","header":{"x5c":["AA=="]},"signature":"AA"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := ParseJWSEnvelope(data)
		if err == nil {
			_ = verifyEnvelopeSignature(env.Chain[0].PublicKey, env.Alg, env.SigningInput, env.Signature)
		}
	})
}

func TestParseDN(t *testing.T) {
	got, err := parseDN(`C=US, ST=WA, O=Org\, Inc., CN=app`)
	if err != nil || got["O"] != "Org, Inc." || got["CN"] != "app" || len(got) != 4 {
		t.Fatalf("%v %v", got, err)
	}
	for dn, want := range map[string]string{`C=US,`: `"" is not ATTRIBUTE=value`, `C=US\`: "ends with a backslash", `C`: `"C" is not`} {
		if _, err := parseDN(dn); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", dn, err, want)
		}
	}
}

// FuzzParseCOSEEnvelope: any envelope parses or fails, never panics.
func FuzzParseCOSEEnvelope(f *testing.F) {
	f.Add([]byte{0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x41, 0x00, 0x41, 0x00})
	f.Add([]byte{0xd2, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := ParseCOSEEnvelope(data)
		if err == nil {
			_ = verifyEnvelopeSignature(env.Chain[0].PublicKey, env.Alg, env.SigningInput, env.Signature)
		}
	})
}
