package image

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/support"
)

// FieldManager is the field manager of the status converge writes.
const FieldManager = "converge"

// API resources of the image kinds.
var (
	RepositoriesResource = imagev1.GroupVersion.WithResource("imagerepositories")
	PoliciesResource     = imagev1.GroupVersion.WithResource("imagepolicies")
	AutomationsResource  = imagev1.GroupVersion.WithResource("imageupdateautomations")
)

// Reconciler reconciles the image kinds and writes their status as Flux's image controllers do.
type Reconciler struct {
	Client     dynamic.Interface
	Scanner    *Scanner
	Automation *Automation
	Clock      clock.PassiveClock
}

func (r *Reconciler) now() time.Time {
	return r.Clock.Now()
}

// RepositoryOutcome is the result of reconciling an ImageRepository.
type RepositoryOutcome struct {
	Scan *ScanResult
	Err  error
}

// ReconcileRepository scans repo and records the result in its status.
func (r *Reconciler) ReconcileRepository(ctx context.Context, repo *imagev1.ImageRepository) RepositoryOutcome {
	res, err := r.Scanner.Scan(ctx, repo)
	st := repo.Status.DeepCopy()
	now := r.now()
	if err != nil {
		setReady(&st.Conditions, metav1.ConditionFalse, ReasonOf(err), err.Error(), IsStalled(err), repo.Generation, now)
	} else {
		st.CanonicalImageName = res.CanonicalImageName
		st.LastScanResult = &imagev1.ScanResult{Revision: res.Revision, TagCount: res.TagCount, ScanTime: metav1.NewTime(res.ScanTime), LatestTags: res.LatestTags}
		st.ObservedExclusionList = repo.GetExclusionList()
		setReady(&st.Conditions, metav1.ConditionTrue, meta.SucceededReason, RepositoryReadyMessage(res), false, repo.Generation, now)
	}
	st.ObservedGeneration = repo.Generation
	st.LastHandledReconcileAt = repo.GetAnnotations()[meta.ReconcileRequestAnnotation]
	support.NoteConditions(imagev1.ImageRepositoryKind, repo, st.Conditions)
	if werr := r.writeStatus(ctx, RepositoriesResource, imagev1.ImageRepositoryKind, &repo.ObjectMeta, st); werr != nil {
		err = errors.Join(err, werr)
	}
	return RepositoryOutcome{Scan: res, Err: err}
}

// RepositoryReadyMessage is the Ready message of a successful scan, as Flux writes it.
func RepositoryReadyMessage(res *ScanResult) string {
	return fmt.Sprintf("successful scan: found %d tags with checksum %s", res.TagCount, res.Revision)
}

// PolicyOutcome is the result of reconciling an ImagePolicy.
type PolicyOutcome struct {
	Latest   *imagev1.ImageRef
	Previous *imagev1.ImageRef
	// Changed is true when the elected image (name, tag or digest) differs from the one in status before.
	Changed bool
	// Waiting is true when the ImageRepository is missing or not scanned yet.
	Waiting bool
	// Message is the Ready message.
	Message string
	Err     error
}

// ReconcilePolicy elects the latest image of pol from the tags stored for repo (nil when it does not
// exist) and records it in pol's status.
func (r *Reconciler) ReconcilePolicy(ctx context.Context, pol *imagev1.ImagePolicy, repo *imagev1.ImageRepository) PolicyOutcome {
	out := r.electPolicy(ctx, pol, repo)
	st := pol.Status.DeepCopy()
	now := r.now()
	if out.Err != nil {
		out.Message = out.Err.Error()
		setReady(&st.Conditions, metav1.ConditionFalse, ReasonOf(out.Err), out.Message, IsStalled(out.Err), pol.Generation, now)
	} else {
		// As Flux: a different image (digest included) becomes latestRef and the one before it
		// observedPreviousRef; an unchanged one leaves both alone.
		if st.LatestRef == nil || *st.LatestRef != *out.Latest {
			st.ObservedPreviousRef = st.LatestRef
			st.LatestRef = out.Latest
			out.Changed = true
		}
		out.Previous = st.ObservedPreviousRef
		out.Message = PolicyReadyMessage(st.LatestRef, st.ObservedPreviousRef)
		setReady(&st.Conditions, metav1.ConditionTrue, meta.SucceededReason, out.Message, false, pol.Generation, now)
	}
	st.ObservedGeneration = pol.Generation
	st.LastHandledReconcileAt = pol.GetAnnotations()[meta.ReconcileRequestAnnotation]
	if werr := r.writeStatus(ctx, PoliciesResource, imagev1.ImagePolicyKind, &pol.ObjectMeta, st); werr != nil {
		out.Err = errors.Join(out.Err, werr)
	}
	return out
}

