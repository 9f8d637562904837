package receiver

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	notificationv1 "github.com/converge-gitops/converge/crds/notification/v1"
	"github.com/converge-gitops/converge/engine/health"
)

// filters are a Receiver generation's compiled spec.resourceFilter and spec.resources[].filter.
type filters struct {
	top         cel.Program
	perResource []cel.Program // aligned with spec.resources; nil where none
	err         error
}

func (f *filters) none() bool {
	if f.top != nil {
		return false
	}
	for _, p := range f.perResource {
		if p != nil {
			return false
		}
	}
	return true
}

// compileFilter compiles a resource filter as Flux does: a CEL expression returning a bool over res
// (the target's apiVersion, kind and metadata), req (the JSON body of the call) and, for generic-oidc
// Receivers only, claims (the verified token's), with Flux's CEL options (strings, sets, encoders,
// optional types).
func compileFilter(expr string, withClaims bool) (cel.Program, error) {
	if withClaims {
		return health.CompileExpr(expr, types.BoolType, "res", "req", "claims")
	}
	return health.CompileExpr(expr, types.BoolType, "res", "req")
}

// compileFilters compiles rcv's filters; the error names the field, as Flux's Ready message does.
func compileFilters(rcv *notificationv1.Receiver) *filters {
	f := &filters{perResource: make([]cel.Program, len(rcv.Spec.Resources))}
	withClaims := rcv.Spec.Type == notificationv1.GenericOIDCReceiver
	if expr := rcv.Spec.ResourceFilter; expr != "" {
		p, err := compileFilter(expr, withClaims)
		if err != nil {
			f.err = fmt.Errorf("invalid resourceFilter expression: %w", err)
			return f
		}
		f.top = p
	}
	for i, res := range rcv.Spec.Resources {
		if res.Filter == "" {
			continue
		}
		p, err := compileFilter(res.Filter, withClaims)
		if err != nil {
			f.err = fmt.Errorf("invalid filter expression for resources[%d] (kind=%q, name=%q): %w", i, res.Kind, res.Name, err)
			return f
		}
		f.perResource[i] = p
	}
	return f
}

// ValidateFilters reports an invalid spec.resourceFilter or spec.resources[].filter of rcv.
func ValidateFilters(rcv *notificationv1.Receiver) error { return compileFilters(rcv).err }

// filtersFor returns rcv's compiled filters, compiling them once per Receiver generation.
func (h *Handler) filtersFor(rcv *notificationv1.Receiver) *filters {
	key := fmt.Sprintf("%s/%d", rcv.UID, rcv.Generation)
	if rcv.UID == "" {
		key = fmt.Sprintf("%s/%s/%d", rcv.Namespace, rcv.Name, rcv.Generation)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if f, ok := h.filters[key]; ok {
		return f
	}
	f := compileFilters(rcv)
	if h.filters == nil || len(h.filters) > 4096 {
		h.filters = map[string]*filters{}
	}
	h.filters[key] = f
	return f
}

// requestBody is the call's body as the filters' req: the decoded JSON object when the content type
// is application/json, else an empty object.
func requestBody(hd http.Header, body []byte) (map[string]any, error) {
	isJSON := false
	for _, v := range strings.Split(hd.Get("Content-Type"), ",") {
		t, _, err := mime.ParseMediaType(strings.TrimSpace(v))
		if err != nil {
			break
		}
		if t == "application/json" {
			isJSON = true
			break
		}
	}
	req := map[string]any{}
	if !isJSON {
		return req, nil
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("failed to parse request body as JSON: %w", err)
	}
	return req, nil
}

// accept evaluates the top-level filter and the resource's own (both must be true) for obj; claims
// is nil except for generic-oidc Receivers.
func (f *filters) accept(ctx context.Context, i int, obj *unstructured.Unstructured, req, claims map[string]any) (bool, error) {
	if f == nil {
		return true, nil
	}
	res := map[string]any{"apiVersion": obj.GetAPIVersion(), "kind": obj.GetKind()}
	if md, ok := obj.Object["metadata"]; ok {
		res["metadata"] = md
	}
	for _, p := range []cel.Program{f.top, f.perResource[i]} {
		if p == nil {
			continue
		}
		in := map[string]any{"res": res, "req": req}
		if claims != nil {
			in["claims"] = claims
		}
		val, _, err := p.ContextEval(ctx, in)
		if err != nil {
			return false, fmt.Errorf("evaluating the resource filter: %w", err)
		}
		b, ok := val.(types.Bool)
		if !ok {
			return false, fmt.Errorf("the resource filter returned %s, not a bool", val.Type().TypeName())
		}
		if !b {
			return false, nil
		}
	}
	return true, nil
}
