package push

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

func TestPushArtifactToARealRegistry(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	private := sourcetest.StartRegistry(t, sourcetest.Htpasswd(t, "flux", "s3cret"))
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no docker login on this machine leaks in
	const plain = "../../testdata/build/repo/plain"
	rev := []string{"--source", "https://git.example.com/org/fleet", "--revision", "main@sha1:0123456789012345678901234567890123456789"}
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stderr string
		json   map[string]string // expected fields of -o json
	}{
		{name: "pushes", args: append([]string{"artifact", "oci://" + reg.Host + "/org/manifests:v1", "--path", plain, "--insecure-registry", "-o", "json"}, rev...),
			json: map[string]string{"repository": reg.Host + "/org/manifests", "tag": "v1"}},
		{name: "table output", args: append([]string{"artifact", "oci://" + reg.Host + "/org/manifests:v2", "-f", plain}, rev...),
			stderr: "► pushing artifact to " + reg.Host + "/org/manifests:v2\n✔ artifact successfully pushed to " + reg.Host + "/org/manifests@sha256:"},
		{name: "stdin", args: append([]string{"artifact", "oci://" + reg.Host + "/org/stdin:v1", "-f", "-", "-o", "yaml"}, rev...), stdin: "kind: ConfigMap\n"},
		{name: "creds", args: append([]string{"artifact", "oci://" + private.Host + "/org/m:v1", "-f", plain, "--creds", "flux:s3cret"}, rev...),
			stderr: "► logging in to registry with credentials"},
		{name: "anonymous refused", args: append([]string{"artifact", "oci://" + private.Host + "/org/m:v1", "-f", plain}, rev...), code: 2,
			stderr: "authentication failed"},
		{name: "cloud provider refused", args: append([]string{"artifact", "oci://" + reg.Host + "/org/m:v1", "-f", plain, "--provider", "gcp"}, rev...), code: 2,
			stderr: "not supported by converge"},
		{name: "needs revision", args: []string{"artifact", "oci://" + reg.Host + "/org/manifests:v1", "--path", ".", "--source", "x"}, code: 2,
			stderr: "--revision is required"},
		{name: "needs oci scheme", args: []string{"artifact", reg.Host + "/org/manifests:v1"}, code: 2, stderr: "URL must be in format 'oci://<domain>/<org>/<repo>'"},
		{name: "bad annotation", args: append([]string{"artifact", "oci://" + reg.Host + "/org/m:v1", "-f", plain, "-a", "novalue"}, rev...), code: 2,
			stderr: "invalid annotation novalue, must be in the format key=value"},
		{name: "missing folder", args: append([]string{"artifact", "oci://" + reg.Host + "/org/m:v1", "--path", "/nonexistent"}, rev...), code: 2,
			stderr: "invalid path '/nonexistent', must point to an existing directory or file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, in, out, errOut := cmdutil.Test()
			in.WriteString(tt.stdin)
			f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
			cmd := NewCmdPush(f)
			cmd.SetArgs(tt.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			code := cmdutil.ExitCode(cmd.ExecuteContext(context.Background()), errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errOut)
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.stderr)
			}
			if tt.json != nil {
				var res map[string]string
				if err := json.Unmarshal(out.Bytes(), &res); err != nil || !strings.HasPrefix(res["digest"], "sha256:") ||
					res["url"] != "oci://"+res["repository"]+"@"+res["digest"] {
					t.Fatalf("output %s: %v", out, err)
				}
				for k, v := range tt.json {
					if res[k] != v {
						t.Errorf("%s = %q, want %q", k, res[k], v)
					}
				}
			}
		})
	}
}

// TestPushArtifactIsReproducible: with --reproducible the digest depends only on the files and the
// annotations; it is the digest `flux push artifact --reproducible` gives for the same folder.
func TestPushArtifactIsReproducible(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "cm.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src, 0o755); err != nil {
		t.Fatal(err)
	}
	var digests []string
	for _, tag := range []string{"a", "b"} {
		ios, _, out, errOut := cmdutil.Test()
		cmd := NewCmdPush(cmdutil.NewFactory(ios, cmdutil.BuildInfo{}))
		cmd.SetArgs([]string{"artifact", "oci://" + reg.Host + "/repro:" + tag, "-f", src, "--reproducible", "-o", "json",
			"--source", "https://example.com/fleet", "--revision", "main@sha1:0123456789abcdef0123456789abcdef01234567"})
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		if code := cmdutil.ExitCode(cmd.ExecuteContext(context.Background()), errOut); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var res map[string]string
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, res["digest"])
	}
	// Written from `flux push artifact --reproducible` on the same folder, source and revision.
	const fluxDigest = "sha256:03690dc766c2bac5c8b018100976335d2e6a5243afa70bf958c9e36389cd4178"
	for _, d := range digests {
		if d != fluxDigest {
			t.Errorf("digest %s, want %s (Flux's)", d, fluxDigest)
		}
	}
}
