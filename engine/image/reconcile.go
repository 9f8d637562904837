package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
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
	Now        func() time.Time
}

func (r *Reconciler) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
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
		setCondition(&st.Conditions, metav1.ConditionFalse, ReasonOf(err), err.Error(), repo.Generation, now)
	} else {
		st.CanonicalImageName = res.CanonicalImageName
		st.LastScanResult = &imagev1.ScanResult{Revision: res.Revision, TagCount: res.TagCount, ScanTime: metav1.NewTime(res.ScanTime), LatestTags: res.LatestTags}
		st.ObservedExclusionList = repo.GetExclusionList()
		setCondition(&st.Conditions, metav1.ConditionTrue, meta.SucceededReason, fmt.Sprintf("successful scan: found %d tags", res.TagCount), repo.Generation, now)
	}
	st.ObservedGeneration = repo.Generation
	st.LastHandledReconcileAt = repo.GetAnnotations()[meta.ReconcileRequestAnnotation]
	if werr := r.patchStatus(ctx, RepositoriesResource, repo.Namespace, repo.Name, st); werr != nil {
		err = errors.Join(err, werr)
	}
	return RepositoryOutcome{Scan: res, Err: err}
}

// PolicyOutcome is the result of reconciling an ImagePolicy.
type PolicyOutcome struct {
	Latest   *imagev1.ImageRef
	Previous *imagev1.ImageRef
	// Changed is true when the elected image differs from the one in status before.
	Changed bool
	// Waiting is true when the ImageRepository is missing or not scanned yet.
	Waiting bool
	Err     error
}

