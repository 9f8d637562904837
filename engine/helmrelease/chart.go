package helmrelease

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/Masterminds/semver/v3"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// LoadChart loads a chart from a packaged chart (.tgz, e.g. a HelmChart artifact's file) or a chart
// folder (honouring its .helmignore).
func LoadChart(path string) (*chart.Chart, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	var c *chart.Chart
	if st.IsDir() {
		c, err = loader.LoadDir(path)
	} else {
		c, err = loader.LoadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", path, err)
	}
	return c, nil
}

// TrackSourceDigest appends the artifact digest of the chart's source to the chart version as semver
// build metadata, as helm-controller does before installing a chart from an OCIRepository, or from an
// ExternalArtifact whose revision holds a digest ("6.5.3" from "6.5.3@sha256:0123456789ab..." becomes
// "6.5.3+0123456789ab"): .Chart.Version then changes with the digest. It returns the digest ("" when the
// source kind does not carry one, and c is unchanged).
func TrackSourceDigest(c *chart.Chart, sourceKind, revision string) (string, error) {
	switch sourceKind {
	case "OCIRepository":
	case "ExternalArtifact":
		if !strings.Contains(revision, ":") {
			return "", nil
		}
	default:
		return "", nil
	}
	if c == nil || c.Metadata == nil {
		return "", errors.New("no chart")
	}
	ver, err := semver.NewVersion(c.Metadata.Version)
	if err != nil {
		return "", fmt.Errorf("invalid chart version %s", c.Metadata.Version)
	}
	short := func(d string) (string, error) {
		_, hex, ok := strings.Cut(d, ":")
		if !ok || strings.Contains(hex, ":") || len(hex) < 12 {
			return "", fmt.Errorf("invalid artifact revision %s", revision)
		}
		return hex[:12], nil
	}
	// A "<version>@<digest>" revision (an OCI tag, "+" spelled "_") must name the chart's version.
	digest := revision
	tag, d, hasDigest := strings.Cut(revision, "@")
	candidate := revision
	if hasDigest {
		candidate = strings.ReplaceAll(tag, "_", "+")
	}
	if tagVer, err := semver.NewVersion(candidate); err == nil {
		if !hasDigest || strings.Contains(d, "@") || !tagVer.Equal(ver) {
			return "", fmt.Errorf("artifact revision %s does not match chart version %s", tag, c.Metadata.Version)
		}
		digest = d
	}
	sha, err := short(digest)
	if err != nil {
		return "", err
	}
	v, err := ver.SetMetadata(sha)
	if err != nil {
		return "", err
	}
	c.Metadata.Version = v.String()
	return digest, nil
}

// copyChart copies what installing a chart modifies (metadata dependencies, values, the dependency
// tree); file contents are shared.
func copyChart(c *chart.Chart) (*chart.Chart, error) {
	out := *c
	if c.Metadata != nil {
		md := *c.Metadata
		md.Dependencies = make([]*chart.Dependency, len(c.Metadata.Dependencies))
		for i, d := range c.Metadata.Dependencies {
			if d == nil {
				continue
			}
			dc := *d
			dc.Tags = append([]string(nil), d.Tags...)
			dc.ImportValues = append([]any(nil), d.ImportValues...)
			md.Dependencies[i] = &dc
		}
		if c.Metadata.Dependencies == nil {
			md.Dependencies = nil
		}
		out.Metadata = &md
	}
	out.Values = copyValues(c.Values)
	deps := make([]*chart.Chart, 0, len(c.Dependencies()))
	for _, d := range c.Dependencies() {
		if d == nil {
			return nil, errors.New("nil dependency")
		}
		dc, err := copyChart(d)
		if err != nil {
			return nil, err
		}
		deps = append(deps, dc)
	}
	out.SetDependencies(deps...)
	return &out, nil
}

// chartCRDs returns the CustomResourceDefinitions in the crds/ folders of the chart and its enabled
// dependencies, in Helm's order. Other kinds found there are ignored, as Flux does. On a parse error it
// returns those read before.
func chartCRDs(c *chart.Chart) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, crd := range c.CRDObjects() {
		objs, err := decodeObjects(string(crd.File.Data))
		if err != nil {
			return out, fmt.Errorf("failed to parse CustomResourceDefinitions from %s: %w", crd.Filename, err)
		}
		for _, obj := range objs {
			gvk := obj.GroupVersionKind()
			if gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition" {
				out = append(out, obj)
			}
		}
	}
	return out, nil
}

// decodeObjects decodes a stream of YAML documents into objects, skipping empty documents and
// flattening lists.
func decodeObjects(content string) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(content)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue
		}
		obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, j)
		if err != nil {
			return nil, err
		}
		switch o := obj.(type) {
		case *unstructured.Unstructured:
			if err := checkObject(o); err != nil {
				return nil, err
			}
			out = append(out, o)
		case *unstructured.UnstructuredList:
			for i := range o.Items {
				item := o.Items[i]
				if err := checkObject(&item); err != nil {
					return nil, err
				}
				out = append(out, &item)
			}
		default:
			return nil, fmt.Errorf("unexpected object %T", obj)
		}
	}
}

func checkObject(o *unstructured.Unstructured) error {
	if o.GetAPIVersion() == "" || o.GetKind() == "" {
		return fmt.Errorf("object %q without apiVersion or kind", o.GetName())
	}
	return nil
}
