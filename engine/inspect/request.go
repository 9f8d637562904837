package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/converge-gitops/converge/engine/kinds"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"
)

// Flux's reconcile request annotations.
const (
	RequestedAtAnnotation = "reconcile.fluxcd.io/requestedAt"
	ForceAtAnnotation     = "reconcile.fluxcd.io/forceAt"
	ResetAtAnnotation     = "reconcile.fluxcd.io/resetAt"
)

// RequestOptions are what a reconcile request asks for besides the reconciliation: a HelmRelease's
// one-off forced install or upgrade (Force) and the reset of its failure counters (Reset), as Flux's
// `flux reconcile hr --force --reset` ask for them.
type RequestOptions struct {
	Force bool
	Reset bool
}

// ErrSuspended is returned when asked to reconcile a suspended object.
var ErrSuspended = errors.New("is suspended: resume it first")

// Ref names one Flux object.
type Ref struct {
	Kind      Kind
	Namespace string
	Name      string
}

func (r Ref) String() string { return r.Kind.Kind + "/" + r.Namespace + "/" + r.Name }

// Operator asks the agent (or Flux's controllers) to act on Flux objects and waits for their answer.
type Operator struct {
	Client dynamic.Interface
	// Clock gives the request timestamps (required).
	Clock clock.PassiveClock
	// Interval between polls while waiting (default 500ms).
	Interval time.Duration
}

func (o *Operator) now() time.Time {
	return o.Clock.Now()
}

// Get returns the object ref names.
func (o *Operator) Get(ctx context.Context, ref Ref) (*unstructured.Unstructured, error) {
	u, err := o.Client.Resource(ref.Kind.Resource).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s %s/%s not found", ref.Kind.Kind, ref.Namespace, ref.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", ref.Kind.Kind, ref.Namespace, ref.Name, err)
	}
	return u, nil
}

// Names returns the names of the objects of kind in namespace, sorted.
func (o *Operator) Names(ctx context.Context, kind Kind, namespace string) ([]string, error) {
	list, err := o.Client.Resource(kind.Resource).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing %s in %s: %w", kind.Resource.Resource, namespace, err)
	}
	names := make([]string, 0, len(list.Items))
	for _, it := range list.Items {
		names = append(names, it.GetName())
	}
	sort.Strings(names)
	return names, nil
}

// RequestReconcile sets reconcile.fluxcd.io/requestedAt (and forceAt when force) to the current time in
// RFC3339Nano and returns that token. A suspended object is refused with ErrSuspended.
func (o *Operator) RequestReconcile(ctx context.Context, ref Ref, force bool) (string, error) {
	return o.Request(ctx, ref, RequestOptions{Force: force})
}

// Request sets reconcile.fluxcd.io/requestedAt, and forceAt and resetAt as opts ask, to the current
// time in RFC3339Nano and returns that token (the agent honours forceAt and resetAt only when they
// equal requestedAt, as helm-controller does). A suspended object is refused with ErrSuspended.
func (o *Operator) Request(ctx context.Context, ref Ref, opts RequestOptions) (string, error) {
	u, err := o.Get(ctx, ref)
	if err != nil {
		return "", err
	}
	if suspended, _, _ := unstructured.NestedBool(u.Object, "spec", "suspend"); suspended {
		return "", fmt.Errorf("%s %s/%s %w", ref.Kind.Kind, ref.Namespace, ref.Name, ErrSuspended)
	}
	token := o.now().Format(time.RFC3339Nano)
	ann := map[string]any{RequestedAtAnnotation: token}
	if opts.Force {
		ann[ForceAtAnnotation] = token
	}
	if opts.Reset {
		ann[ResetAtAnnotation] = token
	}
	return token, o.patch(ctx, ref, map[string]any{"metadata": map[string]any{"annotations": ann}})
}

