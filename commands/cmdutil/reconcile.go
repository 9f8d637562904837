package cmdutil

import (
	"context"
	"fmt"

	"github.com/converge-gitops/converge/engine/inspect"
)

// RequestReconcile requests one reconciliation of ref, waits for it and reports progress on stderr, as
// Flux's CLI does.
func RequestReconcile(ctx context.Context, io *IOStreams, op *inspect.Operator, ref inspect.Ref, force bool) (inspect.Result, error) {
	return RequestReconcileWith(ctx, io, op, ref, inspect.Request{Force: force})
}

// RequestReconcileWith is RequestReconcile with the force and reset requests of req.
func RequestReconcileWith(ctx context.Context, io *IOStreams, op *inspect.Operator, ref inspect.Ref, req inspect.Request) (inspect.Result, error) {
	st := io.ErrStyles()
	fmt.Fprintln(io.ErrOut, st.ActionLine(fmt.Sprintf("annotating %s %s in %s namespace", ref.Kind.Kind, ref.Name, ref.Namespace)))
	token, err := op.Request(ctx, ref, req)
	if err != nil {
		return inspect.Result{}, err
	}
	fmt.Fprintln(io.ErrOut, st.SuccessLine(ref.Kind.Kind+" annotated"))
	return WaitReconciled(ctx, io, op, ref, token)
}

// WaitReconciled waits until the request token was handled and reports the Ready condition on stderr.
func WaitReconciled(ctx context.Context, io *IOStreams, op *inspect.Operator, ref inspect.Ref, token string) (inspect.Result, error) {
	st := io.ErrStyles()
	fmt.Fprintln(io.ErrOut, st.WaitingLine(fmt.Sprintf("waiting for %s reconciliation", ref.Kind.Kind)))
	res, err := op.WaitReconciled(ctx, ref, token)
	if err != nil { // Ready=False included: the error carries the condition's message
		return res, err
	}
	fmt.Fprintln(io.ErrOut, st.SuccessLine(reconciledMessage(ref.Kind.Kind, res)))
	return res, nil
}

func reconciledMessage(kind string, res inspect.Result) string {
	switch {
	case res.Revision == "":
		return kind + " reconciliation completed: " + res.Message
	case kind == "Kustomization" || kind == "HelmRelease":
		return "applied revision " + res.Revision
	default:
		return "fetched revision " + res.Revision
	}
}
