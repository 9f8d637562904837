package testenv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Binaries are the commands a control plane needs.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kubectl"}

// Options configure a control plane.
type Options struct {
	// BinDir holds the binaries; default BinDir().
	BinDir string
	// CRDDirs are installed after start; default the repository's crds/bases.
	CRDDirs []string
	// ServiceCIDR is the Service IP range; a /16 by default so large tests do not run out.
	ServiceCIDR string
	// Log receives the components' output; discarded when nil.
	Log io.Writer
	// WithoutControllerManager skips kube-controller-manager.
	WithoutControllerManager bool
	// ControllerManagerQPS is kube-controller-manager's client rate limit (--kube-api-qps; the burst is
	// twice it); default ControllerManagerQPS.
	ControllerManagerQPS int
}

// ControllerManagerQPS is the client rate limit the test control plane's kube-controller-manager runs
// with. Its own default (20 QPS, burst 30, which kubeadm and so kind keep) is per controller client:
// the deployment and replicaset controllers then write at most 20 requests a second each, and a
// thousand Deployments wait minutes for their status behind it (BenchmarkControllerManagerQPS), which
// measures the controller-manager, not converge. Production clusters raise it with the cluster's size.
const ControllerManagerQPS = 200

// Cluster is a running control plane.
type Cluster struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// Kubeconfig is the admin kubeconfig.
	Kubeconfig []byte

	env    *envtest.Environment
	kcm    *exec.Cmd
	kcmDir string
	kcmOut chan error
	logTo  io.Writer
	// api and apiPID are kube-apiserver once StopAPIServer found or restarted it.
	api    *apiServer
	apiPID int
}

// BinDir returns where `make testbin` puts the binaries: $TESTBIN, else the user's cache dir.
func BinDir() string {
	if d := os.Getenv("TESTBIN"); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "converge", "testbin")
}

// RepoRoot returns the directory holding the converge go.mod, searching up from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/converge-gitops/converge\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the converge repository")
		}
		dir = parent
	}
}

// MissingBinaries returns the required binaries absent from dir.
func MissingBinaries(dir string) []string {
	var missing []string
	for _, b := range Binaries {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	return missing
}

// Start starts etcd, kube-apiserver (RBAC on) and kube-controller-manager, and installs the CRDs.
// It never skips: missing binaries are an error that says how to build them.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.BinDir == "" {
		opts.BinDir = BinDir()
	}
	if missing := MissingBinaries(opts.BinDir); len(missing) > 0 {
		return nil, fmt.Errorf("Kubernetes test binaries %v are missing from %s: run `make testbin`", missing, opts.BinDir)
	}
	if opts.CRDDirs == nil {
		root, err := RepoRoot()
		if err != nil {
			return nil, err
		}
		opts.CRDDirs = []string{filepath.Join(root, "crds", "bases")}
	}
	if opts.ServiceCIDR == "" {
		opts.ServiceCIDR = "10.96.0.0/16"
	}
	logTo := opts.Log
	if logTo == nil {
		logTo = io.Discard
	}

	env := &envtest.Environment{
		BinaryAssetsDirectory:    opts.BinDir,
		CRDDirectoryPaths:        opts.CRDDirs,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	env.ControlPlane.Etcd = &envtest.Etcd{Out: logTo, Err: logTo}
	api := env.ControlPlane.GetAPIServer()
	api.Out, api.Err = logTo, logTo
	api.Configure().
		Set("service-cluster-ip-range", opts.ServiceCIDR).
		Set("max-requests-inflight", "2000").
		Set("max-mutating-requests-inflight", "1000")

	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("starting the local control plane: %w", err)
	}
	c := &Cluster{env: env, logTo: logTo}
	cleanup := func(err error) (*Cluster, error) {
		_ = c.Stop()
		return nil, err
	}

	admin, err := env.AddUser(envtest.User{Name: "converge-admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return cleanup(fmt.Errorf("creating the admin user: %w", err))
	}
	c.Config = rest.CopyConfig(admin.Config())
	c.Config.QPS, c.Config.Burst = 500, 1000
	if c.Kubeconfig, err = admin.KubeConfig(); err != nil {
		return cleanup(err)
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return cleanup(err)
	}
	if !opts.WithoutControllerManager {
		qps := opts.ControllerManagerQPS
		if qps <= 0 {
			qps = ControllerManagerQPS
		}
		if err := c.startControllerManager(ctx, opts.BinDir, qps, logTo); err != nil {
			return cleanup(err)
		}
	}
	return c, nil
}

