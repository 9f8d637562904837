package verify

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// TrustPolicyKey is the data key of notation's trust policy in a spec.verify.secretRef Secret.
const TrustPolicyKey = "trustpolicy.json"

// Notation verification levels and the checks they configure, as the Notary Project trust policy
// specification defines them.
const (
	LevelStrict     = "strict"
	LevelPermissive = "permissive"
	LevelAudit      = "audit"
	LevelSkip       = "skip"

	CheckIntegrity          = "integrity"
	CheckAuthenticity       = "authenticity"
	CheckAuthenticTimestamp = "authenticTimestamp"
	CheckExpiry             = "expiry"
	CheckRevocation         = "revocation"

	ActionEnforce = "enforce"
	ActionLog     = "log"
	ActionSkip    = "skip"
)

// checkOrder is the order notation runs its checks in.
var checkOrder = []string{CheckIntegrity, CheckAuthenticity, CheckAuthenticTimestamp, CheckExpiry, CheckRevocation}

// levelActions is what each level does for each check.
func levelActions(level string) map[string]string {
	e, l, s := ActionEnforce, ActionLog, ActionSkip
	switch level {
	case LevelStrict:
		return map[string]string{CheckIntegrity: e, CheckAuthenticity: e, CheckAuthenticTimestamp: e, CheckExpiry: e, CheckRevocation: e}
	case LevelPermissive:
		return map[string]string{CheckIntegrity: e, CheckAuthenticity: e, CheckAuthenticTimestamp: l, CheckExpiry: l, CheckRevocation: l}
	case LevelAudit:
		return map[string]string{CheckIntegrity: e, CheckAuthenticity: l, CheckAuthenticTimestamp: l, CheckExpiry: l, CheckRevocation: l}
	case LevelSkip:
		return map[string]string{CheckIntegrity: s, CheckAuthenticity: s, CheckAuthenticTimestamp: s, CheckExpiry: s, CheckRevocation: s}
	}
	return nil
}

// TrustPolicyDocument is notation's OCI trust policy document (trustpolicy.json, version 1.0).
type TrustPolicyDocument struct {
	Version       string        `json:"version"`
	TrustPolicies []TrustPolicy `json:"trustPolicies"`
}

// TrustPolicy is one statement of a trust policy document.
type TrustPolicy struct {
	Name                  string   `json:"name"`
	RegistryScopes        []string `json:"registryScopes"`
	SignatureVerification struct {
		Level    string            `json:"level"`
		Override map[string]string `json:"override,omitempty"`
	} `json:"signatureVerification"`
	TrustStores       []string `json:"trustStores,omitempty"`
	TrustedIdentities []string `json:"trustedIdentities,omitempty"`

	// actions is what each check does once level and overrides are applied.
	actions map[string]string
	// identities are the parsed x509.subject identities; anyIdentity is "*".
	identities  []map[string]string
	anyIdentity bool
}

// Action is what p does for check: enforce, log or skip.
func (p *TrustPolicy) Action(check string) string { return p.actions[check] }

