package build

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"filippo.io/age"
	agearmor "filippo.io/age/armor"
	"github.com/ProtonMail/go-crypto/openpgp"
	pgparmor "github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/cloud"
	"github.com/converge-gitops/converge/engine/sopsdoc"
)

// SOPS decryption as Flux's kustomize-controller does it: the files a kustomization's secretGenerator
// (files, envs) and patches read are decrypted before kustomize runs, then every built object that
// carries SOPS metadata, and every Secret data entry that is a SOPS-encrypted file, is decrypted.
const (
	// DecryptionProviderSOPS is the only spec.decryption.provider Flux knows.
	DecryptionProviderSOPS = "sops"
	// DecryptAnnotation set to "disabled" leaves an object encrypted.
	DecryptAnnotation = "kustomize.toolkit.fluxcd.io/decrypt"
	// Entries of the decryption Secret holding keys, by extension (Flux's naming).
	AgeKeyExt = ".agekey"
	PGPKeyExt = ".asc"

	maxEncryptedFileSize = 5 << 20
)

// markers tell a SOPS-encrypted document of each format, in the order they are tried. Binary files
// are JSON envelopes at rest, so JSON covers them.
var markers = []struct {
	format formats.Format
	marker []byte
}{
	{formats.Dotenv, []byte("sops_mac=ENC[")},
	{formats.Ini, []byte("[sops]")},
	{formats.Json, []byte(`"mac": "ENC[`)},
	{formats.Yaml, []byte("mac: ENC[")},
}

func markerOf(f formats.Format) []byte {
	if f == formats.Binary {
		f = formats.Json
	}
	for _, m := range markers {
		if m.format == f {
			return m.marker
		}
	}
	return nil
}

func detectFormat(data []byte) (formats.Format, bool) {
	for _, m := range markers {
		if bytes.Contains(data, m.marker) {
			return m.format, true
		}
	}
	return 0, false
}

// formatForPath is SOPS' format for a file name; Docker config files are JSON whatever their name.
func formatForPath(p string) formats.Format {
	if strings.HasSuffix(p, ".dockerconfigjson") {
		return formats.Json
	}
	return formats.FormatForPath(p)
}

func formatName(f formats.Format) string {
	switch f {
	case formats.Dotenv:
		return "dotenv"
	case formats.Ini:
		return "INI"
	case formats.Json:
		return "JSON"
	case formats.Yaml:
		return "YAML"
	}
	return "binary"
}

// DecryptionKeys are SOPS private keys held in memory: age identities and PGP private keys, and the
// KMS credentials of a decryption Secret. Add keys before builds start; builds only read them.
type DecryptionKeys struct {
	age []age.Identity
	pgp openpgp.EntityList
	// kms are the cloud KMS and Vault credentials; empty fields mean the process's workload identity.
	kms cloud.KMSCredentials
	// sources name where the keys came from, for error messages.
	sources []string
}

// Add reads the keys in data, telling age identities from armored PGP private keys by their content;
// name (a file, or a Secret entry) is used in errors.
func (k *DecryptionKeys) Add(name string, data []byte) error {
	switch {
	case bytes.Contains(data, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")):
		return k.AddPGP(name, data)
	case bytes.Contains(data, []byte("AGE-SECRET-KEY-")):
		return k.AddAge(name, data)
	}
	return fmt.Errorf("%s: neither age identities (AGE-SECRET-KEY-...) nor an armored PGP private key", name)
}

// AddAge reads age identities, one a line (blank lines and # comments ignored).
func (k *DecryptionKeys) AddAge(name string, data []byte) error {
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: age identities: %w", name, err)
	}
	k.age = append(k.age, ids...)
	k.sources = append(k.sources, name)
	return nil
}

// AddPGP reads PGP private keys, armored or binary. Keys protected by a passphrase are refused: there is
// no one to type it.
func (k *DecryptionKeys) AddPGP(name string, data []byte) error {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		var binErr error
		if ring, binErr = openpgp.ReadKeyRing(bytes.NewReader(data)); binErr != nil {
			return fmt.Errorf("%s: PGP key: %w", name, err)
		}
	}
	n := 0
	for _, e := range ring {
		if e.PrivateKey == nil {
			continue
		}
		if e.PrivateKey.Encrypted {
			return fmt.Errorf("%s: PGP key %X is protected by a passphrase; decryption needs a key without one", name, e.PrimaryKey.Fingerprint)
		}
		for _, sub := range e.Subkeys {
			if sub.PrivateKey != nil && sub.PrivateKey.Encrypted {
				return fmt.Errorf("%s: PGP key %X has a subkey protected by a passphrase; decryption needs a key without one", name, e.PrimaryKey.Fingerprint)
			}
		}
		k.pgp = append(k.pgp, e)
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s: holds no PGP private key (a public key?)", name)
	}
	k.sources = append(k.sources, name)
	return nil
}

