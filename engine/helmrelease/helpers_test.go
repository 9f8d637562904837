package helmrelease

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
)

// demoChart is the test chart: a Deployment, a ConfigMap echoing the values, a ConfigMap reporting
// .Release and .Capabilities, a CRD (and a non-CRD object Flux ignores) in crds/, a custom resource
// rendered only when its API is served, a ClusterRole, a pre-install hook, notes, a template that fails
// on demand, and an optional subchart with a cluster-scoped CRD and custom resource.
var demoChart = map[string]string{
	"Chart.yaml": `apiVersion: v2
name: demo
description: The chart engine/helm tests render
type: application
version: 0.1.0
appVersion: "1.0.0"
kubeVersion: ">=1.20.0-0"
dependencies:
  - name: sub
    version: 0.1.0
    condition: sub.enabled
`,
	"values.yaml": `replicaCount: 1
image:
  repository: ghcr.io/example/app
  tag: "1.0.0"
config:
  greeting: hello
  list: [a, b, c]
broken: false
sub:
  enabled: false
`,
	"templates/_helpers.tpl": `{{- define "demo.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "demo.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
`,
	"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "demo.fullname" . }}
  labels:
    {{- include "demo.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          envFrom:
            - configMapRef:
                name: {{ include "demo.fullname" . }}-values
`,
	"templates/values-configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "demo.fullname" . }}-values
  labels:
    {{- include "demo.labels" . | nindent 4 }}
data:
  values.yaml: |
    {{- toYaml .Values | nindent 4 }}
`,
	"templates/capabilities.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "demo.fullname" . }}-env
  namespace: {{ .Release.Namespace }}
data:
  releaseName: {{ .Release.Name | quote }}
  releaseNamespace: {{ .Release.Namespace | quote }}
  revision: {{ .Release.Revision | quote }}
  isInstall: {{ .Release.IsInstall | quote }}
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  kubeMinor: {{ .Capabilities.KubeVersion.Minor | quote }}
  policyV1: {{ .Capabilities.APIVersions.Has "policy/v1" | quote }}
  widgets: {{ .Capabilities.APIVersions.Has "example.com/v1/Widget" | quote }}
  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
`,
	"templates/widget.yaml": `{{- if .Capabilities.APIVersions.Has "example.com/v1" }}
apiVersion: example.com/v1
kind: Widget
metadata:
  name: {{ include "demo.fullname" . }}
spec:
  size: {{ .Values.replicaCount }}
{{- end }}
`,
	"templates/clusterrole.yaml": `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ include "demo.fullname" . }}-reader
rules:
  - apiGroups: [""]
    resources: ["pods"]
    verbs: ["get", "list"]
`,
	"templates/hook.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "demo.fullname" . }}-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-5"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          args: ["migrate"]
`,
	"templates/NOTES.txt": `{{ .Release.Name }} is installed in {{ .Release.Namespace }}.
`,
	"templates/broken.yaml": `{{- if .Values.broken }}
apiVersion: v1
kind: ConfigMap
data:
  x: {{ fail "broken is set" }}
{{- end }}
`,
	"crds/widgets.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
    listKind: WidgetList
    plural: widgets
    singular: widget
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: not-a-crd
`,
	"charts/sub/Chart.yaml": `apiVersion: v2
name: sub
version: 0.1.0
`,
	"charts/sub/values.yaml": `greeting: from-sub
`,
	"charts/sub/templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-sub
data:
  greeting: {{ .Values.greeting | quote }}
`,
	"charts/sub/templates/gadget.yaml": `apiVersion: example.com/v1
kind: Gadget
metadata:
  name: {{ .Release.Name }}-gadget
`,
	"charts/sub/crds/gadgets.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names:
    kind: Gadget
    plural: gadgets
  scope: Cluster
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
`,
}

// with returns a copy of files with the given files replaced or added.
func with(files map[string]string, changes map[string]string) map[string]string {
	out := make(map[string]string, len(files)+len(changes))
	for k, v := range files {
		out[k] = v
	}
	for k, v := range changes {
		out[k] = v
	}
	return out
}

// helmRelease decodes a HelmRelease named name in namespace "apps" with the given spec fields (YAML
// indented by two spaces), strictly.
func helmRelease(t testing.TB, name, spec string) *helmv2.HelmRelease {
	t.Helper()
	doc := `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: ` + name + `
  namespace: apps
spec:
  interval: 10m
  chart:
    spec:
      chart: demo
      version: 0.1.x
      sourceRef:
        kind: HelmRepository
        name: charts
        namespace: flux-system
` + spec
	hr := &helmv2.HelmRelease{}
	if err := yaml.UnmarshalStrict([]byte(doc), hr); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return hr
}

// resources is a source.Secrets and source.ConfigMaps over fixed objects, keyed "namespace/name".
type resources struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func (r *resources) GetConfigMap(_ context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	if cm, ok := r.configMaps[namespace+"/"+name]; ok {
		return cm.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (r *resources) GetSecret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	if s, ok := r.secrets[namespace+"/"+name]; ok {
		return s.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

// testResources holds the ConfigMaps and Secrets of namespace "apps" the tests' valuesFrom refer to.
func testResources() *resources {
	cm := func(name string, data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name}, Data: data}
	}
	secret := func(name string, data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	r := &resources{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, c := range []*corev1.ConfigMap{
		cm("base", map[string]string{
			"values.yaml": "replicaCount: 2\nconfig:\n  greeting: hi\n  from: base\n",
			"config.json": `{"a": [1, 2], "b": "x=y,z"}`,
			"list":        "{x,y}",
			"os":          "linux",
			"quoted":      `"8080"`,
			"invalid":     "this: is: not: yaml",
		}),
		cm("precedence", map[string]string{"values.yaml": "flat: value\nnested:\n  configuration:\n  - one\n  - two\n  - three\n"}),
	} {
		r.configMaps[c.Namespace+"/"+c.Name] = c
	}
	for _, s := range []*corev1.Secret{
		secret("override", map[string]string{"values.yaml": "config:\n  greeting: hola\n", "tag": "v3"}),
		secret("precedence", map[string]string{"key": "value"}),
	} {
		r.secrets[s.Namespace+"/"+s.Name] = s
	}
	return r
}

// golden renders res as the golden files hold it: a summary, then every object, then every hook.
func golden(t testing.TB, res *Result) string {
	t.Helper()
	var crds []string
	for _, c := range res.CRDs {
		crds = append(crds, c.GetName())
	}
	var hooks []map[string]any
	for _, h := range res.Hooks {
		hooks = append(hooks, map[string]any{"name": h.Name, "kind": h.Kind, "path": h.Path, "events": h.Events, "weight": h.Weight, "deletePolicies": h.DeletePolicies})
	}
	summary := map[string]any{
		"releaseName":      res.ReleaseName,
		"namespace":        res.Namespace,
		"storageNamespace": res.StorageNamespace,
		"chart":            res.Chart + "@" + res.ChartVersion,
		"kubeVersion":      res.KubeVersion,
		"values":           res.Values,
		"valuesDigest":     res.ValuesDigest,
		"crds":             crds,
		"hooks":            hooks,
		"notes":            res.Notes,
		"hooksDisabled":    res.HooksDisabled,
	}
	var b strings.Builder
	b.WriteString("# summary\n")
	b.Write(mustYAML(t, summary))
	for _, o := range res.Objects {
		b.WriteString("---\n# object\n")
		b.Write(mustYAML(t, o.Object))
	}
	for _, h := range res.Hooks {
		b.WriteString("---\n# hook from " + h.Path + "\n")
		b.Write(mustYAML(t, h.Object.Object))
	}
	return b.String()
}

// findObject returns the object of res with the given kind and name, nil if none.
func findObject(res *Result, kind, name string) *unstructured.Unstructured {
	for _, o := range res.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func mustYAML(t testing.TB, v any) []byte {
	t.Helper()
	y, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return y
}
