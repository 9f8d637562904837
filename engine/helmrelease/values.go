package helmrelease

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/strvals"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/yaml"
	goyaml "sigs.k8s.io/yaml/goyaml.v2" //nolint:staticcheck // the aliases keep go.yaml.in/yaml/v2 an indirect requirement

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/crds/meta"
)

// Reasons a values reference cannot be resolved; a *ValuesReferenceError matches them with errors.Is.
var (
	ErrValuesResourceNotFound = errors.New("resource not found")
	ErrValuesKeyNotFound      = errors.New("key not found")
	ErrValuesKindUnsupported  = errors.New("unsupported values reference kind")
	ErrValuesDataRead         = errors.New("failed to read values data")
	ErrValueMerge             = errors.New("failed to merge value")
)

// ValuesReferenceError is a spec.valuesFrom entry that cannot be resolved. Its message is Flux's.
type ValuesReferenceError struct {
	Reason   error // one of the ErrValues* reasons
	Ref      meta.ValuesReference
	Name     string // namespace/name of the referent
	Err      error  // the underlying error, if any
	optional bool
}

func (e *ValuesReferenceError) Error() string {
	var b strings.Builder
	b.WriteString("could not resolve")
	if e.optional {
		b.WriteString(" optional")
	}
	if e.Ref.Kind != "" {
		b.WriteString(" " + e.Ref.Kind)
	}
	b.WriteString(" chart values reference")
	if e.Name != "" {
		fmt.Fprintf(&b, " '%s'", e.Name)
	}
	fmt.Fprintf(&b, " with key '%s'", e.Ref.GetValuesKey())
	reason := "unknown error"
	if e.Reason != nil {
		reason = e.Reason.Error()
	}
	if e.Err != nil {
		reason = e.Err.Error()
	}
	b.WriteString(": " + reason)
	return b.String()
}

func (e *ValuesReferenceError) Is(target error) bool { return e.Reason != nil && e.Reason == target }

func (e *ValuesReferenceError) Unwrap() error { return e.Err }

// composeValues composes the release values as Flux does: every spec.valuesFrom entry in order, a whole
// document deep-merged over the values so far, or a single value set at targetPath with Helm's --set
// syntax (--set-string for a quoted value, --set-literal semantics with literal); then spec.values
// merged over the result. A targetPath entry first merges spec.values into the result and then sets its
// value, so it wins over spec.values where the two share the same nested maps, exactly like Flux (whose
// merge shares nested maps of spec.values with the result).
func (r *Renderer) composeValues(ctx context.Context, hr *helmv2.HelmRelease) (map[string]any, error) {
	values := hr.GetValues()
	result := map[string]any{}
	// One read per referent, so that every reference to it sees the same version.
	type referent struct{ data map[string]string }
	seen := map[string]*referent{}

	for _, ref := range hr.Spec.ValuesFrom {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := hr.Namespace + "/" + ref.Name
		fail := func(reason, err error) error {
			return &ValuesReferenceError{Reason: reason, Ref: ref, Name: name, Err: err, optional: ref.Optional}
		}
		if ref.Kind != "ConfigMap" && ref.Kind != "Secret" {
			return nil, fail(ErrValuesKindUnsupported, nil)
		}
		key := ref.Kind + "/" + name
		res, ok := seen[key]
		if !ok {
			seen[key] = nil
			data, err := r.valuesData(ctx, ref.Kind, hr.Namespace, ref.Name)
			if err != nil {
				if apierrors.IsNotFound(err) {
					if ref.Optional {
						continue
					}
					return nil, fail(ErrValuesResourceNotFound, err)
				}
				return nil, fail(nil, err)
			}
			res = &referent{data: data}
			seen[key] = res
		}
		if res == nil {
			if ref.Optional {
				continue
			}
			return nil, fail(ErrValuesResourceNotFound, nil)
		}
		data, ok := res.data[ref.GetValuesKey()]
		if !ok {
			if ref.Optional {
				continue
			}
			return nil, fail(ErrValuesKeyNotFound, nil)
		}
		if ref.TargetPath != "" {
			result = mergeMaps(result, values)
			set := replacePathValue
			if ref.Literal {
				set = replacePathLiteralValue
			}
			if err := set(result, ref.TargetPath, data); err != nil {
				return nil, fail(ErrValueMerge, err)
			}
			continue
		}
		v, err := common.ReadValues([]byte(data))
		if err != nil {
			return nil, fail(ErrValuesDataRead, err)
		}
		result = mergeMaps(result, v)
	}
	return mergeMaps(result, values), nil
}