// Empty reports whether no key was added.
func (k *DecryptionKeys) Empty() bool {
	return k == nil || (len(k.age)+len(k.pgp) == 0 && k.kms.Empty())
}

// AddKMS reads the KMS entry name of a decryption Secret as Flux does: sops.aws-kms, sops.gcp-kms,
// sops.azure-kv or sops.vault-token; it reports false for any other name. from names the Secret in errors.
func (k *DecryptionKeys) AddKMS(from, name string, data []byte) (bool, error) {
	var err error
	switch name {
	case "sops.aws-kms":
		k.kms.AWS, err = cloud.ParseAWSKMSCredentials(data)
	case "sops.gcp-kms":
		k.kms.GCPJSON = bytes.TrimSpace(data)
	case "sops.azure-kv":
		k.kms.Azure, err = cloud.ParseAzureKVConfig(data)
	case "sops.vault-token":
		k.kms.VaultToken = strings.TrimSpace(string(data))
	default:
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("failed to import '%s' data from %s: %w", name, from, err)
	}
	k.sources = append(k.sources, from+" entry "+name)
	return true, nil
}

func (k *DecryptionKeys) merge(o *DecryptionKeys) *DecryptionKeys {
	out := &DecryptionKeys{}
	for _, x := range []*DecryptionKeys{k, o} {
		if x == nil {
			continue
		}
		out.age = append(out.age, x.age...)
		out.pgp = append(out.pgp, x.pgp...)
		// The first holder of a KMS credential wins: the decryption Secret's, merged first.
		if out.kms.AWS == nil {
			out.kms.AWS = x.kms.AWS
		}
		if len(out.kms.GCPJSON) == 0 {
			out.kms.GCPJSON = x.kms.GCPJSON
		}
		if out.kms.Azure == nil {
			out.kms.Azure = x.kms.Azure
		}
		if out.kms.VaultToken == "" {
			out.kms.VaultToken = x.kms.VaultToken
		}
		out.sources = append(out.sources, x.sources...)
	}
	return out
}

func (k *DecryptionKeys) describe() string {
	if len(k.sources) == 0 {
		return "none; cloud KMS through the workload identity"
	}
	return fmt.Sprintf("%d age, %d PGP, from %s", len(k.age), len(k.pgp), strings.Join(k.sources, ", "))
}

// ErrNoDecryptionKey is returned when a SOPS document is to be decrypted and no key at all was given.
var ErrNoDecryptionKey = errors.New("no decryption key was given")

var errUnsupportedKey = errors.New("HuaweiCloud KMS is not supported by converge: age, PGP, AWS KMS, GCP KMS, Azure Key Vault and Vault transit are")

// decryptDataKey decrypts a document's data key (or Shamir share): age and PGP with the in-memory
// keys (never the GnuPG keyring); AWS KMS, GCP KMS, Azure Key Vault and Vault transit through their
// REST APIs with the decryption Secret's credentials, or else id's workload identity, as Flux does.
func (k *DecryptionKeys) decryptDataKey(ctx context.Context, id *cloud.Identity, mk sopsdoc.MasterKey) ([]byte, error) {
	a := mk.Attrs
	switch mk.Type {
	case sopsdoc.KeyTypeAge:
		return k.decryptAge([]byte(mk.EncryptedKey))
	case sopsdoc.KeyTypePGP:
		return k.decryptPGP([]byte(mk.EncryptedKey))
	case sopsdoc.KeyTypeAWSKMS:
		if a["role"] != "" {
			return nil, fmt.Errorf("role %s: assuming a role for a KMS key is not supported by converge: grant the workload identity the key", a["role"])
		}
		if a["aws_profile"] != "" {
			return nil, fmt.Errorf("aws_profile %s: named AWS profiles are not supported by converge", a["aws_profile"])
		}
		var creds *cloud.AWSCredentials
		if k != nil {
			creds = k.kms.AWS
		}
		return id.AWSKMSDecrypt(ctx, creds, a["arn"], mk.EncryptedKey, mk.Context)
	case sopsdoc.KeyTypeGCPKMS:
		var js []byte
		if k != nil {
			js = k.kms.GCPJSON
		}
		return id.GCPKMSDecrypt(ctx, js, a["resource_id"], mk.EncryptedKey)
	case sopsdoc.KeyTypeAzureKV:
		var cfg *cloud.AzureKVConfig
		if k != nil {
			cfg = k.kms.Azure
		}
		return id.AzureKVUnwrap(ctx, cfg, a["vault_url"], a["name"], a["version"], mk.EncryptedKey)
	case sopsdoc.KeyTypeVault:
		var token string
		if k != nil {
			token = k.kms.VaultToken
		}
		return id.VaultTransitDecrypt(ctx, token, a["vault_address"], a["engine_path"], a["key_name"], mk.EncryptedKey)
	}
	return nil, errUnsupportedKey
}

