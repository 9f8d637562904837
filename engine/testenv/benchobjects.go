package testenv

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// BenchKinds are the kinds of the push-mode benchmarks' objects, in the order they are generated.
func BenchKinds() []string { return []string{"Deployment", "Service", "ConfigMap", "ServiceAccount"} }

// BenchDocument is the YAML of one push-mode benchmark object of kind (one of BenchKinds) named name
// in ns: a Deployment with 0 replicas reading its ConfigMap, its Service, its ServiceAccount.
func BenchDocument(kind, ns, name string) string {
	meta := "metadata:\n  name: " + name + "\n  namespace: " + ns +
		"\n  labels: {app.kubernetes.io/name: " + name + ", app.kubernetes.io/part-of: bench}\n"
	switch kind {
	case "Deployment":
		return `apiVersion: apps/v1
kind: Deployment
` + meta + `spec:
  replicas: 0
  selector:
    matchLabels: {app.kubernetes.io/name: ` + name + `}
  template:
    metadata:
      labels: {app.kubernetes.io/name: ` + name + `, app.kubernetes.io/part-of: bench}
    spec:
      serviceAccountName: ` + name + `
      containers:
      - name: app
        image: registry.example.com/bench/app:1.0.0
        args: [--listen=:8080, --config=/etc/app/config.yaml]
        ports:
        - {name: http, containerPort: 8080}
        env:
        - {name: LOG_LEVEL, value: info}
        envFrom:
        - configMapRef: {name: ` + name + `}
        resources:
          requests: {cpu: 10m, memory: 16Mi}
          limits: {memory: 64Mi}
`
	case "Service":
		return `apiVersion: v1
kind: Service
` + meta + `spec:
  selector: {app.kubernetes.io/name: ` + name + `}
  ports:
  - {name: http, port: 80, targetPort: http}
`
	case "ConfigMap":
		return `apiVersion: v1
kind: ConfigMap
` + meta + `data:
  APP_NAME: ` + name + `
  config.yaml: |
    server:
      listen: ":8080"
      timeout: 30s
    features: [a, b, c]
`
	case "ServiceAccount":
		return "apiVersion: v1\nkind: ServiceAccount\n" + meta
	}
	panic(fmt.Sprintf("testenv.BenchDocument: no benchmark object of kind %q", kind))
}

// FluxBenchmarkApp is app i of Flux's published agent benchmark layout in ns: a ServiceAccount, a
// Service and a Deployment with 0 replicas, all named app-<i>.
func FluxBenchmarkApp(ns string, i int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: app-%[2]d, namespace: %[1]s}
---
apiVersion: v1
kind: Service
metadata: {name: app-%[2]d, namespace: %[1]s}
spec:
  selector: {app: app-%[2]d}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app-%[2]d, namespace: %[1]s}
spec:
  replicas: 0
  selector: {matchLabels: {app: app-%[2]d}}
  template:
    metadata: {labels: {app: app-%[2]d}}
    spec:
      serviceAccountName: app-%[2]d
      containers: [{name: app, image: "ghcr.io/stefanprodan/podinfo:6.7.0", ports: [{containerPort: 8080}]}]
`, ns, i)
}

// ApplyFluxBenchmarkKustomizations creates, from 32 workers, the n Kustomizations of Flux's benchmark in
// ns: app-<i> applying ./apps/app-<i> of the GitRepository "repo" with prune and wait.
func ApplyFluxBenchmarkKustomizations(ctx context.Context, dyn dynamic.Interface, ns string, n int) error {
	ks := dyn.Resource(schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}).Namespace(ns)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error {
			data := []byte(fmt.Sprintf(`{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":"app-%d","namespace":%q},"spec":{"interval":"1h","path":"./apps/app-%d","prune":true,"wait":true,"timeout":"5m","sourceRef":{"kind":"GitRepository","name":"repo"}}}`, i, ns, i))
			_, err := ks.Patch(gctx, fmt.Sprintf("app-%d", i), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "bench"})
			return err
		})
	}
	return g.Wait()
}
