package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// SpokeOptions configure Spokes.
type SpokeOptions struct {
	// N is how many API servers to start (at least 1).
	N int
	// BinDir holds the binaries; default BinDir().
	BinDir string
	// Log receives the components' output; discarded when nil.
	Log io.Writer
}

// Spokes are N extra API servers for hub-and-spoke tests: separate clusters to every client (their own
// port, certificates, admin user and objects), started cheaply by sharing one etcd, each API server
// keeping its objects under its own --etcd-prefix. They run no controller-manager and have no CRDs.
type Spokes struct {
	// Servers are the spokes' API servers, named spoke-0 ... spoke-N-1.
	Servers []*Spoke

	etcd *envtest.Etcd
	dir  string
}

// Spoke is one API server of Spokes. Stop and Start take it down and bring it back on the same port
// with the same certificates, so a kubeconfig made before keeps working.
type Spoke struct {
	// Name is the spoke's name; its etcd prefix is /Name.
	Name string
	// Config is an admin (system:masters) client configuration; Client an admin clientset.
	Config *rest.Config
	Client kubernetes.Interface
	// Kubeconfig is the admin kubeconfig.
	Kubeconfig []byte

	api     *envtest.APIServer
	running bool
}

// StartSpokes starts one etcd and opts.N API servers over it. Missing binaries are an error that says
// how to build them.
func StartSpokes(ctx context.Context, opts SpokeOptions) (*Spokes, error) {
	if opts.N < 1 {
		return nil, fmt.Errorf("spokes: N is %d, want at least 1", opts.N)
	}
	if opts.BinDir == "" {
		opts.BinDir = BinDir()
	}
	if missing := MissingBinaries(opts.BinDir); len(missing) > 0 {
		return nil, fmt.Errorf("Kubernetes test binaries %v are missing from %s: run `make testbin`", missing, opts.BinDir)
	}
	logTo := opts.Log
	if logTo == nil {
		logTo = io.Discard
	}
	dir, err := os.MkdirTemp("", "converge-spokes-")
	if err != nil {
		return nil, err
	}
	s := &Spokes{dir: dir}
	if err := os.Mkdir(filepath.Join(dir, "etcd"), 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s.etcd = &envtest.Etcd{Path: filepath.Join(opts.BinDir, "etcd"), DataDir: filepath.Join(dir, "etcd"), Out: logTo, Err: logTo, StartTimeout: 2 * time.Minute}
	if err := s.etcd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("spokes: starting etcd: %w", err)
	}
	for i := 0; i < opts.N; i++ {
		sp, err := s.startSpoke(ctx, fmt.Sprintf("spoke-%d", i), opts.BinDir, logTo)
		if err != nil {
			_ = s.Stop()
			return nil, err
		}
		s.Servers = append(s.Servers, sp)
	}
	return s, nil
}

func (s *Spokes) startSpoke(ctx context.Context, name, binDir string, logTo io.Writer) (*Spoke, error) {
	certDir := filepath.Join(s.dir, name)
	if err := os.Mkdir(certDir, 0o700); err != nil {
		return nil, err
	}
	api := &envtest.APIServer{
		Path: filepath.Join(binDir, "kube-apiserver"), CertDir: certDir, EtcdURL: s.etcd.URL,
		Out: logTo, Err: logTo, StartTimeout: 2 * time.Minute, StopTimeout: time.Minute,
	}
	api.Configure().
		Set("etcd-prefix", "/"+name).
		Set("service-cluster-ip-range", "10.96.0.0/16").
		Set("max-requests-inflight", "800").
		Set("max-mutating-requests-inflight", "400")
	sp := &Spoke{Name: name, api: api}
	if err := sp.Start(ctx); err != nil {
		return nil, err
	}
	plane := &envtest.ControlPlane{APIServer: api}
	admin, err := plane.AddUser(envtest.User{Name: "converge-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("spoke %s: creating the admin user: %w", name, err)
	}
	if sp.Kubeconfig, err = admin.KubeConfig(); err != nil {
		return nil, fmt.Errorf("spoke %s: %w", name, err)
	}
	sp.Config = rest.CopyConfig(admin.Config())
	sp.Config.QPS, sp.Config.Burst = 500, 1000
	if sp.Client, err = kubernetes.NewForConfig(sp.Config); err != nil {
		return nil, fmt.Errorf("spoke %s: %w", name, err)
	}
	// The default namespace appears shortly after the API server reports healthy.
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := sp.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return sp, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("spoke %s: the default namespace did not appear: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Dir is the directory holding the spokes' etcd data and certificates: their processes' command lines
// name it.
func (s *Spokes) Dir() string { return s.dir }

// Start starts the spoke's API server (again) and waits until it is healthy.
func (sp *Spoke) Start(ctx context.Context) error {
	if sp.running {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := sp.api.Start(); err != nil {
		return fmt.Errorf("spoke %s: starting kube-apiserver: %w", sp.Name, err)
	}
	sp.running = true
	return nil
}

// Stop stops the spoke's API server; its objects stay in etcd for Start.
func (sp *Spoke) Stop() error {
	if !sp.running {
		return nil
	}
	sp.running = false
	if err := sp.api.Stop(); err != nil {
		return fmt.Errorf("spoke %s: stopping kube-apiserver: %w", sp.Name, err)
	}
	return nil
}

// Stop stops every API server and etcd and removes their files. It is safe to call more than once.
func (s *Spokes) Stop() error {
	var errs []error
	for _, sp := range s.Servers {
		errs = append(errs, sp.Stop())
	}
	s.Servers = nil
	if s.etcd != nil {
		errs = append(errs, s.etcd.Stop())
		s.etcd = nil
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
		s.dir = ""
	}
	return errors.Join(errs...)
}
