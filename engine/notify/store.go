package notify

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
)

// Resources of the notification API.
var (
	AlertsResource    = notificationv1beta3.GroupVersion.WithResource("alerts")
	ProvidersResource = notificationv1beta3.GroupVersion.WithResource("providers")
)

// ClusterStore reads Alerts and Providers from the API server once, on first use, and keeps them: the
// store of a short run such as `converge apply`. Secrets and labels are read when needed.
type ClusterStore struct {
	Dynamic dynamic.Interface
	Core    kubernetes.Interface
	Mapper  meta.RESTMapper

	once      sync.Once
	err       error
	alerts    []notificationv1beta3.Alert
	providers map[string]*notificationv1beta3.Provider
}

func (s *ClusterStore) load(ctx context.Context) error {
	s.once.Do(func() {
		s.providers = map[string]*notificationv1beta3.Provider{}
		list, err := s.Dynamic.Resource(AlertsResource).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return // the notification CRDs are not installed: no Alerts
		}
		if err != nil {
			s.err = fmt.Errorf("listing Alerts: %w", err)
			return
		}
		for _, u := range list.Items {
			var a notificationv1beta3.Alert
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &a); err != nil {
				s.err = fmt.Errorf("decoding Alert %s/%s: %w", u.GetNamespace(), u.GetName(), err)
				return
			}
			s.alerts = append(s.alerts, a)
		}
		if len(s.alerts) == 0 {
			return
		}
		plist, err := s.Dynamic.Resource(ProvidersResource).List(ctx, metav1.ListOptions{})
		if err != nil {
			s.err = fmt.Errorf("listing Providers: %w", err)
			return
		}
		for _, u := range plist.Items {
			p := &notificationv1beta3.Provider{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
				s.err = fmt.Errorf("decoding Provider %s/%s: %w", u.GetNamespace(), u.GetName(), err)
				return
			}
			s.providers[p.Namespace+"/"+p.Name] = p
		}
	})
	return s.err
}

// HasAlerts reports whether the cluster has at least one Alert that is not suspended.
func (s *ClusterStore) HasAlerts(ctx context.Context) (bool, error) {
	if err := s.load(ctx); err != nil {
		return false, err
	}
	for _, a := range s.alerts {
		if !a.Spec.Suspend {
			return true, nil
		}
	}
	return false, nil
}

// Alerts implements Store.
func (s *ClusterStore) Alerts(ctx context.Context) ([]notificationv1beta3.Alert, error) {
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s.alerts, nil
}

// Provider implements Store.
func (s *ClusterStore) Provider(ctx context.Context, namespace, name string) (*notificationv1beta3.Provider, error) {
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	p, ok := s.providers[namespace+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(ProvidersResource.GroupResource(), name)
	}
	return p, nil
}

// Secret implements Store.
func (s *ClusterStore) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return s.Core.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

// Labels implements Store.
func (s *ClusterStore) Labels(ctx context.Context, obj corev1.ObjectReference) (map[string]string, error) {
	return ObjectLabels(ctx, s.Dynamic, s.Mapper, obj)
}

// ObjectLabels reads the labels of obj from the API server.
func ObjectLabels(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, obj corev1.ObjectReference) (map[string]string, error) {
	gv, err := schema.ParseGroupVersion(obj.APIVersion)
	if err != nil {
		return nil, err
	}
	m, err := mapper.RESTMapping(gv.WithKind(obj.Kind).GroupKind(), gv.Version)
	if err != nil {
		return nil, err
	}
	var u *unstructured.Unstructured
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		u, err = dyn.Resource(m.Resource).Namespace(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
	} else {
		u, err = dyn.Resource(m.Resource).Get(ctx, obj.Name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, err
	}
	return u.GetLabels(), nil
}
