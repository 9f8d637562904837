package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// catalogueApps is the Kustomization of the case's files.
const catalogueApps = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps
  prune: true
  targetNamespace: default
  sourceRef:
    kind: GitRepository
    name: flux-system
`

// catalogueTree is the tree every bad-input case starts from: the cluster's own GitRepository and
// Kustomization, and a Kustomization "apps" of ./apps holding one valid ConfigMap next to the case's
// files, so that a partial write would show.
func catalogueTree(ns string) map[string]string {
	tree := map[string]string{
		"clusters/c/sync.yaml": `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m
  ref:
    branch: main
  url: https://git.example.com/faults
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m
  path: ./clusters/c
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`,
		"clusters/c/apps.yaml": catalogueApps,
		"apps/good.yaml":       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\ndata:\n  a: b\n",
	}
	for k, v := range tree {
		tree[k] = inNamespace(v, ns)
	}
	return tree
}

// inNamespace puts the catalogue's Flux objects and targets in ns: each case has its own, so that no
// case prunes or reuses another's objects.
func inNamespace(doc, ns string) string {
	doc = strings.ReplaceAll(doc, "namespace: flux-system", "namespace: "+ns)
	doc = strings.ReplaceAll(doc, "Kustomization flux-system/", "Kustomization "+ns+"/")
	return strings.ReplaceAll(doc, "targetNamespace: default", "targetNamespace: "+ns)
}

// badInput is one entry of the catalogue: files added to (or replacing) catalogueTree's, a setup that
// needs more than files, and what every command's error must contain.
type badInput struct {
	name  string
	files map[string]string
	setup func(t *testing.T, root string)
	// want are substrings of the error every command must print (file, object, field, cause).
	want []string
	// offline: build fails too (the input is bad without a cluster); otherwise only diff and apply
	// (the cluster, or the decryption key it holds, is what refuses it) and build must succeed.
	offline bool
}

func TestBadInputCatalogue(t *testing.T) {
	audit := newWriteAudit(t, cluster.Config)
	kc := audit.kubeconfig(t)
	cluster.ApplyYAML(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n")

	chartRepo := newChartRepo(t)
	helmRelease := func(chart string) map[string]string {
		return map[string]string{"apps/kustomization.yaml": "resources:\n  - release.yaml\n",
			"apps/release.yaml": `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: flux-system
spec:
  interval: 10m
  url: ` + chartRepo.URL + `
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: evil
spec:
  interval: 10m
  chart:
    spec:
      chart: ` + chart + `
      version: "1.0.0"
      sourceRef:
        kind: HelmRepository
        name: charts
        namespace: flux-system
`}
	}

	cases := []badInput{
		{name: "malformed yaml", offline: true,
			files: map[string]string{"apps/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  a: [unclosed\n"},
			want:  []string{"Kustomization NS/apps", "broken.yaml"}},
		{name: "duplicate objects", offline: true,
			files: map[string]string{"apps/dup.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twin\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twin\n"},
			want:  []string{"Kustomization NS/apps", "ConfigMap", "twin"}},
		{name: "unknown kind in a known group",
			files: map[string]string{"apps/typo.yaml": "apiVersion: apps/v1\nkind: Deploymnt\nmetadata:\n  name: typo\n"},
			want:  []string{"Kustomization NS/apps", "Deploymnt", "typo"}},
		{name: "missing CRD",
			files: map[string]string{"apps/widget.yaml": "apiVersion: widgets.example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"},
			want:  []string{"Kustomization NS/apps", "Widget", "w"}},
		{name: "invalid value",
			files: map[string]string{"apps/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: badport\nspec:\n  ports:\n  - port: 99999\n"},
			want:  []string{"Kustomization NS/apps", "Service", "badport", "spec.ports[0].port"}},
		{name: "invalid type",
			files: map[string]string{"apps/dep.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: badtype\nspec:\n  replicas: many\n"},
			want:  []string{"Kustomization NS/apps", "Deployment", "badtype", "replicas"}},
		{name: "dependency cycle", offline: true,
			files: map[string]string{"clusters/c/cycle.yaml": `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: chicken
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps
  dependsOn: [{name: egg}]
  sourceRef: {kind: GitRepository, name: flux-system}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: egg
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps
  dependsOn: [{name: chicken}]
  sourceRef: {kind: GitRepository, name: flux-system}