func (k *DecryptionKeys) decryptAge(ciphertext []byte) ([]byte, error) {
	if len(k.age) == 0 {
		return nil, errors.New("no age identity given")
	}
	r, err := age.Decrypt(agearmor.NewReader(bytes.NewReader(ciphertext)), k.age...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func (k *DecryptionKeys) decryptPGP(ciphertext []byte) ([]byte, error) {
	if len(k.pgp) == 0 {
		return nil, errors.New("no PGP private key given")
	}
	block, err := pgparmor.Decode(bytes.NewReader(ciphertext))
	if err != nil {
		return nil, fmt.Errorf("reading the encrypted data key: %w", err)
	}
	md, err := openpgp.ReadMessage(block.Body, k.pgp, nil, nil)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(md.UnverifiedBody)
}

// decryptor decrypts for one Kustomization. Its keys (the local ones and those of the decryption
// Secret) are loaded the first time something needs them.
type decryptor struct {
	b  *Builder
	ks *kustomizev1.Kustomization

	loaded  bool
	keys    *DecryptionKeys
	keysErr error
}

// newDecryptor returns nil when ks asks for no SOPS decryption.
func (b *Builder) newDecryptor(ks *kustomizev1.Kustomization) *decryptor {
	d := ks.Spec.Decryption
	if d == nil || d.Provider != DecryptionProviderSOPS {
		return nil
	}
	return &decryptor{b: b, ks: ks}
}

func (d *decryptor) loadKeys(ctx context.Context) (*DecryptionKeys, error) {
	if d.loaded {
		return d.keys, d.keysErr
	}
	d.loaded = true
	d.keys = d.b.LocalKeys.merge(nil)
	ref := d.ks.Spec.Decryption.SecretRef
	if ref == nil {
		return d.keys, nil
	}
	id := d.ks.Namespace + "/" + ref.Name
	if d.b.Secrets == nil {
		if d.keys.Empty() {
			d.keysErr = fmt.Errorf("decryption Secret %s: no cluster or local resource supplies Secrets, and no local key was given", id)
		}
		return d.keys, d.keysErr
	}
	sec, err := d.b.Secrets.GetSecret(ctx, d.ks.Namespace, ref.Name)
	if err != nil {
		if apierrors.IsNotFound(err) && !d.keys.Empty() {
			return d.keys, nil // offline with local keys: the cluster's Secret is not needed
		}
		d.keysErr = fmt.Errorf("decryption Secret %s: %w", id, err)
		return d.keys, d.keysErr
	}
	names := make([]string, 0, len(sec.Data))
	for n := range sec.Data {
		names = append(names, n)
	}
	sort.Strings(names)
	fromSecret := &DecryptionKeys{}
	for _, n := range names {
		if ok, err := fromSecret.AddKMS("decryption Secret "+id, n, sec.Data[n]); ok {
			if err != nil {
				d.keysErr = err
				return d.keys, d.keysErr
			}
			continue
		}
		var err error
		switch filepath.Ext(n) {
		case AgeKeyExt:
			err = fromSecret.AddAge("Secret "+id+" entry "+n, sec.Data[n])
		case PGPKeyExt:
			err = fromSecret.AddPGP("Secret "+id+" entry "+n, sec.Data[n])
		}
		if err != nil {
			d.keysErr = fmt.Errorf("decryption %w", err)
			return d.keys, d.keysErr
		}
	}
	d.keys = fromSecret.merge(d.keys)
	return d.keys, nil
}

// decrypt decrypts a SOPS document of format in and returns it in format out, verifying its MAC.
func (d *decryptor) decrypt(ctx context.Context, data []byte, in, out formats.Format) ([]byte, error) {
	return d.decryptMAC(ctx, data, in, out, true)
}

func (d *decryptor) decryptMAC(ctx context.Context, data []byte, in, out formats.Format, checkMAC bool) (res []byte, err error) {
	defer func() {
		// Malformed input can make SOPS panic.
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("malformed SOPS %s document: %v", formatName(in), r)
		}
	}()
	keys, err := d.loadKeys(ctx)
	if err != nil {
		return nil, err
	}
	return decryptWith(ctx, d.b.Cloud, keys, data, in, out, checkMAC)
}

// decryptDocument decrypts a SOPS document of format in, verifying its MAC, and returns it in format out.
func decryptDocument(keys *DecryptionKeys, data []byte, in, out formats.Format) ([]byte, error) {
	return decryptWith(context.Background(), nil, keys, data, in, out, true)
}

// decryptWith decrypts a SOPS document; checkMAC false skips the MAC check, for objects that kustomize
// rewrote (fields reordered, labels and namespaces added), as Flux skips it for every document.
func decryptWith(ctx context.Context, id *cloud.Identity, keys *DecryptionKeys, data []byte, in, out formats.Format, checkMAC bool) ([]byte, error) {
	doc, err := sopsdoc.Parse(data, in)
	if err != nil {
		return nil, fmt.Errorf("not a valid SOPS %s document: %w", formatName(in), err)
	}
	var failures []string
	cloudTried := false
	key, err := doc.DataKey(func(mk sopsdoc.MasterKey) ([]byte, error) {
		if (mk.Type == sopsdoc.KeyTypeAge || mk.Type == sopsdoc.KeyTypePGP) && keys.Empty() {
			return nil, ErrNoDecryptionKey
		}
		if mk.Type != sopsdoc.KeyTypeAge && mk.Type != sopsdoc.KeyTypePGP {
			cloudTried = true
		}
		key, err := keys.decryptDataKey(ctx, id, mk)
		if err != nil {
			failures = append(failures, mk.Describe()+": "+err.Error())
		}
		return key, err
	})
	if err != nil {
		if keys.Empty() && !cloudTried {
			var recipients []string
			for _, g := range doc.Metadata.KeyGroups {
				for _, mk := range g {
					recipients = append(recipients, mk.Type+" "+mk.ID)
				}
			}
			return nil, fmt.Errorf("%w; it is encrypted for %s", ErrNoDecryptionKey, strings.Join(recipients, ", "))
		}
		if len(failures) == 0 {
			failures = []string{err.Error()}
		}
		return nil, fmt.Errorf("none of the keys given (%s) can decrypt it: %s", keys.describe(), strings.Join(failures, "; "))
	}
	decrypt := doc.Decrypt
	if !checkMAC {
		decrypt = doc.DecryptIgnoringMAC
	}
	if err := decrypt(key); err != nil {
		return nil, fmt.Errorf("decrypting values: %w", err)
	}
	plain, err := doc.Emit(out)
	if err != nil {
		return nil, fmt.Errorf("writing the decrypted %s document as %s: %w", formatName(in), formatName(out), err)
	}
	return plain, nil
}

// decryptSources decrypts, into the overlay, the SOPS-encrypted files that the secretGenerators
// (files, envs) and patches of the kustomization at dir, and of the kustomizations it includes,
// read. It returns the file (relative to the root) that failed, if any.
func (d *decryptor) decryptSources(ctx context.Context, fs *confinedFS, dir string) (string, error) {
	visited := map[string]bool{}
	done := map[string]bool{}
	var failed string
	visitRef := func(kdir, ref string, format formats.Format) error {
		p := ref
		if !filepath.IsAbs(p) {
			p = filepath.Join(kdir, p)
		}
		p = filepath.Clean(p)
		if done[p] || !fs.Exists(p) || fs.IsDir(p) {
			return nil // kustomize reports missing files itself
		}
		data, err := fs.ReadFile(p)
		if err != nil {
			failed = relTo(fs.root, p)
			return err
		}
		if len(data) > maxEncryptedFileSize {
			failed = relTo(fs.root, p)
			return fmt.Errorf("cannot decrypt a file of %d bytes (limit %d)", len(data), maxEncryptedFileSize)
		}
		done[p] = true
		if !bytes.Contains(data, markerOf(format)) {
			return nil
		}
		plain, err := d.decrypt(ctx, data, format, format)
		if err != nil {
			failed = relTo(fs.root, p)
			return err
		}
		return fs.WriteFile(p, plain)
	}
	var walk func(kdir string) error
	walk = func(kdir string) error {
		if visited[kdir] || !fs.IsDir(kdir) {
			return nil
		}
		visited[kdir] = true
		var data []byte
		var kfile string
		for _, name := range konfig.RecognizedKustomizationFileNames() {
			if p := filepath.Join(kdir, name); fs.Exists(p) && !fs.IsDir(p) {
				b, err := fs.ReadFile(p)
				if err != nil {
					return err
				}
				data, kfile = b, p
				break
			}
		}
		if kfile == "" {
			return nil
		}
		var kus kustypes.Kustomization
		if err := yaml.Unmarshal(data, &kus); err != nil {
			failed = relTo(fs.root, kfile)
			return err
		}
		for _, gen := range kus.SecretGenerator {
			for _, src := range gen.FileSources {
				key, file, ok := strings.Cut(src, "=")
				if !ok {
					file = key
				}
				if err := visitRef(kdir, file, formatForPath(key)); err != nil {
					return err
				}
			}
			for _, env := range gen.EnvSources {
				format := formatForPath(env)
				if format == formats.Binary {
					format = formats.Dotenv
				}
				if err := visitRef(kdir, env, format); err != nil {
					return err
				}
			}
		}
		for _, p := range kus.Patches {
			if p.Path == "" || strings.Contains(p.Path, "://") {
				continue
			}
			if err := visitRef(kdir, p.Path, formatForPath(p.Path)); err != nil {
				return err
			}
		}
		for _, r := range append(append([]string{}, kus.Resources...), kus.Components...) {
			if strings.Contains(r, "://") {
				continue
			}
			p := r
			if !filepath.IsAbs(p) {
				p = filepath.Join(kdir, p)
			}
			if err := walk(filepath.Clean(p)); err != nil {
				return err
			}
		}
		return nil
	}
	err := walk(dir)
	return failed, err
}

// sopsOrigin is what of an object SOPS held encrypted: all of it, or some Secret data entries.
type sopsOrigin struct {
	whole   bool
	entries []string
}

// decryptObject returns obj decrypted: the whole object when it carries SOPS metadata, else, for a
// Secret, each data entry that is a SOPS-encrypted file. Objects annotated decrypt: disabled are
// returned as they are. field names the Secret entry that failed, if any.
func (d *decryptor) decryptObject(ctx context.Context, obj *unstructured.Unstructured) (_ *unstructured.Unstructured, _ sopsOrigin, field string, _ error) {
	var so sopsOrigin
	if strings.EqualFold(obj.GetAnnotations()[DecryptAnnotation], "disabled") {
		return obj, so, "", nil
	}
	if hasSOPSMetadata(obj) {
		data, err := json.Marshal(obj.Object)
		if err != nil {
			return nil, so, "", err
		}
		// A built object is not the file SOPS encrypted: kustomize reordered its fields and may have
		// added some, so its MAC cannot match (Flux does not check it either).
		plain, err := d.decryptMAC(ctx, data, formats.Json, formats.Json, false)
		if err != nil {
			return nil, so, "", err
		}
		out := &unstructured.Unstructured{}
		if err := out.UnmarshalJSON(plain); err != nil {
			return nil, so, "", fmt.Errorf("the decrypted object is not valid: %w", err)
		}
		so.whole = true
		return out, so, "", nil
	}
	if obj.GetKind() != "Secret" {
		return obj, so, "", nil
	}
	data, ok := obj.Object["data"].(map[string]any)
	if !ok {
		return obj, so, "", nil
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := data[k].(string)
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			continue // not ours to report: the API server will
		}
		in, ok := detectFormat(raw)
		if !ok {
			continue
		}
		plain, err := d.decrypt(ctx, raw, in, formatForPath(k))
		if err != nil {
			return nil, so, "data." + k, err
		}
		data[k] = base64.StdEncoding.EncodeToString(plain)
		so.entries = append(so.entries, k)
	}
	return obj, so, "", nil
}

