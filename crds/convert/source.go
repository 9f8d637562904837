package convert

import (
	"fmt"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	sourcev1beta2 "github.com/converge-gitops/converge/crds/source/v1beta2"
)

// HelmRepositoryV1beta2ToV1 converts a source.toolkit.fluxcd.io/v1beta2 HelmRepository to v1.
// The two versions have the same fields, so nothing is lost.
func HelmRepositoryV1beta2ToV1(in *sourcev1beta2.HelmRepository) (*sourcev1.HelmRepository, error) {
	if in == nil {
		return nil, fmt.Errorf("convert HelmRepository v1beta2 to v1: nil input")
	}
	in = in.DeepCopy()
	out := &sourcev1.HelmRepository{
		TypeMeta:   in.TypeMeta,
		ObjectMeta: in.ObjectMeta,
		Spec: sourcev1.HelmRepositorySpec{
			URL:             in.Spec.URL,
			SecretRef:       in.Spec.SecretRef,
			CertSecretRef:   in.Spec.CertSecretRef,
			PassCredentials: in.Spec.PassCredentials,
			Interval:        in.Spec.Interval,
			Insecure:        in.Spec.Insecure,
			Timeout:         in.Spec.Timeout,
			Suspend:         in.Spec.Suspend,
			AccessFrom:      in.Spec.AccessFrom,
			Type:            in.Spec.Type,
			Provider:        in.Spec.Provider,
		},
		Status: sourcev1.HelmRepositoryStatus{
			ObservedGeneration:     in.Status.ObservedGeneration,
			Conditions:             in.Status.Conditions,
			URL:                    in.Status.URL,
			Artifact:               in.Status.Artifact,
			ReconcileRequestStatus: in.Status.ReconcileRequestStatus,
		},
	}
	out.APIVersion = sourcev1.GroupVersion.String()
	out.Kind = sourcev1.HelmRepositoryKind
	return out, nil
}

// HelmRepositoryV1ToV1beta2 converts a v1 HelmRepository back to v1beta2, for clients that still read
// the deprecated version. The two versions have the same fields, so nothing is lost.
func HelmRepositoryV1ToV1beta2(in *sourcev1.HelmRepository) (*sourcev1beta2.HelmRepository, error) {
	if in == nil {
		return nil, fmt.Errorf("convert HelmRepository v1 to v1beta2: nil input")
	}
	in = in.DeepCopy()
	out := &sourcev1beta2.HelmRepository{
		TypeMeta:   in.TypeMeta,
		ObjectMeta: in.ObjectMeta,
		Spec: sourcev1beta2.HelmRepositorySpec{
			URL:             in.Spec.URL,
			SecretRef:       in.Spec.SecretRef,
			CertSecretRef:   in.Spec.CertSecretRef,
			PassCredentials: in.Spec.PassCredentials,
			Interval:        in.Spec.Interval,
			Insecure:        in.Spec.Insecure,
			Timeout:         in.Spec.Timeout,
			Suspend:         in.Spec.Suspend,
			AccessFrom:      in.Spec.AccessFrom,
			Type:            in.Spec.Type,
			Provider:        in.Spec.Provider,
		},
		Status: sourcev1beta2.HelmRepositoryStatus{
			ObservedGeneration:     in.Status.ObservedGeneration,
			Conditions:             in.Status.Conditions,
			URL:                    in.Status.URL,
			Artifact:               in.Status.Artifact,
			ReconcileRequestStatus: in.Status.ReconcileRequestStatus,
		},
	}
	out.APIVersion = sourcev1beta2.GroupVersion.String()
	out.Kind = sourcev1beta2.HelmRepositoryKind
	return out, nil
}

