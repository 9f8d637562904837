package helmrelease

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"helm.sh/helm/v3/pkg/release"
	"sigs.k8s.io/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
)

// What the release actions (engine/helmrelease/release) share with Render: the values, the CRD policy and
// the post-rendering, so that an installed release is what `converge build helmrelease` shows.

// Values composes hr's release values as Render does: spec.valuesFrom in order, then spec.values.
func (r *Renderer) Values(ctx context.Context, hr *helmv2.HelmRelease) (map[string]any, error) {
	return r.composeValues(ctx, hr)
}

// CRDPolicy returns a CRD policy, Create when unset, or an error for an unknown one.
func CRDPolicy(policy helmv2.CRDsPolicy) (helmv2.CRDsPolicy, error) {
	return crdPolicyOrDefault(policy)
}

// OriginLabels are Flux's origin labels of hr's objects.
func OriginLabels(hr *helmv2.HelmRelease) map[string]string { return originLabels(hr) }

// sourceHeader starts each document of a release manifest as Helm writes it.
var sourceHeader = regexp.MustCompile(`^# Source: (.+)\n?`)

// PostRenderManifest post-renders a release manifest as Helm's install and upgrade produce it before
// post-rendering ("---\n# Source: <template>\n<document>" per document): the documents go through
// hr's post-renderers (spec.postRenderers, common metadata, origin labels) as Render sends the
// templates, and come back in the same form, in Render's install order, so that the result equals
// Result.Manifest for the same templates. Hooks are not part of the manifest: see PostRenderHooks.
func (r *Renderer) PostRenderManifest(ctx context.Context, hr *helmv2.HelmRelease, manifest string) (string, error) {
	files := map[string]string{}
	for i, doc := range splitManifests(manifest) {
		name := fmt.Sprintf("generated-by-helm-%d.yaml", i)
		if m := sourceHeader.FindStringSubmatch(doc); m != nil {
			name = m[1]
			doc = doc[len(m[0]):]
		}
		if strings.TrimSpace(doc) == "" {
			continue
		}
		appendFile(files, name, doc)
	}
	prefix := ""
	if s := hr.GetPostRenderStrategy(); s == helmv2.PostRenderStrategySeparate || s == helmv2.PostRenderStrategyNoHooks {
		prefix = "manifests"
	}
	out, err := r.postRenderFiles(ctx, hr, files, prefix)
	if err != nil {
		return "", err
	}
	_, manifests, err := sortManifests(out)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.path, m.content)
	}
	return b.String(), nil
}

// PostRenderHooks post-renders release hooks in place, as Render does unless spec.postRenderStrategy is
// "nohooks": their manifests go through hr's post-renderers, and their names and kinds follow. A hook
// the post-renderers remove is dropped; documents they add are ignored.
func (r *Renderer) PostRenderHooks(ctx context.Context, hr *helmv2.HelmRelease, hooks []*release.Hook) ([]*release.Hook, error) {
	if hr.GetPostRenderStrategy() == helmv2.PostRenderStrategyNoHooks || len(hooks) == 0 {
		return hooks, nil
	}
	files := make(map[string]string, len(hooks))
	keys := make([]string, len(hooks))
	for i, h := range hooks {
		keys[i] = fmt.Sprintf("hook-%06d.yaml", i)
		files[keys[i]] = h.Manifest
	}
	out, err := r.postRenderFiles(ctx, hr, files, "hooks")
	if err != nil {
		return nil, fmt.Errorf("error while running post render on hooks: %w", err)
	}
	var kept []*release.Hook
	for i, h := range hooks {
		doc, ok := out[keys[i]]
		if !ok {
			continue
		}
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("hook %s: %w", h.Path, err)
		}
		h.Manifest, h.Kind, h.Name = strings.TrimSuffix(doc, "\n"), head.Kind, head.Metadata.Name
		kept = append(kept, h)
	}
	return kept, nil
}

// postRenderFiles runs hr's post-renderers over files as one stream, each document annotated with its
// file, and splits the result back.
func (r *Renderer) postRenderFiles(ctx context.Context, hr *helmv2.HelmRelease, files map[string]string, prefix string) (map[string]string, error) {
	if len(files) == 0 {
		return files, nil
	}
	merged, err := annotateAndMerge(files)
	if err != nil {
		return nil, err
	}
	out, err := r.runPostRenderers(ctx, postRenderers(hr), merged)
	if err != nil {
		return nil, err
	}
	return splitAndDeannotate(out, prefix)
}
