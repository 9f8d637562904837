package agentimage

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

var created = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// testBinaries builds testdata/hello for both platforms once per test binary run.
var testBinaries = sync.OnceValues(func() (map[string]string, error) {
	dir, err := os.MkdirTemp("", "agentimage-bin-")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range Platforms() {
		goos, goarch, _ := strings.Cut(p, "/")
		bin := filepath.Join(dir, goarch, "hello")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./testdata/hello")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, errors.New("go build " + p + ": " + string(b))
		}
		out[p] = bin
	}
	return out, nil
})

func binaries(t *testing.T) map[string]string {
	t.Helper()
	b, err := testBinaries()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func options(t *testing.T) Options {
	return Options{
		Binaries: binaries(t), Version: "v1.2.3", Revision: "0123abc",
		Source: "https://github.com/converge-gitops/converge", Created: created, Licenses: "Apache-2.0",
	}
}

func digest(t *testing.T, o Options) string {
	t.Helper()
	idx, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestBuildReproducible(t *testing.T) {
	base := options(t)
	first := digest(t, base)
	if again := digest(t, base); again != first {
		t.Fatalf("same inputs, digests %s and %s", first, again)
	}
	later := base
	later.Created = created.Add(time.Second)
	other := base
	other.Version = "v1.2.4"
	for name, o := range map[string]Options{"created": later, "version": other} {
		if d := digest(t, o); d == first {
			t.Errorf("changing %s kept digest %s", name, d)
		}
	}
}

func TestBuildRefusesBadInput(t *testing.T) {
	bins := binaries(t)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*Options)
		err  string
	}{
		{"no binaries", func(o *Options) { o.Binaries = nil }, "no binaries"},
		{"unknown platform", func(o *Options) { o.Binaries = map[string]string{"linux/s390x": bins["linux/amd64"]} }, `platform "linux/s390x"`},
		{"wrong architecture", func(o *Options) { o.Binaries = map[string]string{"linux/arm64": bins["linux/amd64"]} }, "built for EM_X86_64, want EM_AARCH64"},
		{"dynamic binary", func(o *Options) { o.Binaries = map[string]string{"linux/amd64": "/bin/true"} }, "dynamically linked"},
		{"not ELF", func(o *Options) { o.Binaries = map[string]string{"linux/amd64": ca} }, "not an ELF executable"},
		{"missing binary", func(o *Options) { o.Binaries = map[string]string{"linux/amd64": "/nonexistent/converge"} }, "/nonexistent/converge"},
		{"no version", func(o *Options) { o.Version = "" }, "version is required"},
		{"no created time", func(o *Options) { o.Created = time.Time{} }, "created time is required"},
		{"missing CA bundle", func(o *Options) { o.CACertificates = "/nonexistent/ca.crt" }, "/nonexistent/ca.crt"},
		{"CA bundle without certificates", func(o *Options) { o.CACertificates = ca }, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options(t)
			tt.edit(&o)
			_, err := Build(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.err)
			}
		})
	}
}

// checkIndex asserts everything the image promises, on an index built here or pulled from a registry.
func checkIndex(t *testing.T, idx v1.ImageIndex, o Options) {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index media type %s", im.MediaType)
	}
	for k, v := range o.Labels() {
		if im.Annotations[k] != v {
			t.Errorf("index annotation %s = %q, want %q", k, im.Annotations[k], v)
		}
	}
	images := map[string]v1.Hash{}
	attestations := map[string]v1.Hash{}
	for _, d := range im.Manifests {
		if d.Platform == nil {
			t.Fatalf("index entry %s has no platform", d.Digest)
		}
		if d.Platform.OS == AttestationPlatform {
			if d.Annotations[ReferenceTypeAnnotation] != AttestationManifest {
				t.Errorf("attestation %s: annotations %v", d.Digest, d.Annotations)
			}
			attestations[d.Annotations[ReferenceDigestAnnotation]] = d.Digest
			continue
		}
		images[d.Platform.OS+"/"+d.Platform.Architecture] = d.Digest
	}
	if len(images) != len(o.Binaries) || len(attestations) != len(o.Binaries) {
		t.Fatalf("index has images %v and attestations %v, want one each per platform of %v", images, attestations, o.Binaries)
	}
	for p, bin := range o.Binaries {
		d, ok := images[p]
		if !ok {
			t.Errorf("no image for %s", p)
			continue
		}
		img, err := idx.Image(d)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := cf.OS + "/" + cf.Architecture; got != p {
			t.Errorf("%s: config platform %s", p, got)
		}
		if cf.Config.User != "65534:65534" || strings.Join(cf.Config.Entrypoint, " ") != "/converge" || !cf.Created.Time.Equal(o.Created) {
			t.Errorf("%s: user %q, entrypoint %q, created %s", p, cf.Config.User, cf.Config.Entrypoint, cf.Created)
		}
		for k, v := range o.Labels() {
			if cf.Config.Labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", p, k, cf.Config.Labels[k], v)
			}
		}
		if len(cf.Config.Labels) != 6 {
			t.Errorf("%s: labels %v, want the six org.opencontainers.image ones", p, cf.Config.Labels)
		}
		files := imageFiles(t, img)
		want, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		ca, err := os.ReadFile(DefaultCACertificates)
		if err != nil {
			t.Fatal(err)
		}
		if files["converge"].content != string(want) || files["converge"].mode != 0o755 {
			t.Errorf("%s: /converge is not the binary with mode 0755 (mode %o)", p, files["converge"].mode)
		}
		if files["etc/ssl/certs/ca-certificates.crt"].content != string(ca) {
			t.Errorf("%s: CA bundle differs from %s", p, DefaultCACertificates)
		}
		if !strings.Contains(files["etc/passwd"].content, "nonroot:x:65532:65532:") || !strings.Contains(files["etc/group"].content, "nonroot:x:65532:") {
			t.Errorf("%s: passwd %q group %q lack nonroot 65532", p, files["etc/passwd"].content, files["etc/group"].content)
		}
		var names []string
		for n, f := range files {
			names = append(names, n)
			if !f.modTime.Equal(o.Created) {
				t.Errorf("%s: %s mtime %s, want %s", p, n, f.modTime, o.Created)
			}
		}
		if len(files) != 7 {
			t.Errorf("%s: files %v, want only /converge, /etc/{passwd,group} and the CA bundle (and their folders)", p, names)
		}
		checkSBOM(t, idx, p, d, attestations[d.String()], want)
	}
}

