package convert

import (
	"fmt"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	imagev1beta2 "github.com/converge-gitops/converge/crds/image/v1beta2"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

// The image.toolkit.fluxcd.io v1beta2 and v1 schemas differ only in what v1 added
// (git.commit.signingKey.type), so these conversions keep every field. Flux itself serves both
// versions without a conversion webhook, so the output is what the API server would store: fields
// absent in v1beta2 stay unset in v1 (an unset signing key type means gpg, the only kind of key
// v1beta2 could express).

// ImageRepositoryV1beta2ToV1 converts an image.toolkit.fluxcd.io/v1beta2 ImageRepository to v1.
func ImageRepositoryV1beta2ToV1(in *imagev1beta2.ImageRepository) (*imagev1.ImageRepository, error) {
	if in == nil {
		return nil, fmt.Errorf("convert ImageRepository v1beta2 to v1: nil input")
	}
	in = in.DeepCopy()
	out := &imagev1.ImageRepository{
		TypeMeta:   in.TypeMeta,
		ObjectMeta: in.ObjectMeta,
		Spec: imagev1.ImageRepositorySpec{
			Image:              in.Spec.Image,
			Interval:           in.Spec.Interval,
			Timeout:            in.Spec.Timeout,
			SecretRef:          in.Spec.SecretRef,
			ProxySecretRef:     in.Spec.ProxySecretRef,
			ServiceAccountName: in.Spec.ServiceAccountName,
			CertSecretRef:      in.Spec.CertSecretRef,
			Suspend:            in.Spec.Suspend,
			AccessFrom:         imageAccessFromV1beta2ToV1(in.Spec.AccessFrom),
			ExclusionList:      in.Spec.ExclusionList,
			Provider:           in.Spec.Provider,
			Insecure:           in.Spec.Insecure,
		},
		Status: imagev1.ImageRepositoryStatus{
			Conditions:             in.Status.Conditions,
			ObservedGeneration:     in.Status.ObservedGeneration,
			CanonicalImageName:     in.Status.CanonicalImageName,
			ObservedExclusionList:  in.Status.ObservedExclusionList,
			ReconcileRequestStatus: in.Status.ReconcileRequestStatus,
		},
	}
	if r := in.Status.LastScanResult; r != nil {
		out.Status.LastScanResult = &imagev1.ScanResult{
			Revision:   r.Revision,
			TagCount:   r.TagCount,
			ScanTime:   r.ScanTime,
			LatestTags: r.LatestTags,
		}
	}
	out.APIVersion = imagev1.GroupVersion.String()
	out.Kind = imagev1.ImageRepositoryKind
	return out, nil
}

func imageAccessFromV1beta2ToV1(in *imagev1beta2.AccessFrom) *imagev1.AccessFrom {
	if in == nil {
		return nil
	}
	out := &imagev1.AccessFrom{}
	if in.NamespaceSelectors != nil {
		out.NamespaceSelectors = make([]imagev1.NamespaceSelector, len(in.NamespaceSelectors))
		for i, s := range in.NamespaceSelectors {
			out.NamespaceSelectors[i] = imagev1.NamespaceSelector{MatchLabels: s.MatchLabels}
		}
	}
	return out
}

// ImagePolicyV1beta2ToV1 converts an image.toolkit.fluxcd.io/v1beta2 ImagePolicy to v1.
func ImagePolicyV1beta2ToV1(in *imagev1beta2.ImagePolicy) (*imagev1.ImagePolicy, error) {
	if in == nil {
		return nil, fmt.Errorf("convert ImagePolicy v1beta2 to v1: nil input")
	}
	in = in.DeepCopy()
	out := &imagev1.ImagePolicy{
		TypeMeta:   in.TypeMeta,
		ObjectMeta: in.ObjectMeta,
		Spec: imagev1.ImagePolicySpec{
			ImageRepositoryRef:     in.Spec.ImageRepositoryRef,
			DigestReflectionPolicy: imagev1.ReflectionPolicy(in.Spec.DigestReflectionPolicy),
			Interval:               in.Spec.Interval,
			Suspend:                in.Spec.Suspend,
		},
		Status: imagev1.ImagePolicyStatus{
			LatestRef:              imageRefV1beta2ToV1(in.Status.LatestRef),
			ObservedPreviousRef:    imageRefV1beta2ToV1(in.Status.ObservedPreviousRef),
			ObservedGeneration:     in.Status.ObservedGeneration,
			Conditions:             in.Status.Conditions,
			ReconcileRequestStatus: in.Status.ReconcileRequestStatus,
		},
	}
	p := in.Spec.Policy
	if p.SemVer != nil {
		out.Spec.Policy.SemVer = &imagev1.SemVerPolicy{Range: p.SemVer.Range}
	}
	if p.Alphabetical != nil {
		out.Spec.Policy.Alphabetical = &imagev1.AlphabeticalPolicy{Order: p.Alphabetical.Order}
	}
	if p.Numerical != nil {
		out.Spec.Policy.Numerical = &imagev1.NumericalPolicy{Order: p.Numerical.Order}
	}
	if f := in.Spec.FilterTags; f != nil {
		out.Spec.FilterTags = &imagev1.TagFilter{Pattern: f.Pattern, Extract: f.Extract}
	}
	out.APIVersion = imagev1.GroupVersion.String()
	out.Kind = imagev1.ImagePolicyKind
	return out, nil
}

func imageRefV1beta2ToV1(in *imagev1beta2.ImageRef) *imagev1.ImageRef {
	if in == nil {
		return nil
	}
	return &imagev1.ImageRef{Name: in.Name, Tag: in.Tag, Digest: in.Digest}
}

// ImageUpdateAutomationV1beta2ToV1 converts an image.toolkit.fluxcd.io/v1beta2 ImageUpdateAutomation
// to v1. A v1beta2 signing key becomes a v1 signing key with no type, which v1 reads as gpg.
func ImageUpdateAutomationV1beta2ToV1(in *imagev1beta2.ImageUpdateAutomation) (*imagev1.ImageUpdateAutomation, error) {
	if in == nil {
		return nil, fmt.Errorf("convert ImageUpdateAutomation v1beta2 to v1: nil input")
	}
	in = in.DeepCopy()
	out := &imagev1.ImageUpdateAutomation{
		TypeMeta:   in.TypeMeta,
		ObjectMeta: in.ObjectMeta,
		Spec: imagev1.ImageUpdateAutomationSpec{
			SourceRef: imagev1.CrossNamespaceSourceReference{
				APIVersion: in.Spec.SourceRef.APIVersion,
				Kind:       in.Spec.SourceRef.Kind,
				Name:       in.Spec.SourceRef.Name,
				Namespace:  in.Spec.SourceRef.Namespace,
			},
			GitSpec:        imageGitSpecV1beta2ToV1(in.Spec.GitSpec),
			Interval:       in.Spec.Interval,
			PolicySelector: in.Spec.PolicySelector,
			Suspend:        in.Spec.Suspend,
		},
		Status: imagev1.ImageUpdateAutomationStatus{
			LastAutomationRunTime:  in.Status.LastAutomationRunTime,
			LastPushCommit:         in.Status.LastPushCommit,
			LastPushTime:           in.Status.LastPushTime,
			ObservedGeneration:     in.Status.ObservedGeneration,
			Conditions:             in.Status.Conditions,
			ObservedSourceRevision: in.Status.ObservedSourceRevision,
			ReconcileRequestStatus: in.Status.ReconcileRequestStatus,
		},
	}
	if u := in.Spec.Update; u != nil {
		out.Spec.Update = &imagev1.UpdateStrategy{
			Strategy: imagev1.UpdateStrategyName(u.Strategy),
			Path:     u.Path,
		}
	}
	if in.Status.ObservedPolicies != nil {
		out.Status.ObservedPolicies = make(imagev1.ObservedPolicies, len(in.Status.ObservedPolicies))
		for name, ref := range in.Status.ObservedPolicies {
			out.Status.ObservedPolicies[name] = *imageRefV1beta2ToV1(&ref)
		}
	}
	out.APIVersion = imagev1.GroupVersion.String()
	out.Kind = imagev1.ImageUpdateAutomationKind
	return out, nil
}

func imageGitSpecV1beta2ToV1(in *imagev1beta2.GitSpec) *imagev1.GitSpec {
	if in == nil {
		return nil
	}
	out := &imagev1.GitSpec{
		Commit: imagev1.CommitSpec{
			Author: imagev1.CommitUser{
				Name:  in.Commit.Author.Name,
				Email: in.Commit.Author.Email,
			},
			MessageTemplate:       in.Commit.MessageTemplate,
			MessageTemplateValues: in.Commit.MessageTemplateValues,
		},
	}
	if c := in.Checkout; c != nil {
		out.Checkout = &imagev1.GitCheckoutSpec{Reference: sourcev1.GitRepositoryRef{
			Branch: c.Reference.Branch,
			Tag:    c.Reference.Tag,
			SemVer: c.Reference.SemVer,
			Name:   c.Reference.Name,
			Commit: c.Reference.Commit,
		}}
	}
	if k := in.Commit.SigningKey; k != nil {
		out.Commit.SigningKey = &imagev1.SigningKey{SecretRef: k.SecretRef}
	}
	if p := in.Push; p != nil {
		out.Push = &imagev1.PushSpec{
			Branch:  p.Branch,
			Refspec: p.Refspec,
			Options: p.Options,
		}
	}
	return out
}
