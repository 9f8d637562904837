//go:build linux

package node

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/converge-gitops/converge/engine/testenv"
)

// The addresses of the node environment. Pods, the node and the API server share the bridge's /16; the
// Service range holds the kubernetes Service (10.96.0.1). All of them live on this machine only.
const (
	Bridge      = "cnvg0"
	PodCIDR     = "10.88.0.0/16"
	Gateway     = "10.88.0.1"
	ServiceCIDR = "10.96.0.0/16"
	// KubernetesServiceIP is the ClusterIP of the kubernetes Service, the first of ServiceCIDR.
	KubernetesServiceIP = "10.96.0.1"
	NodeName            = "converge-node"
	ClusterDomain       = "cluster.local"
	APIServerPort       = 6443
	// PauseImageTag is the tag of the pause image pushed to the registry as containerd's sandbox image.
	PauseImageTag = "3.10"
)

// Binaries are the commands the node environment runs from the test binaries folder.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "coredns", "pause"}

// System are the commands it runs from the system (make deps).
var System = []string{"containerd", "runc", "/usr/bin/docker-registry", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/portmap", "iptables", "conntrack", "ip"}

// CNIBinDir is where Debian's containernetworking-plugins puts the plugins.
const CNIBinDir = "/usr/lib/cni"

// Options configure a node environment.
type Options struct {
	// BinDir holds Binaries; default testenv.BinDir().
	BinDir string
	// Log receives every component's output besides its log file; nil for the files only.
	Log io.Writer
	// Now is the clock for certificates; default time.Now.
	Now func() time.Time
}

// Env is a running node environment.
type Env struct {
	// Dir holds every component's files; logs are in Dir/logs.
	Dir string
	// Registry is the loopback registry's host:port; containerd pulls from it over plain HTTP.
	Registry string
	// Config is an admin (system:masters) client configuration for the API server on the bridge.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// Kubeconfig is the admin kubeconfig; KubeconfigPath the file holding it.
	Kubeconfig     []byte
	KubeconfigPath string
	// Timings are how long the steps of Start took.
	Timings Timings

	mu      sync.Mutex
	procs   []*process
	host    *hostState
	lock    *os.File
	stopped bool
}

// Timings are the durations of Start's steps.
type Timings struct {
	ControlPlane time.Duration // bridge, certificates, etcd and the API server ready
	Runtime      time.Duration // registry, pause image and containerd ready
	NodeReady    time.Duration // kubelet started to its Node Ready
	Total        time.Duration
}

// Missing returns the binaries and system commands the environment needs that are absent.
func Missing(binDir string) []string {
	var missing []string
	for _, b := range Binaries {
		if st, err := os.Stat(filepath.Join(binDir, b)); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, filepath.Join(binDir, b))
		}
	}
	for _, s := range System {
		if _, err := exec.LookPath(s); err != nil {
			missing = append(missing, s)
		}
	}
	return missing
}

