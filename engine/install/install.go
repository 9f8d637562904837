package install

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/crds"
	"github.com/converge-gitops/converge/engine/kinds"
)

// Defaults and names of the installed objects.
const (
	DefaultNamespace = "flux-system"
	DefaultImage     = "ghcr.io/converge-gitops/converge"

	// AgentName names the Deployment, its ServiceAccount and container, and the leader election Lease.
	AgentName = "converge-agent"
	// ServiceName is the Service in front of the agent's HTTP port; status.artifact.url points at it.
	ServiceName = "converge"
	// WebhookServiceName is the Service receivers' webhooks are served on.
	WebhookServiceName = "webhook-receiver"

	HTTPPort    = 8080
	WebhookPort = 9292

	// AppLabel selects the agent's pods (`converge logs` reads them by it).
	AppLabel = "app"

	PartOfLabel    = "app.kubernetes.io/part-of"
	PartOf         = "converge"
	InstanceLabel  = "app.kubernetes.io/instance"
	VersionLabel   = "app.kubernetes.io/version"
	ComponentLabel = "app.kubernetes.io/component"
)

// Components are the Flux controllers whose API the agent serves by default; their CRDs are installed.
var Components = components(true)

// ExtraComponents may be added with Options.ComponentsExtra; each adds its CRDs.
var ExtraComponents = components(false)

func components(defaults bool) []string {
	var out []string
	for _, c := range kinds.Components() {
		if c.Default == defaults {
			out = append(out, c.Name)
		}
	}
	return out
}

// Options select what Objects generates.
type Options struct {
	// Namespace the agent runs in (default flux-system).
	Namespace string
	// Image is the agent's image (default ghcr.io/converge-gitops/converge): a repository, whose tag is
	// Version, or repository:tag, each optionally @sha256:<digest> (see ParseImage). A release binary pins
	// the default repository at its own version by digest (ReleaseImage).
	Image string
	// Version is the image tag (unless Image has one) and the version label; required.
	Version string
	// ComponentsExtra adds ExtraComponents' CRDs.
	ComponentsExtra []string
	// Registry, when set and Image is not, is where the agent image is pulled from: the image is
	// Registry/converge (as Flux's --registry names the host and path of its controllers' images).
	Registry string
	// ImagePullSecret names the docker-registry Secret the agent's pods pull their image with.
	ImagePullSecret string
	// RegistryCredentials, "user:password", are stored in the ImagePullSecret Secret by PullSecret (never
	// in Objects, which may go to Git); needs ImagePullSecret.
	RegistryCredentials string
	// TolerationKeys let the agent's pods run on nodes tainted with these keys (operator Exists).
	TolerationKeys []string
	// NoNetworkPolicy leaves out the NetworkPolicies (Flux's --network-policy=false).
	NoNetworkPolicy bool
	// WatchNamespaceOnly makes the agent reconcile the objects of Namespace only (Flux's
	// --watch-all-namespaces=false).
	WatchNamespaceOnly bool
	// ClusterDomain is the cluster's DNS domain, used in the artifact URLs (default cluster.local).
	ClusterDomain string
	// LogLevel of the agent: debug, info (default) or error, as Flux's; warn is accepted too.
	LogLevel string
	// Shards adds, per name, an agent Deployment that reconciles only the objects labelled
	// sharding.fluxcd.io/key=<name> (its own Lease, and a Service ShardName(name) for its artifacts and
	// metrics); the default agent then leaves them out, as Flux's sharding does.
	Shards []string
}

// ShardKey is the label Flux's sharding selects objects by.
const ShardKey = "sharding.fluxcd.io/key"

// ShardName names the Deployment, Service and Lease of the agent of shard.
func ShardName(shard string) string { return AgentName + "-" + shard }

// ShardArtifactBaseURL is the URL prefix of the artifacts shard's agent serves, through its Service.
func ShardArtifactBaseURL(namespace, shard, clusterDomain string) string {
	return fmt.Sprintf("http://%s.%s.svc.%s./artifacts", ShardName(shard), namespace, clusterDomain)
}

