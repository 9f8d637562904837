package helmchart

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source/verify"
)

// verify checks the signature of the OCI chart version at urls (oci://host/repo:tag first) as the
// HelmChart's spec.verify asks, and returns the message of its SourceVerified condition ("" without
// spec.verify).
func (j *chartJob) verify(ctx context.Context, cr chartRepository, urls []string, version string) (string, error) {
	v := j.obj.Spec.Verify
	if v == nil {
		return "", nil
	}
	r, ok := cr.(*ociRepository)
	if !ok {
		return "", withReason(sourcev1.VerificationError, fmt.Errorf("spec.verify: signatures are verified only for charts from an OCI HelmRepository (type oci): the chart is not used unverified"))
	}
	if len(urls) == 0 {
		return "", withReason(sourcev1.VerificationError, fmt.Errorf("chart version '%s' has no URL to verify", version))
	}
	var nameOpts []name.Option
	if r.plainHTTP {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ref, err := name.ParseReference(strings.TrimPrefix(urls[0], "oci://"), nameOpts...)
	if err != nil {
		return "", withReason(sourcev1.VerificationError, fmt.Errorf("chart verification error: %w", err))
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(r.transport), remote.WithUserAgent(j.f.userAgent())}
	if r.username != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: r.username, Password: r.password}))
	}
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		return "", withReason(ReasonChartPullError, fmt.Errorf("chart pull error: resolving the digest of %s to verify it: %w", ref, err))
	}
	p := verify.Policy{Field: "spec.verify", Provider: v.Provider, Namespace: j.obj.Namespace, MatchOIDCIdentity: v.MatchOIDCIdentity,
		NoTrustedRootField: true}
	if j.f.Store != nil {
		p.Clock = j.f.Store.Clock
	}
	if v.SecretRef != nil {
		p.SecretRef = v.SecretRef.Name
	}
	msg, err := verify.OCI(ctx, p, j.f.Secrets, ref.Context().Digest(desc.Digest.String()), opts...)
	if err != nil {
		return "", withReason(sourcev1.VerificationError, fmt.Errorf("chart verification error: %w", err))
	}
	if msg == "" { // notation's skip level, or an authenticity failure its audit level only logs
		return "", nil
	}
	return fmt.Sprintf("verified signature of version %s", version), nil
}

// withVerified returns a with msg as the message of its SourceVerified condition.
func withVerified(a *ChartArtifact, msg string) *ChartArtifact {
	if a == nil || msg == "" {
		return a
	}
	c := *a.Artifact
	c.Verified = msg
	a.Artifact = &c
	return a
}
