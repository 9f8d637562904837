package apply

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func fromYAML(t testing.TB, doc string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

const unchangedService = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns, labels: {app: web}}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: https, port: 443, targetPort: 8443}
`

const unchangedServiceFields = `{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:targetPort":{}},"k:{\"port\":443,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:targetPort":{}}},"f:selector":{}}}`

func liveService(t testing.TB, fields, ports string) *unstructured.Unstructured {
	live := fromYAML(t, `apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns, labels: {app: web, other: x}}
spec:
  clusterIP: 10.0.0.1
  selector: {app: web}
  ports: `+ports+`
`)
	live.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "converge", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "v1",
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}})
	return live
}

func TestOwnedUnchanged(t *testing.T) {
	ports := `[{name: http, port: 80, protocol: TCP, targetPort: http}, {name: https, port: 443, protocol: TCP, targetPort: 8443}]`
	for _, tc := range []struct {
		name, desired, fields, ports string
		want                         bool
	}{
		{"same", unchangedService, unchangedServiceFields, ports, true},
		{"a live value differs", unchangedService, unchangedServiceFields, `[{name: http, port: 80, protocol: TCP, targetPort: 8080}, {name: https, port: 443, protocol: TCP, targetPort: 8443}]`, false},
		{"list order differs", unchangedService, unchangedServiceFields, `[{name: https, port: 443, protocol: TCP, targetPort: 8443}, {name: http, port: 80, protocol: TCP, targetPort: http}]`, false},
		{"desired drops a port", `apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns, labels: {app: web}}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
`, unchangedServiceFields, ports, false},
		{"desired sets the defaulted key field explicitly", `apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns, labels: {app: web}}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http, protocol: TCP}
  - {name: https, port: 443, targetPort: 8443}
`, unchangedServiceFields, ports, false},
		{"desired adds a label", `apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns, labels: {app: web, tier: front}}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: https, port: 443, targetPort: 8443}
`, unchangedServiceFields, ports, false},
		{"ownership of a label lost", unchangedService, `{"f:spec":{"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:targetPort":{}},"k:{\"port\":443,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:targetPort":{}}},"f:selector":{}}}`, ports, false},
		{"positional list entries", unchangedService, `{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:ports":{"i:0":{}},"f:selector":{}}}`, ports, false},
		{"a null value", `apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns, labels: {app: web}}
spec:
  selector: null
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: https, port: 443, targetPort: 8443}
`, unchangedServiceFields, ports, false},
		{"not valid JSON", unchangedService, `{"f:spec":`, ports, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ownedUnchanged(fromYAML(t, tc.desired), liveService(t, tc.fields, tc.ports), "converge"); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if ownedUnchanged(fromYAML(t, unchangedService), liveService(t, unchangedServiceFields, ports), "someone-else") {
		t.Error("unchanged judged from another manager's fields")
	}
}

// Whatever the managed fields say, the comparison never panics.
func FuzzOwnedUnchanged(f *testing.F) {
	f.Add([]byte(unchangedServiceFields))
	f.Add([]byte(`{"f:spec":{"f:ports":{"k:{\"port\":80}":{"f:port":{}},"v:\"x\"":{}}}}`))
	f.Add([]byte(`{"f:metadata":{"f:labels":{"f:app":{"f:x":{}}}},"f:spec":{"f:ports":{"k:[]":{}}}}`))
	ports := `[{name: http, port: 80, protocol: TCP, targetPort: http}, {name: https, port: 443, protocol: TCP, targetPort: 8443}]`
	f.Fuzz(func(t *testing.T, fields []byte) {
		ownedUnchanged(fromYAML(t, unchangedService), liveService(t, string(fields), ports), "converge")
	})
}
