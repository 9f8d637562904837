package crds_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/crds"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

type serverClient struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func newServerClient(t *testing.T) *serverClient {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(cluster.Client.Discovery())
	if err != nil {
		t.Fatal(err)
	}
	return &serverClient{dyn: dyn, mapper: restmapper.NewDiscoveryRESTMapper(groups)}
}

func (s *serverClient) resource(t *testing.T, u *unstructured.Unstructured) dynamic.ResourceInterface {
	t.Helper()
	gvk := u.GroupVersionKind()
	m, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("%s: %v", gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ensureNamespace(t, u.GetNamespace())
		return s.dyn.Resource(m.Resource).Namespace(u.GetNamespace())
	}
	return s.dyn.Resource(m.Resource)
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	if name == "" {
		return
	}
	_, err := cluster.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func readYAMLDocs(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range manifest.SplitDocuments(data) {
		u := &unstructured.Unstructured{}
		j, err := sigsyaml.YAMLToJSONStrict(doc.Data)
		if err != nil || json.Unmarshal(j, &u.Object) != nil || u.GetKind() == "" {
			continue
		}
		out = append(out, u)
	}
	return out
}

// TestEveryKindRoundTrips creates one object of every kind and served version through the API server,
// reads it back at the storage version, and checks the server stored what the decoder produced offline
// (same defaults, same conversion).
func TestEveryKindRoundTrips(t *testing.T) {
	ctx := context.Background()
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	sc := newServerClient(t)
	scheme := crds.NewScheme()
	files, _ := filepath.Glob("../testdata/kinds/*.yaml")
	seeds, _ := filepath.Glob("../testdata/seeds/*.yaml")
	files = append(files, seeds...)

	seen := map[string]bool{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := dec.Decode(ctx, file, data)
		if err != nil {
			t.Fatalf("decoding %s: %v", file, err)
		}
		raw := readYAMLDocs(t, file)
		if len(raw) != len(objs) {
			t.Fatalf("%s: %d raw documents, %d decoded", file, len(raw), len(objs))
		}
		for i, obj := range objs {
			u := raw[i]
			name := u.GetKind() + " " + u.GetAPIVersion() + " " + u.GetName()
			t.Run(filepath.Base(file)+"/"+name, func(t *testing.T) {
				seen[u.GroupVersionKind().String()] = true
				ri := sc.resource(t, u)
				_ = ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{}) // the seeds repeat some objects
				if _, err := ri.Create(ctx, u, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
					t.Fatalf("server rejected it: %v", err)
				}
				if obj.Typed == nil {
					return
				}
				stored := obj.Typed.GetObjectKind().GroupVersionKind()
				back, err := sc.resource(t, &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": stored.GroupVersion().String(), "kind": stored.Kind,
					"metadata": map[string]any{"namespace": u.GetNamespace()}}}).Get(ctx, u.GetName(), metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				server, err := scheme.New(stored)
				if err != nil {
					t.Fatal(err)
				}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(back.Object, server); err != nil {
					t.Fatal(err)
				}
				if !equality.Semantic.DeepEqual(specOf(t, obj.Typed), specOf(t, server)) {
					l, _ := json.Marshal(specOf(t, obj.Typed))
					s, _ := json.Marshal(specOf(t, server))
					t.Errorf("offline decoding differs from the server's stored object\noffline: %s\nserver:  %s", l, s)
				}
			})
		}
	}

	defs, err := crds.CustomResourceDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range defs {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			gvk := crd.Spec.Group + "/" + v.Name + ", Kind=" + crd.Spec.Names.Kind
			if !seen[gvk] && !(v.Deprecated && !v.Storage) {
				t.Errorf("no test object of %s", gvk)
			}
		}
	}
}

func specOf(t *testing.T, obj runtime.Object) any {
	t.Helper()
	v := reflect.ValueOf(obj).Elem().FieldByName("Spec")
	if !v.IsValid() {
		t.Fatalf("%T has no spec", obj)
	}
	return v.Interface()
}

// TestServerAndDecoderRejectTheSameObjects sends every invalid test object to the API server with strict
// field validation and checks that the server rejects it too, naming the field the decoder named.
func TestServerAndDecoderRejectTheSameObjects(t *testing.T) {
	ctx := context.Background()
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	sc := newServerClient(t)
	files, _ := filepath.Glob("../testdata/decode/bad/*.yaml")
	checked := 0
	for _, file := range files {
		data, _ := os.ReadFile(file)
		_, decodeErr := dec.Decode(ctx, file, data)
		if decodeErr == nil {
			t.Fatalf("%s: the decoder accepted it", file)
		}
		fieldsByName := map[string][]string{}
		for _, e := range flatten(decodeErr) {
			var de *manifest.Error
			if errors.As(e, &de) && de.Field != "" {
				fieldsByName[de.Name] = append(fieldsByName[de.Name], de.Field)
			}
		}
		for _, u := range readYAMLDocs(t, file) {
			fields, bad := fieldsByName[u.GetName()]
			if !bad {
				continue
			}
			t.Run(filepath.Base(file)+"/"+u.GetName(), func(t *testing.T) {
				u.SetName(strings.ToLower(strings.ReplaceAll(u.GetName(), "_", "-")) + "-bad")
				if u.GetName() == "-bad" {
					u.SetName("")
				}
				_, err := sc.resource(t, u).Create(ctx, u, metav1.CreateOptions{FieldValidation: "Strict"})
				if fields[0] == "metadata.name" && u.GetName() != "" {
					return // the name was repaired above so the server can be asked about the rest
				}
				if err == nil {
					t.Fatalf("the server accepted what the decoder rejected (%v)", fields)
				}
				for _, f := range fields {
					if !strings.Contains(err.Error(), lastSegment(f)) {
						t.Errorf("server error does not mention %s: %v", f, err)
					}
				}
				checked++
			})
		}
	}
	if checked < 8 {
		t.Errorf("only %d invalid objects were checked against the server", checked)
	}
}

func lastSegment(path string) string {
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[i+1:]
	}
	return path
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