// Start brings up the node environment and returns once the node is Ready and the default ServiceAccount
// exists. On error it has already stopped what it started and restored the host.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	if opts.BinDir == "" {
		opts.BinDir = testenv.BinDir()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the node environment needs root (it runs kubelet, containerd and kube-proxy)")
	}
	if missing := Missing(opts.BinDir); len(missing) > 0 {
		return nil, fmt.Errorf("the node environment needs %s: run `make deps testbin`", strings.Join(missing, ", "))
	}
	begin := time.Now()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "converge-node.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("another node environment runs on this machine (lock %s): %w", lock.Name(), err)
	}
	e := &Env{lock: lock}
	defer func() {
		if err != nil {
			if serr := e.Stop(); serr != nil {
				err = fmt.Errorf("%w (and stopping: %v)", err, serr)
			}
		}
	}()
	if e.host, err = saveHost(Bridge); err != nil {
		return nil, err
	}
	if e.Dir, err = os.MkdirTemp("", "converge-node-"); err != nil {
		return nil, err
	}
	d := func(parts ...string) string { return filepath.Join(append([]string{e.Dir}, parts...)...) }
	for _, sub := range []string{"pki", "logs", "etcd", "registry", "containerd", "kubelet", "cni/net.d", "cni/ipam", "certs.d"} {
		if err := os.MkdirAll(d(sub), 0o700); err != nil {
			return nil, err
		}
	}
	bin := func(b string) string { return filepath.Join(opts.BinDir, b) }
	run := func(name, path string, args ...string) (*process, error) {
		p, err := start(d("logs"), name, opts.Log, path, args...)
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.procs = append(e.procs, p)
		e.mu.Unlock()
		return p, nil
	}

	// The bridge first: the API server binds its gateway address, where Pods reach it.
	for _, args := range [][]string{
		{"link", "add", Bridge, "type", "bridge"},
		{"addr", "add", Gateway + "/16", "dev", Bridge},
		{"link", "set", Bridge, "up"},
	} {
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}

	// Certificates: one authority signs the serving certificate and every client's.
	now := opts.Now()
	ca, err := newAuthority(now)
	if err != nil {
		return nil, err
	}
	caPath, caKeyPath, err := ca.writeKey(d("pki"))
	if err != nil {
		return nil, err
	}
	serving, err := ca.issue(now, "kube-apiserver", nil, Gateway, KubernetesServiceIP, "127.0.0.1", "localhost",
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc."+ClusterDomain)
	if err != nil {
		return nil, err
	}
	servingCrt, servingKey, err := serving.write(d("pki"), "apiserver")
	if err != nil {
		return nil, err
	}
	saPub, saKey, err := writeServiceAccountKeys(d("pki"))
	if err != nil {
		return nil, err
	}
	kubeletClient, err := ca.issue(now, "kube-apiserver-kubelet-client", []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	kubeletClientCrt, kubeletClientKey, err := kubeletClient.write(d("pki"), "apiserver-kubelet-client")
	if err != nil {
		return nil, err
	}
	server := fmt.Sprintf("https://%s:%d", Gateway, APIServerPort)
	kubeconfig := func(file, cn string, orgs ...string) (string, []byte, error) {
		kp, err := ca.issue(now, cn, orgs)
		if err != nil {
			return "", nil, err
		}
		kc := clientcmdapi.NewConfig()
		kc.Clusters["node"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca.certPEM}
		kc.AuthInfos[cn] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.cert, ClientKeyData: kp.key}
		kc.Contexts["node"] = &clientcmdapi.Context{Cluster: "node", AuthInfo: cn}
		kc.CurrentContext = "node"
		b, err := clientcmd.Write(*kc)
		if err != nil {
			return "", nil, err
		}
		p := d("pki", file)
		return p, b, os.WriteFile(p, b, 0o600)
	}
	if e.KubeconfigPath, e.Kubeconfig, err = kubeconfig("admin.kubeconfig", "converge-admin", "system:masters"); err != nil {
		return nil, err
	}
	kubeletKC, _, err := kubeconfig("kubelet.kubeconfig", "system:node:"+NodeName, "system:nodes")
	if err != nil {
		return nil, err
	}
	proxyKC, _, err := kubeconfig("kube-proxy.kubeconfig", "system:kube-proxy")
	if err != nil {
		return nil, err
	}
	if e.Config, err = clientcmd.RESTConfigFromKubeConfig(e.Kubeconfig); err != nil {
		return nil, err
	}
	e.Config.QPS, e.Config.Burst = 200, 400
	if e.Client, err = kubernetes.NewForConfig(e.Config); err != nil {
		return nil, err
	}

	// etcd and the API server.
	etcdPort, peerPort, err := freePort(), freePort(), nil
	if etcdPort == 0 || peerPort == 0 {
		return nil, errors.New("no free loopback port for etcd")
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	etcd, err := run("etcd", bin("etcd"), "--data-dir="+d("etcd"), "--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL, "--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return nil, err
	}
	api, err := run("kube-apiserver", bin("kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address="+Gateway, "--advertise-address="+Gateway, fmt.Sprintf("--secure-port=%d", APIServerPort),
		"--tls-cert-file="+servingCrt, "--tls-private-key-file="+servingKey,
		"--client-ca-file="+caPath,
		"--service-cluster-ip-range="+ServiceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc."+ClusterDomain,
		"--service-account-key-file="+saPub, "--service-account-signing-key-file="+saKey,
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-client-certificate="+kubeletClientCrt, "--kubelet-client-key="+kubeletClientKey,
		"--allow-privileged=true",
		"--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000",
		"--cert-dir="+d("pki", "apiserver-generated"),
	)
	if err != nil {
		return nil, err
	}
	if err := e.waitFor(ctx, 3*time.Minute, "the API server to be ready", []*process{etcd, api}, func() (bool, error) {
		_, err := e.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil, nil
	}); err != nil {
		return nil, err
	}
	e.Timings.ControlPlane = time.Since(begin)
	mark := time.Now()

	// The registry with the pause image, and containerd pulling from it.
	regPort := freePort()
	e.Registry = fmt.Sprintf("127.0.0.1:%d", regPort)
	regCfg := d("registry", "config.yml")
	if err := os.WriteFile(regCfg, []byte(fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, d("registry", "data"), e.Registry)), 0o600); err != nil {
		return nil, err
	}
	reg, err := run("registry", "/usr/bin/docker-registry", "serve", regCfg)
	if err != nil {
		return nil, err
	}
	if err := e.waitFor(ctx, 30*time.Second, "the registry", []*process{reg}, func() (bool, error) {
		c, err := net.DialTimeout("tcp", e.Registry, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil, nil
	}); err != nil {
		return nil, err
	}
	pauseRef := e.Registry + "/pause:" + PauseImageTag
	if err := pushPause(ctx, bin("pause"), pauseRef); err != nil {
		return nil, err
	}
	hostsDir := d("certs.d", e.Registry)
	if err := os.MkdirAll(hostsDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(hostsDir, "hosts.toml"), []byte(fmt.Sprintf(
		"server = \"http://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", e.Registry, e.Registry)), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(d("cni", "net.d", "10-converge.conflist"), []byte(fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "converge",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q, "gateway": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, Bridge, d("cni", "ipam"), PodCIDR, Gateway)), 0o600); err != nil {
		return nil, err
	}
	sock := d("containerd", "containerd.sock")
	ctrdCfg := d("containerd", "config.toml")
	if err := os.WriteFile(ctrdCfg, []byte(fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = %q
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %q
`, d("containerd", "root"), d("containerd", "state"), sock, d("containerd", "opt"), pauseRef, d("containerd", "runc"),
		CNIBinDir, d("cni", "net.d"), d("certs.d"))), 0o600); err != nil {
		return nil, err
	}
	ctrd, err := run("containerd", "containerd", "--config", ctrdCfg)
	if err != nil {
		return nil, err
	}
	if err := e.waitFor(ctx, 30*time.Second, "containerd's socket", []*process{ctrd}, func() (bool, error) {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil, nil
	}); err != nil {
		return nil, err
	}
	e.Timings.Runtime = time.Since(mark)

	// The rest of the control plane, the cluster DNS and the node.
	if _, err := run("kube-controller-manager", bin("kube-controller-manager"),
		"--kubeconfig="+e.KubeconfigPath, "--authentication-kubeconfig="+e.KubeconfigPath, "--authorization-kubeconfig="+e.KubeconfigPath,
		"--leader-elect=false", "--secure-port=0", "--controllers=*",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+saKey, "--root-ca-file="+caPath,
		"--cluster-signing-cert-file="+caPath, "--cluster-signing-key-file="+caKeyPath,
		"--service-cluster-ip-range="+ServiceCIDR, "--cluster-cidr="+PodCIDR, "--allocate-node-cidrs=false",
		// As engine/testenv: the default 20 QPS per controller makes Deployments wait for status.
		fmt.Sprintf("--kube-api-qps=%d", testenv.ControllerManagerQPS), fmt.Sprintf("--kube-api-burst=%d", 2*testenv.ControllerManagerQPS),
	); err != nil {
		return nil, err
	}
	if _, err := run("kube-scheduler", bin("kube-scheduler"),
		"--kubeconfig="+e.KubeconfigPath, "--authentication-kubeconfig="+e.KubeconfigPath, "--authorization-kubeconfig="+e.KubeconfigPath,
		"--leader-elect=false", "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", freePort()),
		"--cert-dir="+d("pki", "scheduler-generated"),
	); err != nil {
		return nil, err
	}
	corefile := d("Corefile")
	// Only the cluster domain (and reverse lookups), from the API; no forward plugin, so any other name
	// fails at once instead of leaving the machine.
	if err := os.WriteFile(corefile, []byte(fmt.Sprintf(`.:53 {
    bind %s
    errors
    kubernetes %s in-addr.arpa ip6.arpa {
        kubeconfig %s node
        pods insecure
    }
}
`, Gateway, ClusterDomain, e.KubeconfigPath)), 0o600); err != nil {
		return nil, err
	}
	if _, err := run("coredns", bin("coredns"), "-conf", corefile); err != nil {
		return nil, err
	}
	if err := os.WriteFile(d("kube-proxy.yaml"), []byte(fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
mode: iptables
clusterCIDR: %s
hostnameOverride: %s
bindAddress: %s
healthzBindAddress: %s:10256
metricsBindAddress: %s:10249
iptables:
  localhostNodePorts: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, proxyKC, PodCIDR, NodeName, Gateway, Gateway, Gateway)), 0o600); err != nil {
		return nil, err
	}
	if _, err := run("kube-proxy", bin("kube-proxy"), "--config="+d("kube-proxy.yaml")); err != nil {
		return nil, err
	}
	if err := os.WriteFile(d("resolv.conf"), []byte("nameserver "+Gateway+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(d("kubelet.yaml"), []byte(fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://%s
readOnlyPort: 0
address: %s
healthzPort: 0
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %s
authorization:
  mode: Webhook
clusterDNS: [%s]
clusterDomain: %s
resolvConf: %s
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, sock, Gateway, caPath, Gateway, ClusterDomain, d("resolv.conf"))), 0o600); err != nil {
		return nil, err
	}
	mark = time.Now()
	kubelet, err := run("kubelet", bin("kubelet"), "--config="+d("kubelet.yaml"), "--kubeconfig="+kubeletKC,
		"--root-dir="+d("kubelet"), "--cert-dir="+d("pki", "kubelet-generated"),
		"--hostname-override="+NodeName, "--node-ip="+Gateway)
	if err != nil {
		return nil, err
	}
	if err := e.waitFor(ctx, 2*time.Minute, "node "+NodeName+" to be Ready", []*process{kubelet, ctrd}, func() (bool, error) {
		n, err := e.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	}); err != nil {
		return nil, err
	}
	e.Timings.NodeReady = time.Since(mark)
	if err := e.waitFor(ctx, 2*time.Minute, "the default ServiceAccount", e.procs, func() (bool, error) {
		_, err := e.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return nil, err
	}
	e.Timings.Total = time.Since(begin)
	return e, nil
}

// waitFor polls cond until it holds, one of procs exits, ctx ends or timeout passes.
func (e *Env) waitFor(ctx context.Context, timeout time.Duration, what string, procs []*process, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		for _, p := range procs {
			if err := p.exited(); err != nil {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not within %s (logs in %s)", what, timeout, filepath.Join(e.Dir, "logs"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops every process it started by the PID it recorded (the components in reverse order, the
// containers and their shims by the PIDs in their cgroups and containerd's state), puts the host back and
// removes Dir. It is safe to call more than once and from a signal handler's goroutine.
func (e *Env) Stop() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil
	}
	e.stopped = true
	var errs []error
	byName := map[string]*process{}
	for _, p := range e.procs {
		byName[p.name] = p
	}
	// The node first, so nothing restarts the containers; then the containers and their shims.
	for _, n := range []string{"kubelet", "kube-proxy", "kube-scheduler", "kube-controller-manager", "coredns"} {
		if p := byName[n]; p != nil {
			p.stop(10 * time.Second)
		}
	}
	if e.host != nil {
		for _, pid := range e.host.kubepodsPIDs() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	shims := e.shimPIDs()
	if p := byName["containerd"]; p != nil {
		p.stop(10 * time.Second)
	}
	for _, pid := range append(shims, e.shimPIDs()...) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].stop(10 * time.Second)
	}
	if e.host != nil {
		// Killed processes leave their cgroups a moment later.
		for i := 0; i < 50 && len(e.host.kubepodsPIDs()) > 0; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if err := e.host.restore(e.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	if e.Dir != "" {
		if err := os.RemoveAll(e.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	if e.lock != nil {
		_ = syscall.Flock(int(e.lock.Fd()), syscall.LOCK_UN)
		e.lock.Close()
	}
	return errors.Join(errs...)
}

// shimPIDs returns the PIDs of containerd's shims and containers: from the pid files in its state folder,
// and the shims whose command line names this environment's containerd socket (a shim whose task was
// deleted may outlive its folder).
func (e *Env) shimPIDs() []int {
	var pids []int
	_ = filepath.WalkDir(filepath.Join(e.Dir, "containerd", "state"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (d.Name() != "shim.pid" && d.Name() != "init.pid") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
		return nil
	})
	sock := filepath.Join(e.Dir, "containerd", "containerd.sock")
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == sock {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// freePort returns a free loopback TCP port, 0 if none.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pushPause pushes an image holding only the pause binary, for this machine's platform, as ref.
func pushPause(ctx context.Context, binary, ref string) error {
	b, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(b); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	// containerd refuses an image whose config names no platform.
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = []string{"/pause"}
	cf.Config.User = "65535:65535"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing the pause image to %s: %w", ref, err)
	}
	return nil
}