// ParseTrustPolicy reads and validates a trust policy document as notation does: version 1.0, unique
// names, known levels and overrides, trust stores "type:name" (ca, signingAuthority, tsa), trusted
// identities "*" or "x509.subject: <DN>" with C, ST and O, registry scopes "*" alone or repositories,
// each scope in one statement. As Flux, a skip statement's trust stores and identities are dropped.
func ParseTrustPolicy(data []byte) (*TrustPolicyDocument, error) {
	var doc TrustPolicyDocument
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("error occurred while parsing %s: %w", TrustPolicyKey, err)
	}
	if doc.Version != "1.0" {
		return nil, fmt.Errorf("%s: version %q is not supported (1.0)", TrustPolicyKey, doc.Version)
	}
	if len(doc.TrustPolicies) == 0 {
		return nil, fmt.Errorf("%s: no trustPolicies", TrustPolicyKey)
	}
	names := map[string]bool{}
	scopes := map[string]string{}
	for i := range doc.TrustPolicies {
		p := &doc.TrustPolicies[i]
		where := fmt.Sprintf("%s: trustPolicies[%d]", TrustPolicyKey, i)
		if p.Name == "" {
			return nil, fmt.Errorf("%s: name is empty", where)
		}
		if names[p.Name] {
			return nil, fmt.Errorf("%s: name %q is used twice", where, p.Name)
		}
		names[p.Name] = true
		where = fmt.Sprintf("%s: trust policy %q", TrustPolicyKey, p.Name)
		p.actions = levelActions(p.SignatureVerification.Level)
		if p.actions == nil {
			return nil, fmt.Errorf("%s: signatureVerification.level %q is not one of strict, permissive, audit, skip", where, p.SignatureVerification.Level)
		}
		for check, action := range p.SignatureVerification.Override {
			if _, ok := p.actions[check]; !ok {
				return nil, fmt.Errorf("%s: override of unknown check %q", where, check)
			}
			if check == CheckIntegrity {
				return nil, fmt.Errorf("%s: integrity cannot be overridden", where)
			}
			if p.SignatureVerification.Level == LevelSkip {
				return nil, fmt.Errorf("%s: a skip level takes no overrides", where)
			}
			if action != ActionEnforce && action != ActionLog && action != ActionSkip {
				return nil, fmt.Errorf("%s: override %s: %q is not one of enforce, log, skip", where, check, action)
			}
			p.actions[check] = action
		}
		if len(p.RegistryScopes) == 0 {
			return nil, fmt.Errorf("%s: no registryScopes", where)
		}
		for _, s := range p.RegistryScopes {
			if s == "*" && len(p.RegistryScopes) > 1 {
				return nil, fmt.Errorf("%s: the wildcard registry scope \"*\" must be alone", where)
			}
			if s != "*" && (s == "" || !strings.Contains(s, "/") || strings.ContainsAny(s, "@") || strings.Contains(s[strings.LastIndex(s, "/"):], ":")) {
				return nil, fmt.Errorf("%s: registry scope %q is not a repository (registry/path, without tag or digest)", where, s)
			}
			if other, ok := scopes[s]; ok {
				return nil, fmt.Errorf("%s: registry scope %q is also in trust policy %q", where, s, other)
			}
			scopes[s] = p.Name
		}
		if p.SignatureVerification.Level == LevelSkip {
			p.TrustStores, p.TrustedIdentities = nil, nil
			continue
		}
		if len(p.TrustStores) == 0 {
			return nil, fmt.Errorf("%s: no trustStores", where)
		}
		for _, ts := range p.TrustStores {
			typ, name, ok := strings.Cut(ts, ":")
			if !ok || name == "" || (typ != "ca" && typ != "signingAuthority" && typ != "tsa") {
				return nil, fmt.Errorf("%s: trust store %q is not type:name with type ca, signingAuthority or tsa", where, ts)
			}
		}
		if len(p.TrustedIdentities) == 0 {
			return nil, fmt.Errorf("%s: no trustedIdentities", where)
		}
		for _, id := range p.TrustedIdentities {
			if id == "*" {
				if len(p.TrustedIdentities) > 1 {
					return nil, fmt.Errorf("%s: the wildcard trusted identity \"*\" must be alone", where)
				}
				p.anyIdentity = true
				continue
			}
			dn, ok := strings.CutPrefix(id, "x509.subject:")
			if !ok {
				return nil, fmt.Errorf("%s: trusted identity %q is not \"*\" nor x509.subject: <DN>", where, id)
			}
			attrs, err := parseDN(dn)
			if err != nil {
				return nil, fmt.Errorf("%s: trusted identity %q: %w", where, id, err)
			}
			for _, k := range []string{"C", "ST", "O"} {
				if attrs[k] == "" {
					return nil, fmt.Errorf("%s: trusted identity %q has no %s attribute (C, ST and O are required)", where, id, k)
				}
			}
			p.identities = append(p.identities, attrs)
		}
	}
	return &doc, nil
}

// For returns the statement that applies to repository (registry/path): the one naming it, else the
// wildcard one.
func (d *TrustPolicyDocument) For(repository string) (*TrustPolicy, error) {
	var wildcard *TrustPolicy
	for i := range d.TrustPolicies {
		p := &d.TrustPolicies[i]
		for _, s := range p.RegistryScopes {
			if s == repository {
				return p, nil
			}
			if s == "*" {
				wildcard = p
			}
		}
	}
	if wildcard == nil {
		return nil, fmt.Errorf("artifact %q has no applicable trust policy statement in %s", repository, TrustPolicyKey)
	}
	return wildcard, nil
}

// hasStoreType reports whether p names a trust store of type typ.
func (p *TrustPolicy) hasStoreType(typ string) bool {
	for _, ts := range p.TrustStores {
		if t, _, _ := strings.Cut(ts, ":"); t == typ {
			return true
		}
	}
	return false
}

// trusts reports whether leaf's subject is one of p's trusted identities (every attribute of the
// identity present in the subject with the same value).
func (p *TrustPolicy) trusts(leaf *x509.Certificate) bool {
	if p.anyIdentity {
		return true
	}
	subject := subjectAttrs(leaf.Subject)
	for _, id := range p.identities {
		match := true
		for k, v := range id {
			if subject[k] != v {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

var dnShortNames = map[string]string{
	"2.5.4.6": "C", "2.5.4.8": "ST", "2.5.4.7": "L", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.3": "CN",
	"2.5.4.5": "SERIALNUMBER", "2.5.4.9": "STREET", "2.5.4.17": "POSTALCODE", "1.2.840.113549.1.9.1": "E",
}

// subjectAttrs maps a certificate subject to its attributes by short name.
func subjectAttrs(n pkix.Name) map[string]string {
	out := map[string]string{}
	for _, atv := range n.Names {
		k := dnShortNames[atv.Type.String()]
		if k == "" {
			k = asn1.ObjectIdentifier(atv.Type).String()
		}
		if s, ok := atv.Value.(string); ok {
			out[k] = s
		}
	}
	return out
}

// parseDN reads a distinguished name "C=US, ST=WA, O=Org" (commas escaped with a backslash inside
// values); an attribute given twice is an error.
func parseDN(dn string) (map[string]string, error) {
	out := map[string]string{}
	var parts []string
	var cur strings.Builder
	escaped := false
	for _, r := range dn {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == ',' || r == '+':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	if escaped {
		return nil, errors.New("the distinguished name ends with a backslash")
	}
	parts = append(parts, cur.String())
	for _, part := range parts {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q is not ATTRIBUTE=value", strings.TrimSpace(part))
		}
		k = strings.ToUpper(k)
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("attribute %s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}
