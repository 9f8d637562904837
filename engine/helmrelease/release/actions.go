package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/kube"
	helmrel "helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/helmrelease"
)

// session holds the clients of one reconciliation: the release namespace's Kubernetes clients and
// Helm's storage in the storage namespace.
type session struct {
	hr       *helmv2.HelmRelease
	getter   *restGetter
	secrets  corev1client.SecretInterface
	renderer *helmrelease.Renderer
}

func (s *session) storage() *storage.Storage {
	d := driver.NewSecrets(s.secrets)
	return storage.Init(d)
}

// configuration is Helm's action configuration for one action; every storage write goes to observe.
func (s *session) configuration(ctx context.Context, observe func(*helmrel.Release)) *action.Configuration {
	kc := kube.New(s.getter)
	kc.Namespace = s.getter.namespace
	d := &observingDriver{Driver: driver.NewSecrets(s.secrets), observe: observe}
	if s.renderer != nil {
		// Helm 3 post-renders the manifest only; hooks are post-rendered here, before their release
		// record is first written and before Helm runs them.
		d.prepare = func(rls *helmrel.Release) error {
			if rls.Info == nil || (rls.Info.Status != helmrel.StatusPendingInstall && rls.Info.Status != helmrel.StatusPendingUpgrade) {
				return nil
			}
			hooks, err := s.renderer.PostRenderHooks(ctx, s.hr, rls.Hooks)
			if err != nil {
				return err
			}
			rls.Hooks = hooks
			return nil
		}
	}
	return &action.Configuration{
		RESTClientGetter: s.getter,
		Releases:         storage.Init(d),
		KubeClient:       kc,
		Log:              func(string, ...any) {},
	}
}

// postRenderer is Helm's post-renderer for a HelmRelease: the Renderer's post-rendering.
type postRenderer struct {
	ctx context.Context
	s   *session
}

func (p postRenderer) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	out, err := p.s.renderer.PostRenderManifest(p.ctx, p.s.hr, in.String())
	if err != nil {
		return nil, err
	}
	return bytes.NewBufferString(out), nil
}

func (s *session) releaseName() string { return helmrelease.ShortenName(s.hr.GetReleaseName()) }