// OCIRepositoryV1beta2ToV1 converts a source.toolkit.fluxcd.io/v1beta2 OCIRepository to v1.
// The only field v1 lacks is the deprecated status.contentConfigChecksum, which is dropped: v1
// records the same information in status.observedIgnore and status.observedLayerSelector.
func OCIRepositoryV1beta2ToV1(in *sourcev1beta2.OCIRepository) (*sourcev1.OCIRepository, error) {
	if in == nil {
		return nil, fmt.Errorf("convert OCIRepository v1beta2 to v1: nil input")
	}
	in = in.DeepCopy()
	out := &sourcev1.OCIRepository{
		TypeMeta:   in.TypeMeta,
		ObjectMeta: in.ObjectMeta,
		Spec: sourcev1.OCIRepositorySpec{
			URL:                in.Spec.URL,
			LayerSelector:      ociLayerSelectorV1beta2ToV1(in.Spec.LayerSelector),
			Provider:           in.Spec.Provider,
			SecretRef:          in.Spec.SecretRef,
			Verify:             in.Spec.Verify,
			ServiceAccountName: in.Spec.ServiceAccountName,
			CertSecretRef:      in.Spec.CertSecretRef,
			ProxySecretRef:     in.Spec.ProxySecretRef,
			Interval:           in.Spec.Interval,
			Timeout:            in.Spec.Timeout,
			Ignore:             in.Spec.Ignore,
			Insecure:           in.Spec.Insecure,
			Suspend:            in.Spec.Suspend,
		},
		Status: sourcev1.OCIRepositoryStatus{
			ObservedGeneration:     in.Status.ObservedGeneration,
			Conditions:             in.Status.Conditions,
			URL:                    in.Status.URL,
			Artifact:               in.Status.Artifact,
			ObservedIgnore:         in.Status.ObservedIgnore,
			ObservedLayerSelector:  ociLayerSelectorV1beta2ToV1(in.Status.ObservedLayerSelector),
			ReconcileRequestStatus: in.Status.ReconcileRequestStatus,
		},
	}
	if r := in.Spec.Reference; r != nil {
		out.Spec.Reference = &sourcev1.OCIRepositoryRef{
			Digest:       r.Digest,
			SemVer:       r.SemVer,
			SemverFilter: r.SemverFilter,
			Tag:          r.Tag,
		}
	}
	out.APIVersion = sourcev1.GroupVersion.String()
	out.Kind = sourcev1.OCIRepositoryKind
	return out, nil
}

// OCIRepositoryV1ToV1beta2 converts a v1 OCIRepository back to v1beta2, for clients that still read
// the deprecated version. Nothing is lost; status.contentConfigChecksum stays empty.
func OCIRepositoryV1ToV1beta2(in *sourcev1.OCIRepository) (*sourcev1beta2.OCIRepository, error) {
	if in == nil {
		return nil, fmt.Errorf("convert OCIRepository v1 to v1beta2: nil input")
	}
	in = in.DeepCopy()
	out := &sourcev1beta2.OCIRepository{
		TypeMeta:   in.TypeMeta,
		ObjectMeta: in.ObjectMeta,
		Spec: sourcev1beta2.OCIRepositorySpec{
			URL:                in.Spec.URL,
			LayerSelector:      ociLayerSelectorV1ToV1beta2(in.Spec.LayerSelector),
			Provider:           in.Spec.Provider,
			SecretRef:          in.Spec.SecretRef,
			Verify:             in.Spec.Verify,
			ServiceAccountName: in.Spec.ServiceAccountName,
			CertSecretRef:      in.Spec.CertSecretRef,
			ProxySecretRef:     in.Spec.ProxySecretRef,
			Interval:           in.Spec.Interval,
			Timeout:            in.Spec.Timeout,
			Ignore:             in.Spec.Ignore,
			Insecure:           in.Spec.Insecure,
			Suspend:            in.Spec.Suspend,
		},
		Status: sourcev1beta2.OCIRepositoryStatus{
			ObservedGeneration:     in.Status.ObservedGeneration,
			Conditions:             in.Status.Conditions,
			URL:                    in.Status.URL,
			Artifact:               in.Status.Artifact,
			ObservedIgnore:         in.Status.ObservedIgnore,
			ObservedLayerSelector:  ociLayerSelectorV1ToV1beta2(in.Status.ObservedLayerSelector),
			ReconcileRequestStatus: in.Status.ReconcileRequestStatus,
		},
	}
	if r := in.Spec.Reference; r != nil {
		out.Spec.Reference = &sourcev1beta2.OCIRepositoryRef{
			Digest:       r.Digest,
			SemVer:       r.SemVer,
			SemverFilter: r.SemverFilter,
			Tag:          r.Tag,
		}
	}
	out.APIVersion = sourcev1beta2.GroupVersion.String()
	out.Kind = sourcev1beta2.OCIRepositoryKind
	return out, nil
}

