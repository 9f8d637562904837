package manifest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

func newTestDecoder(t testing.TB) *Decoder {
	t.Helper()
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDecodeBadInputGolden(t *testing.T) {
	d := newTestDecoder(t)
	files, err := filepath.Glob("../../testdata/decode/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test inputs: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Decode(context.Background(), "bad/"+name+".yaml", data)
			if err == nil {
				t.Fatal("expected an error")
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error is not a *manifest.Error: %T %v", err, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			goldenfile.CheckString(t, golden, got)
		})
	}
}

func TestDecodeSeeds(t *testing.T) {
	d := newTestDecoder(t)
	files, _ := filepath.Glob("../../testdata/seeds/*.yaml")
	if len(files) == 0 {
		t.Fatal("no seed examples found")
	}
	total := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := d.Decode(context.Background(), filepath.Base(file), data)
		if err != nil {
			t.Errorf("%s: %v", file, err)
		}
		total += len(objs)
	}
	if total != 13 {
		t.Errorf("decoded %d seed objects, want 13", total)
	}
}

func TestDecodeConvertsAndDefaults(t *testing.T) {
	d := newTestDecoder(t)
	data, err := os.ReadFile("../../testdata/seeds/000-controllers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := d.Decode(context.Background(), "000-controllers.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("got %d objects, want 3", len(objs))
	}
	tests := []struct {
		obj  Object
		line int
		gvk  string
	}{
		{objs[0], 2, "source.toolkit.fluxcd.io/v1, Kind=GitRepository"},
		{objs[1], 13, "kustomize.toolkit.fluxcd.io/v1, Kind=Kustomization"},
		{objs[2], 26, "helm.toolkit.fluxcd.io/v2, Kind=HelmRelease"},
	}
	for _, tt := range tests {
		if tt.obj.Line != tt.line {
			t.Errorf("%s: line %d, want %d", tt.gvk, tt.obj.Line, tt.line)
		}
		if got := tt.obj.Typed.GetObjectKind().GroupVersionKind().String(); got != tt.gvk {
			t.Errorf("typed GVK %s, want %s", got, tt.gvk)
		}
	}
	repo := objs[0].Typed.(*sourcev1.GitRepository)
	if repo.Spec.Reference == nil || repo.Spec.Reference.Branch != "master" || repo.Spec.Interval.Duration.Minutes() != 1 || repo.Spec.Timeout == nil || repo.Spec.Timeout.Duration.Seconds() != 60 {
		t.Errorf("GitRepository not decoded with defaults: %+v", repo.Spec)
	}
	ks := objs[1].Typed.(*kustomizev1.Kustomization)
	if !ks.Spec.Prune || ks.Spec.Path != "./kustomize" || ks.Spec.SourceRef.Name != "podinfo" {
		t.Errorf("Kustomization spec wrong: %+v", ks.Spec)
	}
	hr := objs[2].Typed.(*helmv2.HelmRelease)
	if hr.Spec.Chart == nil || hr.Spec.Chart.Spec.Version != "17.3.x" || hr.Spec.Chart.Spec.SourceRef.Kind != "HelmRepository" {
		t.Fatalf("HelmRelease chart not converted: %+v", hr.Spec.Chart)
	}
	if !strings.Contains(string(hr.Spec.Values.Raw), `"architecture":"standalone"`) {
		t.Errorf("values lost in conversion: %s", hr.Spec.Values.Raw)
	}
}

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		lines []int
	}{
		{"single", "a: 1\n", []int{1}},
		{"leading marker", "---\na: 1\n", []int{2}},
		{"comments before", "# c\n\na: 1\n---\nb: 2\n", []int{3, 5}},
		{"empty documents dropped", "---\n---\n# only comment\n---\na: 1\n", []int{5}},
		{"end marker", "a: 1\n...\n---\nb: 2\n", []int{1, 4}},
		{"marker with comment", "a: 1\n--- # next\nb: 2\n", []int{1, 3}},
		{"not a marker", "a: |\n  ---x\n", []int{1}},
		{"crlf", "a: 1\r\n---\r\nb: 2\r\n", []int{1, 3}},
		{"no trailing newline", "a: 1\n---\nb: 2", []int{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := SplitDocuments([]byte(tt.in))
			var lines []int
			for i, d := range docs {
				lines = append(lines, d.Line)
				if d.Index != i {
					t.Errorf("doc %d has index %d", i, d.Index)
				}
			}
			if len(lines) != len(tt.lines) {
				t.Fatalf("lines %v, want %v", lines, tt.lines)
			}
			for i := range lines {
				if lines[i] != tt.lines[i] {
					t.Fatalf("lines %v, want %v", lines, tt.lines)
				}
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("../../testdata/decode/bad/*.yaml")
	more, _ := filepath.Glob("../../testdata/seeds/*.yaml")
	for _, p := range append(seeds, more...) {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	d := newTestDecoder(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := d.Decode(context.Background(), "fuzz.yaml", data)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error is not located: %v", err)
			}
		}
		for _, o := range objs {
			if o.Unstructured == nil || o.Line < 1 {
				t.Fatalf("bad object %+v", o)
			}
		}
	})
}
