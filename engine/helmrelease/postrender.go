package helmrelease

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/builtins"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resmap"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/resid"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
)

// filenameAnnotation carries each document's template through post-rendering (Helm 4's).
const filenameAnnotation = "postrenderer.helm.sh/postrender-filename"

// postRenderer transforms a stream of YAML documents.
type postRenderer func(in []byte) ([]byte, error)

// postRenderers are Flux's post-renderers for hr, in order: each spec.postRenderers kustomize step,
// common metadata, then the origin labels (which win over common labels of the same key). Flux always
// has at least the last, so rendering always goes through post-rendering.
func postRenderers(hr *helmv2.HelmRelease) []postRenderer {
	var prs []postRenderer
	for _, p := range hr.Spec.PostRenderers {
		if k := p.Kustomize; k != nil {
			prs = append(prs, kustomizePostRenderer(k))
		}
	}
	if cm := hr.Spec.CommonMetadata; cm != nil {
		var ts []resmap.Transformer
		if cm.Labels != nil {
			ts = append(ts, labelTransformer(cm.Labels))
		}
		if cm.Annotations != nil {
			ts = append(ts, &builtins.AnnotationsTransformerPlugin{
				Annotations: cm.Annotations,
				FieldSpecs:  []kustypes.FieldSpec{{Path: "metadata/annotations", CreateIfNotPresent: true}},
			})
		}
		if len(ts) > 0 {
			prs = append(prs, func(in []byte) ([]byte, error) { return transform(in, ts...) })
		}
	}
	origin := labelTransformer(originLabels(hr))
	prs = append(prs, func(in []byte) ([]byte, error) { return transform(in, origin) })
	return prs
}

func labelTransformer(labels map[string]string) resmap.Transformer {
	return &builtins.LabelTransformerPlugin{
		Labels:     labels,
		FieldSpecs: []kustypes.FieldSpec{{Path: "metadata/labels", CreateIfNotPresent: true}},
	}
}

// transform runs kustomize transformers over a stream of documents.
func transform(in []byte, ts ...resmap.Transformer) ([]byte, error) {
	rm, err := resmap.NewFactory(provider.NewDefaultDepProvider().GetResourceFactory()).NewResMapFromBytes(in)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if err := t.Transform(rm); err != nil {
			return nil, err
		}
	}
	return rm.AsYaml()
}

// kustomizePostRenderer builds a kustomization whose only resource is the rendered stream, with the
// step's patches and images, on an in-memory file system (nothing can be loaded from disk or remotely).
func kustomizePostRenderer(k *helmv2.Kustomize) postRenderer {
	return func(in []byte) ([]byte, error) {
		const input = "helm-output.yaml"
		kus := kustypes.Kustomization{
			TypeMeta:  kustypes.TypeMeta{APIVersion: kustypes.KustomizationVersion, Kind: kustypes.KustomizationKind},
			Resources: []string{input},
		}
		for _, img := range k.Images {
			kus.Images = append(kus.Images, kustypes.Image{Name: img.Name, NewName: img.NewName, NewTag: img.NewTag, Digest: img.Digest})
		}
		for _, p := range k.Patches {
			kus.Patches = append(kus.Patches, kustypes.Patch{Patch: p.Patch, Target: selector(p.Target)})
		}
		data, err := json.Marshal(kus)
		if err != nil {
			return nil, err
		}
		fs := filesys.MakeFsInMemory()
		if err := fs.WriteFile(input, in); err != nil {
			return nil, err
		}
		if err := fs.WriteFile(konfig.DefaultKustomizationFileName(), data); err != nil {
			return nil, err
		}
		kz := krusty.MakeKustomizer(&krusty.Options{
			LoadRestrictions: kustypes.LoadRestrictionsNone,
			PluginConfig:     kustypes.DisabledPluginConfig(),
		})
		rm, err := kz.Run(fs, ".")
		if err != nil {
			return nil, err
		}
		return rm.AsYaml()
	}
}

func selector(s *kustomizev1.Selector) *kustypes.Selector {
	if s == nil {
		return nil
	}
	return &kustypes.Selector{
		ResId: resid.ResId{
			Gvk:       resid.Gvk{Group: s.Group, Version: s.Version, Kind: s.Kind},
			Name:      s.Name,
			Namespace: s.Namespace,
		},
		LabelSelector:      s.LabelSelector,
		AnnotationSelector: s.AnnotationSelector,
	}
}

// runPostRenderers runs prs over in, holding the Renderer's kustomize lock.
func (r *Renderer) runPostRenderers(ctx context.Context, prs []postRenderer, in string) (out string, err error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	lock := r.kustomizeLock()
	lock.Lock()
	defer lock.Unlock()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("kustomize failed: %v", p)
		}
	}()
	b := []byte(in)
	for _, pr := range prs {
		if b, err = pr(b); err != nil {
			return "", err
		}
	}
	return string(b), nil
}