func ociLayerSelectorV1beta2ToV1(in *sourcev1beta2.OCILayerSelector) *sourcev1.OCILayerSelector {
	if in == nil {
		return nil
	}
	return &sourcev1.OCILayerSelector{MediaType: in.MediaType, Operation: in.Operation}
}

func ociLayerSelectorV1ToV1beta2(in *sourcev1.OCILayerSelector) *sourcev1beta2.OCILayerSelector {
	if in == nil {
		return nil
	}
	return &sourcev1beta2.OCILayerSelector{MediaType: in.MediaType, Operation: in.Operation}
}

// GitRepositoryV1beta2ToV1 converts a source.toolkit.fluxcd.io/v1beta2 GitRepository to v1.
// Fields v1 removed are dropped: spec.gitImplementation (go-git is the only client left, libgit2
// included), spec.accessFrom (never enforced), status.url and status.contentConfigChecksum (v1
// keeps the same information in status.artifact and the observed* fields). Include paths and
// verification mode carry over unchanged ("head" is a valid v1 mode).
func GitRepositoryV1beta2ToV1(in *sourcev1beta2.GitRepository) (*sourcev1.GitRepository, error) {
	if in == nil {
		return nil, fmt.Errorf("convert GitRepository v1beta2 to v1: nil input")
	}
	in = in.DeepCopy()
	out := &sourcev1.GitRepository{
		TypeMeta:   in.TypeMeta,
		ObjectMeta: in.ObjectMeta,
		Spec: sourcev1.GitRepositorySpec{
			URL:               in.Spec.URL,
			SecretRef:         in.Spec.SecretRef,
			Interval:          in.Spec.Interval,
			Timeout:           in.Spec.Timeout,
			Reference:         in.Spec.Reference,
			Ignore:            in.Spec.Ignore,
			Suspend:           in.Spec.Suspend,
			RecurseSubmodules: in.Spec.RecurseSubmodules,
			Include:           gitIncludesV1beta2ToV1(in.Spec.Include),
		},
		Status: sourcev1.GitRepositoryStatus{
			ObservedGeneration:        in.Status.ObservedGeneration,
			Conditions:                in.Status.Conditions,
			Artifact:                  in.Status.Artifact,
			IncludedArtifacts:         in.Status.IncludedArtifacts,
			ObservedIgnore:            in.Status.ObservedIgnore,
			ObservedRecurseSubmodules: in.Status.ObservedRecurseSubmodules,
			ObservedInclude:           gitIncludesV1beta2ToV1(in.Status.ObservedInclude),
			ReconcileRequestStatus:    in.Status.ReconcileRequestStatus,
		},
	}
	if v := in.Spec.Verification; v != nil {
		out.Spec.Verification = &sourcev1.GitRepositoryVerification{
			Mode:      sourcev1.GitVerificationMode(v.Mode),
			SecretRef: v.SecretRef,
		}
	}
	out.APIVersion = sourcev1.GroupVersion.String()
	out.Kind = sourcev1.GitRepositoryKind
	return out, nil
}

func gitIncludesV1beta2ToV1(in []sourcev1beta2.GitRepositoryInclude) []sourcev1.GitRepositoryInclude {
	if in == nil {
		return nil
	}
	out := make([]sourcev1.GitRepositoryInclude, len(in))
	for i, inc := range in {
		out[i] = sourcev1.GitRepositoryInclude{
			GitRepositoryRef: inc.GitRepositoryRef,
			FromPath:         inc.FromPath,
			ToPath:           inc.ToPath,
		}
	}
	return out
}

