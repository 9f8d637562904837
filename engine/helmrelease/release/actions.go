package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/kube"
	ri "helm.sh/helm/v4/pkg/release"
	helmrel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/health"
	"github.com/converge-gitops/converge/engine/helmrelease"
)

// session holds the clients of one reconciliation: the release namespace's Kubernetes clients and
// Helm's storage in the storage namespace.
type session struct {
	hr       *helmv2.HelmRelease
	getter   *restGetter
	secrets  corev1client.SecretInterface
	renderer *helmrelease.Renderer
	// healthCache serves health waits from watches (Releaser.HealthCache).
	healthCache *health.Cache
}

// discard is the log handler of Helm's clients: the engine never prints.
var discard slog.Handler = slog.DiscardHandler

func (s *session) storage() *storage.Storage {
	d := driver.NewSecrets(s.secrets)
	d.SetLogger(discard)
	st := storage.Init(d)
	st.SetLogger(discard)
	return st
}

// configuration is Helm's action configuration for one action; every storage write goes to observe.
func (s *session) configuration(ctx context.Context, observe func(*helmrel.Release)) *action.Configuration {
	kc := &kubeClient{Client: kube.New(s.getter), ctx: ctx, getter: s.getter, hr: s.hr, healthCache: s.healthCache}
	kc.Namespace = s.getter.namespace
	kc.SetLogger(discard)
	secrets := driver.NewSecrets(s.secrets)
	secrets.SetLogger(discard)
	d := &observingDriver{Driver: secrets, observe: observe}
	st := storage.Init(d)
	st.SetLogger(discard)
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(discard))
	cfg.RESTClientGetter = s.getter
	cfg.Releases = st
	cfg.KubeClient = kc
	return cfg
}

// postRenderer is Helm's post-renderer for a HelmRelease: the Renderer's post-rendering.
type postRenderer struct {
	ctx context.Context
	s   *session
}

func (p postRenderer) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	out, err := p.s.renderer.PostRenderStream(p.ctx, p.s.hr, in.String())
	if err != nil {
		return nil, err
	}
	return bytes.NewBufferString(out), nil
}

func (s *session) releaseName() string { return helmrelease.ShortenName(s.hr.GetReleaseName()) }

// waitStrategy is Helm's wait strategy for an action, as helm-controller chooses it: hooks only when
// the action's waiting is disabled, else spec.waitStrategy, the poller (kstatus, with
// spec.healthCheckExprs) by default. The poller goes by Helm's "watcher" name; kubeClient answers it.
func waitStrategy(hr *helmv2.HelmRelease, disableWait bool) kube.WaitStrategy {
	switch {
	case disableWait:
		return kube.HookOnlyStrategy
	case hr.GetWaitStrategy() == helmv2.WaitStrategyLegacy:
		return kube.LegacyStrategy
	}
	return kube.StatusWatcherStrategy
}

// ssaMode is Helm's serverSideApply value of an upgrade or rollback mode: "auto" (the default) follows
// the apply method of the release it starts from.
func ssaMode(m helmv2.ServerSideApplyMode) string {
	switch m {
	case helmv2.ServerSideApplyEnabled:
		return "true"
	case helmv2.ServerSideApplyDisabled:
		return "false"
	}
	return "auto"
}

// resolveSSA resolves "auto" to the apply method of rls (client-side for a release Helm 3 wrote).
func resolveSSA(mode string, rls *helmrel.Release) bool {
	if mode == "auto" {
		return rls != nil && rls.ApplyMethod == string(helmrel.ApplyMethodServerSideApply)
	}
	return mode == "true"
}

