package inspect

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// ListFrom is List that also returns the resourceVersion to watch from.
func ListFrom(ctx context.Context, client dynamic.Interface, kind Kind, namespace string, sel Selection) ([]Row, string, error) {
	list, err := client.Resource(kind.Resource).Namespace(namespace).List(ctx, sel.listOptions(""))
	if err != nil {
		return nil, "", fmt.Errorf("listing %s: %w", kind.Resource.Resource, err)
	}
	rows := make([]Row, 0, len(list.Items))
	for i := range list.Items {
		rows = append(rows, RowOf(kind, &list.Items[i]))
	}
	sortRows(rows)
	return rows, list.GetResourceVersion(), nil
}

// Selection narrows a list or watch to one name and to objects matching a label selector; the zero
// Selection selects everything.
type Selection struct {
	Name   string
	Labels string
}

func (s Selection) listOptions(resourceVersion string) metav1.ListOptions {
	opts := metav1.ListOptions{ResourceVersion: resourceVersion, LabelSelector: s.Labels}
	if s.Name != "" {
		opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", s.Name).String()
	}
	return opts
}

// Watch calls emit with the new state of every object of kind in namespace that is added or changed
// after resourceVersion (deleted is true for deletions), until ctx ends or emit fails. Watches the
// server closes are resumed.
func Watch(ctx context.Context, client dynamic.Interface, kind Kind, namespace, resourceVersion string, sel Selection, emit func(r Row, deleted bool) error) error {
	for ctx.Err() == nil {
		w, err := client.Resource(kind.Resource).Namespace(namespace).Watch(ctx, sel.listOptions(resourceVersion))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watching %s: %w", kind.Resource.Resource, err)
		}
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			resourceVersion = u.GetResourceVersion()
			if ev.Type != watch.Added && ev.Type != watch.Modified && ev.Type != watch.Deleted {
				continue
			}
			if err := emit(RowOf(kind, u), ev.Type == watch.Deleted); err != nil {
				w.Stop()
				return err
			}
		}
		w.Stop()
	}
	return nil
}
