package sopsdoc

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Key types as SOPS names them in a document's metadata.
const (
	KeyTypeAge       = "age"
	KeyTypePGP       = "pgp"
	KeyTypeAWSKMS    = "kms"
	KeyTypeGCPKMS    = "gcp_kms"
	KeyTypeAzureKV   = "azure_kv"
	KeyTypeVault     = "hc_vault"
	KeyTypeHuaweiKMS = "hckms"
)

// keyTypes are the key lists of a key group, in the order SOPS reads them.
var keyTypes = []string{KeyTypeAWSKMS, KeyTypeGCPKMS, KeyTypeHuaweiKMS, KeyTypeAzureKV, KeyTypeVault, KeyTypePGP, KeyTypeAge}

// MasterKey is one recipient of a document's data key (or of its Shamir share).
type MasterKey struct {
	// Type is one of the KeyType constants.
	Type string
	// ID names the key: the age recipient, the PGP fingerprint, the KMS ARN or resource, the vault key.
	ID string
	// EncryptedKey is the data key encrypted for this key (armored age or PGP for those types).
	EncryptedKey string
	// Attrs are the entry's other string fields as SOPS writes them (arn, role, aws_profile;
	// resource_id; vault_url, name, version; vault_address, engine_path, key_name).
	Attrs map[string]string
	// Context is an AWS KMS key's encryption context.
	Context map[string]string
}

// Describe names the key for people: its kind and its ID.
func (k MasterKey) Describe() string {
	name := map[string]string{KeyTypeAge: "age", KeyTypePGP: "PGP", KeyTypeAWSKMS: "AWS KMS", KeyTypeGCPKMS: "GCP KMS",
		KeyTypeAzureKV: "Azure Key Vault", KeyTypeVault: "Vault", KeyTypeHuaweiKMS: "HuaweiCloud KMS"}[k.Type]
	return name + " " + k.ID
}

// Metadata is a document's sops section.
type Metadata struct {
	KeyGroups        [][]MasterKey
	ShamirThreshold  int
	LastModified     time.Time
	MAC              string
	MACOnlyEncrypted bool
	Version          string

	UnencryptedSuffix, EncryptedSuffix             string
	UnencryptedRegex, EncryptedRegex               string
	UnencryptedCommentRegex, EncryptedCommentRegex string
}

// ErrNoMetadata is returned for a document without SOPS metadata.
var ErrNoMetadata = errors.New("sops metadata not found")

// extractMetadata removes the metadata from the branches (the "sops" key of the top-level mappings, or
// for flat formats the "sops_" keys of the first branch) and reads it.
func extractMetadata(branches []Branch, flat, unflattenBelowTop, escapedNewlines bool) ([]Branch, Metadata, error) {
	var meta Branch
	found := false
	if !flat {
		for bi, b := range branches {
			out := b[:0:0]
			for _, it := range b {
				if it.Key != "sops" {
					out = append(out, it)
					continue
				}
				if bi == 0 {
					if found {
						return nil, Metadata{}, errors.New("more than one sops entry")
					}
					found = true
					m, ok := it.Value.(Branch)
					if !ok {
						return nil, Metadata{}, errors.New("the sops entry is not a mapping")
					}
					meta = m
				}
			}
			branches[bi] = out
		}
	} else if len(branches) > 0 {
		out := branches[0][:0:0]
		for _, it := range branches[0] {
			if k, ok := it.Key.(string); ok && strings.HasPrefix(k, "sops_") {
				found = true
				meta = append(meta, Item{Key: strings.TrimPrefix(k, "sops_"), Value: it.Value})
				continue
			}
			out = append(out, it)
		}
		branches[0] = out
	}
	if !found {
		return nil, Metadata{}, ErrNoMetadata
	}
	var m any = meta
	if flat || unflattenBelowTop {
		if escapedNewlines {
			for i, it := range meta {
				if s, ok := it.Value.(string); ok {
					meta[i].Value = strings.ReplaceAll(s, `\n`, "\n")
				}
			}
		}
		var err error
		if m, err = unflatten(meta); err != nil {
			return nil, Metadata{}, fmt.Errorf("sops metadata: %w", err)
		}
	} else {
		m = toPlain(meta)
	}
	md, err := readMetadata(m.(map[string]any))
	if err != nil {
		return nil, Metadata{}, fmt.Errorf("sops metadata: %w", err)
	}
	return branches, md, nil
}