// PolicyReadyMessage is the Ready message of an ImagePolicy that elected latest, as Flux writes it.
func PolicyReadyMessage(latest, previous *imagev1.ImageRef) string {
	msg := fmt.Sprintf("Latest image tag for %s resolved to %s", latest.Name, latest.Tag)
	if latest.Digest != "" {
		msg += " with digest " + latest.Digest
	}
	if previous != nil && *previous != *latest {
		msg += fmt.Sprintf(" (previously %s:%s", previous.Name, previous.Tag)
		if previous.Digest != "" {
			msg += "@" + previous.Digest
		}
		msg += ")"
	}
	return msg
}

func (r *Reconciler) electPolicy(ctx context.Context, pol *imagev1.ImagePolicy, repo *imagev1.ImageRepository) PolicyOutcome {
	id := pol.Namespace + "/" + pol.Name
	ref := pol.Spec.ImageRepositoryRef
	ns := ref.Namespace
	if ns == "" {
		ns = pol.Namespace
	}
	if repo == nil {
		return PolicyOutcome{Waiting: true, Err: &Error{Reason: meta.DependencyNotReadyReason,
			Err: fmt.Errorf("ImagePolicy %s: referenced ImageRepository %s/%s not found", id, ns, ref.Name)}}
	}
	if _, err := ParseRepository(repo.Spec.Image, repo.Spec.Insecure); err != nil {
		return PolicyOutcome{Err: fmt.Errorf("ImagePolicy %s: ImageRepository %s/%s: %w", id, repo.Namespace, repo.Name, err)}
	}
	policy, err := NewPolicy(pol.Spec)
	if err != nil {
		return PolicyOutcome{Err: &Error{Reason: InvalidPolicyReason, Stalled: true, Err: fmt.Errorf("ImagePolicy %s: invalid policy: %w", id, err)}}
	}
	tags, _, found, err := StoredTags(r.Scanner.Store, repo.Namespace, repo.Name)
	if err != nil {
		return PolicyOutcome{Err: &Error{Reason: FailureReason, Err: fmt.Errorf("ImagePolicy %s: %w", id, err)}}
	}
	if !found {
		return PolicyOutcome{Waiting: true, Err: &Error{Reason: meta.DependencyNotReadyReason,
			Err: fmt.Errorf("ImagePolicy %s: ImageRepository %s/%s has not been scanned yet", id, repo.Namespace, repo.Name)}}
	}
	tag, err := policy.Latest(tags)
	if err != nil {
		return PolicyOutcome{Err: &Error{Reason: FailureReason, Err: fmt.Errorf("ImagePolicy %s: ImageRepository %s/%s: %w", id, repo.Namespace, repo.Name, err)}}
	}
	latest := &imagev1.ImageRef{Name: repo.Spec.Image, Tag: tag}
	switch pol.GetDigestReflectionPolicy() {
	case imagev1.ReflectIfNotPresent:
		if prev := pol.Status.LatestRef; prev != nil && prev.Name == latest.Name && prev.Tag == tag && prev.Digest != "" {
			latest.Digest = prev.Digest
			break
		}
		fallthrough
	case imagev1.ReflectAlways:
		d, err := r.Scanner.Digest(ctx, repo, tag)
		if err != nil {
			return PolicyOutcome{Err: &Error{Reason: FailureReason, Err: fmt.Errorf("ImagePolicy %s: %w", id, err)}}
		}
		latest.Digest = d
	}
	return PolicyOutcome{Latest: latest}
}

