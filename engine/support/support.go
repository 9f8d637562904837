package support

import (
	"encoding/json"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/crds/meta"
)

// Field is a spec field of a Flux kind that converge does not support yet.
type Field struct {
	// Kind is the Flux kind, e.g. "HelmRelease".
	Kind string
	// Path is the field's JSON path from the object, list indexes left out: "spec.install.serverSideApply".
	Path string
	// Happens says what converge does when the field is set.
	Happens string
	// Refused is true when an object using the field fails (its reconciliation, or its build) instead of
	// going on without it.
	Refused bool
	// Same lists the values (JSON) that ask for what converge does anyway: no warning for them.
	Same []string
}

// Unsupported returns the spec fields converge does not support yet, by kind and path.
func Unsupported() []Field {
	const ignored = "ignored: "
	return []Field{
		{Kind: "HelmRelease", Path: "spec.kubeConfig.configMapRef", Refused: true, Happens: "the HelmRelease fails: provider-based kubeconfigs (workload identity) need a token service converge cannot reach or verify; use spec.kubeConfig.secretRef"},
		{Kind: "HelmRelease", Path: "spec.rollback.recreate", Same: []string{"false"}, Happens: ignored + "Helm 4 removed it (so does Flux 2.9): workloads are not restarted on rollback"},
		{Kind: "HelmRelease", Path: "spec.persistentClient", Same: []string{"true"}, Happens: ignored + "converge manages its Kubernetes clients itself"},
		{Kind: "Kustomization", Path: "spec.kubeConfig.configMapRef", Refused: true, Happens: "the Kustomization fails: provider-based kubeconfigs (workload identity) need a token service converge cannot reach or verify; use spec.kubeConfig.secretRef"},
		{Kind: "GitRepository", Path: "spec.serviceAccountName", Happens: ignored + "only used by cloud providers (spec.provider), which converge refuses"},
		{Kind: "OCIRepository", Path: "spec.serviceAccountName", Refused: true, Happens: "the source fails: its image pull secrets and object-level workload identity are not supported yet; use spec.secretRef, or spec.provider alone for the controller's workload identity"},
		{Kind: "HelmChart", Path: "spec.verify.matchOIDCIdentity", Refused: true,
			Happens: "the chart fails (VerificationError) without spec.verify.secretRef: keyless cosign verification needs the public Sigstore instance online (HelmChart has no trustedRootSecretRef); use cosign public keys or notation"},
		{Kind: "Bucket", Path: "spec.sts", Refused: true, Happens: "the source fails: security token services are not supported yet"},
		{Kind: "Bucket", Path: "spec.serviceAccountName", Refused: true, Happens: "the source fails: workload identity is not supported yet; use spec.secretRef"},
		{Kind: "ImageRepository", Path: "spec.serviceAccountName", Happens: ignored + "its image pull secrets are not read yet; use spec.secretRef (with a cloud spec.provider the scan fails: object-level workload identity is not supported yet)"},
		{Kind: "Provider", Path: "spec.serviceAccountName", Happens: ignored + "workload identity is not supported yet; use spec.secretRef"},
		{Kind: "Receiver", Path: "spec.oidcProviders", Refused: true, Happens: "the Receiver is not ready: type generic-oidc is not supported yet"},
	}
}

// InUse returns the unsupported fields obj, a Flux object of kind at its storage version, sets.
func InUse(kind string, obj runtime.Object) ([]Field, error) {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	var out []Field
	for _, f := range Unsupported() {
		if f.Kind == kind && inUse(content, strings.Split(f.Path, "."), f.Same) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Check returns one message per unsupported field obj (a Flux object of its storage version, its kind
// set) sets, e.g. "HelmRelease apps/web: spec.waitStrategy is not supported yet: ignored: ...".
func Check(obj runtime.Object) ([]string, error) {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	fields, err := InUse(kind, obj)
	if err != nil {
		return nil, err
	}
	content, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	var out []string
	for _, f := range fields {
		out = append(out, fmt.Sprintf("%s %s: %s", kind, name(content), f.Message()))
	}
	return out, nil
}

// Message says that the field is not supported and what happens: "spec.x is not supported yet: ...".
func (f Field) Message() string {
	return f.Path + " is not supported yet: " + f.Happens
}

// Note returns the sentence the agent adds to an object's Ready and Reconciling messages for the
// unsupported fields it uses (kind and obj as for InUse); "" when it uses none.
func Note(kind string, obj runtime.Object) string {
	fields, err := InUse(kind, obj)
	if err != nil {
		return err.Error()
	}
	var msgs []string
	for _, f := range fields {
		msgs = append(msgs, f.Message())
	}
	if len(msgs) == 0 {
		return ""
	}
	return "Warning: " + strings.Join(msgs, "; ")
}

func name(content map[string]any) string {
	md, _ := content["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	n, _ := md["name"].(string)
	if ns == "" {
		return n
	}
	return ns + "/" + n
}

// inUse reports whether the field at path is set in v (in any element of the lists on the way) to a
// value other than the zero value and the values of same.
func inUse(v any, path []string, same []string) bool {
	if len(path) == 0 {
		if isZero(v) {
			return false
		}
		raw, _ := json.Marshal(v)
		for _, s := range same {
			if string(raw) == s {
				return false
			}
		}
		return true
	}
	switch t := v.(type) {
	case map[string]any:
		child, ok := t[path[0]]
		return ok && inUse(child, path[1:], same)
	case []any:
		for _, e := range t {
			if inUse(e, path, same) {
				return true
			}
		}
	}
	return false
}

func isZero(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	case int64:
		return t == 0
	case float64:
		return t == 0
	}
	return false
}

// Table returns Unsupported as a Markdown table (kind, field, what happens), for the README.
func Table() string {
	var b strings.Builder
	b.WriteString("| Kind | Field | What happens |\n|---|---|---|\n")
	for _, f := range Unsupported() {
		happens := f.Happens
		if len(f.Same) > 0 {
			happens += " (no warning for " + strings.Join(f.Same, ", ") + ")"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", f.Kind, f.Path, strings.ReplaceAll(happens, "|", `\|`))
	}
	return b.String()
}

// NoteConditions adds Note(kind, obj) to the Ready and Reconciling messages among conds, once: the
// agent says what it does not support where users look, never ignoring a field in silence.
func NoteConditions(kind string, obj runtime.Object, conds []metav1.Condition) {
	note := Note(kind, obj)
	if note == "" {
		return
	}
	for i := range conds {
		c := &conds[i]
		if c.Type != meta.ReadyCondition && c.Type != meta.ReconcilingCondition || strings.HasSuffix(c.Message, note) {
			continue
		}
		if c.Message == "" {
			c.Message = note
		} else {
			c.Message += "\n" + note
		}
	}
}