func hasSOPSMetadata(obj *unstructured.Unstructured) bool {
	mac, _, _ := unstructured.NestedFieldNoCopy(obj.Object, "sops", "mac")
	return mac != nil && mac != ""
}

// noKeys reports whether no key at all can be had for this Kustomization: none given locally, and
// no decryption Secret (none named, none found, or no cluster to read it from). A Secret that cannot
// be read for another reason is not "no key": that error is reported when decrypting.
func (d *decryptor) noKeys(ctx context.Context) bool {
	keys, err := d.loadKeys(ctx)
	if !keys.Empty() {
		return false
	}
	return err == nil || d.b.Secrets == nil || apierrors.IsNotFound(err)
}

// SOPSMask is the value Flux's CLI prints for each value of a SOPS-encrypted Secret.
const SOPSMask = "**SOPS**"

// sopsMasked reports whether maskSOPS masked a value of the Secret o: its values are not the cluster's.
func sopsMasked(o *unstructured.Unstructured) bool {
	data, _, _ := unstructured.NestedStringMap(o.Object, "data")
	for _, v := range data {
		if b, err := base64.StdEncoding.DecodeString(v); err == nil && strings.Contains(string(b), SOPSMask) {
			return true
		}
	}
	strs, _, _ := unstructured.NestedStringMap(o.Object, "stringData")
	for _, v := range strs {
		if strings.Contains(v, SOPSMask) {
			return true
		}
		if b, err := base64.StdEncoding.DecodeString(v); err == nil && strings.Contains(string(b), SOPSMask) {
			return true
		}
	}
	return false
}