// SetSuspend sets spec.suspend. Resuming also requests a reconciliation (returned token; "" when
// suspending), as the agent should catch up with what changed meanwhile.
func (o *Operator) SetSuspend(ctx context.Context, ref Ref, suspend bool) (string, error) {
	patch := map[string]any{"spec": map[string]any{"suspend": suspend}}
	token := ""
	if !suspend {
		token = o.now().Format(time.RFC3339Nano)
		patch["metadata"] = map[string]any{"annotations": map[string]any{RequestedAtAnnotation: token}}
	}
	return token, o.patch(ctx, ref, patch)
}

func (o *Operator) patch(ctx context.Context, ref Ref, patch map[string]any) error {
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = o.Client.Resource(ref.Kind.Resource).Namespace(ref.Namespace).Patch(ctx, ref.Name, types.MergePatchType, data, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s %s/%s not found", ref.Kind.Kind, ref.Namespace, ref.Name)
	}
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", ref.Kind.Kind, ref.Namespace, ref.Name, err)
	}
	return nil
}

// Result is the state of an object once it handled a reconcile request.
type Result struct {
	Ref      Ref    `json:"-"`
	Subject  string `json:"subject"`
	Ready    string `json:"ready"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
	Revision string `json:"revision,omitempty"`
}

// NotReadyError is returned when the object handled the request and is not Ready.
type NotReadyError struct{ Result Result }

func (e *NotReadyError) Error() string {
	msg := e.Result.Message
	if msg == "" {
		msg = e.Result.Reason
	}
	return fmt.Sprintf("%s %s/%s reconciliation failed: %s", e.Result.Ref.Kind.Kind, e.Result.Ref.Namespace, e.Result.Ref.Name, msg)
}

// WaitReconciled waits until status.lastHandledReconcileAt equals token and the Ready condition, for the
// object's current generation, is True or False. Ready=False returns a *NotReadyError with the result.
func (o *Operator) WaitReconciled(ctx context.Context, ref Ref, token string) (Result, error) {
	return o.waitFinal(ctx, ref, "reconcile", "not handled yet", func(u *unstructured.Unstructured) (Result, bool, string) {
		return handled(ref, u, token)
	})
}

// waitFinal polls ref every o.Interval (default 500ms) until final reports its Ready result final; a
// final Ready=False is a *NotReadyError. The deadline's error says what was awaited (goal) and the last
// state seen.
func (o *Operator) waitFinal(ctx context.Context, ref Ref, goal, state string, final func(*unstructured.Unstructured) (Result, bool, string)) (Result, error) {
	interval := o.Interval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		u, err := o.Get(ctx, ref)
		if err != nil && ctx.Err() == nil {
			return Result{}, err
		}
		if err == nil {
			res, done, why := final(u)
			if done {
				if res.Ready == "False" {
					return res, &NotReadyError{Result: res}
				}
				return res, nil
			}
			state = why
		}
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("waiting for %s %s/%s to %s (%s): %w", ref.Kind.Kind, ref.Namespace, ref.Name, goal, state, ctx.Err())
		case <-t.C:
		}
	}
}

func handled(ref Ref, u *unstructured.Unstructured, token string) (Result, bool, string) {
	got, _, _ := unstructured.NestedString(u.Object, "status", "lastHandledReconcileAt")
	if got != token {
		return Result{}, false, fmt.Sprintf("lastHandledReconcileAt is %q", got)
	}
	if observed, ok, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); ok && observed < u.GetGeneration() {
		return Result{}, false, "status is for an older generation"
	}
	res := Result{Ref: ref, Subject: ref.String(), Ready: "Unknown"}
	res.Revision, _, _ = unstructured.NestedString(u.Object, ref.Kind.RevisionPath...)
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			res.Ready, _ = m["status"].(string)
			res.Reason, _ = m["reason"].(string)
			res.Message, _ = m["message"].(string)
		}
	}
	if res.Ready != "True" && res.Ready != "False" {
		return Result{}, false, "Ready is " + res.Ready
	}
	return res, true, ""
}

// Sources returns the sources ref reconciles from, the outermost first: a Kustomization's sourceRef;
// a HelmRelease's chartRef, or the source of spec.chart and the HelmChart made from it when that exists;
// a HelmChart's source.
func (o *Operator) Sources(ctx context.Context, ref Ref) ([]Ref, error) {
	u, err := o.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	return SourcesOf(ctx, ref, u, func(ctx context.Context, r Ref) (*unstructured.Unstructured, error) { return o.Get(ctx, r) })
}

// SourcesOf is Sources for an object already read; get reads the intermediate HelmChart.
func SourcesOf(ctx context.Context, ref Ref, u *unstructured.Unstructured, get func(context.Context, Ref) (*unstructured.Unstructured, error)) ([]Ref, error) {
	refOf := func(path ...string) (Ref, bool, error) {
		m, ok, _ := unstructured.NestedStringMap(u.Object, path...)
		if !ok || m["name"] == "" {
			return Ref{}, false, nil
		}
		kind, known := KindNamed(m["kind"])
		if !known {
			return Ref{}, false, fmt.Errorf("%s: %s kind %q is not a known source kind", ref, strings.Join(path, "."), m["kind"])
		}
		ns := m["namespace"]
		if ns == "" {
			ns = u.GetNamespace()
		}
		return Ref{Kind: kind, Namespace: ns, Name: m["name"]}, true, nil
	}
	switch ref.Kind.Kind {
	case "Kustomization", "HelmChart":
		src, ok, err := refOf("spec", "sourceRef")
		if err != nil || !ok {
			return nil, err
		}
		return []Ref{src}, nil
	case "HelmRelease":
		src, ok, err := refOf("spec", "chartRef")
		if err != nil {
			return nil, err
		}
		if ok {
			if src.Kind.Kind == "HelmChart" {
				return chartChain(ctx, src, get)
			}
			return []Ref{src}, nil
		}
		// spec.chart: the chart's source, then the HelmChart when one exists (helm-controller and the
		// agent create it; `converge apply` renders the chart from the source directly).
		chartSrc, ok, err := refOf("spec", "chart", "spec", "sourceRef")
		if err != nil || !ok {
			return nil, err
		}
		chart, _ := helmChartOf(u)
		if _, err := get(ctx, chart); err == nil {
			return chartChain(ctx, chart, get)
		}
		return []Ref{chartSrc}, nil
	}
	return nil, nil
}

func chartChain(ctx context.Context, chart Ref, get func(context.Context, Ref) (*unstructured.Unstructured, error)) ([]Ref, error) {
	cu, err := get(ctx, chart)
	if err != nil {
		return nil, err
	}
	up, err := SourcesOf(ctx, chart, cu, get)
	if err != nil {
		return nil, err
	}
	return append(up, chart), nil
}

// helmChartOf names the HelmChart a HelmRelease with spec.chart uses: status.helmChart, else
// <namespace>-<name> in the namespace of the chart's source, as Flux names it.
func helmChartOf(u *unstructured.Unstructured) (Ref, bool) {
	kind := kinds.MustByKey("chart")
	if s, _, _ := unstructured.NestedString(u.Object, "status", "helmChart"); s != "" {
		ns, name, ok := strings.Cut(s, "/")
		if ok {
			return Ref{Kind: kind, Namespace: ns, Name: name}, true
		}
	}
	if _, ok, _ := unstructured.NestedMap(u.Object, "spec", "chart"); !ok {
		return Ref{}, false
	}
	ns, _, _ := unstructured.NestedString(u.Object, "spec", "chart", "spec", "sourceRef", "namespace")
	if ns == "" {
		ns = u.GetNamespace()
	}
	return Ref{Kind: kind, Namespace: ns, Name: u.GetNamespace() + "-" + u.GetName()}, true
}
