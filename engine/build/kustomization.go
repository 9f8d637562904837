package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/provider"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/cloud"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/source"
)

// Labels Flux sets on every object a Kustomization applies.
const (
	NameLabel      = "kustomize.toolkit.fluxcd.io/name"
	NamespaceLabel = "kustomize.toolkit.fluxcd.io/namespace"
	originKey      = "config.kubernetes.io/origin"
)

// Builder builds Flux Kustomizations. Kustomize keeps global state (its OpenAPI schema), so one Builder
// serialises the kustomize step of its builds; everything else runs concurrently.
type Builder struct {
	// Secrets and ConfigMaps supply postBuild.substituteFrom; nil means none can be read.
	Secrets    source.Secrets
	ConfigMaps source.ConfigMaps
	// Strict makes a variable without value or default an error (Flux's strict substitution).
	Strict bool
	// Helm renders the HelmReleases a tree declares; nil leaves them unrendered.
	Helm *helmrelease.Renderer
	// MaskSOPS renders what SOPS encrypted as Flux's CLI prints it instead of decrypting it: the values
	// of a SOPS-encrypted Secret, and Secret data entries that are SOPS-encrypted files, become
	// "**SOPS**" and the sops metadata is removed (for `build` without --show-secrets; never for diff or
	// apply). When keys can be had, a Kustomization with spec.decryption is also built decrypted, to
	// report what fails to decrypt, and that result is thrown away.
	MaskSOPS bool
	// LocalKeys decrypt the SOPS-encrypted files and objects of every Kustomization with
	// spec.decryption.provider sops, beside the age and PGP keys of its decryption.secretRef Secret
	// (read through Secrets). Offline, they stand in for that Secret when it cannot be found.
	LocalKeys *DecryptionKeys
	// Cloud decrypts SOPS data keys of AWS KMS, GCP KMS and Azure Key Vault with the process's workload
	// identity when the decryption Secret gives no credentials; nil reads the environment uncached.
	Cloud *cloud.Identity
	// Remote fetches kustomize remote bases and resources; nil refuses them (--no-remote-bases).
	Remote *RemoteBases
	// RenderCache, when set, keeps kustomize's output across processes (see RenderCache).
	RenderCache *RenderCache

	mu sync.Mutex
}

// KustomizeLock is the lock every kustomize run of the process must hold (kustomize has global state);
// give it to helmrelease.Renderer.KustomizeLock.
func (b *Builder) KustomizeLock() sync.Locker { return &b.mu }

// Result is what one Kustomization renders to.
type Result struct {
	Objects []*unstructured.Unstructured
	// Files holds, for each object, the file of the source it came from (relative to the source's root,
	// from kustomize's origin annotations), or "" when kustomize does not say (generated objects).
	Files []string
}

// inputs supply postBuild.substituteFrom.
type inputs struct {
	configMaps source.ConfigMaps
	secrets    source.Secrets
	// hint, when set, says how a user supplies a missing input.
	hint func(kind, namespace, name string) string
}

func (in inputs) missing(kind, namespace, name string) string {
	if in.hint == nil {
		return ""
	}
	return in.hint(kind, namespace, name)
}

