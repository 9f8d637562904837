package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/crds/sourceext/v1beta1"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/generator"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source"
)

// reconcileGenerator produces the ExternalArtifacts of an ArtifactGenerator from its sources' stored
// artifacts. Every source wakes the generator when it stores an artifact (waitFor), and a run whose
// sources did not change since the last success writes nothing; an artifact whose content did not change
// keeps its revision, so its consumers are not reconciled.
func (a *Agent) reconcileGenerator(ctx context.Context, u *unstructured.Unstructured) outcome {
	kind := v1beta1.ArtifactGeneratorKind
	gen := &v1beta1.ArtifactGenerator{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, gen); err != nil {
		return outcome{err: fmt.Errorf("ArtifactGenerator %s/%s: %w", u.GetNamespace(), u.GetName(), err), requeue: a.opts.DependencyRequeue}
	}
	self := keyOf(kind, u)
	gens := &reconcile.Generators{Client: a.opts.Clients.Dynamic, BaseURL: a.opts.ArtifactBaseURL, Clock: a.clock}
	live := a.generatedBy(gen)
	if gen.DeletionTimestamp != nil {
		if !slices.Contains(gen.Finalizers, v1beta1.Finalizer) {
			return outcome{skipped: true}
		}
		if err := gens.Finalize(ctx, gen, live); err != nil {
			return outcome{err: err, requeue: a.opts.DependencyRequeue}
		}
		for _, name := range generatedNames(gen, live) {
			a.dropArtifact(Key{Kind: sourcev1.ExternalArtifactKind, Namespace: gen.Namespace, Name: name})
		}
		rest := slices.DeleteFunc(slices.Clone(gen.Finalizers), func(f string) bool { return f == v1beta1.Finalizer })
		if err := a.patchFinalizers(ctx, reconcile.ArtifactGeneratorsResource, &gen.ObjectMeta, rest); err != nil {
			return outcome{err: err, requeue: a.opts.DependencyRequeue}
		}
		return outcome{skipped: true}
	}
	if !slices.Contains(gen.Finalizers, v1beta1.Finalizer) {
		if err := a.patchFinalizers(ctx, reconcile.ArtifactGeneratorsResource, &gen.ObjectMeta, append(slices.Clone(gen.Finalizers), v1beta1.Finalizer)); err != nil {
			return outcome{err: err, requeue: a.opts.DependencyRequeue}
		}
	}
	if gen.IsDisabled() {
		a.opts.Metrics.setReady(kind, gen.Namespace, gen.Name, readyStatus(u), true)
		return outcome{skipped: true}
	}
	fail := func(reason string, err error, stalled, waiting bool) outcome {
		a.opts.Metrics.setReady(kind, gen.Namespace, gen.Name, metav1.ConditionFalse, false)
		if werr := gens.NotReady(ctx, gen, reason, err, stalled); werr != nil {
			err = errors.Join(err, werr)
		}
		if !waiting {
			a.emit(ctx, objectRef(kind, u), events.SeverityError, reason, err.Error(), "")
		}
		requeue := a.opts.DependencyRequeue
		if stalled {
			requeue = gen.GetRequeueAfter()
		}
		return outcome{err: err, waiting: waiting, requeue: requeue}
	}
	if err := generator.Validate(gen); err != nil {
		return fail(v1beta1.ValidationFailedReason, err, true, false)
	}

	inputs := map[string]generator.Source{}
	observed := map[string]v1beta1.ObservedSource{}
	for _, s := range gen.Spec.Sources {
		ns := s.Namespace
		if ns == "" {
			ns = gen.Namespace
		}
		key := Key{Kind: s.Kind, Namespace: ns, Name: s.Name}
		a.waitFor(key, self) // its next stored artifact wakes this generator
		in, obs, err := a.generatorInput(ctx, key, self)
		if err != nil {
			return fail(v1beta1.SourceFetchFailedReason, fmt.Errorf("ArtifactGenerator %s/%s: source '%s': %w, retrying in %s", gen.Namespace, gen.Name, s.Alias, err, a.opts.DependencyRequeue), false, true)
		}
		inputs[s.Alias], observed[s.Alias] = in, obs
	}
	digest := v1beta1.HashObservedSources(observed)
	if a.generatorUpToDate(gen, digest, live) {
		a.opts.Metrics.setReady(kind, gen.Namespace, gen.Name, metav1.ConditionTrue, false)
		if err := gens.HandledRequest(ctx, gen); err != nil {
			return outcome{err: err, requeue: a.opts.DependencyRequeue}
		}
		return outcome{requeue: gen.GetRequeueAfter(), revision: digest, skipped: true}
	}

	work, err := a.opts.Store.TempDir("generator-")
	if err != nil {
		return fail(meta.ReconciliationFailedReason, err, false, false)
	}
	defer os.RemoveAll(work)
	arts, err := generator.Generate(ctx, gen, inputs, work)
	if err != nil {
		terminal := errors.Is(err, generator.ErrInvalid) || errors.Is(err, generator.ErrUnknownAlias) || errors.Is(err, generator.ErrDuplicate) ||
			errors.Is(err, generator.ErrEscape) || errors.Is(err, generator.ErrUnsupported)
		return fail(meta.BuildFailedReason, err, terminal, false)
	}
	stored := make([]*source.Artifact, 0, len(arts))
	labels := make(map[string]map[string]string, len(arts))
	for _, art := range arts {
		labels[art.Name] = art.Labels
		md := maps.Clone(art.Metadata)
		if md == nil {
			md = map[string]string{}
		}
		md[reconcile.StoreDigestKey] = art.Digest
		sa, err := a.opts.Store.Commit(source.Ref{Kind: sourcev1.ExternalArtifactKind, Namespace: gen.Namespace, Name: art.Name}, art.Revision, art.Dir, md)
		if err != nil {
			return fail(meta.ReconciliationFailedReason, fmt.Errorf("ArtifactGenerator %s/%s: storing %s: %w", gen.Namespace, gen.Name, art.Name, err), false, false)
		}
		stored = append(stored, sa)
	}
	pub, err := gens.Publish(ctx, gen, stored, labels, live, digest)
	if err != nil {
		return fail(meta.ReconciliationFailedReason, err, false, false)
	}
	for _, nsName := range pub.Deleted {
		ns, name, _ := strings.Cut(nsName, "/")
		a.dropArtifact(Key{Kind: sourcev1.ExternalArtifactKind, Namespace: ns, Name: name})
	}
	a.opts.Metrics.setReady(kind, gen.Namespace, gen.Name, metav1.ConditionTrue, false)
	if len(pub.Changed) > 0 || len(pub.Deleted) > 0 {
		var msg strings.Builder
		if len(pub.Changed) > 0 {
			fmt.Fprintf(&msg, "external artifacts reconciled: %s", strings.Join(pub.Changed, ", "))
		}
		if len(pub.Deleted) > 0 {
			if msg.Len() > 0 {
				msg.WriteString("; ")
			}
			fmt.Fprintf(&msg, "external artifacts deleted: %s", strings.Join(pub.Deleted, ", "))
		}
		a.emit(ctx, objectRef(kind, u), events.SeverityInfo, meta.ReadyCondition, msg.String(), "")
	}
	return outcome{requeue: gen.GetRequeueAfter(), revision: digest}
}

