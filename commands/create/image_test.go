package create

import (
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
)

func TestCreateImageExport(t *testing.T) {
	tests := []struct {
		golden    string
		namespace string
		args      []string
	}{
		{"repository.yaml", "", []string{"image", "repository", "podinfo", "--image", "ghcr.io/stefanprodan/podinfo", "--interval", "5m", "--export"}},
		{"repository-private.yaml", "apps", []string{"image", "repository", "app", "--image", "registry.example:5000/org/app", "--secret-ref", "regcred",
			"--cert-secret-ref", "ca", "--exclusion-list", `^.*\.sig$`, "--exclusion-list", "^debug-", "--scan-timeout", "30s", "--insecure", "--label", "team=web", "--export"}},
		{"policy-semver.yaml", "", []string{"image", "policy", "podinfo", "--image-ref", "podinfo", "--select-semver", ">=1.0.0 <2.0.0", "--export"}},
		{"policy-numeric.yaml", "", []string{"image", "policy", "builds", "--image-ref", "app", "--filter-regex", "^main-[a-f0-9]+-(?P<ts>[0-9]+)",
			"--filter-extract", "$ts", "--select-numeric", "asc", "--reflect-digest", "IfNotPresent", "--export"}},
		{"policy-alpha.yaml", "", []string{"image", "policy", "alpha", "--image-ref", "app", "--select-alpha", "desc", "--reflect-digest", "Always", "--interval", "10m", "--export"}},
		{"update.yaml", "", []string{"image", "update", "flux-system", "--git-repo-ref", "flux-system", "--git-repo-path", "./clusters/prod",
			"--checkout-branch", "main", "--push-branch", "image-updates", "--author-name", "fluxbot", "--author-email", "fluxbot@example.com",
			"--commit-template", "{{ range .Changed.Changes }}{{ .OldValue }} -> {{ .NewValue }}\n{{ end }}", "--signing-key-secret", "gpg", "--interval", "30m", "--export"}},
		{"update-ssh-signed.yaml", "", []string{"image", "update", "apps", "--git-repo-ref", "flux-system", "--git-repo-path", "./apps",
			"--author-email", "fluxbot@example.com", "--signing-key-ref", "ssh-signer", "--signing-key-type", "ssh", "--export"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, errOut, code := runCreate(t, tt.namespace, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			checkGolden(t, filepath.Join("..", "..", "testdata", "image", "create", tt.golden), out)
			// The output decodes strictly into the API type it claims.
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(strings.TrimPrefix(out, "---\n")), &obj); err != nil {
				t.Fatal(err)
			}
			var typed any
			switch obj["kind"] {
			case imagev1.ImageRepositoryKind:
				typed = &imagev1.ImageRepository{}
			case imagev1.ImagePolicyKind:
				typed = &imagev1.ImagePolicy{}
			default:
				typed = &imagev1.ImageUpdateAutomation{}
			}
			if err := yaml.UnmarshalStrict([]byte(strings.TrimPrefix(out, "---\n")), typed); err != nil {
				t.Errorf("not a valid %v: %v", obj["kind"], err)
			}
		})
	}
}

func TestCreateImageUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"image", "repository", "r"}, "--image is required"},
		{[]string{"image", "update", "u", "--git-repo-ref", "repo", "--author-email", "a@b", "--signing-key-ref", "k", "--signing-key-type", "x509"}, `--signing-key-type "x509": want gpg or ssh`},
		{[]string{"image", "update", "u", "--git-repo-ref", "repo", "--author-email", "a@b", "--signing-key-type", "ssh"}, "--signing-key-type needs --signing-key-secret"},
		{[]string{"image", "repository", "r", "--image", "ghcr.io/org/app:1.0"}, "must not carry a tag"},
		{[]string{"image", "policy", "p", "--select-semver", "*"}, "--image-ref is required"},
		{[]string{"image", "policy", "p", "--image-ref", "r"}, "exactly one of"},
		{[]string{"image", "policy", "p", "--image-ref", "r", "--select-semver", "*", "--select-alpha", "asc"}, "exactly one of"},
		{[]string{"image", "policy", "p", "--image-ref", "r", "--select-semver", ">>1"}, "semver.range"},
		{[]string{"image", "policy", "p", "--image-ref", "r", "--select-numeric", "up"}, "asc or desc"},
		{[]string{"image", "policy", "p", "--image-ref", "r", "--select-alpha", "asc", "--filter-regex", "("}, "filterTags.pattern"},
		{[]string{"image", "policy", "p", "--image-ref", "r", "--select-alpha", "asc", "--reflect-digest", "Always"}, "needs --interval"},
		{[]string{"image", "policy", "p", "--image-ref", "r", "--select-alpha", "asc", "--interval", "1m"}, "only accepted with --reflect-digest Always"},
		{[]string{"image", "update", "u", "--author-email", "a@b"}, "--git-repo-ref is required"},
		{[]string{"image", "update", "u", "--git-repo-ref", "g"}, "--author-email is required"},
		{[]string{"image", "update", "u", "--git-repo-ref", "g", "--author-email", "a@b", "--commit-template", "{{ .Updated }}"}, ".Updated"},
	} {
		_, errOut, code := runCreate(t, "", append(tt.args, "--export")...)
		if code < 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
}
