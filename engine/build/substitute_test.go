package build

import (
	"strings"
	"testing"
)

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"name": "podinfo", "empty": "", "region": "eu-west-1", "path": "a/b/c.tar.gz", "Mixed": "hELLO"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	tests := []struct {
		in, want string
		strict   bool
		err      string
	}{
		{in: "name: ${name}", want: "name: podinfo"},
		{in: "${name}-${region}", want: "podinfo-eu-west-1"},
		{in: "${missing:=fallback}", want: "fallback"},
		{in: "${missing:-fallback}", want: "fallback"},
		{in: "${empty:-fallback}", want: "fallback"},
		{in: "${empty-fallback}", want: ""},
		{in: "${missing-fallback}", want: "fallback"},
		{in: "${missing:=${name}}", want: "podinfo"},
		{in: "${name:0:3}", want: "pod"},
		{in: "${name:3}", want: "info"},
		{in: "${name: -4}", want: "info"},
		{in: "${#name}", want: "7"},
		{in: "${name^}", want: "Podinfo"},
		{in: "${name^^}", want: "PODINFO"},
		{in: "${Mixed,}", want: "hELLO"},
		{in: "${Mixed,,}", want: "hello"},
		{in: "${path#*/}", want: "b/c.tar.gz"},
		{in: "${path##*/}", want: "c.tar.gz"},
		{in: "${path%.*}", want: "a/b/c.tar"},
		{in: "${path%%.*}", want: "a/b/c"},
		{in: "${region/-/_}", want: "eu_west-1"},
		{in: "${region//-/_}", want: "eu_west_1"},
		{in: "${region/#eu/us}", want: "us-west-1"},
		{in: "${region/%1/2}", want: "eu-west-2"},
		{in: "$${name} stays", want: "${name} stays"},
		{in: "$name and $ alone and $$", want: "$name and $ alone and $"},
		{in: "echo $$i $$$x $$$$", want: "echo $i $$x $$"},
		{in: "price: 5$", want: "price: 5$"},
		{in: "${missing}", want: ""},
		{in: "${missing}", strict: true, err: `${missing}: variable "missing" is not set`},
		{in: "${missing:0:2}", strict: true, err: `variable "missing" is not set`},
		{in: "${missing:=ok}", strict: true, want: "ok"},
		{in: "${name", err: "missing closing brace"},
		{in: "${1abc}", err: "not a valid variable name"},
		{in: "${name:x}", err: "bad substring offset"},
		{in: "${name?oops}", err: "unsupported operator"},
		{in: "${name/[z-a]/x}", want: "podinfo"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Substitute(tt.in, lookup, tt.strict)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzSubstitute(f *testing.F) {
	for _, s := range []string{"${a}", "${a:=b}", "${a:1:2}", "$${a}", "${a//x/y}", "${#a}", "${a%%*.}", "${a:=${b:-${c}}}", "${", "${a/[/x}"} {
		f.Add(s, true)
	}
	vars := map[string]string{"a": "value-with.dots", "b": "", "c": "ccc"}
	f.Fuzz(func(t *testing.T, in string, strict bool) {
		out, err := Substitute(in, func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, strict)
		if err == nil && !strings.Contains(in, "$") && out != in {
			t.Fatalf("text without $ changed: %q -> %q", in, out)
		}
	})
}
