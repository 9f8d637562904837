package image

import (
	"errors"
	"strings"
	"testing"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
)

// registryTags is the tag set the registry tests push: semver with prereleases and a v prefix, dated
// main-<sha>-<ts> builds, plain numbers, signature tags and a few odd ones.
var registryTags = []string{
	"1.0.0", "1.2.3", "v1.3.0", "1.10.0", "2.0.0-rc.1", "2.0.0-rc.2", "2.0.0-beta.1", "0.9.9",
	"main-0a1b2c3-1700000000", "main-9f8e7d6-1700000300", "main-5d5d5d5-1700000100", "feature-aaaaaaa-1700000900",
	"7", "42", "100", "3.5",
	"sha256-0123.sig", "sha256-4567.sig",
	"latest", "1.2", "v2",
}

func semverPolicy(r string) imagev1.ImagePolicyChoice {
	return imagev1.ImagePolicyChoice{SemVer: &imagev1.SemVerPolicy{Range: r}}
}

func TestPolicyLatest(t *testing.T) {
	numeric := &imagev1.TagFilter{Pattern: `^[0-9]+(\.[0-9]+)?$`}
	tests := []struct {
		name   string
		tags   []string
		policy imagev1.ImagePolicyChoice
		filter *imagev1.TagFilter
		want   string
		err    string
	}{
		{name: "semver any stable", policy: semverPolicy(">=0.0.0"), want: "1.10.0"},
		{name: "semver v prefix counts", policy: semverPolicy("~1.3"), want: "v1.3.0"},
		{name: "semver range upper bound", policy: semverPolicy(">=1.0.0 <1.10.0"), want: "v1.3.0"},
		{name: "semver prereleases only when the range asks", policy: semverPolicy(">=2.0.0-0"), want: "2.0.0-rc.2"},
		{name: "semver prerelease range excludes 1.x", policy: semverPolicy("2.0.0-beta.1"), want: "2.0.0-beta.1"},
		{name: "semver non-strict tags ignored", tags: []string{"1.2", "v2", "3"}, policy: semverPolicy("*"), err: "no semver tag"},
		{name: "semver nothing in range", policy: semverPolicy(">=5.0.0"), err: "no semver tag within range"},
		{name: "semver first of equal versions", tags: []string{"1.0.0", "v1.0.0"}, policy: semverPolicy("1.x"), want: "1.0.0"},
		{name: "alphabetical asc", tags: []string{"b", "c", "a"}, policy: imagev1.ImagePolicyChoice{Alphabetical: &imagev1.AlphabeticalPolicy{}}, want: "c"},
		{name: "alphabetical desc", tags: []string{"b", "c", "a"}, policy: imagev1.ImagePolicyChoice{Alphabetical: &imagev1.AlphabeticalPolicy{Order: "desc"}}, want: "a"},
		{name: "numerical asc", policy: imagev1.ImagePolicyChoice{Numerical: &imagev1.NumericalPolicy{Order: "asc"}}, filter: numeric, want: "100"},
		{name: "numerical desc", policy: imagev1.ImagePolicyChoice{Numerical: &imagev1.NumericalPolicy{Order: "desc"}}, filter: numeric, want: "1.2"},
		{name: "numerical without filter fails on words", policy: imagev1.ImagePolicyChoice{Numerical: &imagev1.NumericalPolicy{}}, err: "is not a number"},
		{
			name:   "dated builds by extracted timestamp",
			policy: imagev1.ImagePolicyChoice{Numerical: &imagev1.NumericalPolicy{Order: "asc"}},
			filter: &imagev1.TagFilter{Pattern: `^main-[a-f0-9]+-(?P<ts>[0-9]+)`, Extract: "$ts"},
			want:   "main-9f8e7d6-1700000300",
		},
		{
			name:   "dated builds oldest with desc",
			policy: imagev1.ImagePolicyChoice{Numerical: &imagev1.NumericalPolicy{Order: "desc"}},
			filter: &imagev1.TagFilter{Pattern: `^main-[a-f0-9]+-(?P<ts>[0-9]+)`, Extract: "$ts"},
			want:   "main-0a1b2c3-1700000000",
		},
		{
			name:   "alphabetical on extracted timestamp",
			policy: imagev1.ImagePolicyChoice{Alphabetical: &imagev1.AlphabeticalPolicy{}},
			filter: &imagev1.TagFilter{Pattern: `^[a-z]+-[a-f0-9]+-(?P<ts>[0-9]+)$`, Extract: "${ts}"},
			want:   "feature-aaaaaaa-1700000900",
		},
		{
			name:   "semver on extracted version",
			policy: semverPolicy(">=1.0.0"),
			filter: &imagev1.TagFilter{Pattern: `^v(?P<version>.*)$`, Extract: "$version"},
			want:   "v1.3.0",
		},
		{name: "filter without extract keeps tags", policy: imagev1.ImagePolicyChoice{Alphabetical: &imagev1.AlphabeticalPolicy{}},
			filter: &imagev1.TagFilter{Pattern: `^main-`}, want: "main-9f8e7d6-1700000300"},
		{name: "filter matching nothing", policy: semverPolicy("*"), filter: &imagev1.TagFilter{Pattern: `^release-`}, err: "none of the 21 tags matches"},
		{name: "no tags at all", tags: []string{}, policy: semverPolicy("*"), err: "has no tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tags := tt.tags
			if tags == nil {
				tags = registryTags
			}
			p, err := NewPolicy(imagev1.ImagePolicySpec{Policy: tt.policy, FilterTags: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Latest(tags)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Latest = %q, %v; want error %q", got, err, tt.err)
				}
				if strings.Contains(tt.err, "tag") && !errors.Is(err, ErrNoTag) && !strings.Contains(tt.err, "number") {
					t.Errorf("error %v does not wrap ErrNoTag", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Latest = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNewPolicyRejects(t *testing.T) {
	tests := []struct {
		name string
		spec imagev1.ImagePolicySpec
		err  string
	}{
		{"no policy", imagev1.ImagePolicySpec{}, "exactly one"},
		{"two policies", imagev1.ImagePolicySpec{Policy: imagev1.ImagePolicyChoice{SemVer: &imagev1.SemVerPolicy{Range: "*"}, Alphabetical: &imagev1.AlphabeticalPolicy{}}}, "exactly one"},
		{"bad range", imagev1.ImagePolicySpec{Policy: semverPolicy(">>1")}, "semver.range"},
		{"bad order", imagev1.ImagePolicySpec{Policy: imagev1.ImagePolicyChoice{Numerical: &imagev1.NumericalPolicy{Order: "up"}}}, "asc or desc"},
		{"bad pattern", imagev1.ImagePolicySpec{Policy: semverPolicy("*"), FilterTags: &imagev1.TagFilter{Pattern: "("}}, "filterTags.pattern"},
	}
	for _, tt := range tests {
		if _, err := NewPolicy(tt.spec); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.err)
		}
	}
}

func TestLatestTags(t *testing.T) {
	got := LatestTags(registryTags)
	if len(got) != 10 || got[0] != "v2" || got[1] != "v1.3.0" || got[2] != "sha256-4567.sig" || got[9] != "7" {
		t.Fatalf("LatestTags = %v", got)
	}
}

func TestRenderMessage(t *testing.T) {
	res := Result{}
	res.add(Change{File: "apps/a.yaml", Line: 3, Object: ObjectIdentifier{Kind: "Deployment", Name: "app", Namespace: "apps", APIVersion: "apps/v1"},
		OldValue: "r/app:1.0.0", NewValue: "r/app:1.1.0", Setter: "flux-system:app"})
	res.add(Change{File: "apps/b.yaml", Line: 9, Object: ObjectIdentifier{Kind: "HelmRelease", Name: "web", Namespace: "apps"},
		OldValue: "1.0", NewValue: "1.1", Setter: "flux-system:web:tag"})
	data := TemplateData{Changed: res, Values: map[string]string{"cluster": "prod"}}
	data.AutomationObject.Namespace, data.AutomationObject.Name = "flux-system", "auto"
	tmpl := `Automated image update for {{ .Values.cluster }}

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind | lower }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
{{ len .Changed.Changes }} changes`
	got, err := RenderMessage(tmpl, data)
	if err != nil {
		t.Fatal(err)
	}
	// Objects is a map with struct keys, which templates range over in no fixed order.
	for _, part := range []string{
		"Automated image update for prod\n\nAutomation name: flux-system/auto\n\nFiles:\n- apps/a.yaml\n- apps/b.yaml\nObjects:\n",
		"- deployment app\n  Changes:\n    - r/app:1.0.0 -> r/app:1.1.0\n",
		"- helmrelease web\n  Changes:\n    - 1.0 -> 1.1\n",
		"2 changes",
	} {
		if !strings.Contains(got, part) {
			t.Errorf("message lacks %q:\n%s", part, got)
		}
	}
	if got, _ := RenderMessage("", data); got != DefaultMessageTemplate {
		t.Errorf("default message %q", got)
	}
	// kyaml's ResourceIdentifier accessors work on the object keys, as in Flux.
	if got, err := RenderMessage(`{{ range $o, $_ := .Changed.Objects }}{{ if eq $o.GetKind "Deployment" }}{{ $o.GetNamespace }}/{{ $o.GetName }} {{ $o.GetAPIVersion }}{{ end }}{{ end }}`, data); err != nil || got != "apps/app apps/v1" {
		t.Errorf("accessors: %q %v", got, err)
	}
	// Flux's messages and reasons for the removed fields (Stalled), a template that does not parse and one
	// that fails; the hermetic function set has no clock.
	for _, tt := range []struct{ tmpl, reason, msg string }{
		{"{{ range .Updated.Images }}{{ . }}{{ end }}", imagev1.RemovedTemplateFieldReason, "template uses removed '.Updated' field. Please use '.Changed' instead."},
		{"{{ .Changed.ImageResult }}", imagev1.RemovedTemplateFieldReason, "template uses removed '.Changed.ImageResult' field. Please use '.Changed.FileChanges' or '.Changed.Objects' instead."},
		{"{{ .Nope", imagev1.GitOperationFailedReason, "unable to create commit message template from spec: "},
		{`{{ now }}`, imagev1.GitOperationFailedReason, `function "now" not defined`},
		{`{{ fail "stop" }}`, imagev1.GitOperationFailedReason, "failed to run template from spec: "},
	} {
		_, err := RenderMessage(tt.tmpl, data)
		if err == nil || ReasonOf(err) != tt.reason || !strings.Contains(err.Error(), tt.msg) || IsStalled(err) != (tt.reason == imagev1.RemovedTemplateFieldReason) {
			t.Errorf("%s: err %v (reason %s, stalled %v), want %s with %q", tt.tmpl, err, ReasonOf(err), IsStalled(err), tt.reason, tt.msg)
		}
	}
}
