package apply

import (
	"encoding/json"
	"sync"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/discovery"
	"k8s.io/kube-openapi/pkg/util/proto"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
)

// skipThreshold is how many objects one plan needs before it loads the OpenAPI schema to recognise
// unchanged objects without a dry-run (loading it costs about as much as a hundred requests).
const skipThreshold = 100

// fieldOwnership recognises objects whose fields owned by our field manager already equal the desired
// object, so that they need no dry-run: what a server-side apply of the same configuration would leave
// unchanged. Anything it cannot decide (unknown types, values the server normalises, fields owned by
// someone else) falls back to the dry-run.
type fieldOwnership struct {
	openAPI discovery.OpenAPISchemaInterface

	mu     sync.Mutex
	parser *managedfields.GvkParser
	failed bool
}

func (f *fieldOwnership) typeFor(gvk schema.GroupVersionKind) *typed.ParseableType {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.parser == nil && !f.failed {
		doc, err := f.openAPI.OpenAPISchema()
		if err == nil {
			var models proto.Models
			if models, err = proto.NewOpenAPIData(doc); err == nil {
				f.parser, err = managedfields.NewGVKParser(models, false)
			}
		}
		f.failed = err != nil
	}
	if f.parser == nil {
		return nil
	}
	return f.parser.Type(gvk)
}

// unchanged reports whether applying desired with fieldManager would leave live as it is.
func (f *fieldOwnership) unchanged(desired, live *unstructured.Unstructured, fieldManager string) bool {
	if f == nil || !appliedBy(live, fieldManager, desired.GetAPIVersion()) {
		return false
	}
	typ := f.typeFor(desired.GroupVersionKind())
	if typ == nil {
		return false
	}
	owned := &unstructured.Unstructured{}
	if err := managedfields.ExtractInto(live, *typ, fieldManager, owned, ""); err != nil {
		return false
	}
	owned.SetAPIVersion(live.GetAPIVersion())
	owned.SetKind(live.GetKind())
	owned.SetName(live.GetName())
	owned.SetNamespace(live.GetNamespace())
	return apiequality.Semantic.DeepEqual(normalJSON(owned.Object), normalJSON(desired.Object))
}

func appliedBy(live *unstructured.Unstructured, fieldManager, apiVersion string) bool {
	for _, e := range live.GetManagedFields() {
		if e.Manager == fieldManager && e.Operation == "Apply" && e.Subresource == "" && e.APIVersion == apiVersion {
			return true
		}
	}
	return false
}

func normalJSON(m map[string]any) any {
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil
	}
	return out
}
