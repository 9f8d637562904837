package preflight

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/converge-gitops/converge/crds"
)

// CRDCheck is the state of one CRD converge ships.
type CRDCheck struct {
	Name string `json:"name"`
	// Versions are the versions converge serves; Missing those the cluster's CRD lacks.
	Versions []string `json:"versions"`
	Missing  []string `json:"missing,omitempty"`
	// Storage is the cluster's storage version; converge's own is wanted.
	Storage   string `json:"storage,omitempty"`
	Installed bool   `json:"installed"`
	OK        bool   `json:"ok"`
}

// AgentCheck is the state of the agent Deployment.
type AgentCheck struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Installed bool   `json:"installed"`
	Image     string `json:"image,omitempty"`
	Ready     int32  `json:"readyReplicas"`
	Desired   int32  `json:"replicas"`
	OK        bool   `json:"ok"`
	Message   string `json:"message"`
}

var crdResource = apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")

// CRDs compares the cluster's Flux CRDs with the ones this binary ships: each must exist, serve every
// version converge serves and store the same version.
func CRDs(ctx context.Context, client dynamic.Interface) ([]CRDCheck, error) {
	want, err := crds.CustomResourceDefinitions()
	if err != nil {
		return nil, err
	}
	var out []CRDCheck
	for _, w := range want {
		c := CRDCheck{Name: w.Name}
		storage := ""
		for _, v := range w.Spec.Versions {
			if v.Served {
				c.Versions = append(c.Versions, v.Name)
			}
			if v.Storage {
				storage = v.Name
			}
		}
		u, err := client.Resource(crdResource).Get(ctx, w.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			c.Missing = c.Versions
			out = append(out, c)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading CRD %s: %w", w.Name, err)
		}
		have := &apiextensionsv1.CustomResourceDefinition{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, have); err != nil {
			return nil, fmt.Errorf("CRD %s: %w", w.Name, err)
		}
		c.Installed = true
		var served []string
		for _, v := range have.Spec.Versions {
			if v.Served {
				served = append(served, v.Name)
			}
			if v.Storage {
				c.Storage = v.Name
			}
		}
		for _, v := range c.Versions {
			if !slices.Contains(served, v) {
				c.Missing = append(c.Missing, v)
			}
		}
		c.OK = len(c.Missing) == 0 && c.Storage == storage
		out = append(out, c)
	}
	return out, nil
}

// Agent reports whether the agent Deployment namespace/name is installed and available.
func Agent(ctx context.Context, client kubernetes.Interface, namespace, name string) (AgentCheck, error) {
	a := AgentCheck{Namespace: namespace, Name: name}
	d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		a.Message = fmt.Sprintf("Deployment %s/%s not found: run converge install", namespace, name)
		return a, nil
	}
	if err != nil {
		return a, fmt.Errorf("reading Deployment %s/%s: %w", namespace, name, err)
	}
	a.Installed = true
	if len(d.Spec.Template.Spec.Containers) > 0 {
		a.Image = d.Spec.Template.Spec.Containers[0].Image
	}
	a.Desired = 1
	if d.Spec.Replicas != nil {
		a.Desired = *d.Spec.Replicas
	}
	a.Ready = d.Status.ReadyReplicas
	var reasons []string
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status != "True" {
			reasons = append(reasons, c.Message)
		}
	}
	a.OK = a.Ready >= 1 && len(reasons) == 0
	switch {
	case a.OK:
		a.Message = fmt.Sprintf("%d/%d replicas ready", a.Ready, a.Desired)
	case len(reasons) > 0:
		a.Message = strings.Join(reasons, "; ")
	default:
		a.Message = fmt.Sprintf("%d/%d replicas ready", a.Ready, a.Desired)
	}
	return a, nil
}
