package migrate

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The served versions of Flux 2.9 and 2.6, as `flux migrate` 2.9 knows them.
func TestLatestVersions(t *testing.T) {
	flux29 := map[string]string{
		"source.toolkit.fluxcd.io/Bucket": "v1", "source.toolkit.fluxcd.io/GitRepository": "v1",
		"source.toolkit.fluxcd.io/OCIRepository": "v1", "source.toolkit.fluxcd.io/HelmRepository": "v1",
		"source.toolkit.fluxcd.io/HelmChart": "v1", "source.toolkit.fluxcd.io/ExternalArtifact": "v1",
		"kustomize.toolkit.fluxcd.io/Kustomization": "v1", "helm.toolkit.fluxcd.io/HelmRelease": "v2",
		"notification.toolkit.fluxcd.io/Receiver": "v1", "notification.toolkit.fluxcd.io/Alert": "v1beta3",
		"notification.toolkit.fluxcd.io/Provider": "v1beta3", "image.toolkit.fluxcd.io/ImageRepository": "v1",
		"image.toolkit.fluxcd.io/ImagePolicy": "v1", "image.toolkit.fluxcd.io/ImageUpdateAutomation": "v1",
		"source.extensions.fluxcd.io/ArtifactGenerator": "v1beta1",
	}
	flux26 := map[string]string{}
	for k, v := range flux29 {
		switch {
		case strings.HasPrefix(k, "image."):
			flux26[k] = "v1beta2"
		case strings.HasPrefix(k, "source.extensions."):
		default:
			flux26[k] = v
		}
	}
	for _, tc := range []struct {
		version string
		want    map[string]string
	}{{"", flux29}, {"2.9", flux29}, {"2.8", flux29}, {"2.7", flux29}, {"2.6", flux26}} {
		got, err := LatestVersions(tc.version)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: %d kinds, want %d", tc.version, len(got), len(tc.want))
		}
		for gk, v := range got {
			if tc.want[gk.Group+"/"+gk.Kind] != v {
				t.Errorf("%q: %s is %s, want %q", tc.version, gk, v, tc.want[gk.Group+"/"+gk.Kind])
			}
		}
	}
	if _, err := LatestVersions("2.10"); err == nil {
		t.Error("2.10 accepted")
	}
}

func FuzzDetectLines(f *testing.F) {
	f.Add("apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: GitRepository\n")
	f.Add("apiVersion: a/b/c\nkind: X")
	f.Add("apiVersion: \nkind: ")
	latest := map[schema.GroupKind]string{{Group: "source.toolkit.fluxcd.io", Kind: "GitRepository"}: "v1"}
	f.Fuzz(func(t *testing.T, s string) {
		lines := strings.Split(s, "\n")
		ups, _ := detectLines("f", lines, latest)
		for _, u := range ups {
			if u.Line < 1 || u.Line > len(lines) || !strings.Contains(lines[u.Line-1], u.OldVersion) {
				t.Fatalf("upgrade %+v does not point at its line in %q", u, s)
			}
		}
	})
}