func (c *Cluster) startControllerManager(ctx context.Context, binDir string, qps int, logTo io.Writer) error {
	dir, err := os.MkdirTemp("", "converge-kcm-")
	if err != nil {
		return err
	}
	c.kcmDir = dir
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, c.Kubeconfig, 0o600); err != nil {
		return err
	}
	certDir := c.env.ControlPlane.APIServer.CertDir
	cmd := exec.Command(filepath.Join(binDir, "kube-controller-manager"),
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller,deployment-controller,replicaset-controller,job-controller,root-ca-certificate-publisher-controller",
		"--service-account-private-key-file="+filepath.Join(certDir, "sa-signer.key"),
		"--root-ca-file="+filepath.Join(certDir, "apiserver.crt"),
		"--concurrent-gc-syncs=10",
		"--concurrent-namespace-syncs=5",
		fmt.Sprintf("--kube-api-qps=%d", qps),
		fmt.Sprintf("--kube-api-burst=%d", 2*qps),
	)
	cmd.Stdout, cmd.Stderr = logTo, logTo
	setProcAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	c.kcm = cmd
	c.kcmOut = make(chan error, 1)
	go func() { c.kcmOut <- cmd.Wait() }()

	// Ready once it has created the default ServiceAccount in the default namespace.
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		select {
		case err := <-c.kcmOut:
			c.kcmOut <- err
			return fmt.Errorf("kube-controller-manager exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("kube-controller-manager did not create the default ServiceAccount within 90s")
		}
	}
}

// Host returns the API server's URL.
func (c *Cluster) Host() string { return c.Config.Host }

// UserConfig returns a client configuration authenticated as user (by client certificate) in groups.
func (c *Cluster) UserConfig(user string, groups ...string) (*rest.Config, error) {
	u, err := c.env.AddUser(envtest.User{Name: user, Groups: groups}, c.Config)
	if err != nil {
		return nil, fmt.Errorf("creating user %s: %w", user, err)
	}
	return u.Config(), nil
}

// ImpersonatingConfig returns the admin configuration impersonating user in groups.
func (c *Cluster) ImpersonatingConfig(user string, groups ...string) *rest.Config {
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}

// ServiceAccountConfig creates the ServiceAccount namespace/name if needed and returns a configuration
// authenticated with a token issued for it.
func (c *Cluster) ServiceAccountConfig(ctx context.Context, namespace, name string) (*rest.Config, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating namespace %s: %w", namespace, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := c.Client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating service account %s/%s: %w", namespace, name, err)
	}
	expiry := int64(3600)
	tr, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("requesting a token for service account %s/%s: %w", namespace, name, err)
	}
	cfg := rest.AnonymousClientConfig(c.Config)
	cfg.BearerToken = tr.Status.Token
	return cfg, nil
}

// WriteKubeconfig writes the admin kubeconfig to path.
func (c *Cluster) WriteKubeconfig(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, c.Kubeconfig, 0o600)
}

// Stop stops every component and removes their files. It is safe to call more than once.
func (c *Cluster) Stop() error {
	var errs []error
	if c.kcm != nil && c.kcm.Process != nil {
		_ = c.kcm.Process.Signal(os.Interrupt)
		select {
		case <-c.kcmOut:
		case <-time.After(10 * time.Second):
			_ = c.kcm.Process.Kill()
			<-c.kcmOut
		}
		c.kcm = nil
	}
	if c.kcmDir != "" {
		errs = append(errs, os.RemoveAll(c.kcmDir))
		c.kcmDir = ""
	}
	c.stopRestartedAPIServer()
	if c.env != nil {
		errs = append(errs, c.env.Stop())
		c.env = nil
	}
	return errors.Join(errs...)
}

// Main starts one control plane for a test package, stores it in *cluster, runs the tests and stops it,
// also when tests fail. Use it from TestMain: os.Exit(testenv.Main(m, &cluster)).
//
// A fuzzing run (-fuzz, and its workers) starts no control plane: fuzz targets do not use one, and each
// worker process would start its own.
func Main(m interface{ Run() int }, cluster **Cluster) int {
	if fuzzing() {
		return m.Run()
	}
	ctx := context.Background()
	c, err := Start(ctx, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 2
	}
	*cluster = c
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: stopping the control plane:", err)
		}
	}()
	return m.Run()
}

// fuzzing reports whether the test binary runs as a fuzzer or a fuzz worker.
func fuzzing() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return true
	}
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
}