// toPlain turns a tree into maps and slices, leaving comments out.
func toPlain(v any) any {
	switch v := v.(type) {
	case Branch:
		m := map[string]any{}
		for _, it := range v {
			if k, ok := it.Key.(string); ok {
				m[k] = toPlain(it.Value)
			}
		}
		return m
	case []any:
		out := make([]any, 0, len(v))
		for _, x := range v {
			if _, ok := x.(Comment); !ok {
				out = append(out, toPlain(x))
			}
		}
		return out
	}
	return v
}

// unflatten reads the flat keys of dotenv and INI metadata (a__map_b, a__list_0) into maps and slices.
func unflatten(b Branch) (map[string]any, error) {
	root := map[string]any{}
	for _, it := range b {
		k, ok := it.Key.(string)
		if !ok {
			continue // a comment
		}
		if err := place(root, k, it.Value); err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
	}
	out, err := lists(root)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

// place sets the value at a flat key; lists are maps of indexes until lists() turns them into slices.
func place(root map[string]any, key string, v any) error {
	type step struct {
		name string
		list bool
	}
	var steps []step
	rest, list := key, false
	for {
		iMap, iList := strings.Index(rest, "__map_"), strings.Index(rest, "__list_")
		next, nextList, sep := -1, false, 0
		switch {
		case iMap >= 0 && (iList < 0 || iMap < iList):
			next, sep = iMap, len("__map_")
		case iList >= 0:
			next, nextList, sep = iList, true, len("__list_")
		}
		if next < 0 {
			steps = append(steps, step{rest, list})
			break
		}
		steps = append(steps, step{rest[:next], list})
		rest, list = rest[next+sep:], nextList
	}
	cur := root
	for i, s := range steps {
		name := s.name
		if s.list {
			n, err := strconv.Atoi(name)
			if err != nil || n < 0 || n > 1<<16 {
				return fmt.Errorf("bad list index %q", name)
			}
			name = "\x00" + strconv.Itoa(n) // a list index, not a key
		}
		if i == len(steps)-1 {
			if _, dup := cur[name]; dup {
				return errors.New("set twice")
			}
			cur[name] = v
			return nil
		}
		next, ok := cur[name].(map[string]any)
		if !ok {
			if _, exists := cur[name]; exists {
				return errors.New("both a value and a mapping")
			}
			next = map[string]any{}
			cur[name] = next
		}
		cur = next
	}
	return nil
}

// lists turns the maps placed for list indexes into slices.
func lists(v any) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return v, nil
	}
	indexed := 0
	for k := range m {
		if strings.HasPrefix(k, "\x00") {
			indexed++
		}
	}
	if indexed > 0 && indexed != len(m) {
		return nil, errors.New("both list items and keys at one level")
	}
	if indexed == 0 {
		for k, x := range m {
			y, err := lists(x)
			if err != nil {
				return nil, err
			}
			m[k] = y
		}
		return m, nil
	}
	out := make([]any, len(m))
	for k, x := range m {
		n, _ := strconv.Atoi(k[1:])
		if n >= len(m) {
			return nil, errors.New("incomplete list")
		}
		y, err := lists(x)
		if err != nil {
			return nil, err
		}
		out[n] = y
	}
	return out, nil
}

// readMetadata reads the fields SOPS writes, as loosely typed as SOPS reads them (numbers and booleans
// may be strings in flat formats).
func readMetadata(m map[string]any) (Metadata, error) {
	var md Metadata
	str := func(name string) (string, error) {
		switch v := m[name].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		case time.Time:
			return v.Format(time.RFC3339), nil
		case int, float64, bool:
			return fmt.Sprint(v), nil
		}
		return "", fmt.Errorf("%s: not a string", name)
	}
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"mac", &md.MAC}, {"version", &md.Version},
		{"unencrypted_suffix", &md.UnencryptedSuffix}, {"encrypted_suffix", &md.EncryptedSuffix},
		{"unencrypted_regex", &md.UnencryptedRegex}, {"encrypted_regex", &md.EncryptedRegex},
		{"unencrypted_comment_regex", &md.UnencryptedCommentRegex}, {"encrypted_comment_regex", &md.EncryptedCommentRegex},
	} {
		if *f.dst, err = str(f.name); err != nil {
			return md, err
		}
	}
	lm, err := str("lastmodified")
	if err != nil {
		return md, err
	}
	if md.LastModified, err = time.Parse(time.RFC3339, lm); err != nil {
		return md, fmt.Errorf("lastmodified: %w", err)
	}
	switch v := m["mac_only_encrypted"].(type) {
	case nil:
	case bool:
		md.MACOnlyEncrypted = v
	case string:
		if md.MACOnlyEncrypted, err = strconv.ParseBool(v); err != nil {
			return md, fmt.Errorf("mac_only_encrypted: %w", err)
		}
	default:
		return md, errors.New("mac_only_encrypted: not a boolean")
	}
	switch v := m["shamir_threshold"].(type) {
	case nil:
	case int:
		md.ShamirThreshold = v
	case float64:
		md.ShamirThreshold = int(v)
	case string:
		if md.ShamirThreshold, err = strconv.Atoi(v); err != nil {
			return md, fmt.Errorf("shamir_threshold: %w", err)
		}
	default:
		return md, errors.New("shamir_threshold: not a number")
	}
	// Keys at the top level form one group; otherwise key_groups lists the groups.
	top, err := readKeyGroup(m)
	if err != nil {
		return md, err
	}
	if len(top) > 0 {
		md.KeyGroups = [][]MasterKey{top}
		return md, nil
	}
	groups, ok := m["key_groups"].([]any)
	if !ok || len(groups) == 0 {
		return md, errors.New("no keys found")
	}
	for i, g := range groups {
		gm, ok := g.(map[string]any)
		if !ok {
			return md, fmt.Errorf("key_groups[%d]: not a mapping", i)
		}
		keys, err := readKeyGroup(gm)
		if err != nil {
			return md, fmt.Errorf("key_groups[%d]: %w", i, err)
		}
		md.KeyGroups = append(md.KeyGroups, keys)
	}
	return md, nil
}

