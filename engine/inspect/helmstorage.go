package inspect

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// clusterScoped are the built-in kinds without namespace, for manifests read from Helm's storage.
var clusterScoped = map[string]bool{
	"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"PersistentVolume": true, "StorageClass": true, "PriorityClass": true, "IngressClass": true, "RuntimeClass": true,
	"APIService": true, "ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true, "CSIDriver": true, "VolumeAttachment": true,
}

// helmReleaseChildren lists the objects of a HelmRelease's current release from Helm's storage Secret
// (sh.helm.release.v1.<name>.v<version> in the storage namespace), for HelmReleases whose status has
// no inventory. A missing release yields no children.
func helmReleaseChildren(ctx context.Context, get Getter, hr *unstructured.Unstructured) ([]*Node, error) {
	history, _, _ := unstructured.NestedSlice(hr.Object, "status", "history")
	if len(history) == 0 {
		return nil, nil
	}
	latest, _ := history[0].(map[string]any)
	name, _ := latest["name"].(string)
	version, _ := latest["version"].(int64)
	if f, ok := latest["version"].(float64); ok {
		version = int64(f)
	}
	ns, _, _ := unstructured.NestedString(hr.Object, "status", "storageNamespace")
	if ns == "" {
		ns, _ = latest["namespace"].(string)
	}
	if name == "" || version == 0 || ns == "" {
		return nil, nil
	}
	secretName := fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, version)
	secret, err := get(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, ns, secretName)
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) { // uninstalled, or Secrets not readable
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("Helm release Secret %s/%s: %w", ns, secretName, err)
	}
	encoded, _, _ := unstructured.NestedString(secret.Object, "data", "release")
	manifest, releaseNS, err := DecodeHelmRelease(encoded)
	if err != nil {
		return nil, fmt.Errorf("Helm release Secret %s/%s: %w", ns, secretName, err)
	}
	return manifestNodes(manifest, releaseNS)
}

// DecodeHelmRelease decodes the release field of a Helm storage Secret as the API returns it (base64
// of Helm's base64 of gzipped JSON) and returns the release's manifest and namespace.
func DecodeHelmRelease(data string) (manifest, namespace string, err error) {
	outer, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return "", "", fmt.Errorf("decoding the release: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(string(outer))
	if err != nil {
		return "", "", fmt.Errorf("decoding the release: %w", err)
	}
	if bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return "", "", fmt.Errorf("decompressing the release: %w", err)
		}
		if raw, err = io.ReadAll(io.LimitReader(zr, 64<<20)); err != nil {
			return "", "", fmt.Errorf("decompressing the release: %w", err)
		}
	}
	var rel struct {
		Manifest  string `json:"manifest"`
		Namespace string `json:"namespace"`
	}
	if err := json.Unmarshal(raw, &rel); err != nil {
		return "", "", fmt.Errorf("parsing the release: %w", err)
	}
	return rel.Manifest, rel.Namespace, nil
}

func manifestNodes(manifest, namespace string) ([]*Node, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(manifest)), 4096)
	var out []*Node
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("parsing the release manifest: %w", err)
		}
		if u.GetKind() == "" || u.GetName() == "" {
			continue
		}
		gvk := u.GroupVersionKind()
		ns := u.GetNamespace()
		if ns == "" && !clusterScoped[gvk.Kind] {
			ns = namespace
		}
		out = append(out, &Node{Group: gvk.Group, Kind: gvk.Kind, Namespace: ns, Name: u.GetName()})
	}
	sort.Slice(out, func(i, j int) bool { return nodeID(out[i]) < nodeID(out[j]) })
	return out, nil
}

func nodeID(n *Node) string { return n.Namespace + "_" + n.Name + "_" + n.Group + "_" + n.Kind }
