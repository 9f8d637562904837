package push

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

func TestPushArtifactToARealRegistry(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{name: "pushes", args: []string{"artifact", "oci://" + reg.Host + "/org/manifests:v1", "--path", "../../testdata/build/repo/plain",
			"--source", "https://git.example.com/org/fleet", "--revision", "main@sha1:0123456789012345678901234567890123456789", "--insecure-registry", "-o", "json"}},
		{name: "needs revision", args: []string{"artifact", "oci://" + reg.Host + "/org/manifests:v1", "--path", ".", "--source", "x"}, code: 2,
			stderr: "--path, --source and --revision are required"},
		{name: "needs oci scheme", args: []string{"artifact", reg.Host + "/org/manifests:v1"}, code: 2, stderr: "must start with oci://"},
		{name: "missing folder", args: []string{"artifact", "oci://" + reg.Host + "/org/m:v1", "--path", "/nonexistent", "--source", "s",
			"--revision", "r", "--insecure-registry"}, code: 2, stderr: "/nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, errOut := cmdutil.Test()
			f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
			cmd := NewCmdPush(f)
			cmd.SetArgs(tt.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			code := cmdutil.ExitCode(cmd.ExecuteContext(context.Background()), errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errOut)
			}
			if tt.stderr != "" && !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.stderr)
			}
			if tt.code == 0 {
				var res map[string]string
				if err := json.Unmarshal(out.Bytes(), &res); err != nil || !strings.HasPrefix(res["digest"], "sha256:") {
					t.Fatalf("output %s: %v", out, err)
				}
			}
		})
	}
}
