package build

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/converge-gitops/converge/engine/source"
)

// treeInputs supplies postBuild.substituteFrom inside a tree build, as the cluster will hold them when
// each Kustomization is reconciled: the ConfigMaps and Secrets given explicitly (--local-resource) first,
// then those the tree's builds declare (what a parent applies before its children reconcile), then the
// Builder's own (the cluster, when there is one).
type treeInputs struct {
	t     *treeBuild
	given interface {
		source.ConfigMaps
		source.Secrets
	}
	// tree and encrypted are guarded by t.mu; encrypted maps the SOPS-encrypted Secrets of the tree
	// (that no key decrypted) to the Kustomization that declares them.
	tree      *LocalResources
	encrypted map[string]string
	base      inputs
}

// add records o, a ConfigMap or Secret that Kustomization parent applies, and reports whether it is new.
// Objects without a namespace are not recorded: where they land is not known here.
func (in *treeInputs) add(o *unstructured.Unstructured, parent string) bool {
	if o.GetNamespace() == "" || o.GetName() == "" {
		return false
	}
	key := o.GetNamespace() + "/" + o.GetName()
	in.t.mu.Lock()
	defer in.t.mu.Unlock()
	switch o.GetKind() {
	case "ConfigMap":
		if _, err := in.tree.GetConfigMap(context.Background(), o.GetNamespace(), o.GetName()); err == nil {
			return false
		}
		cm := &corev1.ConfigMap{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, cm); err != nil {
			return false // applying it fails too; its Kustomization reports that
		}
		in.tree.AddConfigMap(cm)
	case "Secret":
		if _, err := in.tree.GetSecret(context.Background(), o.GetNamespace(), o.GetName()); err == nil {
			return false
		}
		if _, ok := in.encrypted[key]; ok {
			return false
		}
		if _, ok := o.Object["sops"]; ok || sopsMasked(o) {
			in.encrypted[key] = parent
			return true
		}
		s := &corev1.Secret{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, s); err != nil {
			return false
		}
		in.tree.AddSecret(s)
	default:
		return false
	}
	return true
}

// declaredLocked reports whether the tree declares kind namespace/name; t.mu is held.
func (in *treeInputs) declaredLocked(kind, namespace, name string) bool {
	ctx := context.Background()
	switch kind {
	case "ConfigMap":
		_, err := in.tree.GetConfigMap(ctx, namespace, name)
		return err == nil
	case "Secret":
		if _, ok := in.encrypted[namespace+"/"+name]; ok {
			return true
		}
		_, err := in.tree.GetSecret(ctx, namespace, name)
		return err == nil
	}
	return false
}

// givenHas reports whether the explicit inputs hold kind namespace/name.
func (in *treeInputs) givenHas(kind, namespace, name string) bool {
	if in.given == nil {
		return false
	}
	ctx := in.t.ctx
	switch kind {
	case "ConfigMap":
		_, err := in.given.GetConfigMap(ctx, namespace, name)
		return err == nil
	case "Secret":
		_, err := in.given.GetSecret(ctx, namespace, name)
		return err == nil
	}
	return false
}

// available reports whether n can be read now, from any of the inputs.
func (in *treeInputs) available(ctx context.Context, n need) bool {
	var err error
	switch n.kind {
	case "ConfigMap":
		_, err = in.GetConfigMap(ctx, n.namespace, n.name)
	case "Secret":
		_, err = in.GetSecret(ctx, n.namespace, n.name)
	default:
		return true
	}
	return err == nil
}

// GetConfigMap implements source.ConfigMaps.
func (in *treeInputs) GetConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	if in.given != nil {
		cm, err := in.given.GetConfigMap(ctx, namespace, name)
		if err == nil || !apierrors.IsNotFound(err) {
			return cm, err
		}
	}
	in.t.mu.Lock()
	cm, err := in.tree.GetConfigMap(ctx, namespace, name)
	in.t.mu.Unlock()
	if err == nil {
		return cm.DeepCopy(), nil
	}
	if in.base.configMaps == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, namespace+"/"+name)
	}
	return in.base.configMaps.GetConfigMap(ctx, namespace, name)
}

// GetSecret implements source.Secrets.
func (in *treeInputs) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if in.given != nil {
		s, err := in.given.GetSecret(ctx, namespace, name)
		if err == nil || !apierrors.IsNotFound(err) {
			return s, err
		}
	}
	in.t.mu.Lock()
	s, err := in.tree.GetSecret(ctx, namespace, name)
	parent, encrypted := in.encrypted[namespace+"/"+name]
	in.t.mu.Unlock()
	if err == nil {
		return s.DeepCopy(), nil
	}
	if encrypted {
		return nil, fmt.Errorf("Secret %s/%s, which Kustomization %s applies, is SOPS-encrypted and that build did not decrypt it: give its keys (--decryption-key) or supply it with --local-resource Secret/%s/%s=FILE", namespace, name, parent, namespace, name)
	}
	if in.base.secrets == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, namespace+"/"+name)
	}
	return in.base.secrets.GetSecret(ctx, namespace, name)
}