// generatorInput returns the files and observed state of one generator source: an ExternalArtifact's
// artifact (the agent's own generated ones come from the store), the artifact the agent stored for a
// GitRepository, OCIRepository or Bucket (a source not fetched yet is scheduled), or a HelmChart's chart
// archive, fetched through its spec as for a HelmRelease (its own source wakes the generator).
func (a *Agent) generatorInput(ctx context.Context, key, self Key) (generator.Source, v1beta1.ObservedSource, error) {
	var none generator.Source
	switch key.Kind {
	case sourcev1.HelmChartKind:
		obj, err := a.lookupSource(ctx, key.Kind, key.Namespace, key.Name)
		if err != nil {
			return none, v1beta1.ObservedSource{}, err
		}
		hc, ok := obj.(*sourcev1.HelmChart)
		if !ok {
			return none, v1beta1.ObservedSource{}, fmt.Errorf("%s '%s/%s' not found", key.Kind, key.Namespace, key.Name)
		}
		hc = hc.DeepCopy()
		a.waitFor(Key{Kind: hc.Spec.SourceRef.Kind, Namespace: hc.Namespace, Name: hc.Spec.SourceRef.Name}, self)
		ca, err := a.charts.HelmChart(ctx, hc, nil)
		if err != nil {
			return none, v1beta1.ObservedSource{}, err
		}
		obs := v1beta1.ObservedSource{Digest: ca.Digest, Revision: ca.Revision, URL: ca.FluxArtifact(a.opts.ArtifactBaseURL).URL}
		return generator.Source{Archive: ca.File, Revision: ca.Revision}, obs, nil
	case sourcev1.ExternalArtifactKind:
		inf, ok := a.informers[key.Kind]
		if !ok {
			return none, v1beta1.ObservedSource{}, fmt.Errorf("source kind %s is not served by the cluster", key.Kind)
		}
		item, exists, _ := inf.GetStore().GetByKey(cacheKey(key))
		if !exists {
			return none, v1beta1.ObservedSource{}, fmt.Errorf("%s '%s/%s' not found", key.Kind, key.Namespace, key.Name)
		}
		ea := &sourcev1.ExternalArtifact{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.(*unstructured.Unstructured).Object, ea); err != nil {
			return none, v1beta1.ObservedSource{}, err
		}
		if ea.Status.Artifact == nil {
			return none, v1beta1.ObservedSource{}, fmt.Errorf("%s '%s/%s' has no artifact yet", key.Kind, key.Namespace, key.Name)
		}
		art, err := a.fetchers.External(ctx, ea)
		if err != nil {
			return none, v1beta1.ObservedSource{}, err
		}
		st := ea.Status.Artifact
		obs := v1beta1.ObservedSource{Digest: st.Digest, Revision: st.Revision, URL: st.URL, OriginRevision: st.Metadata[v1beta1.ArtifactOriginRevisionAnnotation]}
		return generator.Source{Dir: art.Dir, Revision: st.Revision, OriginRevision: obs.OriginRevision}, obs, nil
	case sourcev1.GitRepositoryKind, sourcev1.OCIRepositoryKind, sourcev1.BucketKind:
		art, err := a.artifactOf(ctx, key)
		if err != nil {
			return none, v1beta1.ObservedSource{}, err
		}
		obs := v1beta1.ObservedSource{Digest: art.Digest, Revision: art.Revision, URL: art.FluxArtifact(a.opts.ArtifactBaseURL).URL,
			OriginRevision: art.Metadata[v1beta1.ArtifactOriginRevisionAnnotation]}
		return generator.Source{Dir: art.Dir, Revision: art.Revision, OriginRevision: obs.OriginRevision}, obs, nil
	}
	return none, v1beta1.ObservedSource{}, fmt.Errorf("%s sources are not supported by the agent yet", key.Kind)
}

