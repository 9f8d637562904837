package bucket

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

const testNamespace = "flux-system"

// secretStore serves Secrets from memory by name.
type secretStore map[string]*corev1.Secret

func (s secretStore) GetSecret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	if sec, ok := s[name]; ok && namespace == testNamespace {
		return sec, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func keysSecret(access, secret string) *corev1.Secret {
	return &corev1.Secret{Data: map[string][]byte{"accesskey": []byte(access), "secretkey": []byte(secret)}}
}

var rootKeys = secretStore{"keys": keysSecret(rootAccessKey, rootSecretKey)}

func newFetcher(t testing.TB, secrets secretStore) *Fetcher {
	t.Helper()
	store, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &Fetcher{Store: store, Secrets: secrets}
}

func bucketObject(name, endpoint, bucketName string, edit ...func(*sourcev1.BucketSpec)) *sourcev1.Bucket {
	obj := &sourcev1.Bucket{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace},
		Spec: sourcev1.BucketSpec{
			BucketName: bucketName, Endpoint: endpoint, Insecure: true,
			SecretRef: &meta.LocalObjectReference{Name: "keys"},
			Interval:  metav1.Duration{Duration: time.Minute},
			Timeout:   &metav1.Duration{Duration: 30 * time.Second},
		},
	}
	for _, e := range edit {
		e(&obj.Spec)
	}
	return obj
}

func fetchErr(t *testing.T, err error) *source.FetchError {
	t.Helper()
	var fe *source.FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("want *source.FetchError, got %T: %v", err, err)
	}
	return fe
}

func readTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// fluxRevision computes the revision the way Flux documents it, from the server's own listing: the
// SHA-256 of one "<key> <etag>\n" line per object, sorted by key.
func fluxRevision(t testing.TB, s *s3Server, bucket string, keys ...string) string {
	t.Helper()
	etags := map[string]string{}
	for o := range s.Admin.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		etags[o.Key] = o.ETag
	}
	sort.Strings(keys)
	var lines strings.Builder
	for _, k := range keys {
		etag, ok := etags[k]
		if !ok {
			t.Fatalf("no object %q in %s", k, bucket)
		}
		fmt.Fprintf(&lines, "%s %s\n", k, etag)
	}
	sum := sha256.Sum256([]byte(lines.String()))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestFetchBucket(t *testing.T) {
	s := startS3(t, serverOptions{})
	s.makeBucket(t, "manifests", map[string]string{
		"apps/app.yaml":    "kind: ConfigMap\n",
		"apps/sub/x.yaml":  "x: 1\n",
		"logo.png":         "png",
		"folder-marker/":   "",
		"readme.md":        "# readme\n",
		".sourceignore":    "*.md\n",
		"docs/guide.md":    "guide",
		"//double/slash":   "d",
		"infra/./dot.yaml": "dot",
	})
	s.makeBucket(t, "empty", nil)
	f := newFetcher(t, rootKeys)
	a, err := f.Fetch(context.Background(), bucketObject("manifests", s.Endpoint, "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	// Flux applies only the bucket's .sourceignore and spec.ignore (no default exclusions: the png stays),
	// keeps the .sourceignore in the artifact, and skips folder markers.
	wantKeys := []string{"apps/app.yaml", "apps/sub/x.yaml", "logo.png", "double/slash", "infra/dot.yaml"}
	if want := fluxRevision(t, s, "manifests", wantKeys...); a.Revision != want {
		t.Errorf("revision = %s, want %s", a.Revision, want)
	}
	want := map[string]string{
		"apps/app.yaml": "kind: ConfigMap\n", "apps/sub/x.yaml": "x: 1\n", "logo.png": "png",
		".sourceignore": "*.md\n", "double/slash": "d", "infra/dot.yaml": "dot",
	}
	if got := readTree(t, a.Dir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("files = %v\nwant %v", got, want)
	}

	// The revision of an empty bucket is the digest of nothing, as in Flux's documentation.
	e, err := f.Fetch(context.Background(), bucketObject("empty", s.Endpoint, "empty"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Revision != "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("empty bucket revision = %s", e.Revision)
	}
}

func TestFetchPrefixAndIgnore(t *testing.T) {
	s := startS3(t, serverOptions{})
	s.makeBucket(t, "filters", map[string]string{
		".sourceignore":           "secret/\n",
		"apps/a.yaml":             "a",
		"apps/notes.md":           "n",
		"apps/secret/keep.yaml":   "k",
		"apps/secret/hidden.yaml": "h",
		"infra/b.yaml":            "b",
		"secret/top.yaml":         "t",
	})
	cases := []struct {
		name   string
		prefix string
		ignore *string
		want   []string // object keys in the artifact, besides .sourceignore
	}{
		{name: "everything but the .sourceignore rules", want: []string{"apps/a.yaml", "apps/notes.md", "infra/b.yaml"}},
		{name: "prefix", prefix: "apps/", want: []string{"apps/a.yaml", "apps/notes.md"}},
		{name: "prefix without slash", prefix: "inf", want: []string{"infra/b.yaml"}},
		{name: "spec.ignore adds rules", ignore: ptr("*.md\n"), want: []string{"apps/a.yaml", "infra/b.yaml"}},
		{name: "spec.ignore re-includes", prefix: "apps/", ignore: ptr("!apps/secret/keep.yaml\n"), want: []string{"apps/a.yaml", "apps/notes.md", "apps/secret/keep.yaml"}},
		{name: "prefix matching nothing", prefix: "nothing/", want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := newFetcher(t, rootKeys).Fetch(context.Background(), bucketObject("filters", s.Endpoint, "filters", func(b *sourcev1.BucketSpec) {
				b.Prefix, b.Ignore = tc.prefix, tc.ignore
			}))
			if err != nil {
				t.Fatal(err)
			}
			if want := fluxRevision(t, s, "filters", tc.want...); a.Revision != want {
				t.Errorf("revision = %s, want %s", a.Revision, want)
			}
			var got []string
			for k := range readTree(t, a.Dir) {
				if k != ".sourceignore" {
					got = append(got, k)
				}
			}
			sort.Strings(got)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("files = %v, want %v", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestFetchCredentials(t *testing.T) {
	s := startS3(t, serverOptions{})
	s.makeBucket(t, "private", map[string]string{"a.yaml": "a"})
	secrets := secretStore{
		"keys":         keysSecret(rootAccessKey, rootSecretKey),
		"wrong-secret": keysSecret(rootAccessKey, "not-the-secret"),
		"wrong-access": keysSecret("nobody", rootSecretKey),
		"no-secretkey": {Data: map[string][]byte{"accesskey": []byte(rootAccessKey)}},
		"empty-values": keysSecret("", ""),
	}
	cases := []struct {
		name, secret, provider string
		reason                 string // "" for success
		wantErr                []string
	}{
		{name: "generic with keys", secret: "keys"},
		{name: "aws with static keys", secret: "keys", provider: sourcev1.BucketProviderAmazon},
		{name: "wrong secret key", secret: "wrong-secret", reason: sourcev1.AuthenticationFailedReason, wantErr: []string{"authentication failed", "manifests"}},
		{name: "unknown access key", secret: "wrong-access", reason: sourcev1.AuthenticationFailedReason, wantErr: []string{"authentication failed"}},
		{name: "anonymous", secret: "", reason: sourcev1.AuthenticationFailedReason, wantErr: []string{"authentication failed"}},
		{name: "empty keys are anonymous", secret: "empty-values", reason: sourcev1.AuthenticationFailedReason, wantErr: []string{"authentication failed"}},
		{name: "missing secret", secret: "absent", reason: sourcev1.AuthenticationFailedReason, wantErr: []string{"flux-system/absent", "not found"}},
		{name: "secret without secretkey", secret: "no-secretkey", reason: sourcev1.AuthenticationFailedReason, wantErr: []string{`no "secretkey" key`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := bucketObject("manifests", s.Endpoint, "private", func(b *sourcev1.BucketSpec) {
				b.Provider = tc.provider
				b.SecretRef = nil
				if tc.secret != "" {
					b.SecretRef = &meta.LocalObjectReference{Name: tc.secret}
				}
			})
			a, err := newFetcher(t, secrets).Fetch(context.Background(), obj)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := readTree(t, a.Dir); got["a.yaml"] != "a" {
					t.Errorf("files = %v", got)
				}
				return
			}
			fe := fetchErr(t, err)
			if fe.Reason != tc.reason {
				t.Errorf("reason = %q, want %q (%v)", fe.Reason, tc.reason, err)
			}
			for _, w := range append(tc.wantErr, "Bucket/flux-system/manifests") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// countingProxy forwards to the S3 server and counts object downloads (GETs of a key, not listings).
type countingProxy struct {
	Endpoint  string
	downloads atomic.Int32
}

func newCountingProxy(t *testing.T, upstream string, rewrite func([]byte) []byte) *countingProxy {
	t.Helper()
	u, _ := url.Parse("http://" + upstream)
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	if rewrite != nil {
		rp.ModifyResponse = func(resp *http.Response) error {
			if resp.Request.Method != http.MethodGet || !resp.Request.URL.Query().Has("list-type") {
				return nil
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			resp.Body.Close()
			body = rewrite(body)
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
			return nil
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// path-style: /<bucket>/<key>; a listing or bucket request has no key
		if r.Method == http.MethodGet {
			if parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2); len(parts) == 2 && parts[1] != "" && parts[1] != ".sourceignore" {
				p.downloads.Add(1)
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	return p
}

func TestFetchReusesStoredArtifact(t *testing.T) {
	s := startS3(t, serverOptions{})
	s.makeBucket(t, "reuse", map[string]string{"a.yaml": "a", "b/c.yaml": "c"})
	proxy := newCountingProxy(t, s.Endpoint, nil)
	f := newFetcher(t, rootKeys)
	obj := bucketObject("reuse", proxy.Endpoint, "reuse")
	first, err := f.Fetch(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if n := proxy.downloads.Load(); n != 2 {
		t.Fatalf("first fetch downloaded %d objects, want 2", n)
	}
	second, err := f.Fetch(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if n := proxy.downloads.Load(); n != 2 {
		t.Errorf("second fetch of an unchanged bucket downloaded %d more objects", n-2)
	}
	if second.Digest != first.Digest || second.Revision != first.Revision {
		t.Errorf("second = %+v, want the stored %+v", second, first)
	}

	s.put(t, "reuse", map[string]string{"a.yaml": "changed"})
	third, err := f.Fetch(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if third.Revision == first.Revision || readTree(t, third.Dir)["a.yaml"] != "changed" {
		t.Errorf("a changed object gave revision %s (was %s), files %v", third.Revision, first.Revision, readTree(t, third.Dir))
	}
	if n := proxy.downloads.Load(); n != 4 {
		t.Errorf("after a change, %d downloads in all, want 4", n)
	}
}

func TestFetchRefusesEscapingKeys(t *testing.T) {
	s := startS3(t, serverOptions{})
	s.makeBucket(t, "evil", map[string]string{"ok.yaml": "ok", "top.yaml": "top"})
	// No S3 server here stores such keys (the posix backend refuses them), so a proxy stands in for a
	// hostile or buggy server and renames an object in the listing.
	for _, key := range []string{"../escaped.yaml", "a/../../escaped.yaml", ".."} {
		t.Run(key, func(t *testing.T) {
			proxy := newCountingProxy(t, s.Endpoint, func(b []byte) []byte {
				return bytes.Replace(b, []byte("<Key>top.yaml</Key>"), []byte("<Key>"+key+"</Key>"), 1)
			})
			parent := t.TempDir()
			store, err := source.OpenStore(filepath.Join(parent, "store"))
			if err != nil {
				t.Fatal(err)
			}
			f := &Fetcher{Store: store, Secrets: rootKeys}
			_, err = f.Fetch(context.Background(), bucketObject("evil", proxy.Endpoint, "evil"))
			fe := fetchErr(t, err)
			if fe.Reason != sourcev1.InvalidPathReason || !errors.Is(err, ErrUnsafeKey) || !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
				t.Fatalf("err = %v (%s), want the key refused", err, fe.Reason)
			}
			if n := proxy.downloads.Load(); n != 0 {
				t.Errorf("%d objects downloaded before refusing", n)
			}
			for _, d := range []string{"tmp", "objects", "sources"} {
				if left, _ := os.ReadDir(filepath.Join(store.Root, d)); len(left) != 0 {
					t.Errorf("store %s/ not empty: %v", d, left)
				}
			}
			_ = filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
				if err == nil && strings.Contains(d.Name(), "escaped") {
					t.Errorf("escaping object written: %s", p)
				}
				return nil
			})
		})
	}
}

func TestObjectPath(t *testing.T) {
	dir := filepath.Join("/store", "tmp", "work")
	for _, tc := range []struct {
		key, want string // want "" for a refusal
	}{
		{key: "a.yaml", want: "/store/tmp/work/a.yaml"},
		{key: "a/b/c.yaml", want: "/store/tmp/work/a/b/c.yaml"},
		{key: "/abs.yaml", want: "/store/tmp/work/abs.yaml"},
		{key: "a//b", want: "/store/tmp/work/a/b"},
		{key: "./a", want: "/store/tmp/work/a"},
		{key: "..a/b..", want: "/store/tmp/work/..a/b.."},
		{key: "../a"},
		{key: "a/../../b"},
		{key: "a/../b"},
		{key: ".."},
		{key: "a/.."},
		{key: "."},
		{key: "/"},
		{key: "a\x00b"},
	} {
		got, err := objectPath(dir, tc.key)
		switch {
		case tc.want == "" && !errors.Is(err, ErrUnsafeKey):
			t.Errorf("objectPath(%q) = %q, %v; want refused", tc.key, got, err)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("objectPath(%q) = %q, %v; want %q", tc.key, got, err, tc.want)
		}
	}
}

// FuzzObjectPath checks that no key is ever placed outside the artifact folder.
func FuzzObjectPath(f *testing.F) {
	for _, k := range []string{"a", "../a", "a/../../b", "/x", "..", "a/./b", "a\\..\\b", "...", "a//..//b"} {
		f.Add(k)
	}
	dir := filepath.Join("/store", "tmp", "work")
	f.Fuzz(func(t *testing.T, key string) {
		p, err := objectPath(dir, key)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("key %q placed at %q, outside %q", key, p, dir)
		}
	})
}

func TestFetchErrors(t *testing.T) {
	s := startS3(t, serverOptions{})
	s.makeBucket(t, "there", map[string]string{"a.yaml": "a"})
	closed := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	silent := silentServer(t)
	cases := []struct {
		name    string
		edit    func(*sourcev1.BucketSpec)
		reason  string
		wantErr []string
	}{
		{name: "missing bucket", edit: func(b *sourcev1.BucketSpec) { b.BucketName = "not-there" }, reason: sourcev1.BucketOperationFailedReason, wantErr: []string{`bucket "not-there" not found`}},
		{name: "unreachable endpoint", edit: func(b *sourcev1.BucketSpec) { b.Endpoint = closed }, reason: sourcev1.BucketOperationFailedReason, wantErr: []string{"connection refused"}},
		{name: "endpoint scheme against insecure", edit: func(b *sourcev1.BucketSpec) { b.Endpoint = "https://" + s.Endpoint }, reason: sourcev1.URLInvalidReason, wantErr: []string{"conflicts with the secure option"}},
		{
			name: "timeout", edit: func(b *sourcev1.BucketSpec) {
				b.Endpoint, b.Timeout = silent, &metav1.Duration{Duration: 300 * time.Millisecond}
			},
			reason: sourcev1.BucketOperationFailedReason, wantErr: []string{"timeout of 300ms exceeded"},
		},
		{name: "gcp", edit: func(b *sourcev1.BucketSpec) { b.Provider = sourcev1.BucketProviderGoogle }, reason: sourcev1.InvalidProviderConfigurationReason, wantErr: []string{`"gcp" is not supported yet`}},
		{name: "azure", edit: func(b *sourcev1.BucketSpec) { b.Provider = sourcev1.BucketProviderAzure }, reason: sourcev1.InvalidProviderConfigurationReason, wantErr: []string{`"azure"`, "not supported yet"}},
		{name: "sts", edit: func(b *sourcev1.BucketSpec) {
			b.STS = &sourcev1.BucketSTSSpec{Provider: "ldap", Endpoint: "https://ldap"}
		}, reason: sourcev1.InvalidSTSConfigurationReason, wantErr: []string{"ldap", "not supported yet"}},
		{name: "insecure off against plain HTTP", edit: func(b *sourcev1.BucketSpec) { b.Insecure = false }, reason: sourcev1.BucketOperationFailedReason, wantErr: []string{"HTTP response to HTTPS client"}},
	}
	f := newFetcher(t, rootKeys)
	good, err := f.Fetch(context.Background(), bucketObject("errs", s.Endpoint, "there"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Fetch(context.Background(), bucketObject("errs", s.Endpoint, "there", tc.edit))
			fe := fetchErr(t, err)
			if fe.Reason != tc.reason {
				t.Errorf("reason = %q, want %q (%v)", fe.Reason, tc.reason, err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if fe.Previous == nil || fe.Previous.Digest != good.Digest {
				t.Errorf("Previous = %+v, want the last good artifact", fe.Previous)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Fetch(ctx, bucketObject("errs", s.Endpoint, "there")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	return l.Addr().String()
}

// testCA issues a server certificate for 127.0.0.1 and a client certificate.
type testCA struct {
	caPEM, serverCert, serverKey, clientCert, clientKey []byte
	pool                                                *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "converge test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "converge test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	c := &testCA{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pool: x509.NewCertPool()}
	c.pool.AddCert(ca)
	c.serverCert, c.serverKey = issue(2, x509.ExtKeyUsageServerAuth)
	c.clientCert, c.clientKey = issue(3, x509.ExtKeyUsageClientAuth)
	return c
}

func TestFetchTLS(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, ca.serverCert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, ca.serverKey, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startS3(t, serverOptions{certFile: certFile, keyFile: keyFile, adminTLS: &tls.Config{RootCAs: ca.pool}})
	s.makeBucket(t, "secure", map[string]string{"a.yaml": "a"})
	secrets := secretStore{
		"keys":   keysSecret(rootAccessKey, rootSecretKey),
		"ca":     {Data: map[string][]byte{"ca.crt": ca.caPEM}},
		"client": {Data: map[string][]byte{"ca.crt": ca.caPEM, "tls.crt": ca.clientCert, "tls.key": ca.clientKey}},
		"half":   {Data: map[string][]byte{"tls.key": ca.clientKey}},
	}
	cases := []struct {
		name, certSecret string
		insecure         bool
		wantErr          string
	}{
		{name: "CA from certSecretRef", certSecret: "ca"},
		{name: "CA and client certificate", certSecret: "client"},
		{name: "unknown CA", wantErr: "certificate"},
		{name: "insecure speaks plain HTTP to a TLS server", certSecret: "ca", insecure: true, wantErr: "secure"},
		{name: "tls.key without tls.crt", certSecret: "half", wantErr: "must be given together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := newFetcher(t, secrets).Fetch(context.Background(), bucketObject("tls", s.Endpoint, "secure", func(b *sourcev1.BucketSpec) {
				b.Insecure = tc.insecure
				if tc.certSecret != "" {
					b.CertSecretRef = &meta.LocalObjectReference{Name: tc.certSecret}
				}
			}))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if readTree(t, a.Dir)["a.yaml"] != "a" {
				t.Error("object not fetched over TLS")
			}
		})
	}
}

func BenchmarkFetchUnchanged(b *testing.B) {
	s := startS3(b, serverOptions{})
	objects := map[string]string{}
	for i := range 100 {
		objects[fmt.Sprintf("d%d/f%d.yaml", i%10, i)] = strings.Repeat("key: value\n", 50)
	}
	s.makeBucket(b, "bench", objects)
	f := newFetcher(b, rootKeys)
	obj := bucketObject("bench", s.Endpoint, "bench")
	if _, err := f.Fetch(context.Background(), obj); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.Fetch(context.Background(), obj); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFetchNew(b *testing.B) {
	s := startS3(b, serverOptions{})
	objects := map[string]string{}
	for i := range 100 {
		objects[fmt.Sprintf("d%d/f%d.yaml", i%10, i)] = strings.Repeat("key: value\n", 50)
	}
	s.makeBucket(b, "bench", objects)
	obj := bucketObject("bench", s.Endpoint, "bench")
	for b.Loop() {
		if _, err := newFetcher(b, rootKeys).Fetch(context.Background(), obj); err != nil {
			b.Fatal(err)
		}
	}
}
