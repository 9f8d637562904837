package bucket

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The Bucket tests run versitygw (https://github.com/versity/versitygw, an S3-compatible server, Apache-2.0)
// with its posix backend on loopback. hack/s3server.sh builds it into the test binaries folder
// (`make testbin`).
const (
	rootAccessKey = "converge-root"
	rootSecretKey = "converge-root-secret"
)

// testBinDir is where hack/s3server.sh puts versitygw: $TESTBIN, else the user's cache folder.
func testBinDir() string {
	if d := os.Getenv("TESTBIN"); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "converge", "testbin")
}

// s3Server is a running versitygw.
type s3Server struct {
	// Endpoint is "127.0.0.1:<port>", as in spec.endpoint.
	Endpoint string
	// Admin is a client with the root credentials, to create buckets and objects.
	Admin *minio.Client
}

type serverOptions struct {
	certFile, keyFile string // serve TLS with this certificate
	adminTLS          *tls.Config
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startS3 starts an empty versitygw for the test and stops it at cleanup.
func startS3(t testing.TB, opts serverOptions) *s3Server {
	t.Helper()
	bin := filepath.Join(testBinDir(), "versitygw")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run `make testbin` (hack/s3server.sh builds it)", bin)
	}
	root := t.TempDir()
	port := freePort(t)
	endpoint := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"--access", rootAccessKey, "--secret", rootSecretKey, "--port", endpoint, "--quiet"}
	if opts.certFile != "" {
		args = append(args, "--cert", opts.certFile, "--key", opts.keyFile)
	}
	args = append(args, "posix", "--sidecar", filepath.Join(root, "meta"), filepath.Join(root, "data"))
	for _, d := range []string{"meta", "data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	var transport http.RoundTripper
	if opts.certFile != "" {
		transport = &http.Transport{TLSClientConfig: opts.adminTLS}
	}
	admin, err := minio.New(endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(rootAccessKey, rootSecretKey, ""),
		Secure:    opts.certFile != "",
		Transport: transport,
	})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		select {
		case err := <-exited:
			t.Fatalf("versitygw exited: %v\n%s", err, out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := admin.ListBuckets(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not start on %s: %v\n%s", endpoint, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &s3Server{Endpoint: endpoint, Admin: admin}
}

// makeBucket creates a bucket holding objects (key -> content).
func (s *s3Server) makeBucket(t testing.TB, name string, objects map[string]string) {
	t.Helper()
	ctx := context.Background()
	if err := s.Admin.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	s.put(t, name, objects)
}

func (s *s3Server) put(t testing.TB, bucket string, objects map[string]string) {
	t.Helper()
	for key, content := range objects {
		if _, err := s.Admin.PutObject(context.Background(), bucket, key, bytes.NewReader([]byte(content)), int64(len(content)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("putting %s/%s: %v", bucket, key, err)
		}
	}
}
