package image

import (
	"context"
	"strings"
	"testing"

	"k8s.io/utils/clock"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestScanCloudProvider lists tags of a real docker-registry under each cloud's registry name with the
// credentials spec.provider's login got from the loopback fakes of sourcetest.CloudLogins; the registry
// accepts only those (and the pushing user).
func TestScanCloudProvider(t *testing.T) {
	logins := sourcetest.StartCloudLogins(t)
	reg := sourcetest.StartRegistry(t, logins.Htpasswd(t)+sourcetest.Htpasswd(t, regUser, regPass))
	pushTags(t, reg.Host+"/org/app", []string{"1.0.0", "1.1.0"})
	s := &Scanner{Clock: clock.RealClock{}, Store: openStore(t), Cloud: logins.Identity,
		Transport: sourcetest.RedirectTransport(reg.Host, sourcetest.ECRHost, sourcetest.GARHost, sourcetest.ACRHost)}
	for _, tt := range []struct {
		name, provider, host, sa, reason, msg string
	}{
		{name: "aws ECR", provider: "aws", host: sourcetest.ECRHost},
		{name: "gcp Artifact Registry", provider: "gcp", host: sourcetest.GARHost},
		{name: "azure ACR", provider: "azure", host: sourcetest.ACRHost},
		{name: "generic is anonymous", provider: "generic", host: sourcetest.ACRHost, reason: imagev1.ReadOperationFailedReason, msg: "UNAUTHORIZED"},
		{name: "aws refuses a host that is not ECR", provider: "aws", host: sourcetest.ACRHost, reason: imagev1.AuthenticationFailedReason,
			msg: "spec.provider: invalid AWS registry: 'flux.azurecr.io'"},
		{name: "object-level workload identity", provider: "azure", host: sourcetest.ACRHost, sa: "app", reason: imagev1.AuthenticationFailedReason,
			msg: `spec.serviceAccountName with provider "azure" (object-level workload identity) is not supported yet`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Scan(context.Background(), imageRepository(tt.host+"/org/app", func(r *imagev1.ImageRepository) {
				r.Name = strings.ReplaceAll(tt.name, " ", "-")
				r.Spec.Provider = tt.provider
				r.Spec.Insecure = true // plain HTTP: the registry has no certificate for the cloud names
				r.Spec.ServiceAccountName = tt.sa
			}))
			if tt.reason != "" {
				if err == nil || ReasonOf(err) != tt.reason || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("err %v (reason %s), want %s containing %q", err, ReasonOf(err), tt.reason, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.TagCount != 2 {
				t.Fatalf("tags %v", res.Tags)
			}
		})
	}
}