// Error is a build failure of one Kustomization.
type Error struct {
	Kustomization string // namespace/name
	File          string // relative to the source root, when known
	Line          int
	Object        string // Kind namespace/name, when known
	Err           error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Kustomization %s: ", e.Kustomization)
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Object != "" {
		b.WriteString(e.Object + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Build renders ks from the source files under root (the source artifact's folder).
func (b *Builder) Build(ctx context.Context, ks *kustomizev1.Kustomization, root string) (*Result, error) {
	res, _, err := b.buildMasked(ctx, ks, root, inputs{configMaps: b.ConfigMaps, secrets: b.Secrets})
	return res, err
}

// buildMasked is build; with b.MaskSOPS, SOPS-encrypted Secrets come out as Flux's CLI prints them, after
// one decrypting build (when keys are given) that reports what does not decrypt.
func (b *Builder) buildMasked(ctx context.Context, ks *kustomizev1.Kustomization, root string, in inputs) (*Result, []*unstructured.Unstructured, error) {
	if !b.MaskSOPS {
		return b.build(ctx, ks, root, in, false)
	}
	if dec := b.newDecryptor(ks); dec != nil && !dec.noKeys(ctx) {
		if res, rendered, err := b.build(ctx, ks, root, in, false); err != nil {
			return res, rendered, err
		}
	}
	return b.build(ctx, ks, root, in, true)
}

// build is Build reading substituteFrom through in; mask prints SOPS-encrypted Secrets as Flux's CLI
// does (nothing decrypted). When it fails after kustomize ran, rendered holds kustomize's output (before
// substitution), from which the tree learns which children it cannot build.
func (b *Builder) build(ctx context.Context, ks *kustomizev1.Kustomization, root string, in inputs, mask bool) (_ *Result, rendered []*unstructured.Unstructured, _ error) {
	id := ks.Namespace + "/" + ks.Name
	fail := func(err error) (*Result, []*unstructured.Unstructured, error) {
		return nil, rendered, &Error{Kustomization: id, Err: err}
	}
	failAt := func(e *Error) (*Result, []*unstructured.Unstructured, error) { return nil, rendered, e }

	root, err := filepath.Abs(root)
	if err != nil {
		return fail(err)
	}
	dir, err := SecurePath(root, ks.Spec.Path)
	if err != nil {
		return fail(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fail(fmt.Errorf("path %q not found in the source", ks.Spec.Path))
	}
	fs, err := newConfinedFS(root)
	if err != nil {
		return fail(err)
	}
	if err := b.resolveRemote(ctx, fs, dir, root, ks.Namespace); err != nil {
		return fail(err)
	}
	stripOrigin, err := writeOverlay(fs, dir, ks)
	if err != nil {
		return fail(err)
	}
	dec := b.newDecryptor(ks)
	if mask {
		dec = nil // printed as Flux's CLI prints it, which decrypts nothing
	}
	generated := len(fs.overlay)
	if dec != nil {
		if file, err := dec.decryptSources(ctx, fs, dir); err != nil {
			return failAt(&Error{Kustomization: id, File: file, Err: fmt.Errorf("SOPS decryption: %w", err)})
		}
	}
	// Files SOPS decrypted into the overlay must never reach the cache, nor builds with remote bases
	// (fetched again each time: a moved branch must be seen).
	objs, texts, err := b.kustomize(fs, dir, len(fs.overlay) == generated && len(fs.mounts) == 0)
	if err != nil {
		return fail(err)
	}
	rendered = objs

	vars, err := b.loadVars(ctx, ks, in)
	if err != nil {
		return fail(err)
	}
	files := make([]string, len(objs))
	for i, obj := range objs {
		origin := ""
		if p := originPath(obj); p != "" {
			origin = relTo(root, filepath.Join(dir, p))
		}
		files[i] = origin
		if stripOrigin {
			removeAnnotation(obj, originKey)
		}
		if obj.GetName() == "" || obj.GetKind() == "" || obj.GetAPIVersion() == "" {
			return failAt(&Error{Kustomization: id, File: origin, Err: errors.New("object without apiVersion, kind or name")})
		}
		text := texts[i]
		if dec != nil {
			out, so, field, err := dec.decryptObject(ctx, obj)
			if err != nil {
				if field != "" {
					err = fmt.Errorf("%s: %w", field, err)
				}
				return failAt(&Error{Kustomization: id, File: origin, Object: describe(obj), Err: fmt.Errorf("SOPS decryption: %w", err)})
			}
			if so.whole || len(so.entries) > 0 {
				// Flux rewrites a decrypted object from JSON (only its data entries, when they were what
				// SOPS held): substitution reads that YAML, not the source's.
				rewritten := out
				if text, rewritten, err = rewrittenFromObject(out); err != nil {
					return failAt(&Error{Kustomization: id, File: origin, Object: describe(obj), Err: fmt.Errorf("SOPS decryption: %w", err)})
				}
				if so.whole {
					out = rewritten
				}
			}
			objs[i] = out
			obj = out
		}
		if ks.Spec.PostBuild != nil && vars != nil {
			out, err := b.substitute(obj, text, vars)
			if err != nil {
				e := &Error{Kustomization: id, File: origin, Object: describe(obj), Err: err}
				var se *SubstituteError
				if errors.As(err, &se) && origin != "" {
					e.Line = lineOfText(filepath.Join(root, origin), se.Expr)
				}
				return failAt(e)
			}
			objs[i] = out
			obj = out
		}
		if cm := ks.Spec.CommonMetadata; cm != nil {
			manifest.MergeLabels(obj, cm.Labels)
			manifest.MergeAnnotations(obj, cm.Annotations)
		}
		manifest.MergeLabels(obj, map[string]string{NameLabel: ks.Name, NamespaceLabel: ks.Namespace})
		if mask {
			if err := maskSOPS(obj); err != nil {
				return failAt(&Error{Kustomization: id, File: origin, Object: describe(obj), Err: err})
			}
		}
	}
	return &Result{Objects: objs, Files: files}, nil, nil
}

// SecurePath joins path to root, refusing paths that leave root.
func SecurePath(root, path string) (string, error) {
	clean := filepath.Clean("/" + filepath.ToSlash(path))
	joined := filepath.Join(root, clean)
	if !within(root, joined) {
		return "", fmt.Errorf("path %q leaves the source", path)
	}
	return joined, nil
}

// kustomize runs kustomize on dir and returns its objects as Flux reads them, with the YAML kustomize
// wrote for each (what postBuild substitution works on). With cacheable and b.RenderCache, an output
// stored for the same inputs is returned instead, and a new one is stored.
func (b *Builder) kustomize(fs *confinedFS, dir string, cacheable bool) (objs []*unstructured.Unstructured, texts []string, err error) {
	var key string
	if b.RenderCache != nil && cacheable {
		key = b.RenderCache.key(fs, dir)
		if objs, texts, ok := b.RenderCache.load(fs, key); ok {
			return objs, texts, nil
		}
	}
	var kfs filesys.FileSystem = fs
	var rec *recordingFS
	if key != "" {
		rec = &recordingFS{fs: fs}
		kfs = rec
	}
	objs, texts, err = b.runKustomize(kfs, dir)
	if err != nil || rec == nil || rec.uncacheable {
		return objs, texts, err
	}
	for _, o := range objs {
		if o.GetKind() == "Secret" && o.GroupVersionKind().Group == "" {
			return objs, texts, nil // Secrets stay out of the cache
		}
	}
	// A failure to store only costs the next process a build.
	_ = b.RenderCache.store(key, rec.observed, objs, texts)
	return objs, texts, nil
}

// runKustomize runs kustomize on dir in fs.
func (b *Builder) runKustomize(fs filesys.FileSystem, dir string) (objs []*unstructured.Unstructured, texts []string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("kustomize failed: %v", r)
		}
	}()
	openapi.ResetOpenAPI()
	defer openapi.ResetOpenAPI()
	k := krusty.MakeKustomizer(&krusty.Options{
		LoadRestrictions: kustypes.LoadRestrictionsNone,
		PluginConfig:     kustypes.DisabledPluginConfig(),
	})
	resMap, err := k.Run(fs, dir)
	if err != nil {
		return nil, nil, fmt.Errorf("kustomize build failed: %w", err)
	}
	for _, r := range resMap.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		obj, err := objectFromYAML(y)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		objs = append(objs, obj)
		texts = append(texts, string(y))
	}
	return objs, texts, nil
}

// writeOverlay writes Flux's version of dir's kustomization file into the overlay: generated from the
// manifests found when there is none, then the Kustomization's targetNamespace, namePrefix/nameSuffix,
// patches, components and images. It reports whether origin annotations were added only for error
// messages (and must be removed from the output).
func writeOverlay(fs *confinedFS, dir string, ks *kustomizev1.Kustomization) (bool, error) {
	kfile, data, err := findOrGenerate(fs, dir)
	if err != nil {
		return false, err
	}
	kus := kustypes.Kustomization{}
	if err := yaml.Unmarshal(data, &kus); err != nil {
		return false, fmt.Errorf("%s: %w", relTo(fs.root, kfile), err)
	}
	if kus.APIVersion == "" {
		kus.APIVersion = kustypes.KustomizationVersion
	}
	if kus.Kind == "" {
		kus.Kind = kustypes.KustomizationKind
	}
	spec := ks.Spec
	if spec.TargetNamespace != "" {
		kus.Namespace = spec.TargetNamespace
	}
	if spec.NamePrefix != "" {
		kus.NamePrefix = spec.NamePrefix
	}
	if spec.NameSuffix != "" {
		kus.NameSuffix = spec.NameSuffix
	}
	for _, p := range spec.Patches {
		kp := kustypes.Patch{Patch: p.Patch}
		if t := p.Target; t != nil {
			kp.Target = &kustypes.Selector{
				ResId:              resIDSelector(t.Group, t.Version, t.Kind, t.Name, t.Namespace),
				LabelSelector:      t.LabelSelector,
				AnnotationSelector: t.AnnotationSelector,
			}
		}
		kus.Patches = append(kus.Patches, kp)
	}
	for _, c := range spec.Components {
		if filepath.IsAbs(c) || strings.Contains(c, "://") {
			return false, fmt.Errorf("component path %q must be local and relative", c)
		}
		if spec.IgnoreMissingComponents && !fs.Exists(filepath.Join(dir, c)) {
			continue
		}
		kus.Components = append(kus.Components, c)
	}
	for _, img := range spec.Images {
		found := false
		for i := range kus.Images {
			if kus.Images[i].Name == img.Name {
				found = true
				if img.NewName != "" {
					kus.Images[i].NewName = img.NewName
				}
				if img.NewTag != "" || img.Digest != "" {
					kus.Images[i].NewTag, kus.Images[i].Digest = img.NewTag, img.Digest
				}
			}
		}
		if !found {
			kus.Images = append(kus.Images, kustypes.Image{Name: img.Name, NewName: img.NewName, NewTag: img.NewTag, Digest: img.Digest})
		}
	}
	if len(spec.BuildMetadata) > 0 {
		kus.BuildMetadata = nil
		for _, o := range spec.BuildMetadata {
			kus.BuildMetadata = append(kus.BuildMetadata, string(o))
		}
	}
	strip := false
	if !contains(kus.BuildMetadata, kustypes.OriginAnnotations) {
		kus.BuildMetadata = append(kus.BuildMetadata, kustypes.OriginAnnotations)
		strip = true
	}
	out, err := yaml.Marshal(kus)
	if err != nil {
		return false, err
	}
	return strip, fs.WriteFile(kfile, out)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func findOrGenerate(fs *confinedFS, dir string) (kfile string, data []byte, err error) {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		p := filepath.Join(dir, name)
		if fs.Exists(p) && !fs.IsDir(p) {
			data, err := fs.ReadFile(p)
			return p, data, err
		}
	}
	rf := provider.NewDefaultDepProvider().GetResourceFactory()
	var resources []string
	err = fs.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if info.IsDir() {
			for _, name := range konfig.RecognizedKustomizationFileNames() {
				if k := filepath.Join(p, name); fs.Exists(k) && !fs.IsDir(k) {
					resources = append(resources, "./"+relTo(dir, p))
					return filepath.SkipDir
				}
			}
			return nil
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		content, err := fs.ReadFile(p)
		if err != nil {
			return err
		}
		if _, err := decodeSafely(rf.SliceFromBytes, content); err != nil {
			return fmt.Errorf("%s: not a Kubernetes manifest: %w", relTo(fs.root, p), err)
		}
		resources = append(resources, "./"+relTo(dir, p))
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	kus := kustypes.Kustomization{TypeMeta: kustypes.TypeMeta{APIVersion: kustypes.KustomizationVersion, Kind: kustypes.KustomizationKind}}
	if len(resources) == 0 {
		kus.Namespace = "_placeholder" // kustomize refuses an empty kustomization; Flux does the same
	}
	kus.Resources = resources
	data, err = yaml.Marshal(kus)
	return filepath.Join(dir, konfig.DefaultKustomizationFileName()), data, err
}

func decodeSafely[T any](f func([]byte) (T, error), b []byte) (out T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return f(b)
}

func relTo(base, p string) string {
	rel, err := filepath.Rel(base, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(rel)
}

var remoteRE = regexp.MustCompile(`^(https?://|git::|ssh://|git@|[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}/[^/]+/)`)

// maxRemoteDepth bounds remote bases that have remote bases in turn.
const maxRemoteDepth = 5

// resolveRemote walks the kustomization tree from dir and, for each remote base or resource, fetches it
// (b.Remote) and points the entry at the fetched folder; without b.Remote (--no-remote-bases) it refuses
// them before kustomize could fetch them.
func (b *Builder) resolveRemote(ctx context.Context, fs *confinedFS, dir, root, namespace string) error {
	seen := map[string]bool{}
	var walk func(d string, depth int) error
	walk = func(d string, depth int) error {
		if seen[d] {
			return nil
		}
		seen[d] = true
		for _, name := range konfig.RecognizedKustomizationFileNames() {
			p := filepath.Join(d, name)
			if !fs.Exists(p) || fs.IsDir(p) {
				continue
			}
			data, err := fs.ReadFile(p)
			if err != nil {
				return err
			}
			var k kustypes.Kustomization
			if err := yaml.Unmarshal(data, &k); err != nil {
				return fmt.Errorf("%s: %w", relTo(root, p), err)
			}
			rewritten := data
			entries := append(append(append([]string{}, k.Resources...), k.Components...), k.Bases...) //nolint:staticcheck
			for _, e := range entries {
				local := filepath.Join(d, e)
				if !remoteRE.MatchString(e) || fs.Exists(local) {
					if fs.IsDir(local) {
						if err := walk(local, depth); err != nil {
							return err
						}
					}
					continue
				}
				if b.Remote == nil {
					return fmt.Errorf("%s: remote resource %q: remote bases are disabled (--no-remote-bases): vendor it into the source", relTo(root, p), e)
				}
				if depth >= maxRemoteDepth {
					return fmt.Errorf("%s: remote resource %q: more than %d levels of remote bases", relTo(root, p), e, maxRemoteDepth)
				}
				rb, err := parseRemoteBase(e)
				if err != nil {
					return fmt.Errorf("%s: remote resource %q: %w", relTo(root, p), e, err)
				}
				baseDir, repoDir, err := b.Remote.fetch(ctx, namespace, rb)
				if err != nil {
					return fmt.Errorf("%s: remote resource %q: %w", relTo(root, p), e, err)
				}
				if err := fs.mount(repoDir); err != nil {
					return fmt.Errorf("%s: remote resource %q: %w", relTo(root, p), e, err)
				}
				if !fs.IsDir(baseDir) {
					return fmt.Errorf("%s: remote resource %q: folder %q not found in %s", relTo(root, p), e, rb.dir, rb.repo)
				}
				rel, err := filepath.Rel(d, baseDir)
				if err != nil {
					return err
				}
				entry := regexp.MustCompile(`(?m)^(\s*-\s*["']?)` + regexp.QuoteMeta(e) + `(["']?\s*(#.*)?)$`)
				rewritten = entry.ReplaceAll(rewritten, []byte("${1}"+filepath.ToSlash(rel)+"${2}"))
				if err := walk(baseDir, depth+1); err != nil {
					return err
				}
			}
			if string(rewritten) != string(data) {
				return fs.WriteFile(p, rewritten)
			}
			return nil
		}
		return nil
	}
	return walk(dir, 0)
}

func resIDSelector(group, version, kind, name, namespace string) resid.ResId {
	return resid.ResId{Gvk: resid.Gvk{Group: group, Version: version, Kind: kind}, Name: name, Namespace: namespace}
}

func (b *Builder) loadVars(ctx context.Context, ks *kustomizev1.Kustomization, in inputs) (map[string]string, error) {
	pb := ks.Spec.PostBuild
	if pb == nil {
		return nil, nil
	}
	vars := map[string]string{}
	for _, ref := range pb.SubstituteFrom {
		var data map[string]string
		switch ref.Kind {
		case "ConfigMap":
			if in.configMaps == nil {
				return nil, fmt.Errorf("substituteFrom ConfigMap/%s: no cluster or local resource supplies ConfigMaps%s", ref.Name, in.missing("ConfigMap", ks.Namespace, ref.Name))
			}
			cm, err := in.configMaps.GetConfigMap(ctx, ks.Namespace, ref.Name)
			if err != nil {
				if ref.Optional && apierrors.IsNotFound(err) {
					continue
				}
				if apierrors.IsNotFound(err) {
					return nil, fmt.Errorf("substituteFrom ConfigMap/%s: %w%s", ref.Name, err, in.missing("ConfigMap", ks.Namespace, ref.Name))
				}
				return nil, fmt.Errorf("substituteFrom ConfigMap/%s: %w", ref.Name, err)
			}
			data = cm.Data
		case "Secret":
			if in.secrets == nil {
				return nil, fmt.Errorf("substituteFrom Secret/%s: no cluster or local resource supplies Secrets%s", ref.Name, in.missing("Secret", ks.Namespace, ref.Name))
			}
			sec, err := in.secrets.GetSecret(ctx, ks.Namespace, ref.Name)
			if err != nil {
				if ref.Optional && apierrors.IsNotFound(err) {
					continue
				}
				if apierrors.IsNotFound(err) {
					return nil, fmt.Errorf("substituteFrom Secret/%s: %w%s", ref.Name, err, in.missing("Secret", ks.Namespace, ref.Name))
				}
				return nil, fmt.Errorf("substituteFrom Secret/%s: %w", ref.Name, err)
			}
			data = map[string]string{}
			for k, v := range sec.Data {
				data[k] = string(v)
			}
			for k, v := range sec.StringData {
				data[k] = v
			}
		}
		for k, v := range data {
			vars[k] = strings.ReplaceAll(v, "\n", "")
		}
	}
	for k, v := range pb.Substitute {
		vars[k] = strings.ReplaceAll(v, "\n", "")
	}
	for k := range vars {
		if !ValidVarName(k) {
			return nil, fmt.Errorf("variable name %q is invalid: it must match %s", k, varNameRE)
		}
	}
	if len(vars) == 0 && ks.GetSubstituteStrategy() != kustomizev1.SubstituteStrategyAlways {
		// WithVariables (the default): nothing to substitute, ${x:=default} expressions are left as is.
		return nil, nil
	}
	return vars, nil
}

// supplyHint says how to give an input no cluster, tree or local file supplied.
func supplyHint(kind, namespace, name string) string {
	return fmt.Sprintf(" (the tree does not declare it: supply it with --local-resource %s/%s/%s=FILE, or build against the cluster that holds it)", kind, namespace, name)
}

// substitute runs postBuild substitution on text, the YAML of obj as kustomize wrote it (as Flux does:
// the same expression in a quoted and a plain scalar yields a string and, say, a boolean), and reads the
// result back as Flux does.
func (b *Builder) substitute(obj *unstructured.Unstructured, text string, vars map[string]string) (*unstructured.Unstructured, error) {
	if obj.GetLabels()[meta.SubstituteAnnotation] == meta.DisabledValue || obj.GetAnnotations()[meta.SubstituteAnnotation] == meta.DisabledValue {
		return obj, nil
	}
	out, err := Substitute(text, func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, b.Strict)
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("the substituted object is no longer valid YAML: %w", err)
	}
	_, res, err := rewrittenFromJSON(j)
	if err != nil {
		return nil, fmt.Errorf("the substituted object is not valid: %w", err)
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(obj.Object, "metadata", "annotations", originKey); !ok {
		removeAnnotation(res, originKey)
	}
	return res, nil
}

func originPath(obj *unstructured.Unstructured) string {
	o := obj.GetAnnotations()[originKey]
	for _, line := range strings.Split(o, "\n") {
		if p, ok := strings.CutPrefix(line, "path: "); ok {
			return strings.TrimSpace(p)
		}
	}
	return ""
}

func lineOfText(file, text string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	i := strings.Index(string(b), text)
	if i < 0 {
		return 0
	}
	return strings.Count(string(b[:i]), "\n") + 1
}

func describe(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return obj.GetKind() + " " + ns + "/" + obj.GetName()
	}
	return obj.GetKind() + " " + obj.GetName()
}

func removeAnnotation(obj *unstructured.Unstructured, key string) {
	// On the map itself: GetAnnotations gives nothing when a value is not a string (substitution can
	// make one a number).
	md, _ := obj.Object["metadata"].(map[string]any)
	a, _ := md["annotations"].(map[string]any)
	if _, ok := a[key]; !ok {
		return
	}
	delete(a, key)
	if len(a) == 0 {
		delete(md, "annotations")
	}
}
