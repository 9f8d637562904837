package verify

import (
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// COSE labels and algorithms notation uses (RFC 9052, RFC 9053, RFC 9360).
const (
	coseTagSign1      = 18
	coseLabelAlg      = 1
	coseLabelCrit     = 2
	coseLabelCty      = 3
	coseLabelX5Chain  = 33
	coseMaxEnvelope   = 1 << 20
	coseSigStructure1 = "Signature1"
)

var coseAlgs = map[int64]string{-7: "ES256", -35: "ES384", -36: "ES512", -37: "PS256", -38: "PS384", -39: "PS512"}

// coseDecMode decodes COSE with bounded nesting and sizes, times (tag 1) as time.Time.
func coseDecMode() (cbor.DecMode, error) {
	return cbor.DecOptions{MaxNestedLevels: 16, MaxArrayElements: 1024, MaxMapPairs: 1024, DupMapKey: cbor.DupMapKeyEnforcedAPF,
		TimeTag: cbor.DecTagOptional, DefaultMapType: nil}.DecMode()
}

// ParseCOSEEnvelope reads a notation COSE_Sign1 envelope (tag 18): the protected header (alg, crit,
// content type and notation's signing scheme and times, as JWS's are read), the payload, the x5chain
// certificates of the unprotected header and the signature; the signing input is the Sig_structure.
func ParseCOSEEnvelope(data []byte) (*Envelope, error) {
	if len(data) > coseMaxEnvelope {
		return nil, fmt.Errorf("the COSE envelope is larger than %d bytes", coseMaxEnvelope)
	}
	dm, err := coseDecMode()
	if err != nil {
		return nil, err
	}
	var tag cbor.RawTag
	if err := dm.Unmarshal(data, &tag); err != nil {
		return nil, fmt.Errorf("the signature envelope is not CBOR: %w", err)
	}
	if tag.Number != coseTagSign1 {
		return nil, fmt.Errorf("the COSE envelope is tagged %d, not COSE_Sign1 (18)", tag.Number)
	}
	var msg struct {
		_           struct{} `cbor:",toarray"`
		Protected   []byte
		Unprotected map[any]any
		Payload     []byte
		Signature   []byte
	}
	if err := dm.Unmarshal(tag.Content, &msg); err != nil {
		return nil, fmt.Errorf("the COSE envelope is not a COSE_Sign1 array: %w", err)
	}
	var prot map[any]any
	if err := dm.Unmarshal(msg.Protected, &prot); err != nil || prot == nil {
		return nil, errors.New("the COSE protected header is not a map")
	}
	env := &Envelope{Format: "COSE", Payload: msg.Payload, Signature: msg.Signature, Protected: map[string]any{}}
	for k, v := range prot {
		switch key := k.(type) {
		case int64, uint64:
			label := toInt(key)
			switch label {
			case coseLabelAlg:
				alg, ok := coseAlgs[toInt(v)]
				if !ok {
					return nil, fmt.Errorf("the COSE algorithm %v is not supported (ES256/384/512, PS256/384/512)", v)
				}
				env.Protected["alg"] = alg
			case coseLabelCty:
				env.Protected["cty"] = v
			case coseLabelCrit:
				list, ok := v.([]any)
				if !ok {
					return nil, errors.New("the COSE crit header is not an array")
				}
				var crit []any
				for _, c := range list {
					if s, ok := c.(string); ok {
						crit = append(crit, s)
					} else {
						crit = append(crit, fmt.Sprintf("label %v", c))
					}
				}
				env.Protected["crit"] = crit
			default:
				// Other integer labels (kid, ...) are not notation's: ignored unless marked critical.
			}
		case string:
			switch t := v.(type) {
			case time.Time:
				env.Protected[key] = t.UTC().Format(time.RFC3339)
			default:
				env.Protected[key] = v
			}
		default:
			return nil, fmt.Errorf("the COSE protected header has a %T label", k)
		}
	}
	if err := env.readProtected(); err != nil {
		return nil, err
	}
	var ders [][]byte
	switch x := msg.Unprotected[uint64(coseLabelX5Chain)].(type) {
	case []byte:
		ders = [][]byte{x}
	case []any:
		for _, c := range x {
			der, ok := c.([]byte)
			if !ok {
				return nil, errors.New("the COSE x5chain holds a non-bytes entry")
			}
			ders = append(ders, der)
		}
	}
	if _, ok := msg.Unprotected["io.cncf.notary.timestampSignature"]; ok {
		env.Timestamped = true
	}
	if err := env.readChain(ders); err != nil {
		return nil, err
	}
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	if env.SigningInput, err = em.Marshal([]any{coseSigStructure1, msg.Protected, []byte{}, msg.Payload}); err != nil {
		return nil, err
	}
	return env, nil
}

// toInt reads a CBOR integer decoded as int64 or uint64; anything else is 0.
func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case uint64:
		if n < 1<<62 {
			return int64(n)
		}
	}
	return 0
}
