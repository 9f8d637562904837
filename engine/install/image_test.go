package install

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestAgentImage(t *testing.T) {
	release := DefaultImage + ":v1.2.3@" + d1
	tests := []struct {
		name, image, version, release string
		want, err                     string
	}{
		{name: "default repository, tag from version", version: "v1.0.0", want: DefaultImage + ":v1.0.0"},
		{name: "repository", image: "localhost:5000/converge", version: "v1", want: "localhost:5000/converge:v1"},
		{name: "repository and tag", image: "localhost:5000/converge:dev", version: "v1", want: "localhost:5000/converge:dev"},
		{name: "repository and digest", image: "localhost:5000/converge@" + d2, version: "v1", want: "localhost:5000/converge:v1@" + d2},
		{name: "tag and digest", image: "registry.local/team/converge:edge@" + d2, version: "v1", want: "registry.local/team/converge:edge@" + d2},
		{name: "release binary pins its own version", version: "v1.2.3", release: release, want: release},
		{name: "release digest not used for another version", version: "v1.2.4", release: release, want: DefaultImage + ":v1.2.4"},
		{name: "release digest not used for another repository", image: "localhost:5000/converge", version: "v1.2.3", release: release, want: "localhost:5000/converge:v1.2.3"},
		{name: "explicit digest wins over the release's", image: DefaultImage + "@" + d2, version: "v1.2.3", release: release, want: DefaultImage + ":v1.2.3@" + d2},
		{name: "short digest", image: "ghcr.io/x/y@sha256:abc", version: "v1", err: `digest "sha256:abc"`},
		{name: "other algorithm", image: "ghcr.io/x/y@sha512:" + strings.Repeat("a", 64), version: "v1", err: "want sha256:"},
		{name: "empty tag", image: "ghcr.io/x/y:", version: "v1", err: `tag ""`},
		{name: "bad tag", image: "ghcr.io/x/y:-x", version: "v1", err: `tag "-x"`},
		{name: "upper case repository", image: "ghcr.io/X/y", version: "v1", err: `repository "ghcr.io/X/y"`},
		{name: "space", image: "ghcr.io/x/y z", version: "v1", err: "want repository[:tag][@sha256:digest]"},
		{name: "bad baked image", version: "v1", release: "nonsense@", err: "the image baked into this binary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Options{Image: tt.image, Version: tt.version}.agentImageWith(tt.release)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %q, error %v, want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

// TestDeploymentGolden renders the agent Deployment with an image pinned by digest, as `install --export`
// writes it.
func TestDeploymentGolden(t *testing.T) {
	objs, err := Objects(Options{Version: "v1.2.3", Image: "localhost:5000/converge:v1.2.3@" + d2})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			if got, err = yaml.Marshal(o.Object); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := filepath.Join("testdata", "deployment-digest.yaml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -update)", err)
	}
	if string(want) != string(got) {
		t.Errorf("Deployment differs from %s (go test -update to accept):\n%s", p, got)
	}
}

func FuzzParseImage(f *testing.F) {
	for _, s := range []string{"ghcr.io/x/y", "localhost:5000/c:v1@" + d1, "a@b", "x:", "[::1]:5000/c:t", "c@sha256:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseImage(s)
		if err != nil {
			return
		}
		// What parses prints back as itself and parses again to the same reference.
		if r.String() != s {
			t.Fatalf("ParseImage(%q).String() = %q", s, r.String())
		}
		again, err := ParseImage(r.String())
		if err != nil || again != r {
			t.Fatalf("reparsing %q: %+v, %v", s, again, err)
		}
	})
}
