package install

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// Finalizer is the finalizer Flux (and the agent) puts on the objects it reconciles.
const Finalizer = "finalizers.fluxcd.io"

// Uninstaller removes the installation in Namespace. Its steps are separate so that callers can report
// each; run them in order: RemoveFinalizers, DeleteComponents, DeleteCRDs, DeleteNamespace.
type Uninstaller struct {
	Client    dynamic.Interface
	Namespace string
	// Interval between polls while waiting (default 250ms).
	Interval time.Duration
	// DryRun sends every change as a server-side dry run: the steps report what they would delete
	// and change nothing (nor wait).
	DryRun bool
}

// dryRun is the DryRun field of the patch and delete options.
func (u *Uninstaller) dryRun() []string {
	if u.DryRun {
		return []string{metav1.DryRunAll}
	}
	return nil
}

var (
	crdResource       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	namespaceResource = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	podResource       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// componentResources are the kinds Objects creates besides the Namespace and the CRDs, in deletion order.
var componentResources = []struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
}{
	{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "Deployment", true},
	{schema.GroupVersionResource{Version: "v1", Resource: "services"}, "Service", true},
	{schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}, "NetworkPolicy", true},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, "RoleBinding", true},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, "Role", true},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}, "ClusterRoleBinding", false},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, "ClusterRole", false},
	{schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, "ServiceAccount", true},
}

// FluxResources returns the API resource (storage version) of every Flux kind, from the embedded CRDs.
func FluxResources() (map[string]schema.GroupVersionResource, error) {
	all, err := AllCRDs()
	if err != nil {
		return nil, err
	}
	out := map[string]schema.GroupVersionResource{}
	for _, crd := range all {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		for _, v := range versions {
			m, _ := v.(map[string]any)
			if storage, _ := m["storage"].(bool); storage {
				name, _ := m["name"].(string)
				out[kind] = schema.GroupVersionResource{Group: group, Version: name, Resource: plural}
			}
		}
	}
	return out, nil
}

// RemoveFinalizers removes Flux's finalizer from every object of every Flux kind the cluster serves, in
// all namespaces, so that deleting the CRDs removes the objects without pruning what they applied. It
// returns the objects it changed, as "Kind/namespace/name".
func (u *Uninstaller) RemoveFinalizers(ctx context.Context) ([]string, error) {
	resources, err := FluxResources()
	if err != nil {
		return nil, err
	}
	kinds := make([]string, 0, len(resources))
	for k := range resources {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var changed []string
	for _, kind := range kinds {
		gvr := resources[kind]
		list, err := u.Client.Resource(gvr).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) {
			continue // not served
		}
		if err != nil {
			return changed, fmt.Errorf("listing %s: %w", gvr.GroupResource(), err)
		}
		for _, item := range list.Items {
			if !slices.Contains(item.GetFinalizers(), Finalizer) {
				continue
			}
			if err := u.dropFinalizer(ctx, gvr, &item); err != nil {
				return changed, fmt.Errorf("%s %s/%s: removing the finalizer: %w", kind, item.GetNamespace(), item.GetName(), err)
			}
			changed = append(changed, kind+"/"+item.GetNamespace()+"/"+item.GetName())
		}
	}
	return changed, nil
}

// dropFinalizer removes Finalizer with a patch guarded by the resourceVersion, retrying on conflicts.
func (u *Uninstaller) dropFinalizer(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	ri := u.Client.Resource(gvr).Namespace(obj.GetNamespace())
	for attempt := 0; ; attempt++ {
		keep := slices.DeleteFunc(slices.Clone(obj.GetFinalizers()), func(f string) bool { return f == Finalizer })
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"finalizers": keep, "resourceVersion": obj.GetResourceVersion()}})
		if err != nil {
			return err
		}
		_, err = ri.Patch(ctx, obj.GetName(), types.MergePatchType, patch, metav1.PatchOptions{DryRun: u.dryRun()})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 5 {
			return err
		}
		if obj, err = ri.Get(ctx, obj.GetName(), metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		if !slices.Contains(obj.GetFinalizers(), Finalizer) {
			return nil
		}
	}
}