// postRender post-renders the rendered templates as Helm 4 does for helm-controller, following
// spec.postRenderStrategy: "combined" (the default) sends templates and hooks through the
// post-renderers in one stream, "separate" in two, "nohooks" only the templates. Files are merged into
// one stream with each document annotated with its template, post-rendered, then split back by that
// annotation (documents the post-renderers add go to synthetic files).
func (r *Renderer) postRender(ctx context.Context, files map[string]string, hr *helmv2.HelmRelease) (map[string]string, error) {
	prs := postRenderers(hr)
	strategy := hr.GetPostRenderStrategy()
	switch strategy {
	case helmv2.PostRenderStrategyCombined, "":
		merged, err := annotateAndMerge(files)
		if err != nil {
			return nil, fmt.Errorf("error merging manifests: %w", err)
		}
		out, err := r.runPostRenderers(ctx, prs, merged)
		if err != nil {
			return nil, fmt.Errorf("error while running post render on files: %w", err)
		}
		split, err := splitAndDeannotate(out, "")
		if err != nil {
			return nil, fmt.Errorf("error while parsing post rendered output: %w", err)
		}
		return split, nil
	case helmv2.PostRenderStrategySeparate, helmv2.PostRenderStrategyNoHooks:
		hooks, manifests, err := sortManifests(files)
		if err != nil {
			return nil, err
		}
		hookFiles := map[string]string{}
		for _, h := range hooks {
			appendFile(hookFiles, h.path, h.content)
		}
		manifestFiles := map[string]string{}
		for _, m := range manifests {
			appendFile(manifestFiles, m.path, m.content)
		}
		groups := []struct {
			name       string
			files      map[string]string
			postRender bool
		}{
			{"hooks", hookFiles, strategy == helmv2.PostRenderStrategySeparate},
			{"manifests", manifestFiles, true},
		}
		out := map[string]string{}
		for _, g := range groups {
			if len(g.files) == 0 {
				continue
			}
			if !g.postRender {
				for _, k := range sortedKeys(g.files) {
					appendFile(out, k, g.files[k])
				}
				continue
			}
			merged, err := annotateAndMerge(g.files)
			if err != nil {
				return nil, fmt.Errorf("error merging %s: %w", g.name, err)
			}
			rendered, err := r.runPostRenderers(ctx, prs, merged)
			if err != nil {
				return nil, fmt.Errorf("error while running post render on %s: %w", g.name, err)
			}
			split, err := splitAndDeannotate(rendered, g.name)
			if err != nil {
				return nil, fmt.Errorf("error while parsing post rendered output for %s: %w", g.name, err)
			}
			for _, k := range sortedKeys(split) {
				appendFile(out, k, split[k])
			}
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unknown post-render strategy: '%s'", strategy)
	}
}

func appendFile(files map[string]string, name, content string) {
	if existing, ok := files[name]; ok {
		files[name] = existing + "\n---\n" + content
		return
	}
	files[name] = content
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// annotateAndMerge joins the documents of files (by file name, then document order; partials and empty
// files skipped) into one stream, each annotated with its file name.
func annotateAndMerge(files map[string]string) (string, error) {
	var nodes []*kyaml.RNode
	for _, name := range sortedKeys(files) {
		content := files[name]
		if strings.HasPrefix(path.Base(name), "_") || strings.TrimSpace(content) == "" {
			continue
		}
		for _, doc := range splitManifests(content) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			parsed, err := kio.ParseAll(doc)
			if err != nil {
				return "", fmt.Errorf("parsing %s: %w", name, err)
			}
			for _, n := range parsed {
				if err := n.PipeE(kyaml.SetAnnotation(filenameAnnotation, name)); err != nil {
					return "", fmt.Errorf("annotating %s: %w", name, err)
				}
				nodes = append(nodes, n)
			}
		}
	}
	merged, err := kio.StringAll(nodes)
	if err != nil {
		return "", fmt.Errorf("writing merged docs: %w", err)
	}
	return merged, nil
}

// splitAndDeannotate groups the documents of a post-rendered stream back into files by their file-name
// annotation, which it removes; documents without one go to "generated-by-postrender-[prefix-]<i>.yaml".
func splitAndDeannotate(stream, prefix string) (map[string]string, error) {
	nodes, err := kio.ParseAll(stream)
	if err != nil {
		return nil, fmt.Errorf("error parsing YAML: %w", err)
	}
	byFile := map[string][]*kyaml.RNode{}
	var order []string
	for i, n := range nodes {
		md, err := n.GetMeta()
		if err != nil {
			return nil, fmt.Errorf("getting metadata: %w", err)
		}
		name := md.Annotations[filenameAnnotation]
		if name == "" {
			if prefix == "" {
				name = fmt.Sprintf("generated-by-postrender-%d.yaml", i)
			} else {
				name = fmt.Sprintf("generated-by-postrender-%s-%d.yaml", prefix, i)
			}
		}
		if err := n.PipeE(kyaml.ClearAnnotation(filenameAnnotation)); err != nil {
			return nil, fmt.Errorf("clearing filename annotation: %w", err)
		}
		if _, ok := byFile[name]; !ok {
			order = append(order, name)
		}
		byFile[name] = append(byFile[name], n)
	}
	out := make(map[string]string, len(byFile))
	for _, name := range order {
		s, err := kio.StringAll(byFile[name])
		if err != nil {
			return nil, fmt.Errorf("re-writing %s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
}
