// Package sopsdoc reads SOPS-encrypted documents (YAML, JSON, dotenv, INI and binary) and decrypts them
// with a data key the caller recovers (age, PGP, or a KMS through engine/cloud), verifying the document's
// MAC, then writes the plain document in any of those formats as the sops CLI writes it.
//
// It is a decrypt-only implementation of the SOPS file format, small on purpose: the sops module's own
// stores and key service link every cloud KMS SDK. Every key type's entry is read (with its fields in
// MasterKey.Attrs) so that the caller can use it or name it and refuse it, never silently skip it.
package sopsdoc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getsops/sops/v3/cmd/sops/formats"
)

// Comment is a comment of a YAML, dotenv or INI document, kept in the tree where SOPS keeps it.
type Comment struct {
	Value  string
	Inline bool
}

// Item is one entry of a mapping: Key is a string, or a Comment (then Value is nil).
type Item struct {
	Key   any
	Value any
}

// Branch is an ordered mapping. Values are string, int, float64, bool, time.Time, nil, []byte, Branch,
// or []any (whose elements may be Comments).
type Branch []Item

// Document is a SOPS-encrypted document: its branches (YAML documents; one for other formats) and its
// SOPS metadata.
type Document struct {
	Branches []Branch
	Metadata Metadata
	// Format is the format the document was read in.
	Format formats.Format
}

// ErrMACMismatch is returned when the values of a document do not match its MAC: it was changed after
// it was encrypted.
var ErrMACMismatch = errors.New("MAC mismatch: the document was changed after it was encrypted")

// macOnlyEncryptedInit starts the MAC of documents with mac_only_encrypted (sha256("sops")).
var macOnlyEncryptedInit = []byte{0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0xb, 0xb, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69}

// Decrypt decrypts every encrypted value of the document in place with the data key, and checks the
// document's MAC (ErrMACMismatch). On any error the document is left as it was. Values are not quoted
// in errors.
func (d *Document) Decrypt(dataKey []byte) error {
	plain, computed, err := d.decrypt(dataKey)
	if err != nil {
		return err
	}
	stored, err := decryptValue(d.Metadata.MAC, dataKey, d.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		return fmt.Errorf("decrypting the MAC: %w", err)
	}
	if s, ok := stored.(string); !ok || s != computed {
		return ErrMACMismatch
	}
	d.Branches = plain
	return nil
}

// DecryptIgnoringMAC decrypts like Decrypt without checking the MAC: for a document that was changed
// on purpose after it was encrypted (a Kubernetes object that kustomize rewrote).
func (d *Document) DecryptIgnoringMAC(dataKey []byte) error {
	plain, _, err := d.decrypt(dataKey)
	if err != nil {
		return err
	}
	d.Branches = plain
	return nil
}

// decrypt returns the document's branches decrypted, leaving d as it is, and the MAC of the plain values.
func (d *Document) decrypt(dataKey []byte) ([]Branch, string, error) {
	rules, err := d.Metadata.rules()
	if err != nil {
		return nil, "", err
	}
	w := &walker{rules: rules, key: dataKey, hash: sha512.New()}
	if d.Metadata.MACOnlyEncrypted {
		w.hash.Write(macOnlyEncryptedInit)
	}
	plain := make([]Branch, len(d.Branches))
	for i, b := range d.Branches {
		out, err := w.branch(b, nil, nil)
		if err != nil {
			return nil, "", err
		}
		plain[i] = out
	}
	return plain, fmt.Sprintf("%X", w.hash.Sum(nil)), nil
}

// walker decrypts a tree as SOPS walks it: depth first, each value with its path (keys joined by ":")
// as additional data, hashing the plain values for the MAC.
type walker struct {
	rules *cryptRules
	key   []byte
	hash  hash.Hash
}