// HelmChartV1beta2ToV1 converts a source.toolkit.fluxcd.io/v1beta2 HelmChart to v1.
// The deprecated spec.valuesFile is translated by putting it first in spec.valuesFiles, which is
// the merge order v1beta2 gave it; spec.accessFrom (never enforced) is dropped.
func HelmChartV1beta2ToV1(in *sourcev1beta2.HelmChart) (*sourcev1.HelmChart, error) {
	if in == nil {
		return nil, fmt.Errorf("convert HelmChart v1beta2 to v1: nil input")
	}
	in = in.DeepCopy()
	out := &sourcev1.HelmChart{
		TypeMeta:   in.TypeMeta,
		ObjectMeta: in.ObjectMeta,
		Spec: sourcev1.HelmChartSpec{
			Chart:                    in.Spec.Chart,
			Version:                  in.Spec.Version,
			SourceRef:                in.Spec.SourceRef,
			Interval:                 in.Spec.Interval,
			ReconcileStrategy:        in.Spec.ReconcileStrategy,
			ValuesFiles:              in.GetValuesFiles(),
			IgnoreMissingValuesFiles: in.Spec.IgnoreMissingValuesFiles,
			Suspend:                  in.Spec.Suspend,
			Verify:                   in.Spec.Verify,
		},
		Status: sourcev1.HelmChartStatus{
			ObservedGeneration:             in.Status.ObservedGeneration,
			ObservedSourceArtifactRevision: in.Status.ObservedSourceArtifactRevision,
			ObservedChartName:              in.Status.ObservedChartName,
			ObservedValuesFiles:            in.Status.ObservedValuesFiles,
			Conditions:                     in.Status.Conditions,
			URL:                            in.Status.URL,
			Artifact:                       in.Status.Artifact,
			ReconcileRequestStatus:         in.Status.ReconcileRequestStatus,
		},
	}
	out.APIVersion = sourcev1.GroupVersion.String()
	out.Kind = sourcev1.HelmChartKind
	return out, nil
}

// BucketV1beta2ToV1 converts a source.toolkit.fluxcd.io/v1beta2 Bucket to v1.
// Only spec.accessFrom (never enforced) is dropped.
func BucketV1beta2ToV1(in *sourcev1beta2.Bucket) (*sourcev1.Bucket, error) {
	if in == nil {
		return nil, fmt.Errorf("convert Bucket v1beta2 to v1: nil input")
	}
	in = in.DeepCopy()
	out := &sourcev1.Bucket{
		TypeMeta:   in.TypeMeta,
		ObjectMeta: in.ObjectMeta,
		Spec: sourcev1.BucketSpec{
			Provider:       in.Spec.Provider,
			BucketName:     in.Spec.BucketName,
			Endpoint:       in.Spec.Endpoint,
			STS:            in.Spec.STS,
			Insecure:       in.Spec.Insecure,
			Region:         in.Spec.Region,
			Prefix:         in.Spec.Prefix,
			SecretRef:      in.Spec.SecretRef,
			CertSecretRef:  in.Spec.CertSecretRef,
			ProxySecretRef: in.Spec.ProxySecretRef,
			Interval:       in.Spec.Interval,
			Timeout:        in.Spec.Timeout,
			Ignore:         in.Spec.Ignore,
			Suspend:        in.Spec.Suspend,
		},
		Status: sourcev1.BucketStatus{
			ObservedGeneration:     in.Status.ObservedGeneration,
			Conditions:             in.Status.Conditions,
			URL:                    in.Status.URL,
			Artifact:               in.Status.Artifact,
			ObservedIgnore:         in.Status.ObservedIgnore,
			ReconcileRequestStatus: in.Status.ReconcileRequestStatus,
		},
	}
	out.APIVersion = sourcev1.GroupVersion.String()
	out.Kind = sourcev1.BucketKind
	return out, nil
}
