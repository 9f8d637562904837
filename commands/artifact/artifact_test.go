package artifact

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/source/oci"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

const goldenDir = "../../testdata/golden/commands"

// writeFixture writes the folder the artifact goldens are made from, with explicit modes so that the
// archive does not depend on the umask: an executable, a folder whose name sorts between a folder and its
// files ("a-b" against "apps/"), files the default ignore rules leave out and a symbolic link.
func writeFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := []struct {
		path, body string
		mode       os.FileMode
	}{
		{"apps/app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n", 0o644},
		{"apps/nested/x.yml", "x: 1\n", 0o644},
		{"a-b/x.yaml", "b: 2\n", 0o644},
		{"run.sh", "#!/bin/sh\necho hi\n", 0o755},
		{".git/HEAD", "ref: refs/heads/main\n", 0o644},
		{"logo.png", "png", 0o644},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{".", "apps", "apps/nested", "a-b", ".git"} {
		if err := os.Chmod(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("apps/app.yaml", filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(t *testing.T, newCmd func(*cmdutil.Factory) *cobra.Command, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ios, in, out, errOut := cmdutil.Test()
	in.WriteString(stdin)
	c := newCmd(cmdutil.NewFactory(ios, cmdutil.BuildInfo{}))
	c.SetArgs(args)
	c.SilenceErrors, c.SilenceUsage = true, true
	code = cmdutil.ExitCode(c.ExecuteContext(context.Background()), errOut)
	return code, out.String(), errOut.String()
}

func fileDigest(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestBuildArtifactMatchesFlux builds the fixture as `flux build artifact` does: the golden digests are
// the ones Flux 2.9's CLI gives for the same folder, file and flags (checked while writing this test).
func TestBuildArtifactMatchesFlux(t *testing.T) {
	src := writeFixture(t)
	out := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stderr string
	}{
		{name: "folder", args: []string{"--path", src}},
		{name: "single file", args: []string{"-p", filepath.Join(src, "apps/app.yaml")}},
		{name: "own ignore rules", args: []string{"-p", src, "--ignore-paths", "", "--add-ignore-paths", "apps/nested/"}},
		{name: "stdin", args: []string{"-p", "-"}, stdin: "kind: ConfigMap\n\n"},
		{name: "resolved symlinks", args: []string{"-p", src, "--resolve-symlinks"}},
		{name: "no path", args: []string{}, code: 2, stderr: `invalid path ""`},
		{name: "missing path", args: []string{"-p", filepath.Join(src, "nope")}, code: 2, stderr: "must point to an existing directory or file"},
	}
	var digests []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(out, strings.ReplaceAll(tt.name, " ", "-")+".tgz")
			code, _, stderr := run(t, NewCmdBuildArtifact, tt.stdin, append(tt.args, "-o", dst)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.stderr)
			}
			if tt.code != 0 {
				return
			}
			if !strings.Contains(stderr, "✔ artifact created at "+dst) {
				t.Errorf("stderr %q", stderr)
			}
			if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("artifact mode: %v %v", fi, err)
			}
			if tt.stdin == "" {
				digests = append(digests, tt.name+" "+fileDigest(t, dst))
			} else if got := readTarGz(t, dst); !strings.HasSuffix(got, ".yaml 0600 kind: ConfigMap") {
				t.Errorf("stdin artifact = %q, want one .yaml file without the trailing newlines", got)
			}
		})
	}
	goldenfile.CheckString(t, filepath.Join(goldenDir, "artifact-build-digests.txt"), strings.Join(digests, "\n")+"\n")
}

// readTarGz lists a tar.gz's regular files as "name mode body".
func readTarGz(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var rows []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, fmt.Sprintf("%s %04o %s", hdr.Name, hdr.Mode, b))
	}
	sort.Strings(rows)
	return strings.Join(rows, "\n")
}