// AutomationOutcome is the result of reconciling an ImageUpdateAutomation.
type AutomationOutcome struct {
	Run     *AutomationResult
	Waiting bool
	Err     error
}

// AutomationReadyMessage is the Ready message of a successful automation run, as Flux writes it whether
// or not a commit was pushed.
const AutomationReadyMessage = "repository up-to-date"

// ReconcileAutomation runs auto against repo (nil when missing) with the policies of its namespace and
// records the run in its status.
func (r *Reconciler) ReconcileAutomation(ctx context.Context, auto *imagev1.ImageUpdateAutomation, repo *sourcev1.GitRepository, policies []imagev1.ImagePolicy) AutomationOutcome {
	now := metav1.NewTime(r.now())
	out := r.runAutomation(ctx, auto, repo, policies)
	st := auto.Status.DeepCopy()
	// Flux stamps every attempt, failed ones included.
	st.LastAutomationRunTime = &now
	if out.Err != nil {
		setReady(&st.Conditions, metav1.ConditionFalse, ReasonOf(out.Err), out.Err.Error(), IsStalled(out.Err), auto.Generation, now.Time)
	} else {
		run := out.Run
		st.ObservedPolicies = ObservedPolicies(auto, policies)
		st.ObservedSourceRevision = run.SourceRevision
		if run.Commit != "" {
			st.LastPushCommit, st.LastPushTime = run.Commit, &now
			if !run.SwitchBranch {
				// The pushed commit is the checkout branch's new head.
				st.ObservedSourceRevision = run.PushBranch + "@sha1:" + run.Commit
			}
		}
		setReady(&st.Conditions, metav1.ConditionTrue, meta.SucceededReason, AutomationReadyMessage, false, auto.Generation, now.Time)
	}
	st.ObservedGeneration = auto.Generation
	st.LastHandledReconcileAt = auto.GetAnnotations()[meta.ReconcileRequestAnnotation]
	if werr := r.writeStatus(ctx, AutomationsResource, imagev1.ImageUpdateAutomationKind, &auto.ObjectMeta, st); werr != nil {
		out.Err = errors.Join(out.Err, werr)
	}
	return out
}

// SelectPolicies returns the elected images of the policies auto applies (its namespace, its
// policySelector, with a latest image) and a function telling whether a policy exists at all.
func SelectPolicies(auto *imagev1.ImageUpdateAutomation, policies []imagev1.ImagePolicy) (Policies, imagev1.ObservedPolicies, func(namespace, name string) bool, error) {
	sel := labels.Everything()
	if auto.Spec.PolicySelector != nil {
		s, err := metav1.LabelSelectorAsSelector(auto.Spec.PolicySelector)
		if err != nil {
			return nil, nil, nil, &Error{Reason: imagev1.InvalidPolicySelectorReason, Stalled: true, Err: fmt.Errorf("spec.policySelector: %w", err)}
		}
		sel = s
	}
	selected, observed := Policies{}, imagev1.ObservedPolicies{}
	exists := map[string]bool{}
	for i := range policies {
		p := &policies[i]
		exists[p.Namespace+"/"+p.Name] = true
		if p.Namespace != auto.Namespace || !sel.Matches(labels.Set(p.Labels)) || p.Status.LatestRef == nil {
			continue
		}
		selected[p.Namespace+"/"+p.Name] = *p.Status.LatestRef
		observed[p.Name] = *p.Status.LatestRef
	}
	return selected, observed, func(ns, name string) bool { return exists[ns+"/"+name] }, nil
}

