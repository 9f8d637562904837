package agent

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/image"
)

// The image kinds, for the reconcile switch.
const (
	imageRepositoryKind = imagev1.ImageRepositoryKind
	imagePolicyKind     = imagev1.ImagePolicyKind
	imageAutomationKind = imagev1.ImageUpdateAutomationKind
)

func (a *Agent) imageReconciler() *image.Reconciler {
	c := a.opts.Clients
	return &image.Reconciler{
		Client:  c.Dynamic,
		Scanner: &image.Scanner{Store: a.opts.Store, Secrets: c, Clock: a.clock, Cloud: a.fetchers.Cloud},
		Automation: &image.Automation{Secrets: c, TempDir: a.opts.Store.TempDir, Clock: a.clock,
			GitHubApp: a.fetchers.Git.GitHubApp},
		Clock: a.clock,
	}
}

// reconcileImage reconciles the image kinds: a scan that finds new tags reconciles the policies of the
// repository, a policy electing a new image reconciles the automations of its namespace, and a pushed
// commit reconciles the GitRepository it went to.
func (a *Agent) reconcileImage(ctx context.Context, key Key, u *unstructured.Unstructured) outcome {
	if suspended, _, _ := unstructured.NestedBool(u.Object, "spec", "suspend"); suspended {
		a.opts.Metrics.setReady(key.Kind, key.Namespace, key.Name, readyStatus(u), true)
		return outcome{skipped: true}
	}
	if u.GetDeletionTimestamp() != nil {
		return outcome{skipped: true}
	}
	switch key.Kind {
	case imagev1.ImageRepositoryKind:
		return a.reconcileImageRepository(ctx, key, u)
	case imagev1.ImagePolicyKind:
		return a.reconcileImagePolicy(ctx, key, u)
	default:
		return a.reconcileImageAutomation(ctx, key, u)
	}
}

func (a *Agent) finishImage(ctx context.Context, key Key, u *unstructured.Unstructured, err error, waiting bool, requeue func() outcome) outcome {
	if err != nil {
		a.opts.Metrics.setReady(key.Kind, key.Namespace, key.Name, metav1.ConditionFalse, false)
		if waiting {
			a.waitForImage(key, u)
			return outcome{err: err, waiting: true, skipped: true, requeue: a.opts.DependencyRequeue}
		}
		a.emit(ctx, objectRef(key.Kind, u), events.SeverityError, image.ReasonOf(err), err.Error(), "")
		out := requeue()
		out.err = err
		if out.requeue <= 0 {
			out.requeue = intervalOf(u, defaultSourceInterval)
		}
		return out
	}
	a.opts.Metrics.setReady(key.Kind, key.Namespace, key.Name, metav1.ConditionTrue, false)
	a.wake(key)
	return requeue()
}

// waitForImage records what a waiting image object waits for, so that it is reconciled when that
// becomes ready.
func (a *Agent) waitForImage(key Key, u *unstructured.Unstructured) {
	switch key.Kind {
	case imagev1.ImagePolicyKind:
		ns, name := refOf(u, "imageRepositoryRef")
		a.waitFor(Key{Kind: imagev1.ImageRepositoryKind, Namespace: ns, Name: name}, key)
	case imagev1.ImageUpdateAutomationKind:
		ns, name := refOf(u, "sourceRef")
		a.waitFor(Key{Kind: sourcev1.GitRepositoryKind, Namespace: ns, Name: name}, key)
	}
}

func refOf(u *unstructured.Unstructured, field string) (namespace, name string) {
	name, _, _ = unstructured.NestedString(u.Object, "spec", field, "name")
	namespace, _, _ = unstructured.NestedString(u.Object, "spec", field, "namespace")
	if namespace == "" {
		namespace = u.GetNamespace()
	}
	return namespace, name
}

func (a *Agent) reconcileImageRepository(ctx context.Context, key Key, u *unstructured.Unstructured) outcome {
	repo := &imagev1.ImageRepository{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, repo); err != nil {
		return outcome{err: fmt.Errorf("ImageRepository %s/%s: %w", key.Namespace, key.Name, err), requeue: a.opts.DependencyRequeue}
	}
	res := a.imageReconciler().ReconcileRepository(ctx, repo)
	return a.finishImage(ctx, key, u, res.Err, false, func() outcome {
		out := outcome{requeue: repo.GetRequeueAfter()}
		if res.Scan == nil {
			return out
		}
		out.revision = res.Scan.Revision
		if res.Scan.Changed() {
			a.emit(ctx, objectRef(key.Kind, u), events.SeverityInfo, meta.SucceededReason,
				image.RepositoryReadyMessage(res.Scan), res.Scan.Revision)
			a.triggerImage(imagev1.ImagePolicyKind, func(p *unstructured.Unstructured) bool {
				ns, name := refOf(p, "imageRepositoryRef")
				return ns == key.Namespace && name == key.Name
			})
		}
		return out
	})
}

