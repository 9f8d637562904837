package create

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
)

// dependsOn parses '<name>' and '<namespace>/<name>' items (comma-separated values included).
func dependsOn(items []string) []kustomizev1.DependencyReference {
	var out []kustomizev1.DependencyReference
	for _, item := range items {
		for _, d := range strings.Split(item, ",") {
			if d = strings.TrimSpace(d); d == "" {
				continue
			}
			if ns, name, ok := strings.Cut(d, "/"); ok {
				out = append(out, kustomizev1.DependencyReference{Name: name, Namespace: ns})
			} else {
				out = append(out, kustomizev1.DependencyReference{Name: d})
			}
		}
	}
	return out
}

func kubeConfig(secret string) *meta.KubeConfigReference {
	if secret == "" {
		return nil
	}
	return &meta.KubeConfigReference{SecretRef: &meta.SecretKeyReference{Name: secret}}
}

// KustomizationOptions are the inputs of `create kustomization`.
type KustomizationOptions struct {
	Meta
	Interval, HealthCheckTimeout, RetryInterval   time.Duration
	Source, Path, TargetNamespace, ServiceAccount string
	DecryptionProvider, DecryptionSecret          string
	KubeConfigSecretRef                           string
	DependsOn, HealthChecks                       []string
	Prune, Wait                                   bool
}

// healthCheckKinds are the kinds --health-check accepts, as Flux's CLI.
var healthCheckKinds = []string{"Deployment", "DaemonSet", "StatefulSet", helmv2.HelmReleaseKind}

// Kustomization returns the Kustomization o describes.
func Kustomization(o KustomizationOptions) (*kustomizev1.Kustomization, error) {
	if o.Path == "" {
		return nil, fmt.Errorf("path is required")
	}
	// As Flux's CLI: relative to the source root, never above it ("../x" is "./x").
	o.Path = "./" + strings.TrimPrefix(path.Clean("/"+o.Path), "/")
	if o.Source == "" {
		return nil, fmt.Errorf("source is required")
	}
	kind, name, ns, err := ParseSource(o.Source, "GitRepository", []string{"OCIRepository", "GitRepository", "Bucket"})
	if err != nil {
		return nil, err
	}
	if o.DecryptionProvider != "" && o.DecryptionProvider != "sops" {
		return nil, fmt.Errorf("--decryption-provider %q: want sops", o.DecryptionProvider)
	}
	om, err := o.ObjectMeta()
	if err != nil {
		return nil, err
	}
	k := &kustomizev1.Kustomization{
		TypeMeta:   metav1.TypeMeta{APIVersion: kustomizev1.GroupVersion.String(), Kind: kustomizev1.KustomizationKind},
		ObjectMeta: om,
		Spec: kustomizev1.KustomizationSpec{
			Interval: metav1.Duration{Duration: o.Interval}, Path: o.Path, Prune: o.Prune,
			SourceRef:       kustomizev1.CrossNamespaceSourceReference{Kind: kind, Name: name, Namespace: ns},
			TargetNamespace: o.TargetNamespace, DependsOn: dependsOn(o.DependsOn), KubeConfig: kubeConfig(o.KubeConfigSecretRef),
			ServiceAccountName: o.ServiceAccount, RetryInterval: optDuration(o.RetryInterval),
		},
	}
	if len(o.HealthChecks) > 0 && !o.Wait {
		for _, w := range o.HealthChecks {
			kind, rest, ok := strings.Cut(w, "/")
			if !ok || strings.Contains(rest, "/") {
				return nil, fmt.Errorf("invalid health check '%s' must be in the format 'kind/name.namespace'", w)
			}
			if !containsString(healthCheckKinds, kind) {
				return nil, fmt.Errorf("invalid health check kind '%s' can be HelmRelease, Deployment, DaemonSet or StatefulSet", kind)
			}
			name, ns, ok := strings.Cut(rest, ".")
			if !ok || strings.Contains(ns, ".") {
				return nil, fmt.Errorf("invalid health check '%s' must be in the format 'kind/name.namespace'", w)
			}
			check := meta.NamespacedObjectKindReference{Kind: kind, Name: name, Namespace: ns}
			if kind == helmv2.HelmReleaseKind {
				check.APIVersion = helmv2.GroupVersion.String()
			}
			k.Spec.HealthChecks = append(k.Spec.HealthChecks, check)
		}
		k.Spec.Timeout = &metav1.Duration{Duration: o.HealthCheckTimeout}
	}
	if o.Wait {
		k.Spec.Wait = true
		k.Spec.Timeout = &metav1.Duration{Duration: o.HealthCheckTimeout}
	}
	if o.DecryptionProvider != "" {
		k.Spec.Decryption = &kustomizev1.Decryption{Provider: o.DecryptionProvider, SecretRef: localRef(o.DecryptionSecret)}
	}
	return k, nil
}