// DefaultClusterDomain is the cluster DNS domain when Options.ClusterDomain is empty.
const DefaultClusterDomain = "cluster.local"

// LogLevels returns the agent log levels Options.LogLevel accepts (a fresh slice each call).
func LogLevels() []string { return []string{"debug", "info", "warn", "error"} }

func (o *Options) defaults() {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Image == "" {
		o.Image = DefaultImage
		if o.Registry != "" {
			o.Image = strings.TrimSuffix(o.Registry, "/") + "/converge"
		}
	}
	if o.ClusterDomain == "" {
		o.ClusterDomain = DefaultClusterDomain
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
}

// Validate checks the options after defaults are applied.
func (o Options) Validate() error {
	o.defaults()
	if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
		return fmt.Errorf("namespace %q: %s", o.Namespace, strings.Join(errs, "; "))
	}
	if o.Version == "" {
		return errors.New("version is required")
	}
	if errs := validation.IsValidLabelValue(o.Version); len(errs) > 0 {
		return fmt.Errorf("version %q: %s", o.Version, strings.Join(errs, "; "))
	}
	if _, err := o.agentImage(); err != nil {
		return err
	}
	for _, c := range o.ComponentsExtra {
		if !slices.Contains(ExtraComponents, c) {
			return fmt.Errorf("unknown extra component %q, want one of %s", c, strings.Join(ExtraComponents, ", "))
		}
	}
	for i, s := range o.Shards {
		// The shard is a label value and, in ShardName, part of a DNS label (Deployment, Service).
		if errs := append(validation.IsValidLabelValue(s), validation.IsDNS1123Label(ShardName(s))...); s == "" || len(errs) > 0 {
			return fmt.Errorf("shard %q: want a DNS label usable as a label value: %s", s, strings.Join(errs, "; "))
		}
		if slices.Contains(o.Shards[:i], s) {
			return fmt.Errorf("shard %q given twice", s)
		}
	}
	if o.ImagePullSecret != "" {
		if errs := validation.IsDNS1123Subdomain(o.ImagePullSecret); len(errs) > 0 {
			return fmt.Errorf("image pull secret %q: %s", o.ImagePullSecret, strings.Join(errs, "; "))
		}
	}
	if o.RegistryCredentials != "" {
		if o.ImagePullSecret == "" {
			return errors.New("registry credentials need an image pull secret to be stored in (--image-pull-secret)")
		}
		if user, _, ok := strings.Cut(o.RegistryCredentials, ":"); !ok || user == "" {
			return errors.New("registry credentials: want user:password")
		}
	}
	for _, k := range o.TolerationKeys {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("toleration key %q: %s", k, strings.Join(errs, "; "))
		}
	}
	if errs := validation.IsDNS1123Subdomain(o.ClusterDomain); len(errs) > 0 {
		return fmt.Errorf("cluster domain %q: %s", o.ClusterDomain, strings.Join(errs, "; "))
	}
	if !slices.Contains(LogLevels(), o.LogLevel) {
		return fmt.Errorf("log level %q: want one of %s", o.LogLevel, strings.Join(LogLevels(), ", "))
	}
	return nil
}

// ArtifactBaseURL is the URL prefix of the artifacts the agent serves, through the converge Service, in
// a cluster whose DNS domain is cluster.local.
func ArtifactBaseURL(namespace string) string {
	return artifactBaseURL(namespace, DefaultClusterDomain)
}

func artifactBaseURL(namespace, clusterDomain string) string {
	return fmt.Sprintf("http://%s.%s.svc.%s./artifacts", ServiceName, namespace, clusterDomain)
}

// Labels are the labels of every installed object.
func Labels(namespace, version string) map[string]string {
	return map[string]string{PartOfLabel: PartOf, InstanceLabel: namespace, VersionLabel: version}
}

// Selector selects the installed objects of the installation in namespace (whatever their version).
func Selector(namespace string) string {
	return PartOfLabel + "=" + PartOf + "," + InstanceLabel + "=" + namespace
}