func (a *Agent) reconcileImagePolicy(ctx context.Context, key Key, u *unstructured.Unstructured) outcome {
	pol := &imagev1.ImagePolicy{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, pol); err != nil {
		return outcome{err: fmt.Errorf("ImagePolicy %s/%s: %w", key.Namespace, key.Name, err), requeue: a.opts.DependencyRequeue}
	}
	ns, name := refOf(u, "imageRepositoryRef")
	var repo *imagev1.ImageRepository
	if obj, err := a.cached(imagev1.ImageRepositoryKind, ns, name); err == nil && obj != nil {
		repo = &imagev1.ImageRepository{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, repo); err != nil {
			return outcome{err: fmt.Errorf("ImageRepository %s/%s: %w", ns, name, err), requeue: a.opts.DependencyRequeue}
		}
	}
	res := a.imageReconciler().ReconcilePolicy(ctx, pol, repo)
	return a.finishImage(ctx, key, u, res.Err, res.Waiting, func() outcome {
		out := outcome{requeue: pol.GetRequeueAfter()}
		if res.Latest == nil {
			return out
		}
		out.revision = res.Latest.String()
		if res.Changed {
			a.emit(ctx, objectRef(key.Kind, u), events.SeverityInfo, meta.SucceededReason, res.Message, out.revision)
			a.triggerImage(imagev1.ImageUpdateAutomationKind, func(auto *unstructured.Unstructured) bool {
				return auto.GetNamespace() == key.Namespace
			})
		}
		return out
	})
}

func (a *Agent) reconcileImageAutomation(ctx context.Context, key Key, u *unstructured.Unstructured) outcome {
	auto := &imagev1.ImageUpdateAutomation{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, auto); err != nil {
		return outcome{err: fmt.Errorf("ImageUpdateAutomation %s/%s: %w", key.Namespace, key.Name, err), requeue: a.opts.DependencyRequeue}
	}
	ns, name := refOf(u, "sourceRef")
	var repo *sourcev1.GitRepository
	if obj, err := a.cached(sourcev1.GitRepositoryKind, ns, name); err == nil && obj != nil {
		repo = &sourcev1.GitRepository{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, repo); err != nil {
			return outcome{err: fmt.Errorf("GitRepository %s/%s: %w", ns, name, err), requeue: a.opts.DependencyRequeue}
		}
	}
	// Policies are read from the API, not the cache: the policy that triggered this run has just written
	// its new image, which the informer may not have seen yet.
	list, err := a.opts.Clients.Dynamic.Resource(image.PoliciesResource).Namespace(key.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return outcome{err: fmt.Errorf("ImageUpdateAutomation %s/%s: listing ImagePolicies: %w", key.Namespace, key.Name, err), requeue: auto.GetRequeueAfter()}
	}
	policies := make([]imagev1.ImagePolicy, 0, len(list.Items))
	for _, item := range list.Items {
		var p imagev1.ImagePolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &p); err == nil {
			policies = append(policies, p)
		}
	}
	res := a.imageReconciler().ReconcileAutomation(ctx, auto, repo, policies)
	return a.finishImage(ctx, key, u, res.Err, res.Waiting, func() outcome {
		out := outcome{requeue: auto.GetRequeueAfter()}
		if res.Run == nil {
			return out
		}
		out.revision = res.Run.SourceRevision
		if len(res.Run.Problems) > 0 {
			// Flux ignores markers naming unknown policies without a word; converge applies the others
			// the same way but says which markers it skipped.
			a.emit(ctx, objectRef(key.Kind, u), events.SeverityError, imagev1.UpdateFailedReason,
				fmt.Sprintf("markers not applied: %v", errors.Join(problemsOf(res.Run.Problems)...)), out.revision)
		}
		if res.Run.Commit != "" {
			out.revision = res.Run.Commit
			a.emit(ctx, objectRef(key.Kind, u), events.SeverityInfo, meta.SucceededReason, res.Run.Summary(), res.Run.Commit)
			// The pushed commit is the source's next revision: fetch it now rather than on its interval.
			a.trigger(Key{Kind: sourcev1.GitRepositoryKind, Namespace: ns, Name: name})
		}
		return out
	})
}

func problemsOf(ps []*image.MarkerError) []error {
	out := make([]error, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

// cached returns kind namespace/name from the informer cache; nil when absent.
func (a *Agent) cached(kind, namespace, name string) (*unstructured.Unstructured, error) {
	inf, ok := a.informers[kind]
	if !ok {
		return nil, fmt.Errorf("%s is not watched", kind)
	}
	item, exists, err := inf.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !exists {
		return nil, err
	}
	u, _ := item.(*unstructured.Unstructured)
	return u, nil
}

// triggerImage reconciles the objects of kind that match.
func (a *Agent) triggerImage(kind string, match func(*unstructured.Unstructured) bool) {
	inf, ok := a.informers[kind]
	if !ok {
		return
	}
	for _, item := range inf.GetStore().List() {
		if u, ok := item.(*unstructured.Unstructured); ok && match(u) {
			a.trigger(keyOf(kind, u))
		}
	}
}