// valuesData returns the data of a ConfigMap or Secret (Secret stringData counts as data, as the API
// server would store it).
func (r *Renderer) valuesData(ctx context.Context, kind, namespace, name string) (map[string]string, error) {
	switch kind {
	case "ConfigMap":
		if r.ConfigMaps == nil {
			return nil, errors.New("no cluster or local resource supplies ConfigMaps")
		}
		cm, err := r.ConfigMaps.GetConfigMap(ctx, namespace, name)
		if err != nil {
			return nil, err
		}
		return cm.Data, nil
	default:
		if r.Secrets == nil {
			return nil, errors.New("no cluster or local resource supplies Secrets")
		}
		s, err := r.Secrets.GetSecret(ctx, namespace, name)
		if err != nil {
			return nil, err
		}
		data := make(map[string]string, len(s.Data)+len(s.StringData))
		for k, v := range s.Data {
			data[k] = string(v)
		}
		for k, v := range s.StringData {
			data[k] = v
		}
		return data, nil
	}
}

// mergeMaps merges b over a into a new map: nested maps present in both are merged recursively, any
// other value of b replaces a's. Values are not copied, so the result shares nested maps and lists with
// a and b (Flux and Helm's CLI merge the same way, and composeValues depends on it).
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]any); ok {
			if om, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(om, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// replacePathValue sets value at path as `helm --set path=value` does; a value wrapped in single or
// double quotes is unquoted and set as a string, as with --set-string.
func replacePathValue(values map[string]any, path, value string) error {
	quoted := (strings.HasPrefix(value, "'") && strings.HasSuffix(value, "'")) ||
		(strings.HasPrefix(value, `"`) && strings.HasSuffix(value, `"`))
	if quoted {
		return strvals.ParseIntoString(path+"="+strings.Trim(value, `'"`), values)
	}
	return strvals.ParseInto(path+"="+value, values)
}

// literalEscaper escapes what --set syntax would interpret in a value; the backslash first.
var literalEscaper = strings.NewReplacer(`\`, `\\`, `,`, `\,`, `[`, `\[`, `]`, `\]`, `{`, `\{`, `}`, `\}`)

// replacePathLiteralValue sets value at path verbatim, as a string (helm --set-literal), while the path
// keeps --set's escapes ("a\.b").
func replacePathLiteralValue(values map[string]any, path, value string) error {
	return strvals.ParseIntoString(path+"="+literalEscaper.Replace(value), values)
}

// DigestValues is Flux's digest of release values (status.lastAttemptedConfigDigest and the history's
// config digest): SHA-256 of the values as YAML with every map's keys sorted, "sha256:<hex>"; empty
// values digest as no input at all.
func DigestValues(values map[string]any) string {
	h := sha256.New()
	if len(values) > 0 {
		ms := yaml.JSONObjectToYAMLObject(values)
		sortMapSlice(ms)
		if err := goyaml.NewEncoder(h).Encode(ms); err != nil {
			return ""
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// sortMapSlice sorts ms by key, recursively through nested maps and maps directly inside lists.
func sortMapSlice(ms goyaml.MapSlice) {
	sort.Slice(ms, func(i, j int) bool { return fmt.Sprint(ms[i].Key) < fmt.Sprint(ms[j].Key) })
	for _, item := range ms {
		switch v := item.Value.(type) {
		case goyaml.MapSlice:
			sortMapSlice(v)
		case []any:
			for _, e := range v {
				if m, ok := e.(goyaml.MapSlice); ok {
					sortMapSlice(m)
				}
			}
		}
	}
}

// copyValues deep-copies a values tree (maps, lists, scalars).
func copyValues(v map[string]any) map[string]any {
	if v == nil {
		return nil
	}
	out := make(map[string]any, len(v))
	for k, e := range v {
		out[k] = copyValue(e)
	}
	return out
}

func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return copyValues(t)
	case common.Values:
		return copyValues(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = copyValue(e)
		}
		return out
	default:
		return v
	}
}