// maskSOPS masks what SOPS encrypted in a Secret as `flux build` prints it:
//   - a SOPS-encrypted Secret loses its sops metadata and every data value becomes base64("**SOPS**"),
//     every stringData value "**SOPS**"; in a kubernetes.io/dockerconfigjson Secret, the JSON
//     {"mask":"**SOPS**"} instead, so the value stays JSON;
//   - otherwise each data entry that is a SOPS-encrypted file becomes base64("**SOPS**"), and so does
//     a stringData entry holding one (base64 there too, as Flux does).
//
// Other values are left as they are, as Flux leaves them (but an empty data is dropped, as Flux's CLI
// drops it); objects of other kinds are not changed.
func maskSOPS(obj *unstructured.Unstructured) error {
	if obj.GetKind() != "Secret" {
		return nil
	}
	y, err := yaml.Marshal(obj.Object)
	if err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(SOPSMask))
	data, _ := obj.Object["data"].(map[string]any)
	stringData, _ := obj.Object["stringData"].(map[string]any)
	if v, ok := obj.Object["data"]; ok && (v == nil || data != nil && len(data) == 0) {
		delete(obj.Object, "data") // Flux's CLI rewrites data, and drops it when empty
	}
	if bytes.Contains(y, []byte("sops:")) && bytes.Contains(y, []byte("mac: ENC[")) {
		delete(obj.Object, "sops")
		plain := SOPSMask
		if t, _ := obj.Object["type"].(string); t == "kubernetes.io/dockerconfigjson" {
			plain = `{"mask":"` + SOPSMask + `"}`
		}
		for k := range data {
			data[k] = base64.StdEncoding.EncodeToString([]byte(plain))
		}
		for k := range stringData {
			stringData[k] = plain
		}
		return nil
	}
	for k, v := range data {
		if s, ok := v.(string); ok {
			if raw, err := base64.StdEncoding.DecodeString(s); err == nil && isSOPSText(raw) {
				data[k] = b64
			}
		}
	}
	for k, v := range stringData {
		if s, ok := v.(string); ok && isSOPSText([]byte(s)) {
			stringData[k] = b64
		}
	}
	return nil
}

// isSOPSText is Flux's test for a SOPS-encrypted file in a Secret value.
func isSOPSText(b []byte) bool {
	return bytes.Contains(b, []byte("sops")) && bytes.Contains(b, []byte("ENC["))
}

// AddFromEnv adds the age identities SOPS itself reads from the environment: SOPS_AGE_KEY (the
// identities) and SOPS_AGE_KEY_FILE (a file of them). getenv is os.Getenv or a test's stand-in.
func (k *DecryptionKeys) AddFromEnv(getenv func(string) string) error {
	if v := getenv("SOPS_AGE_KEY"); v != "" {
		if err := k.AddAge("SOPS_AGE_KEY", []byte(v)); err != nil {
			return err
		}
	}
	if f := getenv("SOPS_AGE_KEY_FILE"); f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("SOPS_AGE_KEY_FILE: %w", err)
		}
		if err := k.AddAge(f, data); err != nil {
			return err
		}
	}
	return nil
}