// Objects returns the installation in apply order: the Namespace, the CRDs, the ServiceAccount and RBAC,
// the Services, the Deployment and the NetworkPolicies.
func Objects(opts Options) ([]*unstructured.Unstructured, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ns, labels := opts.Namespace, Labels(opts.Namespace, opts.Version)
	meta := func(name string, namespaced bool, extra map[string]string) metav1.ObjectMeta {
		m := metav1.ObjectMeta{Name: name, Labels: merge(labels, extra)}
		if namespaced {
			m.Namespace = ns
		}
		return m
	}
	crdObjs, err := CRDs(opts.ComponentsExtra, labels)
	if err != nil {
		return nil, err
	}
	agentLabels := map[string]string{ComponentLabel: AgentName}

	typed := []runtime.Object{
		&corev1.Namespace{
			TypeMeta: typeMeta("v1", "Namespace"),
			ObjectMeta: meta(ns, false, map[string]string{
				"pod-security.kubernetes.io/warn":         "restricted",
				"pod-security.kubernetes.io/warn-version": "latest",
			}),
		},
	}
	var out []*unstructured.Unstructured
	for _, o := range typed {
		u, err := toUnstructured(o)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	out = append(out, crdObjs...)
	rest := []runtime.Object{
		serviceAccount(opts, meta(AgentName, true, agentLabels)),
		// The agent applies whatever the Kustomizations and HelmReleases in the cluster hold, so, like
		// Flux's kustomize-controller and helm-controller, it is bound to cluster-admin. Limit what a
		// Kustomization may do with spec.serviceAccountName (impersonation) instead.
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
			ObjectMeta: meta(AgentName+"-"+ns, false, agentLabels),
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: AgentName, Namespace: ns}},
		},
		// What the agent itself needs in its namespace (leader election, events), stated apart so that the
		// cluster-admin binding can be narrowed without breaking the agent.
		&rbacv1.Role{
			TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "Role"),
			ObjectMeta: meta(AgentName, true, agentLabels),
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
				{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update", "get", "list", "watch"}},
				{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
			},
		},
		&rbacv1.RoleBinding{
			TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "RoleBinding"),
			ObjectMeta: meta(AgentName, true, agentLabels),
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: AgentName},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: AgentName, Namespace: ns}},
		},
		service(meta(ServiceName, true, agentLabels), AgentName, "http"),
		service(meta(WebhookServiceName, true, agentLabels), AgentName, "http-webhook"),
		deployment(opts, meta(AgentName, true, agentLabels), AgentName, defaultAgentArgs(opts)),
	}
	for _, shard := range opts.Shards {
		name, shardLabels := ShardName(shard), map[string]string{ComponentLabel: AgentName, ShardKey: shard}
		rest = append(rest, service(meta(name, true, shardLabels), name, "http"),
			deployment(opts, meta(name, true, shardLabels), name, []string{
				"--artifact-base-url=" + ShardArtifactBaseURL(opts.Namespace, shard, opts.ClusterDomain),
				"--shard=" + shard, // which names its Lease converge-agent-<shard>
				"--receiver-addr=", // webhooks reach the default agent's Service
			}))
	}
	if !opts.NoNetworkPolicy {
		rest = append(rest, networkPolicies(func(name string) metav1.ObjectMeta { return meta(name, true, nil) })...)
	}

	for _, o := range rest {
		u, err := toUnstructured(o)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// CRDs returns the CRDs of the default components and of extra, labelled with labels, sorted by name.
func CRDs(extra []string, labels map[string]string) ([]*unstructured.Unstructured, error) {
	want := map[string]bool{}
	for _, c := range append(slices.Clone(Components), extra...) {
		for _, name := range kinds.CRDNames(c) {
			want[name] = true
		}
	}
	all, err := AllCRDs()
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, u := range all {
		if !want[u.GetName()] {
			continue
		}
		u.SetLabels(merge(u.GetLabels(), labels))
		out = append(out, u)
	}
	return out, nil
}

// AllCRDs returns every Flux CRD converge knows (crds.Manifests), sorted by name.
func AllCRDs() ([]*unstructured.Unstructured, error) {
	raw, err := crds.Manifests()
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("decoding the embedded CRDs: %w", err)
		}
		if len(u.Object) == 0 {
			continue
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}

// defaultAgentArgs are the default agent's own arguments: its artifact URL and, with shards, the
// selector leaving their objects out (Flux's `sharding.fluxcd.io/key notin (...)`).
func defaultAgentArgs(opts Options) []string {
	args := []string{"--artifact-base-url=" + artifactBaseURL(opts.Namespace, opts.ClusterDomain)}
	if len(opts.Shards) > 0 {
		args = append(args, fmt.Sprintf("--watch-label-selector=%s notin (%s)", ShardKey, strings.Join(opts.Shards, ",")))
	}
	return args
}

// deployment is the agent's Deployment; app selects its pods, args are appended to the common ones.
func deployment(opts Options, om metav1.ObjectMeta, app string, args []string) *appsv1.Deployment {
	image, _ := opts.agentImage() // Objects validated it
	selector := map[string]string{AppLabel: app}
	podLabels := merge(om.Labels, selector)
	yes, no := true, false
	replicas, grace := int32(1), int64(60)
	probe := func(path string, delay int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			InitialDelaySeconds: delay, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3,
		}
	}
	return &appsv1.Deployment{
		TypeMeta:   typeMeta("apps/v1", "Deployment"),
		ObjectMeta: om,
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			// Leader election lets a new pod wait while the old one finishes its reconciliations.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels: podLabels,
					Annotations: map[string]string{
						"prometheus.io/scrape": "true",
						"prometheus.io/port":   fmt.Sprint(HTTPPort),
						"prometheus.io/path":   "/metrics",
					},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName:            AgentName,
					TerminationGracePeriodSeconds: &grace,
					NodeSelector:                  map[string]string{"kubernetes.io/os": "linux"},
					ImagePullSecrets:              imagePullSecrets(opts),
					Tolerations:                   tolerations(opts),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   &yes,
						RunAsUser:      ptr(int64(65534)),
						RunAsGroup:     ptr(int64(65534)),
						FSGroup:        ptr(int64(65534)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            "agent",
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Args: agentArgs(opts, slices.Concat([]string{
							"agent",
							"--storage-path=/data",
							fmt.Sprintf("--http-addr=:%d", HTTPPort),
						}, args, []string{"--log-format=json"})),
						Env: []corev1.EnvVar{
							{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
							{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "agent", Resource: "limits.memory", Divisor: resource.MustParse("1")}}},
							// Git, Helm and SOPS keep small files under $HOME; the root filesystem is read-only.
							{Name: "HOME", Value: "/tmp"},
						},
						Ports: []corev1.ContainerPort{
							{Name: "http", ContainerPort: HTTPPort, Protocol: corev1.ProtocolTCP},
							{Name: "http-webhook", ContainerPort: WebhookPort, Protocol: corev1.ProtocolTCP},
						},
						LivenessProbe:  probe("/healthz", 5),
						ReadinessProbe: probe("/readyz", 5),
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
						},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot:             &yes,
							ReadOnlyRootFilesystem:   &yes,
							AllowPrivilegeEscalation: &no,
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "tmp", MountPath: "/tmp"}},
					}},
					Volumes: []corev1.Volume{
						{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
}

// agentArgs adds to the agent's arguments what the options change: the log level (when not the agent's
// default, info) and the watched namespace.
func agentArgs(opts Options, args []string) []string {
	if opts.LogLevel != "info" {
		args = append(args, "--log-level="+opts.LogLevel)
	}
	if opts.WatchNamespaceOnly {
		args = append(args, "--watch-namespace="+opts.Namespace)
	}
	return args
}

func imagePullSecrets(opts Options) []corev1.LocalObjectReference {
	if opts.ImagePullSecret == "" {
		return nil
	}
	return []corev1.LocalObjectReference{{Name: opts.ImagePullSecret}}
}

func tolerations(opts Options) []corev1.Toleration {
	var out []corev1.Toleration
	for _, k := range opts.TolerationKeys {
		out = append(out, corev1.Toleration{Key: k, Operator: corev1.TolerationOpExists})
	}
	return out
}

func serviceAccount(opts Options, om metav1.ObjectMeta) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: om}
	sa.ImagePullSecrets = imagePullSecrets(opts)
	return sa
}

