package oci

import (
	"context"
	"strings"
	"testing"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestFetchCloudProvider pulls from a real docker-registry under each cloud's registry name, with the
// credentials that provider's login got from the loopback fakes of ECR, the GCE metadata server, Azure
// IMDS and ACR's exchange (sourcetest.CloudLogins): the registry accepts only those.
func TestFetchCloudProvider(t *testing.T) {
	logins := sourcetest.StartCloudLogins(t)
	reg := sourcetest.StartRegistry(t, logins.Htpasswd(t))
	digest := pushImage(t, reg.Host+"/team/app:v1", nil, dockerConfigKeychain(t, reg.Host, "AWS", logins.Users["AWS"]),
		testLayer{ContentMediaType, tarGz(t, tarEntry{name: "a.yaml", body: "a"})})
	tests := []struct {
		name, provider, host, sa string
		wantErr                  string
	}{
		{name: "aws ECR", provider: "aws", host: sourcetest.ECRHost},
		{name: "gcp Artifact Registry", provider: "gcp", host: sourcetest.GARHost},
		{name: "azure ACR", provider: "azure", host: sourcetest.ACRHost},
		{name: "aws refuses a host that is not ECR", provider: "aws", host: sourcetest.GARHost,
			wantErr: "spec.provider: invalid AWS registry: 'europe-docker.pkg.dev'. must match"},
		{name: "azure refuses a host that is not ACR", provider: "azure", host: sourcetest.ECRHost, wantErr: "invalid Azure registry"},
		{name: "generic is anonymous", provider: "generic", host: sourcetest.ECRHost, wantErr: "authentication failed"},
		{name: "object-level workload identity", provider: "aws", host: sourcetest.ECRHost, sa: "app",
			wantErr: `spec.serviceAccountName with provider "aws" (object-level workload identity) is not supported yet`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFetcher(t, nil)
			f.Cloud = logins.Identity
			f.Transport = sourcetest.RedirectTransport(reg.Host, sourcetest.ECRHost, sourcetest.GARHost, sourcetest.ACRHost)
			a, err := f.Fetch(context.Background(), ociRepository("app", "oci://"+tc.host+"/team/app", func(s *sourcev1.OCIRepositorySpec) {
				s.Reference = &sourcev1.OCIRepositoryRef{Tag: "v1"}
				s.Provider = tc.provider
				s.Insecure = true // plain HTTP: the registry has no certificate for the cloud names
				s.ServiceAccountName = tc.sa
			}))
			if tc.wantErr != "" {
				fe := fetchErr(t, err)
				if fe.Reason != sourcev1.AuthenticationFailedReason || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v (reason %s), want %q", err, fe.Reason, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Revision != "v1@"+digest.String() {
				t.Errorf("revision = %s", a.Revision)
			}
		})
	}
}

func dockerConfigKeychain(t *testing.T, host, user, password string) *DockerConfig {
	t.Helper()
	kc, err := keychainFromSecret(dockerConfigSecret("push", host, user, password))
	if err != nil {
		t.Fatal(err)
	}
	return kc
}