func (s *session) install(ctx context.Context, cfg *action.Configuration, chrt *chart.Chart, values map[string]any) error {
	spec := s.hr.GetInstall()
	policy, err := helmrelease.CRDPolicy(spec.CRDs)
	if err != nil {
		return err
	}
	in := action.NewInstall(cfg)
	// New releases apply server-side unless spec.install.serverSideApply says otherwise, and force
	// conflicts as helm-controller does.
	in.ServerSideApply = true
	if spec.ServerSideApply != nil {
		in.ServerSideApply = *spec.ServerSideApply
	}
	in.ForceConflicts = in.ServerSideApply
	if err := s.applyCRDs(cfg, policy, chrt, values, in.ServerSideApply, waitStrategy(s.hr, spec.DisableWait)); err != nil {
		return fmt.Errorf("failed to apply CustomResourceDefinitions: %w", err)
	}
	in.ReleaseName = s.releaseName()
	in.Namespace = s.hr.GetReleaseNamespace()
	in.Timeout = spec.GetTimeout(s.hr.GetTimeout()).Duration
	in.WaitStrategy = waitStrategy(s.hr, spec.DisableWait)
	in.WaitForJobs = !spec.DisableWaitForJobs
	in.DisableHooks = spec.DisableHooks
	in.DisableOpenAPIValidation = spec.DisableOpenAPIValidation
	in.SkipSchemaValidation = spec.DisableSchemaValidation
	in.Replace = spec.Replace
	in.TakeOwnership = !spec.DisableTakeOwnership
	in.Devel = true
	in.SkipCRDs = true
	if s.hr.Spec.TargetNamespace != "" {
		in.CreateNamespace = spec.CreateNamespace
	}
	if s.renderer != nil {
		in.PostRenderer = postRenderer{ctx: ctx, s: s}
		in.PostRenderStrategy = action.PostRenderStrategy(s.hr.GetPostRenderStrategy())
	}
	_, err = in.RunWithContext(ctx, chrt, values)
	return err
}

func (s *session) upgrade(ctx context.Context, cfg *action.Configuration, chrt *chart.Chart, values map[string]any) error {
	spec := s.hr.GetUpgrade()
	policy, err := helmrelease.CRDPolicy(spec.CRDs)
	if err != nil {
		return err
	}
	up := action.NewUpgrade(cfg)
	up.ServerSideApply = ssaMode(spec.ServerSideApply)
	var last *helmrel.Release
	if up.ServerSideApply == "auto" {
		if last, err = lastRelease(cfg.Releases, s.releaseName()); err != nil {
			return err
		}
		if last == nil {
			return driver.NewErrNoDeployedReleases(s.releaseName())
		}
	}
	ssa := resolveSSA(up.ServerSideApply, last)
	up.ServerSideApply = strconv.FormatBool(ssa)
	up.ForceConflicts = ssa
	up.ForceReplace = spec.Force && !ssa
	if err := s.applyCRDs(cfg, policy, chrt, values, ssa, waitStrategy(s.hr, spec.DisableWait)); err != nil {
		return fmt.Errorf("failed to apply CustomResourceDefinitions: %w", err)
	}
	up.Namespace = s.hr.GetReleaseNamespace()
	up.ResetValues = !spec.PreserveValues
	up.ReuseValues = spec.PreserveValues
	up.MaxHistory = s.hr.GetMaxHistory()
	up.Timeout = spec.GetTimeout(s.hr.GetTimeout()).Duration
	up.WaitStrategy = waitStrategy(s.hr, spec.DisableWait)
	up.WaitForJobs = !spec.DisableWaitForJobs
	up.DisableHooks = spec.DisableHooks
	up.DisableOpenAPIValidation = spec.DisableOpenAPIValidation
	up.SkipSchemaValidation = spec.DisableSchemaValidation
	up.CleanupOnFail = spec.CleanupOnFail
	up.TakeOwnership = !spec.DisableTakeOwnership
	up.Devel = true
	if s.renderer != nil {
		up.PostRenderer = postRenderer{ctx: ctx, s: s}
		up.PostRenderStrategy = action.PostRenderStrategy(s.hr.GetPostRenderStrategy())
	}
	_, err = up.RunWithContext(ctx, s.releaseName(), chrt, values)
	return err
}

func (s *session) test(cfg *action.Configuration) (*helmrel.Release, error) {
	spec := s.hr.GetTest()
	t := action.NewReleaseTesting(cfg)
	t.Namespace = s.hr.GetReleaseNamespace()
	t.Timeout = spec.GetTimeout(s.hr.GetTimeout()).Duration
	for _, f := range spec.GetFilters() {
		key := action.IncludeNameFilter
		if f.Exclude {
			key = action.ExcludeNameFilter
		}
		t.Filters[key] = append(t.Filters[key], f.Name)
	}
	r, shutdown, err := t.Run(s.releaseName())
	if shutdown != nil {
		defer func() { _ = shutdown() }()
	}
	rls, _ := r.(*helmrel.Release)
	return rls, err
}

func (s *session) rollback(cfg *action.Configuration, name string, version int) error {
	spec := s.hr.GetRollback()
	rb := action.NewRollback(cfg)
	rb.ServerSideApply = ssaMode(spec.ServerSideApply)
	var target *helmrel.Release
	if rb.ServerSideApply == "auto" {
		r, err := cfg.Releases.Get(name, version)
		if err != nil {
			return err
		}
		if target, _ = r.(*helmrel.Release); target == nil {
			return fmt.Errorf("release %s.v%d: %T is not a Helm v1 release", name, version, r)
		}
	}
	ssa := resolveSSA(rb.ServerSideApply, target)
	rb.ServerSideApply = strconv.FormatBool(ssa)
	rb.ForceConflicts = ssa
	rb.ForceReplace = spec.Force && !ssa
	rb.Version = version
	rb.Timeout = spec.GetTimeout(s.hr.GetTimeout()).Duration
	rb.WaitStrategy = waitStrategy(s.hr, spec.DisableWait)
	rb.WaitForJobs = !spec.DisableWaitForJobs
	rb.DisableHooks = spec.DisableHooks
	rb.CleanupOnFail = spec.CleanupOnFail
	rb.MaxHistory = s.hr.GetMaxHistory()
	return rb.Run(name)
}

// uninstall uninstalls the release name; it returns the release record Helm marked uninstalled, if any.
func (s *session) uninstall(cfg *action.Configuration, name string) (*helmrel.Release, error) {
	spec := s.hr.GetUninstall()
	un := action.NewUninstall(cfg)
	un.Timeout = spec.GetTimeout(s.hr.GetTimeout()).Duration
	un.DisableHooks = spec.DisableHooks
	un.KeepHistory = spec.KeepHistory
	un.WaitStrategy = waitStrategy(s.hr, spec.DisableWait)
	un.DeletionPropagation = spec.GetDeletionPropagation()
	resp, err := un.Run(name)
	if resp == nil {
		return nil, err
	}
	rls, _ := resp.Release.(*helmrel.Release)
	return rls, err
}

// applyCRDs applies the CRDs of the chart and its enabled dependencies with Flux's policies and origin
// labels, through Helm's own client as helm-controller does: Skip does nothing; Create creates them,
// server-side when the release applies server-side (which also updates existing ones, as Helm's
// server-side create is an apply), else with a create that leaves existing ones alone; CreateReplace
// updates existing ones too, server-side or by replacing them. None is deleted. Objects other than
// CRDs in crds/ are not applied (helm-controller drops them; the render does too). It waits for them
// with the action's wait strategy.
func (s *session) applyCRDs(cfg *action.Configuration, policy helmv2.CRDsPolicy, chrt *chart.Chart, values map[string]any,
	ssa bool, ws kube.WaitStrategy) error {
	if len(chrt.CRDObjects()) == 0 || policy == helmv2.Skip {
		return nil
	}
	// Disabled dependencies bring no CRDs; Helm's install and upgrade process the chart the same way.
	if err := chartutil.ProcessDependencies(chrt, values); err != nil {
		return fmt.Errorf("failed to process chart dependencies: %w", err)
	}
	var all kube.ResourceList
	for _, crd := range chrt.CRDObjects() {
		res, err := cfg.KubeClient.Build(bytes.NewBuffer(crd.File.Data), false)
		if err != nil {
			return fmt.Errorf("failed to parse CustomResourceDefinitions from %s: %w", crd.Name, err)
		}
		for _, info := range res {
			if gvk := info.Mapping.GroupVersionKind; gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition" {
				all = append(all, info)
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	labels := helmrelease.OriginLabels(s.hr)
	if err := all.Visit(func(info *resource.Info, err error) error {
		if err != nil {
			return err
		}
		acc, err := apimeta.Accessor(info.Object)
		if err != nil {
			return err
		}
		l := acc.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range labels {
			l[k] = v
		}
		acc.SetLabels(l)
		return nil
	}); err != nil {
		return err
	}
	var applied kube.ResourceList
	switch policy {
	case helmv2.Create:
		for i, info := range all {
			res, err := cfg.KubeClient.Create(all[i:i+1], kube.ClientCreateOptionServerSideApply(ssa, ssa))
			if err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("failed to create CustomResourceDefinition %s: %w", info.Name, err)
			}
			if res != nil {
				applied = append(applied, res.Created...)
			}
		}
	case helmv2.CreateReplace:
		// The originals are the live CRDs: nothing is deleted, existing ones are updated.
		var original kube.ResourceList
		for _, info := range all {
			live, err := resource.NewHelper(info.Client, info.Mapping).Get("", info.Name)
			switch {
			case err == nil:
				original = append(original, &resource.Info{Client: info.Client, Mapping: info.Mapping, Name: info.Name, Object: live})
			case !apierrors.IsNotFound(err):
				return fmt.Errorf("failed to get CustomResourceDefinition %s: %w", info.Name, err)
			}
		}
		opts := []kube.ClientUpdateOption{kube.ClientUpdateOptionServerSideApply(ssa, ssa)}
		if !ssa {
			opts = append(opts, kube.ClientUpdateOptionForceReplace(true))
		}
		res, err := cfg.KubeClient.Update(original, all, opts...)
		if err != nil {
			return fmt.Errorf("failed to update CustomResourceDefinition(s): %w", err)
		}
		applied = append(append(applied, res.Created...), res.Updated...)
	}
	if len(applied) == 0 {
		return nil
	}
	w, err := cfg.KubeClient.GetWaiter(ws)
	if err != nil {
		return fmt.Errorf("failed to create CustomResourceDefinition waiter: %w", err)
	}
	if err := w.Wait(applied, 60*time.Second); err != nil {
		return fmt.Errorf("failed to wait for CustomResourceDefinition(s): %w", err)
	}
	if m, err := s.getter.ToRESTMapper(); err == nil {
		if rm, ok := m.(apimeta.ResettableRESTMapper); ok {
			rm.Reset()
		}
	}
	return nil
}

// lastRelease returns the newest release record of name; nil when there is none.
func lastRelease(st *storage.Storage, name string) (*helmrel.Release, error) {
	r, err := st.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return v1Release(r)
}

// getRelease returns the release record name.vversion.
func getRelease(st *storage.Storage, name string, version int) (*helmrel.Release, error) {
	r, err := st.Get(name, version)
	if err != nil {
		return nil, err
	}
	return v1Release(r)
}

// v1Release is r as the Helm v1 release record it must be (charts of API v1 and v2 both store one).
func v1Release(r ri.Releaser) (*helmrel.Release, error) {
	rls, ok := r.(*helmrel.Release)
	if !ok || rls == nil {
		return nil, fmt.Errorf("release record %T is not a Helm v1 release", r)
	}
	return rls, nil
}

func newSession(cfg *rest.Config, hr *helmv2.HelmRelease, storageNamespace string, renderer *helmrelease.Renderer) (*session, error) {
	getter := newRESTGetter(cfg, hr.GetReleaseNamespace())
	cs, err := kubernetes.NewForConfig(getter.config)
	if err != nil {
		return nil, err
	}
	return &session{hr: hr, getter: getter, secrets: cs.CoreV1().Secrets(storageNamespace), renderer: renderer}, nil
}