// PullSecret returns the ImagePullSecret Secret (type kubernetes.io/dockerconfigjson) holding
// RegistryCredentials for the agent image's registry host, to apply before Objects; nil without
// RegistryCredentials. It is kept out of Objects so that credentials never go to a Git repository.
func PullSecret(opts Options) (*unstructured.Unstructured, error) {
	opts.defaults()
	if opts.RegistryCredentials == "" {
		return nil, nil
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	labels := merge(Labels(opts.Namespace, opts.Version), map[string]string{ComponentLabel: AgentName})
	s, err := pullSecret(opts, metav1.ObjectMeta{Name: opts.ImagePullSecret, Namespace: opts.Namespace, Labels: labels})
	if err != nil {
		return nil, err
	}
	return toUnstructured(s)
}

func pullSecret(opts Options, om metav1.ObjectMeta) (*corev1.Secret, error) {
	image, err := opts.agentImage()
	if err != nil {
		return nil, err
	}
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", image, err)
	}
	user, password, _ := strings.Cut(opts.RegistryCredentials, ":")
	host := ref.Context().RegistryStr()
	cfg, err := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{
		"username": user, "password": password, "auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password)),
	}}})
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		TypeMeta:   typeMeta("v1", "Secret"),
		ObjectMeta: om,
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: cfg},
	}, nil
}

