// Package debug reads what `converge debug kustomization|helmrelease` shows: an object's status and
// history, the variables a Kustomization's postBuild substitutes and the values a HelmRelease installs
// with, composed by the same code the agent uses.
package debug

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/source"
)

// Reader reads the objects and the ConfigMaps and Secrets they refer to; *kube.Clients is one.
type Reader struct {
	Dynamic    dynamic.Interface
	ConfigMaps source.ConfigMaps
	Secrets    source.Secrets
}

// ErrNoPostBuild is returned by KustomizationVars for a Kustomization without spec.postBuild.
var ErrNoPostBuild = errors.New("no post build substitutions found")

// Kustomization reads the Kustomization namespace/name.
func (r Reader) Kustomization(ctx context.Context, namespace, name string) (*kustomizev1.Kustomization, error) {
	ks := &kustomizev1.Kustomization{}
	if err := r.get(ctx, "Kustomization", namespace, name, ks); err != nil {
		return nil, err
	}
	return ks, nil
}

// HelmRelease reads the HelmRelease namespace/name.
func (r Reader) HelmRelease(ctx context.Context, namespace, name string) (*helmv2.HelmRelease, error) {
	hr := &helmv2.HelmRelease{}
	if err := r.get(ctx, "HelmRelease", namespace, name, hr); err != nil {
		return nil, err
	}
	return hr, nil
}

func (r Reader) get(ctx context.Context, kind, namespace, name string, into any) error {
	k, ok := kinds.Named(kind)
	if !ok {
		return fmt.Errorf("kind %s is not registered", kind)
	}
	u, err := r.Dynamic.Resource(k.Resource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", kind, namespace, name, err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		return fmt.Errorf("%s %s/%s: decoding: %w", kind, namespace, name, err)
	}
	return nil
}

// KustomizationVars returns the variables ks's postBuild substitutes: spec.postBuild.substituteFrom's
// ConfigMaps and Secrets in order, then spec.postBuild.substitute, as the build does. Secret values are
// returned in clear, as Flux's debug command prints them. ErrNoPostBuild when ks has no postBuild.
func (r Reader) KustomizationVars(ctx context.Context, ks *kustomizev1.Kustomization) (map[string]string, error) {
	if ks.Spec.PostBuild == nil {
		return nil, ErrNoPostBuild
	}
	b := &build.Builder{ConfigMaps: r.ConfigMaps, Secrets: r.Secrets}
	vars, err := b.Vars(ctx, ks)
	if err != nil {
		return nil, fmt.Errorf("Kustomization %s/%s: %w", ks.Namespace, ks.Name, err)
	}
	return vars, nil
}

// HelmReleaseValues returns the values hr's release is installed with: spec.valuesFrom in order, then
// spec.values, composed as the agent composes them. Secret values are returned in clear, as Flux's debug
// command prints them.
func (r Reader) HelmReleaseValues(ctx context.Context, hr *helmv2.HelmRelease) (map[string]any, error) {
	rd := &helmrelease.Renderer{ConfigMaps: r.ConfigMaps, Secrets: r.Secrets}
	v, err := rd.Values(ctx, hr)
	if err != nil {
		return nil, fmt.Errorf("HelmRelease %s/%s: %w", hr.Namespace, hr.Name, err)
	}
	if v == nil {
		v = map[string]any{}
	}
	return v, nil
}