`},
			want: []string{"chicken", "egg", "cycle"}},
		{name: "spec.path outside the source", offline: true,
			files: map[string]string{"clusters/c/apps.yaml": strings.Replace(catalogueApps, "./apps", "../../etc", 1)},
			want:  []string{"Kustomization NS/apps", "../../etc"}},
		{name: "resource path outside the source", offline: true,
			files: map[string]string{"apps/kustomization.yaml": "resources:\n  - good.yaml\n  - ../../outside.yaml\n"},
			setup: func(t *testing.T, root string) {
				writeFiles(t, filepath.Dir(root), map[string]string{"outside.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\n"})
			},
			want: []string{"Kustomization NS/apps", "outside.yaml", "outside the source"}},
		{name: "symlink out of the source", offline: true,
			setup: func(t *testing.T, root string) {
				out := filepath.Join(t.TempDir(), "secret.yaml")
				writeFiles(t, filepath.Dir(out), map[string]string{"secret.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\n"})
				if err := os.Symlink(out, filepath.Join(root, "apps", "link.yaml")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"Kustomization NS/apps", "link.yaml", "outside the source"}},
		{name: "chart archive with ../ entries", offline: true, files: helmRelease("dotdot"),
			want: []string{"HelmRelease NS/evil", "dotdot"}},
		{name: "chart archive with a symlink out", offline: true, files: helmRelease("symlink"),
			want: []string{"HelmRelease NS/evil", "symlink"}},
		{name: "huge file", offline: true,
			setup: func(t *testing.T, root string) {
				f, err := os.Create(filepath.Join(root, "apps", "huge.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				// Sparse: 100 MiB that take no disk, and no memory unless read.
				if err := f.Truncate(100 << 20); err != nil {
					t.Fatal(err)
				}
				_ = f.Close()
			},
			want: []string{"Kustomization NS/apps", "huge.yaml", "limit"}},
		{name: "SOPS-encrypted file without keys",
			files: map[string]string{"clusters/c/apps.yaml": catalogueApps + "  decryption:\n    provider: sops\n"},
			setup: func(t *testing.T, root string) {
				b, err := os.ReadFile("../../testdata/build/repo/sops/age/db-credentials.enc.yaml")
				if err != nil {
					t.Fatal(err)
				}
				writeFiles(t, root, map[string]string{"apps/db.enc.yaml": string(b)})
			},
			want: []string{"Kustomization NS/apps", "db-credentials"}},
	}

	commands := []string{"build", "diff", "apply"}
	var runs, failed, reporting int
	for i, tc := range cases {
		ns := fmt.Sprintf("bad-%02d", i)
		t.Run(tc.name, func(t *testing.T) {
			cluster.ApplyYAML(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+ns+"\n")
			root := filepath.Join(t.TempDir(), "repo")
			files := catalogueTree(ns)
			for k, v := range tc.files {
				files[k] = inNamespace(v, ns)
			}
			writeFiles(t, root, files)
			if tc.setup != nil {
				tc.setup(t, root)
			}
			audit.take()
			for _, c := range commands {
				args := []string{c, filepath.Join(root, "clusters/c"), "--root", root, "--cache-dir", t.TempDir(),
					"--local-source", "GitRepository/" + ns + "/flux-system=" + root}
				if c != "build" {
					args = append(args, "--kubeconfig", kc, "--timeout", "1m")
				}
				res := run(t, newFactory(), args...)
				payload, report := splitWrites(audit.take())
				reporting += len(report)
				runs++
				t.Logf("%s: exit %d, %d status/event writes\n%s", c, res.code, len(report), res.stderr)
				if c == "build" && !tc.offline {
					if res.code != 0 {
						t.Errorf("build: exit %d, want 0 (only the cluster refuses this input):\n%s", res.code, res.stderr)
					}
					continue
				}
				ok := true
				if res.code != 2 {
					t.Errorf("%s: exit %d, want 2:\n%s%s", c, res.code, res.stdout, res.stderr)
					ok = false
				}
				// diff renders a rejected object's cause with its diff on stdout.
				out := res.stderr + res.stdout
				for _, w := range tc.want {
					if w = strings.ReplaceAll(w, "NS", ns); !strings.Contains(out, w) {
						t.Errorf("%s: error does not name %q:\n%s", c, w, out)
						ok = false
					}
				}
				if len(payload) > 0 {
					t.Errorf("%s: %d writes, want none: %v", c, len(payload), payload)
					ok = false
				}
				if !ok {
					failed++
				}
			}
		})
	}
	t.Logf("bad-input catalogue: %d cases, %d command runs, %d failed; %d status/event writes reported the failures", len(cases), runs, failed, reporting)
}

// splitWrites separates the writes that report a reconcile (Events, the status of Flux objects) and
// the Flux objects a valid parent Kustomization applies, from the rest: the objects of the bad input.
func splitWrites(writes []string) (payload, reporting []string) {
	for _, w := range writes {
		path := strings.SplitN(w, " ", 2)[1]
		switch {
		case strings.HasSuffix(path, "/status"), strings.Contains(path, "/events"):
			reporting = append(reporting, w)
		case regexp.MustCompile(`^/apis/[a-z]+\.toolkit\.fluxcd\.io/`).MatchString(path):
		default:
			payload = append(payload, w)
		}
	}
	return payload, reporting
}

// newChartRepo serves a Helm chart repository (a static index and chart archives, a real HTTP server on
// loopback) whose charts are malicious archives: "dotdot" has an entry escaping the chart folder,
// "symlink" a symbolic link to /etc/passwd.
func newChartRepo(t *testing.T) *httptest.Server {
	t.Helper()
	chart := func(name string, extra func(tw *tar.Writer)) []byte {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		add := func(path, body string) {
			_ = tw.WriteHeader(&tar.Header{Name: path, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
			_, _ = tw.Write([]byte(body))
		}
		add(name+"/Chart.yaml", "apiVersion: v2\nname: "+name+"\nversion: 1.0.0\n")
		add(name+"/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "+name+"\n")
		extra(tw)
		_ = tw.Close()
		_ = gz.Close()
		return buf.Bytes()
	}
	charts := map[string][]byte{
		"dotdot-1.0.0.tgz": chart("dotdot", func(tw *tar.Writer) {
			body := "escaped"
			_ = tw.WriteHeader(&tar.Header{Name: "dotdot/../../../escaped.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
			_, _ = tw.Write([]byte(body))
		}),
		"symlink-1.0.0.tgz": chart("symlink", func(tw *tar.Writer) {
			_ = tw.WriteHeader(&tar.Header{Name: "symlink/templates/passwd.yaml", Linkname: "/etc/passwd", Typeflag: tar.TypeSymlink, Mode: 0o777})
		}),
	}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/index.yaml" {
			var idx strings.Builder
			idx.WriteString("apiVersion: v1\nentries:\n")
			for _, name := range []string{"dotdot", "symlink"} {
				fmt.Fprintf(&idx, "  %s:\n  - name: %s\n    version: 1.0.0\n    apiVersion: v2\n    urls: [%s/%s-1.0.0.tgz]\n", name, name, srv.URL, name)
			}
			_, _ = w.Write([]byte(idx.String()))
			return
		}
		b, ok := charts[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}