func service(om metav1.ObjectMeta, app, targetPort string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   typeMeta("v1", "Service"),
		ObjectMeta: om,
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{AppLabel: app},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString(targetPort)}},
		},
	}
}

// networkPolicies mirror Flux's: every pod of the namespace may reach anything and be reached from the
// namespace; metrics (and the artifacts on the same port) from any namespace; webhooks from anywhere.
// Any other ingress is denied, since the pods are selected by a policy with the Ingress type.
func networkPolicies(meta func(string) metav1.ObjectMeta) []runtime.Object {
	tcp := corev1.ProtocolTCP
	port := func(p int) []networkingv1.NetworkPolicyPort {
		v := intstr.FromInt32(int32(p))
		return []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &v}}
	}
	np := func(name string, pods metav1.LabelSelector, types []networkingv1.PolicyType, in []networkingv1.NetworkPolicyIngressRule, eg []networkingv1.NetworkPolicyEgressRule) runtime.Object {
		return &networkingv1.NetworkPolicy{
			TypeMeta:   typeMeta("networking.k8s.io/v1", "NetworkPolicy"),
			ObjectMeta: meta(name),
			Spec:       networkingv1.NetworkPolicySpec{PodSelector: pods, PolicyTypes: types, Ingress: in, Egress: eg},
		}
	}
	ingress := networkingv1.PolicyTypeIngress
	return []runtime.Object{
		np("allow-egress", metav1.LabelSelector{}, []networkingv1.PolicyType{ingress, networkingv1.PolicyTypeEgress},
			[]networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
			[]networkingv1.NetworkPolicyEgressRule{{}}),
		np("allow-scraping", metav1.LabelSelector{}, []networkingv1.PolicyType{ingress},
			[]networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}, Ports: port(HTTPPort)}},
			nil),
		np("allow-webhooks", metav1.LabelSelector{MatchLabels: map[string]string{AppLabel: AgentName}}, []networkingv1.PolicyType{ingress},
			[]networkingv1.NetworkPolicyIngressRule{{Ports: port(WebhookPort)}},
			nil),
	}
}

// Manifest renders objs as a multi-document YAML stream, each document introduced by "---".
func Manifest(objs []*unstructured.Unstructured) ([]byte, error) {
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

func toUnstructured(o runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	clean(m)
	return &unstructured.Unstructured{Object: m}, nil
}

// clean drops the empty maps and nulls typed structs leave behind (strategy: {}, creationTimestamp: null).
func clean(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			clean(t)
			if len(t) == 0 && k != "emptyDir" && k != "podSelector" && k != "namespaceSelector" {
				delete(m, k)
			}
		case []any:
			for _, it := range t {
				if im, ok := it.(map[string]any); ok {
					clean(im)
				}
			}
		}
	}
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }
