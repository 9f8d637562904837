package inspect

import (
	"bytes"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// LastAppliedAnnotation is kubectl's client-side apply record, dropped from exports.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// Clean returns u as it belongs in a Git repository: apiVersion, kind, the name, namespace, labels and
// annotations of its metadata (kubectl's last-applied annotation and the reconcile.fluxcd.io request
// annotations removed: they record operations, not desired state), and every other top-level
// field but status. Server-set metadata (uid, resourceVersion, generation, creationTimestamp,
// managedFields, finalizers, ownerReferences) is dropped.
func Clean(u *unstructured.Unstructured) *unstructured.Unstructured {
	out := map[string]any{}
	for k, v := range u.Object {
		if k == "status" || k == "metadata" {
			continue
		}
		out[k] = runtimeDeepCopy(v)
	}
	md := map[string]any{"name": u.GetName()}
	if ns := u.GetNamespace(); ns != "" {
		md["namespace"] = ns
	}
	if l := u.GetLabels(); len(l) > 0 {
		md["labels"] = toAny(l)
	}
	ann := u.GetAnnotations()
	for _, k := range []string{LastAppliedAnnotation, RequestedAtAnnotation, ForceAtAnnotation, "reconcile.fluxcd.io/resetAt"} {
		delete(ann, k)
	}
	if len(ann) > 0 {
		md["annotations"] = toAny(ann)
	}
	out["metadata"] = md
	return &unstructured.Unstructured{Object: out}
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func runtimeDeepCopy(v any) any {
	return (&unstructured.Unstructured{Object: map[string]any{"v": v}}).DeepCopy().Object["v"]
}

// ExportYAML renders objs, cleaned, as a YAML stream with each document introduced by "---", as
// `flux export` prints them.
func ExportYAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(Clean(o).Object)
		if err != nil {
			return nil, fmt.Errorf("%s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// CredentialSecret returns the Secret u's spec.secretRef names (in u's namespace) as `flux export
// --with-credentials` prints it: apiVersion, kind, name, namespace, type and data only; nil when u
// references no Secret. A missing Secret is an error naming it and u.
func (o *Operator) CredentialSecret(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	name, _, _ := unstructured.NestedString(u.Object, "spec", "secretRef", "name")
	if name == "" {
		return nil, nil
	}
	secret, err := o.Client.Resource(corev1.SchemeGroupVersion.WithResource("secrets")).Namespace(u.GetNamespace()).
		Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s: spec.secretRef: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	out := map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": name, "namespace": u.GetNamespace()}}
	for _, k := range []string{"type", "data"} {
		if v, ok := secret.Object[k]; ok {
			out[k] = runtimeDeepCopy(v)
		}
	}
	return &unstructured.Unstructured{Object: out}, nil
}