// generatedNames lists the ExternalArtifacts of gen's inventory and the live ones labelled as its own.
func generatedNames(gen *v1beta1.ArtifactGenerator, live map[string]*sourcev1.ExternalArtifact) []string {
	names := slices.Collect(maps.Keys(live))
	for _, ref := range gen.Status.Inventory {
		if ref.Namespace == gen.Namespace && live[ref.Name] == nil {
			names = append(names, ref.Name)
		}
	}
	slices.Sort(names)
	return names
}

// generatedBy returns the ExternalArtifacts labelled as generated by gen, by name.
func (a *Agent) generatedBy(gen *v1beta1.ArtifactGenerator) map[string]*sourcev1.ExternalArtifact {
	out := map[string]*sourcev1.ExternalArtifact{}
	inf, ok := a.informers[sourcev1.ExternalArtifactKind]
	if !ok || gen.UID == "" {
		return out
	}
	for _, item := range inf.GetStore().List() {
		u, ok := item.(*unstructured.Unstructured)
		if !ok || u.GetNamespace() != gen.Namespace || u.GetLabels()[v1beta1.ArtifactGeneratorLabel] != string(gen.UID) {
			continue
		}
		ea := &sourcev1.ExternalArtifact{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ea); err == nil {
			out[ea.Name] = ea
		}
	}
	return out
}

// generatorUpToDate is true when the last successful run used these sources at this generation and
// its artifacts are still stored and published.
func (a *Agent) generatorUpToDate(gen *v1beta1.ArtifactGenerator, digest string, live map[string]*sourcev1.ExternalArtifact) bool {
	ready := apimeta.FindStatusCondition(gen.Status.Conditions, meta.ReadyCondition)
	if ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != gen.Generation ||
		gen.Status.ObservedSourcesDigest != digest || len(live) != len(gen.Status.Inventory) ||
		gen.Spec.PathPattern == "" && len(gen.Status.Inventory) != len(gen.Spec.OutputArtifacts) {
		return false
	}
	for _, ref := range gen.Status.Inventory {
		ea := live[ref.Name]
		if ea == nil || ea.Status.Artifact == nil || ea.Status.Artifact.Digest != ref.Digest {
			return false
		}
		art, err := a.opts.Store.Current(source.Ref{Kind: sourcev1.ExternalArtifactKind, Namespace: ref.Namespace, Name: ref.Name})
		if err != nil || art == nil || art.Digest != ref.Digest {
			return false
		}
	}
	return true
}
