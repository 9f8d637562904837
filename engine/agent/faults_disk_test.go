package agent

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// mountTmpfs mounts a tmpfs of size (e.g. "8m") on a new folder and unmounts it when the test ends. It
// needs root (CAP_SYS_ADMIN); elsewhere the test is skipped, saying so.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("a full disk needs a small filesystem: mounting a tmpfs needs root here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes path until the filesystem is full and returns the bytes written.
func fillDisk(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			if len(buf) == 1 {
				return n
			}
			buf = buf[:len(buf)/2]
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// tempFiles lists the files under dir whose names say they are half-written (tmp_, .tmp-, *.tmp).
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, f := range listFiles(t, dir) {
		name := filepath.Base(strings.Fields(f)[0])
		if strings.HasPrefix(name, "tmp_") || strings.HasPrefix(name, ".tmp") || strings.HasSuffix(name, ".tmp") {
			out = append(out, f)
		}
	}
	return out
}

// listFiles lists the files under dir with their sizes, one "path size" a line, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel+" "+strconv.FormatInt(fi.Size(), 10))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestAgentArtifactStoreDiskFull runs the agent with its artifact store on a small tmpfs (a real full
// disk, ENOSPC from the kernel) and fills it: the fetch of a new commit fails with Ready=False naming
// "no space left on device", the previous artifact stays in status, intact in the store and served, no
// half-written file is left in the store's objects, sources or work folders, and when space returns
// the agent fetches the new commit by itself.
func TestAgentArtifactStoreDiskFull(t *testing.T) {
	ns := "fault-disk"
	namespace(t, ns)
	root := mountTmpfs(t, "16m")
	store, err := source.OpenStore(filepath.Join(root, "store"))
	if err != nil {
		t.Fatal(err)
	}
	artifacts := startArtifactServer(t)
	a, _ := startAgent(t, Options{Store: store, ArtifactBaseURL: artifacts.URL + "/artifacts"})
	artifacts.serve(a)

	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "app")
	first := "main@sha1:" + repo.Commit("one", map[string]*string{"cm.yaml": configMap("one", ns, "v1")})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "app", "./", ""))
	eventually(t, "revision one applied", ksReadyAt(t, ns, "app", first))
	stored := func() []string {
		var kept []string
		for _, d := range []string{"objects", "sources", "tmp"} {
			for _, f := range listFiles(t, filepath.Join(store.Root, d)) {
				kept = append(kept, d+"/"+f)
			}
		}
		return kept
	}
	before := stored()
	// unchanged fails unless the store holds what it held before: the agent retries the failing fetch, so
	// a retry's checkout may be under way in tmp/ at any one look; what is left behind stays.
	unchanged := func(what string) {
		t.Helper()
		var after []string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if after = stored(); slices.Equal(after, before) {
				return
			}
		}
		t.Errorf("%s changed the store's artifacts or left work files:\nbefore:\n%s\nafter:\n%s",
			what, strings.Join(before, "\n"), strings.Join(after, "\n"))
	}

	filler := filepath.Join(root, "filler")
	filled := fillDisk(t, filler)
	second := "main@sha1:" + repo.Commit("two", map[string]*string{"cm.yaml": configMap("one", ns, "v2")})
	requestReconcile(t, gitGVR, ns, "repo")
	eventually(t, "the full disk is reported", func() (bool, string) {
		st, reason, msg := condition(get(t, gitGVR, ns, "repo"), "Ready")
		return st == "False" && strings.Contains(msg, "no space left on device"), st + " " + reason + " " + msg
	})
	_, reason, msg := condition(get(t, gitGVR, ns, "repo"), "Ready")
	t.Logf("disk full (%d bytes of filler): Ready=False %s: %s", filled, reason, msg)
	if rev, served, state := servedArtifact(t, gitGVR, ns, "repo"); rev != first || !served {
		t.Errorf("with the disk full the last artifact is not kept and served intact: status revision %s (want %s); %s", rev, first, state)
	}
	unchanged("the failed fetch")
	if ok, state := ksReadyAt(t, ns, "app", first)(); !ok {
		t.Errorf("with the disk full the Kustomization left revision one: %s", state)
	}

	if left := tempFiles(t, filepath.Join(store.Root, "cache")); len(left) > 0 {
		t.Errorf("the failed fetch left temporary files in the store's cache: %v", left)
	}

	// Room for the download but not for the checkout and its archive: the failure comes later.
	blob := make([]byte, 3<<20)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	third := "main@sha1:" + repo.Commit("three", map[string]*string{"cm.yaml": configMap("one", ns, "v3"),
		"data/blob.txt": sourcetest.Str(base64.StdEncoding.EncodeToString(blob))})
	if err := os.Truncate(filler, filled-6<<20); err != nil {
		t.Fatal(err)
	}
	requestReconcile(t, gitGVR, ns, "repo")
	eventually(t, "the full disk is reported after the download", func() (bool, string) {
		st, reason, msg := condition(get(t, gitGVR, ns, "repo"), "Ready")
		return st == "False" && strings.Contains(msg, "no space left on device") && !strings.Contains(msg, "receiving pack"), st + " " + reason + " " + msg
	})
	_, reason, msg = condition(get(t, gitGVR, ns, "repo"), "Ready")
	t.Logf("disk full after the download: Ready=False %s: %s", reason, msg)
	if strings.Contains(msg, "damaged") {
		t.Errorf("a full disk is reported as a damaged Git cache (which the fetch then drops and downloads again): %s", msg)
	}
	if rev, served, state := servedArtifact(t, gitGVR, ns, "repo"); rev != first || !served {
		t.Errorf("with the disk full the last artifact is not kept and served intact: status revision %s (want %s); %s", rev, first, state)
	}
	unchanged("the failed checkout")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	second = third
	eventually(t, "the source recovers by itself when space returns", func() (bool, string) {
		st, reason, msg := condition(get(t, gitGVR, ns, "repo"), "Ready")
		return st == "True" && strings.Contains(msg, second), st + " " + reason + " " + msg
	})
	eventually(t, "revision two applied", ksReadyAt(t, ns, "app", second))
	if rev, served, state := servedArtifact(t, gitGVR, ns, "repo"); rev != second || !served {
		t.Errorf("after space returned the new artifact is not served: %s; %s", rev, state)
	}
}