func (s *session) install(ctx context.Context, cfg *action.Configuration, chrt *chart.Chart, values map[string]any) error {
	spec := s.hr.GetInstall()
	policy, err := helmrelease.CRDPolicy(spec.CRDs)
	if err != nil {
		return err
	}
	if err := s.applyCRDs(cfg, policy, chrt); err != nil {
		return fmt.Errorf("failed to apply CustomResourceDefinitions: %w", err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName = s.releaseName()
	in.Namespace = s.hr.GetReleaseNamespace()
	in.Timeout = spec.GetTimeout(s.hr.GetTimeout()).Duration
	in.Wait = !spec.DisableWait
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
	if err := s.applyCRDs(cfg, policy, chrt); err != nil {
		return fmt.Errorf("failed to apply CustomResourceDefinitions: %w", err)
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = s.hr.GetReleaseNamespace()
	up.ResetValues = !spec.PreserveValues
	up.ReuseValues = spec.PreserveValues
	up.MaxHistory = s.hr.GetMaxHistory()
	up.Timeout = spec.GetTimeout(s.hr.GetTimeout()).Duration
	up.Wait = !spec.DisableWait
	up.WaitForJobs = !spec.DisableWaitForJobs
	up.DisableHooks = spec.DisableHooks
	up.DisableOpenAPIValidation = spec.DisableOpenAPIValidation
	up.SkipSchemaValidation = spec.DisableSchemaValidation
	up.Force = spec.Force
	up.CleanupOnFail = spec.CleanupOnFail
	up.TakeOwnership = !spec.DisableTakeOwnership
	up.Devel = true
	if s.renderer != nil {
		up.PostRenderer = postRenderer{ctx: ctx, s: s}
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
	return t.Run(s.releaseName())
}

func (s *session) rollback(cfg *action.Configuration, name string, version int) error {
	spec := s.hr.GetRollback()
	rb := action.NewRollback(cfg)
	rb.Version = version
	rb.Timeout = spec.GetTimeout(s.hr.GetTimeout()).Duration
	rb.Wait = !spec.DisableWait
	rb.WaitForJobs = !spec.DisableWaitForJobs
	rb.DisableHooks = spec.DisableHooks
	rb.Force = spec.Force
	rb.Recreate = spec.Recreate
	rb.CleanupOnFail = spec.CleanupOnFail
	rb.MaxHistory = s.hr.GetMaxHistory()
	return rb.Run(name)
}

func (s *session) uninstall(cfg *action.Configuration, name string) (*helmrel.UninstallReleaseResponse, error) {
	spec := s.hr.GetUninstall()
	un := action.NewUninstall(cfg)
	un.Timeout = spec.GetTimeout(s.hr.GetTimeout()).Duration
	un.DisableHooks = spec.DisableHooks
	un.KeepHistory = spec.KeepHistory
	un.Wait = !spec.DisableWait
	un.DeletionPropagation = spec.GetDeletionPropagation()
	return un.Run(name)
}

// applyCRDs applies the CRDs of the chart and its enabled dependencies with Flux's policies and origin
// labels: Create creates the missing ones, CreateReplace also replaces the existing ones, Skip does
// nothing. It waits for them to be established.
func (s *session) applyCRDs(cfg *action.Configuration, policy helmv2.CRDsPolicy, chrt *chart.Chart) error {
	crds := chrt.CRDObjects()
	if len(crds) == 0 || policy == helmv2.Skip {
		return nil
	}
	var all kube.ResourceList
	for _, crd := range crds {
		res, err := cfg.KubeClient.Build(bytes.NewBuffer(crd.File.Data), false)
		if err != nil {
			return fmt.Errorf("failed to parse CustomResourceDefinitions from %s: %w", crd.Name, err)
		}
		all = append(all, res...)
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
	for _, info := range all {
		helper := resource.NewHelper(info.Client, info.Mapping)
		obj, err := helper.Create("", true, info.Object)
		switch {
		case err == nil:
			_ = info.Refresh(obj, true)
			applied = append(applied, info)
		case apierrors.IsAlreadyExists(err) && policy == helmv2.Create:
			applied = append(applied, info)
		case apierrors.IsAlreadyExists(err):
			live, err := helper.Get("", info.Name)
			if err != nil {
				return fmt.Errorf("failed to get CustomResourceDefinition %s: %w", info.Name, err)
			}
			liveMeta, err := apimeta.Accessor(live)
			if err != nil {
				return err
			}
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(info.Object)
			if err != nil {
				return err
			}
			target := &unstructured.Unstructured{Object: u}
			target.SetResourceVersion(liveMeta.GetResourceVersion())
			obj, err := helper.Replace("", info.Name, true, target)
			if err != nil {
				return fmt.Errorf("failed to update CustomResourceDefinition %s: %w", info.Name, err)
			}
			_ = info.Refresh(obj, true)
			applied = append(applied, info)
		default:
			return fmt.Errorf("failed to create CustomResourceDefinition %s: %w", info.Name, err)
		}
	}
	if err := cfg.KubeClient.Wait(applied, 60*time.Second); err != nil {
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
	rls, err := st.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	return rls, err
}

func newSession(cfg *rest.Config, hr *helmv2.HelmRelease, storageNamespace string, renderer *helmrelease.Renderer) (*session, error) {
	getter := newRESTGetter(cfg, hr.GetReleaseNamespace())
	cs, err := kubernetes.NewForConfig(getter.config)
	if err != nil {
		return nil, err
	}
	return &session{hr: hr, getter: getter, secrets: cs.CoreV1().Secrets(storageNamespace), renderer: renderer}, nil
}
