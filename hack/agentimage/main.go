// Command agentimage builds converge's container image from binaries already cross-built (engine/agentimage)
// and pushes it to a registry, writes it as an OCI layout, or both. `make image` and the release build
// run it; it is not a converge subcommand because users never build the image themselves.
//
//	go run ./hack/agentimage -version v1.2.3 -revision <sha> -created <unix seconds> \
//	  -binary linux/amd64=dist/linux_amd64/converge -binary linux/arm64=dist/linux_arm64/converge \
//	  -push localhost:5000/converge:v1.2.3 [-oci-layout dir] [-digest-file file]
//	go run ./hack/agentimage -from-oci-layout dir -push ghcr.io/converge-gitops/converge:v1.2.3
//
// It prints the pushed reference with its digest (repo:tag@sha256:…) on stdout. The release builds the
// layout offline first (its digest is baked into the archives' binaries), then pushes that layout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/converge-gitops/converge/engine/agentimage"
)

type binaries map[string]string

func (b binaries) String() string { return fmt.Sprint(map[string]string(b)) }

func (b binaries) Set(s string) error {
	p, path, ok := strings.Cut(s, "=")
	if !ok || p == "" || path == "" {
		return fmt.Errorf("%q: want platform=path, e.g. linux/amd64=bin/linux_amd64/converge", s)
	}
	if _, dup := b[p]; dup {
		return fmt.Errorf("platform %s given twice", p)
	}
	b[p] = path
	return nil
}

func main() {
	fs := flag.NewFlagSet("agentimage", flag.ExitOnError)
	bins := binaries{}
	var o agentimage.Options
	fs.Var(bins, "binary", "platform=path of a static converge binary (repeat per platform: linux/amd64, linux/arm64)")
	fs.StringVar(&o.Version, "version", "", "image version (org.opencontainers.image.version); required")
	fs.StringVar(&o.Revision, "revision", "", "VCS revision (org.opencontainers.image.revision)")
	fs.StringVar(&o.Source, "source", "https://github.com/converge-gitops/converge", "source repository URL")
	fs.StringVar(&o.Licenses, "licenses", "", "SPDX license expression (org.opencontainers.image.licenses); omitted when empty")
	fs.StringVar(&o.CACertificates, "ca-certificates", agentimage.DefaultCACertificates, "PEM bundle the image ships as /etc/ssl/certs/ca-certificates.crt")
	created := fs.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "image time, Unix seconds or RFC 3339 (default $SOURCE_DATE_EPOCH); required")
	push := fs.String("push", "", "push to this reference, e.g. localhost:5000/converge:v1.2.3")
	ociLayout := fs.String("oci-layout", "", "also write the index as an OCI image layout into this folder")
	digestFile := fs.String("digest-file", "", "also write the index digest (sha256:…) into this file")
	fromLayout := fs.String("from-oci-layout", "", "push the index of this OCI layout (written by -oci-layout) instead of building one")
	insecure := fs.Bool("insecure", false, "plain HTTP to the registry even when it is not on loopback")
	_ = fs.Parse(os.Args[1:])
	o.Binaries = bins

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if *fromLayout != "" {
		err = pushLayout(ctx, *fromLayout, *push, *insecure)
	} else {
		err = run(ctx, o, *created, *push, *ociLayout, *digestFile, *insecure)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agentimage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o agentimage.Options, created, push, ociLayout, digestFile string, insecure bool) error {
	if push == "" && ociLayout == "" && digestFile == "" {
		return errors.New("nothing to do: give -push, -oci-layout or -digest-file")
	}
	t, err := parseTime(created)
	if err != nil {
		return err
	}
	o.Created = t
	start := time.Now()
	idx, err := agentimage.Build(ctx, o)
	if err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "built %s in %s\n", d, time.Since(start).Round(time.Millisecond))
	if ociLayout != "" {
		if err := os.RemoveAll(ociLayout); err != nil {
			return err
		}
		p, err := layout.Write(ociLayout, empty.Index)
		if err != nil {
			return fmt.Errorf("OCI layout %s: %w", ociLayout, err)
		}
		if err := p.AppendIndex(idx); err != nil {
			return fmt.Errorf("OCI layout %s: %w", ociLayout, err)
		}
		fmt.Fprintf(os.Stderr, "wrote OCI layout %s\n", ociLayout)
	}
	if digestFile != "" {
		if err := os.WriteFile(digestFile, []byte(d.String()), 0o644); err != nil {
			return err
		}
	}
	if push != "" {
		return pushIndex(ctx, idx, push, insecure)
	}
	return nil
}

func pushIndex(ctx context.Context, idx v1.ImageIndex, ref string, insecure bool) error {
	start := time.Now()
	var opts []agentimage.PushOption
	if insecure {
		opts = append(opts, agentimage.WithInsecure())
	}
	digest, err := agentimage.Push(ctx, idx, ref, opts...)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pushed in %s\n", time.Since(start).Round(time.Millisecond))
	fmt.Println(ref + "@" + digest)
	return nil
}

// pushLayout pushes the one index an OCI layout written by -oci-layout holds.
func pushLayout(ctx context.Context, dir, ref string, insecure bool) error {
	if ref == "" {
		return errors.New("-from-oci-layout needs -push")
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	if len(im.Manifests) != 1 {
		return fmt.Errorf("OCI layout %s: %d entries in index.json, want the one index -oci-layout writes", dir, len(im.Manifests))
	}
	idx, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	return pushIndex(ctx, idx, ref, insecure)
}

// parseTime reads Unix seconds (SOURCE_DATE_EPOCH) or an RFC 3339 time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("-created or SOURCE_DATE_EPOCH is required (e.g. git log -1 --format=%ct), so that the image is reproducible")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("-created %q: want Unix seconds or RFC 3339", s)
	}
	return t.UTC(), nil
}
