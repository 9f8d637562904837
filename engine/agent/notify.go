package agent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
	"github.com/converge-gitops/converge/engine/notify"
)

// NotificationStore returns the notifier's view of the cluster from the agent's caches: Alerts and
// Providers, and the labels of event sources; Secrets are read from the API server. Before the caches
// are synced it reports no Alerts.
func (a *Agent) NotificationStore() notify.Store { return notificationStore{a} }

type notificationStore struct{ a *Agent }

func (s notificationStore) informerItems(kind string) []any {
	if !s.a.Ready() {
		return nil
	}
	inf, ok := s.a.informers[kind]
	if !ok {
		return nil
	}
	return inf.GetStore().List()
}

func (s notificationStore) Alerts(context.Context) ([]notificationv1beta3.Alert, error) {
	items := s.informerItems(notificationv1beta3.AlertKind)
	out := make([]notificationv1beta3.Alert, 0, len(items))
	for _, it := range items {
		u, ok := it.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		var al notificationv1beta3.Alert
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &al); err != nil {
			return nil, fmt.Errorf("decoding Alert %s/%s: %w", u.GetNamespace(), u.GetName(), err)
		}
		out = append(out, al)
	}
	return out, nil
}

func (s notificationStore) Provider(_ context.Context, namespace, name string) (*notificationv1beta3.Provider, error) {
	u, err := s.cached(notificationv1beta3.ProviderKind, namespace, name)
	if err != nil {
		return nil, err
	}
	p := &notificationv1beta3.Provider{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
		return nil, fmt.Errorf("decoding Provider %s/%s: %w", namespace, name, err)
	}
	return p, nil
}

func (s notificationStore) cached(kind, namespace, name string) (*unstructured.Unstructured, error) {
	if !s.a.Ready() {
		return nil, fmt.Errorf("%s %s/%s: caches not synced", kind, namespace, name)
	}
	inf, ok := s.a.informers[kind]
	if !ok {
		return nil, fmt.Errorf("%s is not served by the cluster", kind)
	}
	item, exists, err := inf.GetStore().GetByKey(cacheKey(Key{Kind: kind, Namespace: namespace, Name: name}))
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("%s %s/%s not found", kind, namespace, name)
	}
	return item.(*unstructured.Unstructured), nil
}

func (s notificationStore) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return s.a.opts.Clients.GetSecret(ctx, namespace, name)
}

func (s notificationStore) Labels(ctx context.Context, obj corev1.ObjectReference) (map[string]string, error) {
	if u, err := s.cached(obj.Kind, obj.Namespace, obj.Name); err == nil {
		return u.GetLabels(), nil
	}
	return notify.ObjectLabels(ctx, s.a.opts.Clients.Dynamic, s.a.opts.Clients.Mapper, obj)
}