// DeleteComponents deletes the agent's Deployment, Services, NetworkPolicies, RBAC and ServiceAccount (the
// objects labelled as this installation), then waits until the agent's pods are gone, so that no agent
// can act on the objects while the CRDs are deleted. It returns what it deleted, as "Kind/name".
func (u *Uninstaller) DeleteComponents(ctx context.Context) ([]string, error) {
	var deleted []string
	background := metav1.DeletePropagationBackground
	for _, r := range componentResources {
		ri := dynamic.ResourceInterface(u.Client.Resource(r.gvr))
		if r.namespaced {
			ri = u.Client.Resource(r.gvr).Namespace(u.Namespace)
		}
		list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: Selector(u.Namespace)})
		if err != nil {
			return deleted, fmt.Errorf("listing %s: %w", r.gvr.GroupResource(), err)
		}
		for _, item := range list.Items {
			err := ri.Delete(ctx, item.GetName(), metav1.DeleteOptions{PropagationPolicy: &background, DryRun: u.dryRun()})
			if err != nil && !apierrors.IsNotFound(err) {
				return deleted, fmt.Errorf("deleting %s %s: %w", r.kind, item.GetName(), err)
			}
			deleted = append(deleted, r.kind+"/"+item.GetName())
		}
	}
	if u.DryRun {
		return deleted, nil
	}
	err := u.poll(ctx, func() (bool, string, error) {
		pods, err := u.Client.Resource(podResource).Namespace(u.Namespace).List(ctx, metav1.ListOptions{LabelSelector: AppLabel + "=" + AgentName})
		if err != nil {
			return false, "", fmt.Errorf("listing the agent's pods: %w", err)
		}
		var names []string
		for _, p := range pods.Items {
			names = append(names, p.GetName())
		}
		return len(names) == 0, fmt.Sprintf("agent pods still running: %v", names), nil
	})
	return deleted, err
}

// DeleteCRDs deletes every Flux CRD (whichever components were installed) and waits until they are gone,
// with every object of their kinds. It returns the CRDs it deleted.
func (u *Uninstaller) DeleteCRDs(ctx context.Context) ([]string, error) {
	all, err := AllCRDs()
	if err != nil {
		return nil, err
	}
	var deleted []string
	for _, crd := range all {
		err := u.Client.Resource(crdResource).Delete(ctx, crd.GetName(), metav1.DeleteOptions{DryRun: u.dryRun()})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return deleted, fmt.Errorf("deleting CustomResourceDefinition %s: %w", crd.GetName(), err)
		}
		deleted = append(deleted, crd.GetName())
	}
	if u.DryRun {
		return deleted, nil
	}
	err = u.poll(ctx, func() (bool, string, error) {
		var left []string
		for _, name := range deleted {
			_, err := u.Client.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return false, "", err
			}
			left = append(left, name)
		}
		return len(left) == 0, fmt.Sprintf("CustomResourceDefinitions still terminating: %v", left), nil
	})
	return deleted, err
}

// DeleteNamespace asks for the namespace's deletion (without waiting: the namespace controller empties it).
// It reports false when the namespace did not exist.
func (u *Uninstaller) DeleteNamespace(ctx context.Context) (bool, error) {
	err := u.Client.Resource(namespaceResource).Delete(ctx, u.Namespace, metav1.DeleteOptions{DryRun: u.dryRun()})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("deleting namespace %s: %w", u.Namespace, err)
	}
	return true, nil
}

func (u *Uninstaller) poll(ctx context.Context, done func() (bool, string, error)) error {
	interval := u.Interval
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, state, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", state, ctx.Err())
		case <-t.C:
		}
	}
}
