package inspect

import (
	"context"
	"fmt"

	"github.com/converge-gitops/converge/engine/kinds"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The labels Flux puts on the objects a Kustomization or a HelmRelease applied.
const (
	KustomizeNameLabel      = "kustomize.toolkit.fluxcd.io/name"
	KustomizeNamespaceLabel = "kustomize.toolkit.fluxcd.io/namespace"
	HelmNameLabel           = "helm.toolkit.fluxcd.io/name"
	HelmNamespaceLabel      = "helm.toolkit.fluxcd.io/namespace"
)

// TraceStep is one object of a trace: the traced object, a manager or a source.
type TraceStep struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Role is "object", "manager" or "source".
	Role     string `json:"role"`
	Ready    string `json:"ready,omitempty"`
	Message  string `json:"message,omitempty"`
	Revision string `json:"revision,omitempty"`
	// Origin says where a source comes from (URL) or which path/chart a manager applies.
	Origin string `json:"origin,omitempty"`
	// Missing is set when the object a label or a reference names does not exist.
	Missing bool `json:"missing,omitempty"`
}

// ErrNotManaged is returned by Trace for an object that carries no Flux owner labels.
type ErrNotManaged struct{ Object string }

func (e *ErrNotManaged) Error() string {
	return e.Object + " is not managed by a Kustomization or a HelmRelease (no " + KustomizeNameLabel + " or " + HelmNameLabel + " label)"
}

// Trace finds which Kustomization or HelmRelease manages the object gvk namespace/name (from the owner
// labels they set), the sources it reconciles from, and, up the chain, who manages the manager: the
// steps in that order, the object first.
func Trace(ctx context.Context, get Getter, gvk schema.GroupVersionKind, namespace, name string) ([]TraceStep, error) {
	u, err := get(ctx, gvk, namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%s %s/%s not found", gvk.Kind, namespace, name)
		}
		return nil, fmt.Errorf("%s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	obj := stepOf(u, "object", nil)
	steps := []TraceStep{obj}
	seen := map[string]bool{obj.Kind + "/" + obj.Namespace + "/" + obj.Name: true}
	refGetter := func(ctx context.Context, r Ref) (*unstructured.Unstructured, error) {
		return get(ctx, r.Kind.GroupVersionKind(), r.Namespace, r.Name)
	}
	cur := u
	for depth := 0; depth < 20; depth++ {
		mgr, ok := managerOf(cur)
		if !ok {
			break
		}
		key := mgr.String()
		if seen[key] {
			break // a Kustomization that applies itself
		}
		seen[key] = true
		mu, err := get(ctx, mgr.Kind.GroupVersionKind(), mgr.Namespace, mgr.Name)
		if apierrors.IsNotFound(err) {
			steps = append(steps, TraceStep{Kind: mgr.Kind.Kind, Namespace: mgr.Namespace, Name: mgr.Name, Role: "manager", Missing: true})
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", mgr, err)
		}
		steps = append(steps, stepOf(mu, "manager", mgr.Kind.RevisionPath))
		sources, err := SourcesOf(ctx, mgr, mu, refGetter)
		if err != nil {
			return nil, err
		}
		for i := len(sources) - 1; i >= 0; i-- { // nearest source first
			src := sources[i]
			su, err := refGetter(ctx, src)
			if apierrors.IsNotFound(err) {
				steps = append(steps, TraceStep{Kind: src.Kind.Kind, Namespace: src.Namespace, Name: src.Name, Role: "source", Missing: true})
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", src, err)
			}
			steps = append(steps, stepOf(su, "source", src.Kind.RevisionPath))
		}
		cur = mu
	}
	if len(steps) == 1 {
		return steps, &ErrNotManaged{Object: fmt.Sprintf("%s %s/%s", gvk.Kind, namespace, name)}
	}
	return steps, nil
}

func managerOf(u *unstructured.Unstructured) (Ref, bool) {
	l := u.GetLabels()
	if name := l[HelmNameLabel]; name != "" {
		return Ref{Kind: kinds.MustByKey("helmreleases"), Namespace: l[HelmNamespaceLabel], Name: name}, true
	}
	if name := l[KustomizeNameLabel]; name != "" {
		return Ref{Kind: kinds.MustByKey("kustomizations"), Namespace: l[KustomizeNamespaceLabel], Name: name}, true
	}
	return Ref{}, false
}

func stepOf(u *unstructured.Unstructured, role string, revisionPath []string) TraceStep {
	s := TraceStep{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(), Role: role}
	if role == "object" {
		return s
	}
	row := RowOf(Kind{Kind: u.GetKind(), RevisionPath: revisionPath}, u)
	s.Ready, s.Message, s.Revision = row.Ready, row.Message, row.Revision
	if s.Kind == "HelmRelease" && s.Revision == "" {
		s.Revision, _, _ = unstructured.NestedString(u.Object, "status", "lastAttemptedRevision")
	}
	switch s.Kind {
	case "Kustomization":
		s.Origin, _, _ = unstructured.NestedString(u.Object, "spec", "path")
	case "HelmRelease":
		chart, _, _ := unstructured.NestedString(u.Object, "spec", "chart", "spec", "chart")
		version, _, _ := unstructured.NestedString(u.Object, "spec", "chart", "spec", "version")
		if chart != "" && version != "" {
			chart += "@" + version
		}
		s.Origin = chart
	case "HelmChart":
		s.Origin, _, _ = unstructured.NestedString(u.Object, "spec", "chart")
	case "Bucket":
		endpoint, _, _ := unstructured.NestedString(u.Object, "spec", "endpoint")
		bucket, _, _ := unstructured.NestedString(u.Object, "spec", "bucketName")
		s.Origin = endpoint + "/" + bucket
	default:
		s.Origin, _, _ = unstructured.NestedString(u.Object, "spec", "url")
	}
	return s
}