func readKeyGroup(m map[string]any) ([]MasterKey, error) {
	var out []MasterKey
	for _, t := range keyTypes {
		if m[t] == nil {
			continue
		}
		list, ok := m[t].([]any)
		if !ok {
			return nil, fmt.Errorf("%s: not a list", t)
		}
		for i, x := range list {
			km, ok := x.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s[%d]: not a mapping", t, i)
			}
			s := func(name string) string {
				v, _ := km[name].(string)
				return v
			}
			k := MasterKey{Type: t, EncryptedKey: s("enc"), Attrs: map[string]string{}}
			for name, v := range km {
				if str, ok := v.(string); ok && name != "enc" {
					k.Attrs[name] = str
				}
			}
			if c, ok := km["context"].(map[string]any); ok {
				k.Context = map[string]string{}
				for name, v := range c {
					k.Context[name] = fmt.Sprint(v)
				}
			}
			switch t {
			case KeyTypeAge:
				k.ID = s("recipient")
			case KeyTypePGP:
				k.ID = s("fp")
			case KeyTypeAWSKMS:
				k.ID = s("arn")
			case KeyTypeGCPKMS:
				k.ID = s("resource_id")
			case KeyTypeHuaweiKMS:
				k.ID = s("key_id")
			case KeyTypeAzureKV:
				k.ID = s("vault_url") + "/keys/" + s("name") + "/" + s("version")
			case KeyTypeVault:
				k.ID = s("vault_address") + "/v1/" + s("engine_path") + "/keys/" + s("key_name")
			}
			out = append(out, k)
		}
	}
	return out, nil
}

// DataKey recovers the document's data key: for each key group, decrypt is called with its keys in
// SOPS' order (age, then PGP, then the others) until one succeeds; with several groups, the Shamir
// shares of ShamirThreshold groups are combined. The errors of decrypt are joined in the result.
func (d *Document) DataKey(decrypt func(MasterKey) ([]byte, error)) ([]byte, error) {
	var parts [][]byte
	var errs []error
	for _, g := range d.Metadata.KeyGroups {
		ordered := append([]MasterKey(nil), g...)
		rank := func(t string) int {
			switch t {
			case KeyTypeAge:
				return 0
			case KeyTypePGP:
				return 1
			}
			return 2
		}
		sort.SliceStable(ordered, func(i, j int) bool { return rank(ordered[i].Type) < rank(ordered[j].Type) })
		for _, k := range ordered {
			part, err := decrypt(k)
			if err == nil {
				parts = append(parts, part)
				break
			}
			errs = append(errs, fmt.Errorf("%s: %w", k.Describe(), err))
		}
	}
	if len(d.Metadata.KeyGroups) <= 1 {
		if len(parts) != 1 {
			return nil, errors.Join(errs...)
		}
		return parts[0], nil
	}
	if len(parts) < d.Metadata.ShamirThreshold || len(parts) == 0 {
		return nil, fmt.Errorf("%d of %d key groups decrypted, %d needed: %w", len(parts), len(d.Metadata.KeyGroups), d.Metadata.ShamirThreshold, errors.Join(errs...))
	}
	key, err := combineShares(parts)
	if err != nil {
		return nil, fmt.Errorf("combining the key groups' Shamir shares: %w", err)
	}
	return key, nil
}
