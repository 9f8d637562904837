package git

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/engine/source"
)

// BenchmarkFetch10kFiles fetches a generated repository of 10,000 files from git http-backend: a first
// fetch into an empty store and an unchanged second fetch, beside `git clone --depth 1` and `git fetch`
// of the same URL. The git sub-benchmarks also report converge's time as a multiple of git's.
func BenchmarkFetch10kFiles(b *testing.B) {
	root := b.TempDir()
	r := newTestRepo(b, root, "big")
	files := make(map[string]string, 10000)
	for d := range 100 {
		for f := range 100 {
			files[fmt.Sprintf("apps/app%02d/res%02d.yaml", d, f)] = fmt.Sprintf(
				"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app%02d-res%02d\n  namespace: default\ndata:\n  key: %q\n",
				d, f, strings.Repeat(fmt.Sprint(d*f), 8))
		}
	}
	r.commit("10k files", files)
	srv := startHTTPGitServer(b, root, httpAuth{})
	url := srv.URL + "/big.git"
	ctx := context.Background()
	obj := gitRepository("big", url)
	scratch := b.TempDir()

	var first, unchanged float64 // ns per fetch
	b.Run("converge-first-fetch", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			st, err := source.OpenStore(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			f := &Fetcher{Store: st}
			b.StartTimer()
			if _, err := f.Fetch(ctx, obj); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = os.RemoveAll(st.Root)
			b.StartTimer()
		}
		first = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("converge-unchanged-fetch", func(b *testing.B) {
		st, err := source.OpenStore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		f := &Fetcher{Store: st}
		if _, err := f.Fetch(ctx, obj); err != nil {
			b.Fatal(err)
		}
		packs := srv.uploadPacks.Load()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := f.Fetch(ctx, obj); err != nil {
				b.Fatal(err)
			}
		}
		unchanged = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if srv.uploadPacks.Load() != packs {
			b.Fatal("an unchanged fetch downloaded a pack")
		}
	})
	b.Run("git-clone-depth1", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dir := filepath.Join(scratch, fmt.Sprint("clone-", i))
			_ = os.RemoveAll(dir)
			gitCLI(b, "", "clone", "-q", "--depth", "1", url, dir)
			b.StopTimer()
			_ = os.RemoveAll(dir)
			b.StartTimer()
		}
		if clone := float64(b.Elapsed().Nanoseconds()) / float64(b.N); first > 0 && clone > 0 {
			b.ReportMetric(first/clone, "converge/git-ratio")
		}
	})
	b.Run("git-fetch-unchanged", func(b *testing.B) {
		dir, err := os.MkdirTemp(scratch, "fetch-")
		if err != nil {
			b.Fatal(err)
		}
		gitCLI(b, "", "clone", "-q", "--depth", "1", url, dir)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			gitCLI(b, dir, "fetch", "-q", "--depth", "1", "origin")
		}
		if fetch := float64(b.Elapsed().Nanoseconds()) / float64(b.N); unchanged > 0 && fetch > 0 {
			b.ReportMetric(unchanged/fetch, "converge/git-ratio")
		}
	})
}

func gitCLI(b *testing.B, dir string, args ...string) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