// TestArtifactCommandsAgainstARealRegistry pushes the fixture reproducibly (its digest is the one `flux
// push artifact --reproducible` gives for the same folder and annotations) and runs diff, pull, tag and
// list on it against Debian's docker-registry.
func TestArtifactCommandsAgainstARealRegistry(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	src := writeFixture(t)
	res, err := oci.Push(context.Background(), oci.PushOptions{
		URL: "oci://" + reg.Host + "/fx/app:v1.0.0", Path: src, Clock: clock.RealClock{}, Created: time.Unix(0, 0),
		Source: "https://example.com/org/fleet", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
	})
	if err != nil {
		t.Fatal(err)
	}
	goldenfile.CheckString(t, filepath.Join(goldenDir, "artifact-push-digest.txt"), res.Digest+"\n")

	changed := writeFixture(t)
	if err := os.WriteFile(filepath.Join(changed, "apps/app.yaml"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pulled := t.TempDir()
	art := "oci://" + reg.Host + "/fx/app:v1.0.0"
	tests := []struct {
		name   string
		cmd    func(*cmdutil.Factory) *cobra.Command
		args   []string
		code   int
		stdout string // golden file under testdata/golden/commands, REGISTRY... standing for the registry
		stderr string
	}{
		{name: "diff same", cmd: NewCmdDiffArtifact, args: []string{art, "--path", src}, stderr: "✔ no changes detected"},
		{name: "diff changed", cmd: NewCmdDiffArtifact, args: []string{art, "--path", changed}, code: 1,
			stderr: "✗ the remote artifact contents differs from the local one"},
		{name: "diff leaving a file out", cmd: NewCmdDiffArtifact, args: []string{art, "--path", src, "--add-ignore-paths", "run.sh"},
			code: 1, stderr: "differs"},
		{name: "diff needs path", cmd: NewCmdDiffArtifact, args: []string{art}, code: 2, stderr: `invalid path ""`},
		{name: "pull", cmd: NewCmdPull, args: []string{"artifact", art, "-o", pulled},
			stderr: "✔ source https://example.com/org/fleet\n✔ revision main@sha1:0123456789abcdef0123456789abcdef01234567\n✔ digest " + reg.Host + "/fx/app@" + res.Digest},
		{name: "pull needs a folder", cmd: NewCmdPull, args: []string{"artifact", art, "-o", filepath.Join(pulled, "nope")}, code: 2, stderr: "invalid output path"},
		{name: "pull needs oci://", cmd: NewCmdPull, args: []string{"artifact", reg.Host + "/fx/app:v1.0.0", "-o", pulled}, code: 2,
			stderr: "URL must be in format 'oci://<domain>/<org>/<repo>'"},
		{name: "tag", cmd: NewCmdTag, args: []string{"artifact", art, "--tag", "latest", "--tag", "v1.1.0,v2.0.0-rc.1.sig"},
			stderr: "✔ artifact tagged as " + reg.Host + "/fx/app:latest\n✔ artifact tagged as " + reg.Host + "/fx/app:v1.1.0"},
		{name: "tag needs --tag", cmd: NewCmdTag, args: []string{"artifact", art}, code: 2, stderr: "--tag is required"},
		{name: "list", cmd: NewCmdList, args: []string{"artifacts", "oci://" + reg.Host + "/fx/app"}, stdout: "artifact-list.txt"},
		{name: "list semver", cmd: NewCmdList, args: []string{"artifacts", "oci://" + reg.Host + "/fx/app", "--filter-semver", ">=1.1.0"}, stdout: "artifact-list-semver.txt"},
		{name: "list none", cmd: NewCmdList, args: []string{"artifacts", "oci://" + reg.Host + "/fx/app", "--filter-regex", "^nothing$"}, stdout: "artifact-list-empty.txt"},
		{name: "list bad semver", cmd: NewCmdList, args: []string{"artifacts", "oci://" + reg.Host + "/fx/app", "--filter-semver", "><"}, code: 2, stderr: "semver '><' parse error"},
		{name: "cloud provider refused", cmd: NewCmdList, args: []string{"artifacts", "oci://" + reg.Host + "/fx/app", "--provider", "aws"}, code: 2,
			stderr: "not supported by converge"},
		{name: "unknown provider", cmd: NewCmdList, args: []string{"artifacts", "oci://" + reg.Host + "/fx/app", "--provider", "ibm"}, code: 2,
			stderr: "source OCI provider 'ibm' is not supported, must be one of: generic, aws, azure, gcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tt.cmd, "", tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.stderr)
			}
			if tt.stdout != "" {
				// The placeholder keeps the host's width, so that the columns line up as they did.
				host := "REGISTRY" + strings.Repeat(".", max(0, len(reg.Host)-len("REGISTRY")))
				goldenfile.CheckString(t, filepath.Join(goldenDir, tt.stdout), strings.ReplaceAll(stdout, reg.Host, host))
			}
		})
	}
	// What pull extracted is the fixture without the ignored files and the link.
	if got, want := treeOf(t, pulled), "a-b/x.yaml 0644\napps/app.yaml 0644\napps/nested/x.yml 0644\nrun.sh 0755"; got != want {
		t.Errorf("pulled files:\n%s\nwant:\n%s", got, want)
	}
}

func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var rows []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rows = append(rows, fmt.Sprintf("%s %04o", filepath.ToSlash(rel), fi.Mode().Perm()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(rows)
	return strings.Join(rows, "\n")
}

// TestArtifactCredentials reaches a registry that requires basic auth with --creds, with the docker config
// that `docker login` writes ($DOCKER_CONFIG, the default), and without credentials (refused).
func TestArtifactCredentials(t *testing.T) {
	reg := sourcetest.StartRegistry(t, sourcetest.Htpasswd(t, "flux", "s3cret"))
	src := writeFixture(t)
	if _, err := oci.Push(context.Background(), oci.PushOptions{URL: reg.Host + "/private/app:v1", Path: src, Clock: clock.RealClock{},
		Source: "s", Revision: "r", Creds: "flux:s3cret"}); err != nil {
		t.Fatal(err)
	}
	dockerDir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("flux:s3cret"))
	if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(`{"auths":{"`+reg.Host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyDocker := t.TempDir()
	url := "oci://" + reg.Host + "/private/app"
	tests := []struct {
		name         string
		dockerConfig string
		args         []string
		code         int
		stderr       string
	}{
		{name: "--creds", dockerConfig: emptyDocker, args: []string{"artifacts", url, "--creds", "flux:s3cret"}, stderr: "► logging in to registry with credentials"},
		{name: "docker config by default", dockerConfig: dockerDir, args: []string{"artifacts", url}},
		{name: "wrong --creds win over the docker config", dockerConfig: dockerDir, args: []string{"artifacts", url, "--creds", "flux:wrong"}, code: 2,
			stderr: "authentication failed"},
		{name: "anonymous", dockerConfig: emptyDocker, args: []string{"artifacts", url}, code: 2, stderr: "authentication failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DOCKER_CONFIG", tt.dockerConfig)
			code, stdout, stderr := run(t, NewCmdList, "", tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.stderr)
			}
			if code == 0 && !strings.Contains(stdout, reg.Host+"/private/app:v1\t") {
				t.Errorf("stdout %q lacks the artifact", stdout)
			}
		})
	}
}