func (w *walker) value(in any, path []string, comments [][]string) (any, error) {
	switch in := in.(type) {
	case string, int, bool, float64, time.Time, Comment:
		return w.leaf(in, path, comments)
	case []byte:
		return w.leaf(string(in), path, comments)
	case Branch:
		return w.branch(in, path, comments)
	case []any:
		return w.slice(in, path, comments)
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("at %s: unsupported value of type %T", pathString(path), in)
}

// slice and branch return decrypted copies; the input stays as it is.
func (w *walker) slice(in []any, path []string, comments [][]string) ([]any, error) {
	comments = append(comments[:len(comments):len(comments)], nil)
	top := len(comments) - 1
	in = slices.Clone(in)
	for i, v := range in {
		c, isComment := v.(Comment)
		if isComment {
			comments[top] = append(comments[top], c.Value)
		}
		out, err := w.value(v, path, comments)
		if err != nil {
			return nil, err
		}
		in[i] = out
		if !isComment {
			comments[top] = nil
		}
	}
	return in, nil
}

func (w *walker) branch(in Branch, path []string, comments [][]string) (Branch, error) {
	comments = append(comments[:len(comments):len(comments)], nil)
	top := len(comments) - 1
	in = slices.Clone(in)
	for i, item := range in {
		if c, ok := item.Key.(Comment); ok {
			comments[top] = append(comments[top], c.Value)
			out, err := w.value(c, path, comments)
			if err != nil {
				return nil, err
			}
			switch out := out.(type) {
			case Comment:
				in[i].Key = out
			case string:
				in[i].Key = Comment{Value: out, Inline: c.Inline}
			default:
				return nil, fmt.Errorf("at %s: a comment decrypted to a %T", pathString(path), out)
			}
			continue
		}
		c, valueIsComment := item.Value.(Comment)
		if valueIsComment {
			comments[top] = append(comments[top], c.Value)
		}
		key, ok := item.Key.(string)
		if !ok {
			return nil, fmt.Errorf("at %s: key %v is a %T; only string keys are supported", pathString(path), item.Key, item.Key)
		}
		out, err := w.value(item.Value, append(path[:len(path):len(path)], key), comments)
		if err != nil {
			return nil, err
		}
		in[i].Value = out
		if !valueIsComment {
			comments[top] = nil
		}
	}
	return in, nil
}

func (w *walker) leaf(in any, path []string, comments [][]string) (any, error) {
	c, isComment := in.(Comment)
	encrypted := w.rules.encrypted(path, comments, isComment)
	v := in
	if encrypted {
		aad := strings.Join(path, ":") + ":"
		if isComment {
			var err error
			if v, err = decryptValue(c.Value, w.key, aad); err != nil {
				v = c // a comment left in clear by an older SOPS
			}
		} else if s, ok := in.(string); ok {
			var err error
			if v, err = decryptValue(s, w.key, aad); err != nil {
				return nil, fmt.Errorf("at %s: %w", pathString(path), err)
			}
		} else {
			return nil, fmt.Errorf("at %s: an encrypted value must be a string, not a %T", pathString(path), in)
		}
	}
	if !w.rules.macOnlyEncrypted || encrypted {
		if _, isComment := v.(Comment); !isComment {
			b, err := toBytes(v)
			if err != nil {
				return nil, fmt.Errorf("at %s: %w", pathString(path), err)
			}
			_, _ = w.hash.Write(b)
		}
	}
	return v, nil
}

func pathString(path []string) string {
	if len(path) == 0 {
		return "the top level"
	}
	return strings.Join(path, ".")
}

// toBytes is how SOPS hashes a plain value for the MAC.
func toBytes(in any) ([]byte, error) {
	switch in := in.(type) {
	case string:
		return []byte(in), nil
	case int:
		return []byte(strconv.Itoa(in)), nil
	case float64:
		return []byte(strconv.FormatFloat(in, 'f', -1, 64)), nil
	case bool:
		if in {
			return []byte("True"), nil
		}
		return []byte("False"), nil
	case []byte:
		return in, nil
	case time.Time:
		return in.MarshalText()
	case Comment:
		return []byte(in.Value), nil
	}
	return nil, fmt.Errorf("cannot hash a value of type %T", in)
}

var encryptedValue = regexp.MustCompile(`^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`)

// errNotEncrypted does not quote the value: it may be a secret left in clear.
var errNotEncrypted = errors.New("value is not in SOPS' encrypted format ENC[AES256_GCM,...]")

// decryptValue decrypts one ENC[AES256_GCM,...] value with additional data aad into the type it names.
func decryptValue(value string, key []byte, aad string) (any, error) {
	if value == "" {
		return "", nil
	}
	m := encryptedValue.FindStringSubmatch(value)
	if m == nil {
		return nil, errNotEncrypted
	}
	var parts [3][]byte
	for i, name := range []string{"data", "iv", "tag"} {
		b, err := base64.StdEncoding.DecodeString(m[i+1])
		if err != nil {
			return nil, fmt.Errorf("encrypted value: %s is not base64: %w", name, err)
		}
		parts[i] = b
	}
	data, iv, tag := parts[0], parts[1], parts[2]
	if len(iv) == 0 {
		return nil, errors.New("encrypted value: empty iv")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, iv, append(data[:len(data):len(data)], tag...), []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("could not decrypt with AES-GCM (wrong data key, or the value was moved or changed): %w", err)
	}
	s := string(plain)
	switch m[4] {
	case "str":
		return s, nil
	case "int":
		return strconv.Atoi(s)
	case "float":
		return strconv.ParseFloat(s, 64)
	case "bytes":
		return plain, nil
	case "bool":
		return strconv.ParseBool(s)
	case "time":
		var t time.Time
		err := t.UnmarshalText(plain)
		return t, err
	case "comment":
		return Comment{Value: s}, nil
	}
	return nil, fmt.Errorf("encrypted value of unknown type %q", m[4])
}

// cryptRules say which values of a document SOPS encrypted: at most one rule is set.
type cryptRules struct {
	unencryptedSuffix, encryptedSuffix string
	unencryptedRegex, encryptedRegex   *regexp.Regexp
	unencryptedComment, encryptedComm  *regexp.Regexp
	macOnlyEncrypted                   bool
}

func (m *Metadata) rules() (*cryptRules, error) {
	r := &cryptRules{unencryptedSuffix: m.UnencryptedSuffix, encryptedSuffix: m.EncryptedSuffix, macOnlyEncrypted: m.MACOnlyEncrypted}
	n := 0
	for _, x := range []struct {
		name, expr string
		dst        **regexp.Regexp
	}{
		{"unencrypted_suffix", m.UnencryptedSuffix, nil},
		{"encrypted_suffix", m.EncryptedSuffix, nil},
		{"unencrypted_regex", m.UnencryptedRegex, &r.unencryptedRegex},
		{"encrypted_regex", m.EncryptedRegex, &r.encryptedRegex},
		{"unencrypted_comment_regex", m.UnencryptedCommentRegex, &r.unencryptedComment},
		{"encrypted_comment_regex", m.EncryptedCommentRegex, &r.encryptedComm},
	} {
		if x.expr == "" {
			continue
		}
		n++
		if x.dst != nil {
			re, err := regexp.Compile(x.expr)
			if err != nil {
				return nil, fmt.Errorf("sops metadata: %s: %w", x.name, err)
			}
			*x.dst = re
		}
	}
	switch {
	case n > 1:
		return nil, errors.New("sops metadata: more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, unencrypted_comment_regex")
	case n == 0:
		r.unencryptedSuffix = "_unencrypted" // SOPS' default
	}
	return r, nil
}

// encrypted reports whether SOPS encrypted the value at path, under the comments that precede it.
func (r *cryptRules) encrypted(path []string, comments [][]string, isComment bool) bool {
	anyKey := func(f func(string) bool) bool {
		for _, p := range path {
			if f(p) {
				return true
			}
		}
		return false
	}
	switch {
	case r.unencryptedSuffix != "":
		return !anyKey(func(p string) bool { return strings.HasSuffix(p, r.unencryptedSuffix) })
	case r.encryptedSuffix != "":
		return anyKey(func(p string) bool { return strings.HasSuffix(p, r.encryptedSuffix) })
	case r.unencryptedRegex != nil:
		return !anyKey(r.unencryptedRegex.MatchString)
	case r.encryptedRegex != nil:
		return anyKey(r.encryptedRegex.MatchString)
	case r.unencryptedComment != nil:
		for _, cs := range comments {
			for _, c := range cs {
				if r.unencryptedComment.MatchString(c) {
					return false
				}
			}
		}
		return true
	case r.encryptedComm != nil:
		last := len(comments) - 1
		for i, cs := range comments {
			for j, c := range cs {
				// The comment that matches is not itself encrypted.
				if isComment && i == last && j == len(comments[last])-1 {
					continue
				}
				if r.encryptedComm.MatchString(c) {
					return true
				}
			}
		}
		return false
	}
	return true
}
