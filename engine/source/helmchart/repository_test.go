package helmchart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

func repoRef(name string) source.Ref { return refOf(sourcev1.HelmRepositoryKind, testNS, name) }

func TestFetchRepositoryStoresIndexWithFluxRevision(t *testing.T) {
	rs := newRepoServer(t, "", "", nil)
	rs.addChart("podinfo", "6.0.0", nil)
	rs.addChart("podinfo", "6.1.0", nil)
	served := rs.index("")

	f := newFetcher(t, secretMap{})
	obj := helmRepo("podinfo", rs.URL())
	a, err := f.FetchRepository(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256Digest(served); a.Revision != want {
		t.Errorf("revision = %s, want %s (sha256 of the index as served)", a.Revision, want)
	}
	stored, err := os.ReadFile(filepath.Join(a.Dir, IndexFile))
	if err != nil || !bytes.Equal(stored, served) {
		t.Fatalf("stored index differs from the served one (%v)", err)
	}
	entries, _ := os.ReadDir(a.Dir)
	if len(entries) != 1 {
		t.Errorf("artifact holds %d files, want only %s", len(entries), IndexFile)
	}
	if a.Source != repoRef("podinfo") {
		t.Errorf("artifact source = %v", a.Source)
	}

	// Unchanged index: same artifact, and the download was a conditional one answered 304.
	a2, err := f.FetchRepository(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if a2.Digest != a.Digest || a2.Revision != a.Revision || !a2.LastUpdateTime.Equal(a.LastUpdateTime) {
		t.Errorf("second fetch changed the artifact: %+v vs %+v", a2, a)
	}
	if got := rs.count("/index.yaml", http.StatusOK); got != 1 {
		t.Errorf("index downloaded whole %d times, want 1", got)
	}
	if got := rs.count("/index.yaml", http.StatusNotModified); got != 1 {
		t.Errorf("index revalidated %d times, want 1", got)
	}

	// A new chart version: new revision.
	rs.addChart("podinfo", "6.2.0", nil)
	served2 := rs.index("")
	a3, err := f.FetchRepository(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if a3.Revision != sha256Digest(served2) || a3.Revision == a.Revision {
		t.Errorf("revision after change = %s, want %s", a3.Revision, sha256Digest(served2))
	}
}

func TestFetchRepositoryReusesCachedIndexAcrossRuns(t *testing.T) {
	rs := newRepoServer(t, "", "", nil)
	rs.addChart("app", "1.0.0", nil)
	rs.index("")
	store := openStore(t)
	obj := helmRepo("app", rs.URL())

	first := New(store, secretMap{})
	a1, err := first.FetchRepository(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	// A new process over the same store: the cached copy is revalidated, not downloaded again.
	second := New(store, secretMap{})
	a2, err := second.FetchRepository(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if a1.Digest != a2.Digest {
		t.Errorf("artifacts differ: %s vs %s", a1.Digest, a2.Digest)
	}
	if got := rs.count("/index.yaml", http.StatusOK); got != 1 {
		t.Errorf("index downloaded whole %d times, want 1", got)
	}
	if got := rs.count("/index.yaml", http.StatusNotModified); got != 1 {
		t.Errorf("conditional requests = %d, want 1", got)
	}

	// A damaged cached copy is detected by its digest and downloaded again.
	cacheDir, _ := store.CacheDir("helm-index", mustNormalize(t, rs.URL()))
	if err := os.WriteFile(filepath.Join(cacheDir, IndexFile), []byte("apiVersion: v1\nentries: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := New(store, secretMap{})
	a3, err := third.FetchRepository(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if a3.Revision != a1.Revision {
		t.Errorf("revision from damaged cache = %s, want %s", a3.Revision, a1.Revision)
	}
	if got := rs.count("/index.yaml", http.StatusOK); got != 2 {
		t.Errorf("index downloaded whole %d times, want 2", got)
	}
}

func mustNormalize(t testing.TB, raw string) string {
	u, err := normalizeURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.String()
}

func TestFetchRepositoryWithoutValidators(t *testing.T) {
	rs := newRepoServer(t, "", "", nil)
	rs.noETag = true
	rs.addChart("app", "1.0.0", nil)
	rs.index("")
	f := newFetcher(t, secretMap{})
	obj := helmRepo("app", rs.URL())
	for i := 0; i < 2; i++ {
		if _, err := f.FetchRepository(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
	}
	// http.FileServer still sends Last-Modified, so the second request is conditional on it.
	if got := rs.count("/index.yaml", http.StatusOK) + rs.count("/index.yaml", http.StatusNotModified); got != 2 {
		t.Errorf("requests = %d, want 2", got)
	}
}

func TestFetchRepositoryBasicAuth(t *testing.T) {
	rs := newRepoServer(t, "flux", "s3cret", nil)
	rs.addChart("app", "1.0.0", nil)
	served := rs.index("")
	secrets := secretMap{}
	secrets.add("good", corev1.SecretTypeOpaque, map[string]string{"username": "flux", "password": "s3cret"})
	secrets.add("wrong", corev1.SecretTypeOpaque, map[string]string{"username": "flux", "password": "nope"})
	secrets.add("half", corev1.SecretTypeOpaque, map[string]string{"username": "flux"})

	tests := []struct {
		name, secret, reason string
		want                 []string
		unauthorized         bool
		notFound             bool
	}{
		{name: "right password", secret: "good"},
		{name: "wrong password", secret: "wrong", reason: meta.FailedReason, want: []string{"401 Unauthorized", "failed to fetch Helm repository index"}, unauthorized: true},
		{name: "no secret", reason: meta.FailedReason, want: []string{"401 Unauthorized"}, unauthorized: true},
		{name: "missing secret", secret: "absent", reason: sourcev1.AuthenticationFailedReason, want: []string{"failed to get authentication secret 'flux-system/absent'"}, notFound: true},
		{name: "malformed secret", secret: "half", reason: sourcev1.AuthenticationFailedReason, want: []string{"'password' missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFetcher(t, secrets)
			obj := helmRepo("auth", rs.URL())
			if tt.secret != "" {
				obj.Spec.SecretRef = &meta.LocalObjectReference{Name: tt.secret}
			}
			a, err := f.FetchRepository(context.Background(), obj)
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if a.Revision != sha256Digest(served) {
					t.Errorf("revision = %s", a.Revision)
				}
				return
			}
			fetchErr(t, err, repoRef("auth"), tt.reason, tt.want...)
			if got := errors.Is(err, ErrUnauthorized); got != tt.unauthorized {
				t.Errorf("errors.Is(err, ErrUnauthorized) = %v, want %v", got, tt.unauthorized)
			}
			if got := apierrors.IsNotFound(errors.Unwrap(errors.Unwrap(err))); got != tt.notFound {
				t.Errorf("wraps NotFound = %v, want %v (%v)", got, tt.notFound, err)
			}
		})
	}
}

func TestFetchRepositoryTLS(t *testing.T) {
	pki := newPKI(t)
	plain := newRepoServer(t, "", "", pki.serverTLS(t, false))
	plain.addChart("app", "1.0.0", nil)
	plain.index("")
	mutual := newRepoServer(t, "", "", pki.serverTLS(t, true))
	mutual.addChart("app", "1.0.0", nil)
	mutual.index("")

	secrets := secretMap{}
	secrets.add("ca", corev1.SecretTypeOpaque, map[string]string{"ca.crt": string(pki.caPEM)})
	secrets.add("client", corev1.SecretTypeTLS, map[string]string{"ca.crt": string(pki.caPEM), "tls.crt": string(pki.clientCertPEM), "tls.key": string(pki.clientKeyPEM)})
	secrets.add("legacy", corev1.SecretTypeOpaque, map[string]string{"caFile": string(pki.caPEM), "certFile": string(pki.clientCertPEM), "keyFile": string(pki.clientKeyPEM)})
	secrets.add("legacy-ca-and-auth", corev1.SecretTypeOpaque, map[string]string{"caFile": string(pki.caPEM), "username": "u", "password": "p"})
	secrets.add("cert-no-key", corev1.SecretTypeOpaque, map[string]string{"tls.crt": string(pki.clientCertPEM)})
	secrets.add("bad-ca", corev1.SecretTypeOpaque, map[string]string{"ca.crt": "not a certificate"})

	tests := []struct {
		name          string
		server        *chartRepoServer
		certSecretRef string
		secretRef     string
		reason        string
		want          []string
	}{
		{name: "CA in certSecretRef", server: plain, certSecretRef: "ca"},
		{name: "no CA", server: plain, reason: meta.FailedReason, want: []string{"certificate"}},
		{name: "client certificate in certSecretRef", server: mutual, certSecretRef: "client"},
		{name: "client certificate missing", server: mutual, certSecretRef: "ca", reason: meta.FailedReason},
		{name: "deprecated keys in secretRef", server: mutual, secretRef: "legacy"},
		{name: "deprecated CA in secretRef with basic auth", server: plain, secretRef: "legacy-ca-and-auth"},
		{name: "certSecretRef wins over secretRef", server: mutual, certSecretRef: "client", secretRef: "legacy-ca-and-auth"},
		{name: "certificate without key", server: plain, certSecretRef: "cert-no-key", reason: sourcev1.AuthenticationFailedReason, want: []string{"tls.key"}},
		{name: "unparsable CA", server: plain, certSecretRef: "bad-ca", reason: sourcev1.AuthenticationFailedReason, want: []string{`"ca.crt" holds no PEM certificate`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFetcher(t, secrets)
			obj := helmRepo("tls", tt.server.URL())
			if tt.certSecretRef != "" {
				obj.Spec.CertSecretRef = &meta.LocalObjectReference{Name: tt.certSecretRef}
			}
			if tt.secretRef != "" {
				obj.Spec.SecretRef = &meta.LocalObjectReference{Name: tt.secretRef}
			}
			_, err := f.FetchRepository(context.Background(), obj)
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			fetchErr(t, err, repoRef("tls"), tt.reason, tt.want...)
		})
	}
}

func TestFetchRepositoryErrors(t *testing.T) {
	serve := func(body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/index.yaml" {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	// A port with nothing listening: take one and close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String()
	l.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)

	tests := []struct {
		name, url, reason string
		want              []string
	}{
		{name: "unreachable server", url: closedURL, reason: meta.FailedReason, want: []string{"failed to fetch Helm repository index", "connection refused"}},
		{name: "no index", url: notFound.URL, reason: meta.FailedReason, want: []string{"404 Not Found"}},
		{name: "not YAML", url: serve("apiVersion: v1\nentries: [unclosed"), reason: sourcev1.IndexationFailedReason, want: []string{"failed to load Helm repository from index YAML"}},
		{name: "empty index", url: serve(""), reason: sourcev1.IndexationFailedReason, want: []string{"empty index.yaml file"}},
		{name: "no apiVersion", url: serve("entries: {}\n"), reason: sourcev1.IndexationFailedReason, want: []string{"no API version specified"}},
		{name: "unknown field", url: serve("apiVersion: v1\nentries: {}\nsurprise: 1\n"), reason: sourcev1.IndexationFailedReason, want: []string{"surprise"}},
		{name: "oci URL with default type", url: "oci://127.0.0.1:1/charts", reason: sourcev1.URLInvalidReason, want: []string{"'oci' URL scheme cannot be used"}},
		{name: "unsupported scheme", url: "ftp://127.0.0.1/charts", reason: meta.FailedReason, want: []string{`scheme "ftp" not supported`}},
		{name: "unparsable URL", url: "http://[::1", reason: sourcev1.URLInvalidReason, want: []string{"invalid Helm repository URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFetcher(t, secretMap{})
			_, err := f.FetchRepository(context.Background(), helmRepo("broken", tt.url))
			fetchErr(t, err, repoRef("broken"), tt.reason, tt.want...)
		})
	}
}

func TestFetchRepositoryFailureKeepsPreviousArtifact(t *testing.T) {
	rs := newRepoServer(t, "", "", nil)
	rs.addChart("app", "1.0.0", nil)
	rs.index("")
	f := newFetcher(t, secretMap{})
	obj := helmRepo("app", rs.URL())
	good, err := f.FetchRepository(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rs.dir, IndexFile), []byte("entries: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = f.FetchRepository(context.Background(), obj)
	fe := fetchErr(t, err, repoRef("app"), sourcev1.IndexationFailedReason)
	if fe.Previous == nil || fe.Previous.Digest != good.Digest {
		t.Fatalf("Previous = %+v, want the last good artifact %s", fe.Previous, good.Digest)
	}
	cur, _ := f.Store.Current(repoRef("app"))
	if cur == nil || cur.Digest != good.Digest {
		t.Errorf("current artifact changed after a failure: %+v", cur)
	}
}

func TestFetchRepositoryHonoursTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hold the answer until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	obj := helmRepo("slow", srv.URL)
	obj.Spec.Timeout = &metav1.Duration{Duration: 50 * time.Millisecond}
	f := newFetcher(t, secretMap{})
	_, err := f.FetchRepository(context.Background(), obj)
	fetchErr(t, err, repoRef("slow"), meta.FailedReason)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = f.FetchRepository(ctx, helmRepo("slow", srv.URL))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestFetchOCIRepositoryHasNoArtifact(t *testing.T) {
	secrets := secretMap{}
	secrets.add("creds", corev1.SecretTypeOpaque, map[string]string{"username": "u", "password": "p"})
	secrets.add("half", corev1.SecretTypeOpaque, map[string]string{"username": "u", "password": ""})
	secrets.add("docker", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":{"other.example":{"username":"u","password":"p"}}}`})
	tests := []struct {
		name, url, secret, reason string
		want                      []string
	}{
		{name: "anonymous", url: "oci://127.0.0.1:5000/charts"},
		{name: "with credentials", url: "oci://127.0.0.1:5000/charts/", secret: "creds"},
		{name: "http URL", url: "https://127.0.0.1:5000/charts", reason: sourcev1.URLInvalidReason, want: []string{"invalid OCI registry URL"}},
		{name: "missing secret", url: "oci://127.0.0.1:5000/charts", secret: "absent", reason: sourcev1.AuthenticationFailedReason, want: []string{"absent"}},
		{name: "empty password", url: "oci://127.0.0.1:5000/charts", secret: "half", reason: sourcev1.AuthenticationFailedReason, want: []string{"required fields 'username' and 'password'"}},
		{name: "docker config without the host", url: "oci://127.0.0.1:5000/charts", secret: "docker", reason: sourcev1.AuthenticationFailedReason, want: []string{"no auth config for '127.0.0.1:5000'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFetcher(t, secrets)
			obj := helmRepo("oci", tt.url)
			obj.Spec.Type = sourcev1.HelmRepositoryTypeOCI
			if tt.secret != "" {
				obj.Spec.SecretRef = &meta.LocalObjectReference{Name: tt.secret}
			}
			a, err := f.FetchRepository(context.Background(), obj)
			if tt.reason == "" {
				if err != nil || a != nil {
					t.Fatalf("got %+v, %v; want no artifact and no error", a, err)
				}
				return
			}
			fetchErr(t, err, repoRef("oci"), tt.reason, tt.want...)
		})
	}
}

func TestParsedIndexKeptAcrossRuns(t *testing.T) {
	rs := repoWithCharts(t, "", "")
	repoObj := helmRepo("podinfo", rs.URL())
	store := openStore(t)
	first := New(store, secretMap{})
	first.HelmRepository = repoLookup(repoObj)
	art, err := first.FetchRepository(context.Background(), repoObj)
	if err != nil {
		t.Fatal(err)
	}
	key := mustNormalize(t, rs.URL())
	kept := first.readParsedIndex(key, art.Revision)
	if kept == nil {
		t.Fatal("no parsed index kept after the fetch")
	}
	fromYAML, err := LoadIndex(mustRead(t, filepath.Join(art.Dir, IndexFile)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(versions(kept), versions(fromYAML)) || kept.APIVersion != fromYAML.APIVersion {
		t.Fatalf("kept index %v differs from the parsed YAML %v", versions(kept), versions(fromYAML))
	}
	if first.readParsedIndex(key, "sha256:other") != nil {
		t.Error("kept index served for another digest")
	}

	// A new process resolves from the kept copy: make it recognisable by dropping the newest version.
	pi := parsedIndex{Digest: art.Revision, Index: kept}
	pi.Index.Entries["podinfo"] = pi.Index.Entries["podinfo"][1:]
	b, _ := json.Marshal(pi)
	cacheDir, _ := store.CacheDir("helm-index", key)
	if err := os.WriteFile(filepath.Join(cacheDir, parsedIndexFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	second := New(store, secretMap{})
	second.HelmRepository = repoLookup(repoObj)
	a, err := second.FetchChart(context.Background(), helmChart("app", "podinfo", "*", sourcev1.HelmRepositoryKind, "podinfo"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Revision != "2.0.0" {
		t.Errorf("revision = %s, want 2.0.0 from the kept parsed index", a.Revision)
	}

	// A damaged copy is ignored and the YAML parsed again.
	if err := os.WriteFile(filepath.Join(cacheDir, parsedIndexFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := New(store, secretMap{})
	third.HelmRepository = repoLookup(repoObj)
	a, err = third.FetchChart(context.Background(), helmChart("app2", "podinfo", "*", sourcev1.HelmRepositoryKind, "podinfo"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Revision != "2.1.0" {
		t.Errorf("revision = %s, want 2.1.0", a.Revision)
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRepositoryURLs(t *testing.T) {
	tests := []struct{ repo, index string }{
		{"https://charts.example.com", "https://charts.example.com/index.yaml"},
		{"https://charts.example.com/", "https://charts.example.com/index.yaml"},
		{"https://charts.example.com/sub//", "https://charts.example.com/sub/index.yaml"},
		{"https://charts.example.com/sub?token=a%2Fb", "https://charts.example.com/sub/index.yaml?token=a%2Fb"},
		{"http://127.0.0.1:8080/a%20b/", "http://127.0.0.1:8080/a%20b/index.yaml"},
	}
	for _, tt := range tests {
		u, err := normalizeURL(tt.repo)
		if err != nil {
			t.Fatal(err)
		}
		if got := indexURL(u); got != tt.index {
			t.Errorf("indexURL(%s) = %s, want %s", tt.repo, got, tt.index)
		}
	}
	charts := []struct{ repo, ref, want string }{
		{"https://charts.example.com/sub", "webapp-1.0.0.tgz", "https://charts.example.com/sub/webapp-1.0.0.tgz"},
		{"https://charts.example.com/sub/", "charts/webapp-1.0.0.tgz", "https://charts.example.com/sub/charts/webapp-1.0.0.tgz"},
		{"https://charts.example.com/sub?token=x", "webapp-1.0.0.tgz", "https://charts.example.com/sub/webapp-1.0.0.tgz?token=x"},
		{"https://charts.example.com/sub", "/root/webapp-1.0.0.tgz", "https://charts.example.com/root/webapp-1.0.0.tgz"},
		{"https://charts.example.com/sub", "https://mirror.example.com/webapp-1.0.0.tgz", "https://mirror.example.com/webapp-1.0.0.tgz"},
	}
	for _, tt := range charts {
		u, _ := normalizeURL(tt.repo)
		if got, err := resolveChartURL(u, tt.ref); err != nil || got != tt.want {
			t.Errorf("resolveChartURL(%s, %s) = %s, %v; want %s", tt.repo, tt.ref, got, err, tt.want)
		}
	}
}
