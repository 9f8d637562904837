package create

import (
	"slices"
	"strings"
	"testing"
)

var sourceKinds = []string{"OCIRepository", "GitRepository", "Bucket"}

func TestParseSource(t *testing.T) {
	for _, tt := range []struct {
		in, def                        string
		kind, name, namespace, wantErr string
	}{
		{in: "flux-system", def: "GitRepository", kind: "GitRepository", name: "flux-system"},
		{in: "ocirepository/app.apps", def: "GitRepository", kind: "OCIRepository", name: "app", namespace: "apps"},
		{in: "Bucket/b", kind: "Bucket", name: "b"},
		{in: "b", wantErr: "must be in format <kind>/<name>"},
		{in: "HelmRepository/x", def: "GitRepository", wantErr: "source kind 'HelmRepository' is not supported"},
		{in: "GitRepository/", def: "GitRepository", wantErr: "no name given"},
		{in: " ", def: "GitRepository", wantErr: "source is required"},
	} {
		kind, name, ns, err := ParseSource(tt.in, tt.def, sourceKinds)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || kind != tt.kind || name != tt.name || ns != tt.namespace {
			t.Errorf("%q: %q %q %q %v", tt.in, kind, name, ns, err)
		}
	}
}

func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"flux-system", "GitRepository/a.b", "bucket/x", "/", "a/b/c.d.e", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, name, _, err := ParseSource(s, "GitRepository", sourceKinds)
		if err == nil && (name == "" || !slices.Contains(sourceKinds, kind)) {
			t.Fatalf("%q: kind %q name %q accepted", s, kind, name)
		}
	})
}

func TestObjectMeta(t *testing.T) {
	for _, tt := range []struct {
		m       Meta
		wantErr string
	}{
		{m: Meta{Name: "ok-name", Labels: []string{"a=b", "example.com/c=d"}}},
		{m: Meta{Name: "x"}, wantErr: "name 'x' is invalid"},
		{m: Meta{Name: "Upper"}, wantErr: "is invalid"},
		{m: Meta{Name: "ok", Labels: []string{"a"}}, wantErr: "invalid label format 'a'"},
		{m: Meta{Name: "ok", Labels: []string{"a=b=c"}}, wantErr: "invalid label format"},
		{m: Meta{Name: "ok", Labels: []string{"-a=b"}}, wantErr: "invalid label '-a'"},
		{m: Meta{Name: "ok", Labels: []string{"a=b c"}}, wantErr: "invalid label value 'b c'"},
	} {
		om, err := tt.m.ObjectMeta()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v: error %v, want %q", tt.m, err, tt.wantErr)
			}
			continue
		}
		if err != nil || om.Name != tt.m.Name || len(om.Labels) != len(tt.m.Labels) {
			t.Errorf("%+v: %+v %v", tt.m, om, err)
		}
	}
}