// ReconcilePolicy elects the latest image of pol from the tags stored for repo (nil when it does not
// exist) and records it in pol's status.
func (r *Reconciler) ReconcilePolicy(ctx context.Context, pol *imagev1.ImagePolicy, repo *imagev1.ImageRepository) PolicyOutcome {
	out := r.electPolicy(ctx, pol, repo)
	st := pol.Status.DeepCopy()
	now := r.now()
	if out.Err != nil {
		setCondition(&st.Conditions, metav1.ConditionFalse, ReasonOf(out.Err), out.Err.Error(), pol.Generation, now)
	} else {
		prev := st.LatestRef
		if prev != nil && (prev.Name != out.Latest.Name || prev.Tag != out.Latest.Tag) {
			st.ObservedPreviousRef = prev.DeepCopy()
			out.Changed = true
		}
		out.Changed = out.Changed || prev == nil || prev.Digest != out.Latest.Digest
		out.Previous = st.ObservedPreviousRef
		st.LatestRef = out.Latest
		msg := fmt.Sprintf("Latest image tag for '%s' resolved to %s", out.Latest.Name, out.Latest.Tag)
		if out.Previous != nil && out.Changed && prev != nil {
			msg = fmt.Sprintf("Latest image tag for '%s' updated from %s to %s", out.Latest.Name, prev.Tag, out.Latest.Tag)
		}
		setCondition(&st.Conditions, metav1.ConditionTrue, meta.SucceededReason, msg, pol.Generation, now)
	}
	st.ObservedGeneration = pol.Generation
	st.LastHandledReconcileAt = pol.GetAnnotations()[meta.ReconcileRequestAnnotation]
	if werr := r.patchStatus(ctx, PoliciesResource, pol.Namespace, pol.Name, st); werr != nil {
		out.Err = errors.Join(out.Err, werr)
	}
	return out
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
	policy, err := NewPolicy(pol.Spec)
	if err != nil {
		return PolicyOutcome{Err: fmt.Errorf("ImagePolicy %s: %w", id, err)}
	}
	tags, _, found, err := StoredTags(r.Scanner.Store, repo.Namespace, repo.Name)
	if err != nil {
		return PolicyOutcome{Err: fmt.Errorf("ImagePolicy %s: %w", id, err)}
	}
	if !found {
		return PolicyOutcome{Waiting: true, Err: &Error{Reason: meta.DependencyNotReadyReason,
			Err: fmt.Errorf("ImagePolicy %s: ImageRepository %s/%s has not been scanned yet", id, repo.Namespace, repo.Name)}}
	}
	tag, err := policy.Latest(tags)
	if err != nil {
		return PolicyOutcome{Err: fmt.Errorf("ImagePolicy %s: ImageRepository %s/%s: %w", id, repo.Namespace, repo.Name, err)}
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
			return PolicyOutcome{Err: fmt.Errorf("ImagePolicy %s: %w", id, err)}
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

// ReconcileAutomation runs auto against repo (nil when missing) with the policies of its namespace and
// records the run in its status.
func (r *Reconciler) ReconcileAutomation(ctx context.Context, auto *imagev1.ImageUpdateAutomation, repo *sourcev1.GitRepository, policies []imagev1.ImagePolicy) AutomationOutcome {
	out := r.runAutomation(ctx, auto, repo, policies)
	st := auto.Status.DeepCopy()
	if out.Err == nil {
		st.ObservedPolicies = ObservedPolicies(auto, policies)
	}
	now := metav1.NewTime(r.now())
	if out.Err != nil {
		setCondition(&st.Conditions, metav1.ConditionFalse, ReasonOf(out.Err), out.Err.Error(), auto.Generation, now.Time)
	} else {
		run := out.Run
		st.ObservedSourceRevision = run.SourceRevision
		msg := "repository up-to-date"
		if run.Commit != "" {
			st.LastPushCommit, st.LastPushTime = run.Commit, &now
			msg = fmt.Sprintf("committed and pushed commit '%s' to branch '%s'", run.Commit, run.PushBranch)
		}
		setCondition(&st.Conditions, metav1.ConditionTrue, meta.SucceededReason, msg, auto.Generation, now.Time)
	}
	if !out.Waiting {
		st.LastAutomationRunTime = &now
	}
	st.ObservedGeneration = auto.Generation
	st.LastHandledReconcileAt = auto.GetAnnotations()[meta.ReconcileRequestAnnotation]
	if werr := r.patchStatus(ctx, AutomationsResource, auto.Namespace, auto.Name, st); werr != nil {
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
			return nil, nil, nil, &Error{Reason: imagev1.InvalidPolicySelectorReason, Err: fmt.Errorf("spec.policySelector: %w", err)}
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
		return AutomationOutcome{Waiting: true, Err: &Error{Reason: meta.DependencyNotReadyReason,
			Err: fmt.Errorf("ImageUpdateAutomation %s: source %s/%s not found", id, ns, auto.Spec.SourceRef.Name)}}
	}
	if k := auto.Spec.SourceRef.Kind; k != "" && k != sourcev1.GitRepositoryKind {
		return AutomationOutcome{Err: &Error{Reason: imagev1.InvalidSourceConfigReason, Err: fmt.Errorf("ImageUpdateAutomation %s: source kind %s is not supported", id, k)}}
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

func setCondition(conds *[]metav1.Condition, status metav1.ConditionStatus, reason, msg string, gen int64, now time.Time) {
	if len(msg) > 32000 {
		msg = msg[:32000] + "..."
	}
	apimeta.RemoveStatusCondition(conds, meta.ReconcilingCondition)
	apimeta.RemoveStatusCondition(conds, meta.StalledCondition)
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: meta.ReadyCondition, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now)})
}

// patchStatus replaces the status subresource of namespace/name with st (a merge patch with the whole
// status, so cleared fields go away).
func (r *Reconciler) patchStatus(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string, st any) error {
	data, err := json.Marshal(map[string]any{"status": st})
	if err != nil {
		return err
	}
	_, err = r.Client.Resource(gvr).Namespace(namespace).Patch(ctx, name, types.MergePatchType, data,
		metav1.PatchOptions{FieldManager: FieldManager}, "status")
	if err != nil {
		return fmt.Errorf("writing the status of %s %s/%s: %w", gvr.Resource, namespace, name, err)
	}
	return nil
}
