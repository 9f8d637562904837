package cmdutil

import (
	"fmt"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/kube"
)

// DefaultNamespace is the namespace commands use when -n is not given, as Flux's CLI does.
const DefaultNamespace = "flux-system"

// BuildInfo is set at build time through ldflags.
type BuildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
}

// Factory hands commands their streams, cluster clients and global settings.
type Factory struct {
	IO        *IOStreams
	Build     BuildInfo
	KubeFlags *genericclioptions.ConfigFlags
	Timeout   time.Duration
	Verbose   bool
	Clock     clock.WithTicker
	// KubeAPIQPS and KubeAPIBurst limit the requests to the API server (--kube-api-qps, --kube-api-burst).
	KubeAPIQPS   float32
	KubeAPIBurst int
	// RenderCacheDir is the folder of the render cache; "" is CONVERGE_RENDER_CACHE, else the user's
	// cache folder. Tests set it to a temporary folder.
	RenderCacheDir string
}

// NewFactory returns a factory over io with kubeconfig flags defaulting to the flux-system namespace.
func NewFactory(io *IOStreams, build BuildInfo) *Factory {
	kf := genericclioptions.NewConfigFlags(true)
	ns := DefaultNamespace
	kf.Namespace = &ns
	// As Flux: no -s/--server from cli-runtime (-s is --silent); the root command adds --server.
	kf.APIServer = nil
	return &Factory{IO: io, Build: build, KubeFlags: kf, Timeout: 5 * time.Minute, Clock: clock.RealClock{},
		KubeAPIQPS: kube.DefaultQPS, KubeAPIBurst: kube.DefaultBurst}
}

// RESTConfig returns the client configuration the kubeconfig flags select.
func (f *Factory) RESTConfig() (*rest.Config, error) {
	cfg, err := f.KubeFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = f.KubeAPIQPS, f.KubeAPIBurst
	if cfg.QPS <= 0 || cfg.Burst <= 0 {
		return nil, fmt.Errorf("--kube-api-qps and --kube-api-burst must be positive, got %v and %d", cfg.QPS, cfg.Burst)
	}
	if f.Timeout > 0 && cfg.Timeout == 0 {
		cfg.Timeout = f.Timeout
	}
	return cfg, nil
}

// KubeClients returns the engine's clients for the selected cluster.
func (f *Factory) KubeClients() (*kube.Clients, error) {
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kube.New(cfg)
}

// Discovery returns a discovery client for the selected cluster.
func (f *Factory) Discovery() (discovery.DiscoveryInterface, error) {
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	return discovery.NewDiscoveryClientForConfig(cfg)
}

// RenderCache returns the render cache build, diff and apply use: in RenderCacheDir when set, else under
// the user's cache folder or where CONVERGE_RENDER_CACHE says ("off": none).
func (f *Factory) RenderCache() *build.RenderCache {
	version := f.Build.Version + " " + f.Build.Commit + " " + f.Build.Date
	if f.RenderCacheDir != "" {
		return &build.RenderCache{Dir: f.RenderCacheDir, Version: build.RenderCacheVersion(version)}
	}
	return build.DefaultRenderCache(version)
}

// Namespace returns the namespace selected with -n, or flux-system.
func (f *Factory) Namespace() string {
	if f.KubeFlags.Namespace == nil || *f.KubeFlags.Namespace == "" {
		return DefaultNamespace
	}
	return *f.KubeFlags.Namespace
}

// Host returns the API server address the flags select, for messages.
func (f *Factory) Host() string {
	cfg, err := f.KubeFlags.ToRESTConfig()
	if err != nil {
		return "(no kubeconfig)"
	}
	return cfg.Host
}
