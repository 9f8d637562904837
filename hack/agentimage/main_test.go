package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/converge-gitops/converge/engine/agentimage"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestLayoutThenPush is the release's path: build offline into an OCI layout and a digest file, push the
// layout later to Debian's docker-registry on loopback; the registry must hold the digest the binaries
// were linked with.
func TestLayoutThenPush(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../../engine/agentimage/testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	o := agentimage.Options{Binaries: map[string]string{"linux/arm64": bin}, Version: "v0.0.1"}
	layout, digestFile := filepath.Join(dir, "oci"), filepath.Join(dir, "digest")
	ctx := context.Background()
	if err := run(ctx, o, "1796650000", "", layout, digestFile, false); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(digestFile)
	if err != nil {
		t.Fatal(err)
	}
	reg := sourcetest.StartRegistry(t, "")
	ref := reg.Host + "/converge:v0.0.1"
	if err := pushLayout(ctx, layout, ref, false); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := idx.Digest(); got.String() != string(want) {
		t.Errorf("registry holds %s, the digest file says %s", got, want)
	}
	if err := pushLayout(ctx, t.TempDir(), ref, false); err == nil {
		t.Error("pushing an empty folder as a layout succeeded")
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]string{
		"1796650000":                "2026-12-07T13:26:40Z",
		"2026-12-07T12:00:00Z":      "2026-12-07T12:00:00Z",
		"2026-12-07T13:00:00+01:00": "2026-12-07T12:00:00Z",
		"":                          "error: required",
		"yesterday":                 `error: -created "yesterday"`,
	} {
		got, err := parseTime(in)
		if strings.HasPrefix(want, "error: ") {
			if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(want, "error: ")) {
				t.Errorf("parseTime(%q) = %s, %v, want %s", in, got, err, want)
			}
			continue
		}
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("parseTime(%q) = %s, %v, want %s", in, got, err, want)
		}
	}
}