type tarFile struct {
	content string
	mode    int64
	modTime time.Time
}

func imageFiles(t *testing.T, img v1.Image) map[string]tarFile {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]tarFile{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = tarFile{string(b), h.Mode, h.ModTime}
	}
}

func checkSBOM(t *testing.T, idx v1.ImageIndex, platform string, image, att v1.Hash, bin []byte) {
	t.Helper()
	img, err := idx.Image(att)
	if err != nil {
		t.Fatalf("%s: attestation %s: %v", platform, att, err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%s: attestation layers %d, %v", platform, len(layers), err)
	}
	mt, _ := layers[0].MediaType()
	if mt != InTotoMediaType {
		t.Errorf("%s: attestation layer media type %s", platform, mt)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var stmt struct {
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			SPDXVersion string `json:"spdxVersion"`
			Packages    []struct {
				Name      string `json:"name"`
				Version   string `json:"versionInfo"`
				Checksums []struct {
					Value string `json:"checksumValue"`
				} `json:"checksums"`
				Refs []struct {
					Locator string `json:"referenceLocator"`
				} `json:"externalRefs"`
			} `json:"packages"`
		} `json:"predicate"`
	}
	if err := json.NewDecoder(rc).Decode(&stmt); err != nil {
		t.Fatalf("%s: statement: %v", platform, err)
	}
	if stmt.PredicateType != SPDXPredicateType || len(stmt.Subject) != 1 || stmt.Subject[0].Digest["sha256"] != image.Hex {
		t.Errorf("%s: statement predicate %s subject %v, want SPDX about %s", platform, stmt.PredicateType, stmt.Subject, image)
	}
	pk := map[string]string{}
	for _, p := range stmt.Predicate.Packages {
		pk[p.Name] = p.Version
	}
	if stmt.Predicate.SPDXVersion != "SPDX-2.3" || pk["converge"] != "v1.2.3" || !strings.HasPrefix(pk["stdlib"], "go1.") || pk["golang.org/x/sync"] == "" {
		t.Errorf("%s: SPDX %s packages %v, want converge v1.2.3, stdlib and golang.org/x/sync", platform, stmt.Predicate.SPDXVersion, pk)
	}
	if got := stmt.Predicate.Packages[0].Checksums; len(got) != 1 || got[0].Value != sha256Hex(bin) {
		t.Errorf("%s: binary checksum %v, want %s", platform, got, sha256Hex(bin))
	}
}

func TestBuild(t *testing.T) {
	o := options(t)
	idx, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, idx, o)
}

// TestPushPull pushes the index to Debian's docker-registry on loopback, pulls it back by tag and by the
// returned digest, and checks it as TestBuild does.
func TestPushPull(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	o := options(t)
	idx, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/converge:" + o.Version
	d, err := Push(context.Background(), idx, ref)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	if d != want.String() {
		t.Fatalf("Push returned %s, the index is %s", d, want)
	}
	for _, r := range []string{ref, reg.Host + "/converge@" + d} {
		pulled, err := remote.Index(mustRef(t, r), remote.WithContext(context.Background()))
		if err != nil {
			t.Fatalf("pulling %s: %v", r, err)
		}
		if got, _ := pulled.Digest(); got.String() != d {
			t.Errorf("pulled %s: digest %s, pushed %s", r, got, d)
		}
		checkIndex(t, pulled, o)
	}
	// What a runtime does: resolve the tag for one platform, skipping the attestations.
	for _, p := range Platforms() {
		os, arch, _ := strings.Cut(p, "/")
		img, err := remote.Image(mustRef(t, ref), remote.WithPlatform(v1.Platform{OS: os, Architecture: arch}))
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != arch {
			t.Errorf("platform %s resolved to %s", p, cf.Architecture)
		}
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLoopback(t *testing.T) {
	for ref, want := range map[string]bool{
		"localhost:5000/converge:v1": true, "127.0.0.1:5000/converge": true, "[::1]:5000/c": true,
		"127.1.2.3/c": true, "ghcr.io/converge-gitops/converge:v1": false, "10.88.0.1:5000/c": false,
	} {
		if got := loopback(ref); got != want {
			t.Errorf("loopback(%q) = %v", ref, got)
		}
	}
}
