package reconcile

import (
	"errors"
	"fmt"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

// AccessDeniedReason is Flux's reason for a reference the multi-tenancy lockdown refuses.
const AccessDeniedReason = "AccessDenied"

// Tenancy is Flux's multi-tenancy lockdown, as its controllers' flags set it: one value shared by the agent
// and `converge apply`/`diff`. The zero value is Flux's default (nothing locked down).
type Tenancy struct {
	// NoCrossNamespaceRefs refuses references to objects in another namespace: a Kustomization's
	// spec.sourceRef, a HelmRelease's chart source (spec.chart.spec.sourceRef, spec.chartRef), events of
	// other namespaces for an Alert, and a Receiver's spec.resources in other namespaces.
	NoCrossNamespaceRefs bool `json:"noCrossNamespaceRefs,omitempty"`
	// DefaultServiceAccount is impersonated, in the object's namespace, by Kustomizations and HelmReleases
	// without spec.serviceAccountName.
	DefaultServiceAccount string `json:"defaultServiceAccount,omitempty"`
	// NoRemoteBases refuses kustomize remote bases and resources; without it they are fetched.
	NoRemoteBases bool `json:"noRemoteBases,omitempty"`
}

// AccessDeniedError is a reference the lockdown refuses: Field of the object names it; Message is Flux's.
type AccessDeniedError struct {
	Field   string
	Message string
}

func (e *AccessDeniedError) Error() string { return e.Field + ": " + e.Message }

// IsAccessDenied reports whether err is a reference refused by the lockdown (terminal until the spec
// or the agent's flags change).
func IsAccessDenied(err error) bool {
	var ad *AccessDeniedError
	return errors.As(err, &ad)
}

// ServiceAccount returns the ServiceAccount an object with spec.serviceAccountName sa acts as: sa, else
// the default one (empty: the agent's own identity).
func (t Tenancy) ServiceAccount(sa string) string {
	if sa != "" {
		return sa
	}
	return t.DefaultServiceAccount
}

// CheckKustomization refuses ks's spec.sourceRef to another namespace when cross-namespace references are
// blocked, with kustomize-controller's message.
func (t Tenancy) CheckKustomization(ks *kustomizev1.Kustomization) error {
	ns := ks.Spec.SourceRef.Namespace
	if !t.NoCrossNamespaceRefs || ns == "" || ns == ks.Namespace {
		return nil
	}
	return &AccessDeniedError{Field: "spec.sourceRef", Message: fmt.Sprintf(
		"can't access '%s/%s/%s', cross-namespace references have been blocked", ks.Spec.SourceRef.Kind, ns, ks.Spec.SourceRef.Name)}
}

// CheckHelmRelease refuses hr's chart source in another namespace when cross-namespace references are
// blocked, with helm-controller's message: spec.chartRef, or the HelmChart spec.chart makes in the
// namespace of its spec.sourceRef.
func (t Tenancy) CheckHelmRelease(hr *helmv2.HelmRelease) error {
	if !t.NoCrossNamespaceRefs {
		return nil
	}
	var field, kind, ns, name string
	switch {
	case hr.Spec.ChartRef != nil:
		field, kind, ns, name = "spec.chartRef", hr.Spec.ChartRef.Kind, hr.Spec.ChartRef.Namespace, hr.Spec.ChartRef.Name
	case hr.Spec.Chart != nil:
		field, kind, ns, name = "spec.chart.spec.sourceRef", sourcev1.HelmChartKind, hr.Spec.Chart.GetNamespace(hr.Namespace), hr.GetHelmChartName()
	}
	if ns == "" || ns == hr.Namespace {
		return nil
	}
	return &AccessDeniedError{Field: field, Message: fmt.Sprintf(
		"cross-namespace references are not allowed: cannot access %s %s/%s", kind, ns, name)}
}

// AllowsEvent reports whether an Alert in namespace alertNamespace may process an event of an object in
// objectNamespace (notification-controller discards it when cross-namespace references are blocked).
func (t Tenancy) AllowsEvent(alertNamespace, objectNamespace string) bool {
	return !t.NoCrossNamespaceRefs || alertNamespace == objectNamespace
}