func containsString(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// HelmReleaseOptions are the inputs of `create helmrelease`.
type HelmReleaseOptions struct {
	Meta
	Interval, ChartInterval                                 time.Duration
	ReleaseName, Source, Chart, ChartVersion, ChartRef      string
	TargetNamespace, StorageNamespace, ServiceAccount, CRDs string
	ReconcileStrategy, KubeConfigSecretRef                  string
	DependsOn, ValuesFiles, ValuesFrom                      []string
	CreateTargetNamespace                                   bool
}

// HelmRelease returns the HelmRelease o describes; it reads and merges the values files.
func HelmRelease(o HelmReleaseOptions) (*helmv2.HelmRelease, error) {
	if o.StorageNamespace == "" && o.TargetNamespace != "" {
		o.StorageNamespace = o.TargetNamespace
	}
	if o.Chart == "" && o.ChartRef == "" {
		return nil, fmt.Errorf("chart or chart-ref is required")
	}
	if o.Chart != "" && o.ChartRef != "" {
		return nil, fmt.Errorf("cannot use --chart in combination with --chart-ref")
	}
	if !ValidStrategy(o.ReconcileStrategy) {
		return nil, fmt.Errorf("'%s' is an invalid reconcile strategy(valid: Revision, ChartVersion)", o.ReconcileStrategy)
	}
	if o.CRDs != "" && !containsString([]string{"Skip", "Create", "CreateReplace"}, o.CRDs) {
		return nil, fmt.Errorf("--crds %q: want one of Skip, Create, CreateReplace", o.CRDs)
	}
	om, err := o.ObjectMeta()
	if err != nil {
		return nil, err
	}
	hr := &helmv2.HelmRelease{
		TypeMeta:   metav1.TypeMeta{APIVersion: helmv2.GroupVersion.String(), Kind: helmv2.HelmReleaseKind},
		ObjectMeta: om,
		Spec: helmv2.HelmReleaseSpec{
			ReleaseName: o.ReleaseName, Interval: metav1.Duration{Duration: o.Interval}, TargetNamespace: o.TargetNamespace,
			StorageNamespace: o.StorageNamespace, DependsOn: dependsOn(o.DependsOn), KubeConfig: kubeConfig(o.KubeConfigSecretRef),
			ServiceAccountName: o.ServiceAccount,
		},
	}
	if o.Chart != "" {
		kind, name, ns, err := ParseSource(o.Source, "", []string{"HelmRepository", "GitRepository", "Bucket"})
		if err != nil {
			return nil, err
		}
		hr.Spec.Chart = &helmv2.HelmChartTemplate{Spec: helmv2.HelmChartTemplateSpec{
			Chart: o.Chart, Version: o.ChartVersion, ReconcileStrategy: o.ReconcileStrategy, Interval: optDuration(o.ChartInterval),
			SourceRef: helmv2.CrossNamespaceObjectReference{Kind: kind, Name: name, Namespace: ns}}}
	} else {
		kind, rest, _ := strings.Cut(o.ChartRef, "/")
		if kind != "OCIRepository" && kind != "HelmChart" {
			return nil, fmt.Errorf("chart reference kind '%s' is not supported, must be one of: OCIRepository, HelmChart", kind)
		}
		name, ns, _ := strings.Cut(rest, ".")
		if name == "" {
			return nil, fmt.Errorf("--chart-ref %q: want <kind>/<name>.<namespace>", o.ChartRef)
		}
		hr.Spec.ChartRef = &helmv2.CrossNamespaceSourceReference{Kind: kind, Name: name, Namespace: ns}
	}
	if o.CreateTargetNamespace {
		hr.Spec.Install = &helmv2.Install{CreateNamespace: true}
	}
	if o.CRDs != "" {
		if hr.Spec.Install == nil {
			hr.Spec.Install = &helmv2.Install{}
		}
		hr.Spec.Install.CRDs = helmv2.Create
		hr.Spec.Upgrade = &helmv2.Upgrade{CRDs: helmv2.CRDsPolicy(o.CRDs)}
	}
	if len(o.ValuesFiles) > 0 {
		values := map[string]any{}
		for _, f := range o.ValuesFiles {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("reading values from %s failed: %w", f, err)
			}
			m := map[string]any{}
			if err := yaml.Unmarshal(data, &m); err != nil {
				return nil, fmt.Errorf("values file %s: %w", f, err)
			}
			values = mergeMaps(values, m)
		}
		raw, err := json.Marshal(values)
		if err != nil {
			return nil, err
		}
		hr.Spec.Values = &apiextensionsv1.JSON{Raw: raw}
	}
	for _, v := range o.ValuesFrom {
		kind, name, ok := strings.Cut(v, "/")
		if !ok || kind == "" || name == "" {
			return nil, fmt.Errorf("invalid Kubernetes object reference '%s', must be in format <kind>/<name>", v)
		}
		switch {
		case strings.EqualFold(kind, "Secret"):
			kind = "Secret"
		case strings.EqualFold(kind, "ConfigMap"):
			kind = "ConfigMap"
		default:
			return nil, fmt.Errorf("reference kind '%s' is not supported, must be one of: Secret, ConfigMap", kind)
		}
		hr.Spec.ValuesFrom = append(hr.Spec.ValuesFrom, helmv2.ValuesReference{Kind: kind, Name: name})
	}
	return hr, nil
}

// mergeMaps merges b into a, recursively for maps; b wins.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// TenantOptions are the inputs of `create tenant`.
type TenantOptions struct {
	Name           string
	Labels         []string
	Namespaces     []string
	ClusterRole    string
	ServiceAccount string
	SkipNamespace  bool
}

// TenantLabel marks the objects of a tenant.
const TenantLabel = "toolkit.fluxcd.io/tenant"

// Tenant returns, for each of the tenant's namespaces, the Namespace (unless SkipNamespace), the
// ServiceAccount and the RoleBinding that give the tenant's reconciler the cluster role there.
func Tenant(o TenantOptions) ([]runtime.Object, error) {
	m := Meta{Name: o.Name, Labels: o.Labels}
	om, err := m.ObjectMeta()
	if err != nil {
		return nil, err
	}
	if len(o.Namespaces) < 1 {
		return nil, fmt.Errorf("with-namespace is required")
	}
	labels := map[string]string{TenantLabel: o.Name}
	for k, v := range om.Labels {
		labels[k] = v
	}
	sa := o.ServiceAccount
	if sa == "" {
		sa = o.Name
	}
	var out []runtime.Object
	for _, ns := range o.Namespaces {
		if !nameRE.MatchString(ns) {
			return nil, fmt.Errorf("namespace '%s' is invalid", ns)
		}
		if !o.SkipNamespace {
			out = append(out, &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
				ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}})
		}
		out = append(out, &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns, Labels: labels}},
			&rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: o.Name + "-reconciler", Namespace: ns, Labels: labels},
				Subjects: []rbacv1.Subject{
					{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: fmt.Sprintf("gotk:%s:reconciler", ns)},
					{Kind: "ServiceAccount", Name: sa, Namespace: ns},
				},
				RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: o.ClusterRole}})
	}
	return out, nil
}