func (r *Reconciler) runAutomation(ctx context.Context, auto *imagev1.ImageUpdateAutomation, repo *sourcev1.GitRepository, policies []imagev1.ImagePolicy) AutomationOutcome {
	id := auto.Namespace + "/" + auto.Name
	if repo == nil {
		ns := auto.Spec.SourceRef.Namespace
		if ns == "" {
			ns = auto.Namespace
		}
		// Flux: "failed configuring source manager: referenced git repository does not exist".
		return AutomationOutcome{Waiting: true, Err: &Error{Reason: imagev1.SourceManagerFailedReason,
			Err: fmt.Errorf("ImageUpdateAutomation %s: referenced GitRepository %s/%s does not exist", id, ns, auto.Spec.SourceRef.Name)}}
	}
	if k := auto.Spec.SourceRef.Kind; k != sourcev1.GitRepositoryKind {
		return AutomationOutcome{Err: &Error{Reason: imagev1.InvalidSourceConfigReason, Stalled: true, Err: fmt.Errorf("ImageUpdateAutomation %s: source kind '%s' not supported", id, k)}}
	}
	selected, _, known, err := SelectPolicies(auto, policies)
	if err != nil {
		return AutomationOutcome{Err: fmt.Errorf("ImageUpdateAutomation %s: %w", id, err)}
	}
	run, err := r.Automation.Run(ctx, auto, repo, selected, known)
	return AutomationOutcome{Run: run, Err: err}
}

// ObservedPolicies returns what status.observedPolicies records for auto.
func ObservedPolicies(auto *imagev1.ImageUpdateAutomation, policies []imagev1.ImagePolicy) imagev1.ObservedPolicies {
	_, observed, _, _ := SelectPolicies(auto, policies)
	return observed
}

// setReady sets the Ready condition, with Stalled=True beside it for a stalled failure (as Flux), and
// drops Reconciling and any Stalled left from before.
func setReady(conds *[]metav1.Condition, status metav1.ConditionStatus, reason, msg string, stalled bool, gen int64, now time.Time) {
	if len(msg) > 32000 {
		msg = msg[:32000] + "..."
	}
	apimeta.RemoveStatusCondition(conds, meta.ReconcilingCondition)
	apimeta.RemoveStatusCondition(conds, meta.StalledCondition)
	if stalled {
		apimeta.SetStatusCondition(conds, metav1.Condition{Type: meta.StalledCondition, Status: metav1.ConditionTrue, Reason: reason, Message: msg,
			ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now)})
	}
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: meta.ReadyCondition, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now)})
}

// writeStatus replaces the whole status of the object obj describes with st through the status
// subresource, so that fields st no longer has are cleared. The first attempt is conditional on the
// resourceVersion the status was computed from (no extra read); on a conflict the object is read again
// and st written over the fresh copy. An object deleted meanwhile is no error.
func (r *Reconciler) writeStatus(ctx context.Context, gvr schema.GroupVersionResource, kind string, obj *metav1.ObjectMeta, st any) error {
	status, err := runtime.DefaultUnstructuredConverter.ToUnstructured(st)
	if err != nil {
		return fmt.Errorf("writing the status of %s %s/%s: %w", kind, obj.Namespace, obj.Name, err)
	}
	client := r.Client.Resource(gvr).Namespace(obj.Namespace)
	resourceVersion := obj.ResourceVersion
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if resourceVersion == "" {
			live, err := client.Get(ctx, obj.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			resourceVersion = live.GetResourceVersion()
		}
		u := &unstructured.Unstructured{Object: map[string]any{"status": status}}
		u.SetGroupVersionKind(gvr.GroupVersion().WithKind(kind))
		u.SetNamespace(obj.Namespace)
		u.SetName(obj.Name)
		u.SetResourceVersion(resourceVersion)
		resourceVersion = "" // a conflict reads the object again
		_, err := client.UpdateStatus(ctx, u, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing the status of %s %s/%s: %w", kind, obj.Namespace, obj.Name, err)
	}
	return nil
}
