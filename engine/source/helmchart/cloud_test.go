package helmchart

import (
	"context"
	"testing"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestFetchChartWithCloudProvider pulls a chart from a real docker-registry under each cloud's registry
// name with the credentials that spec.provider's login got from the loopback fakes of
// sourcetest.CloudLogins; the registry accepts only those.
func TestFetchChartWithCloudProvider(t *testing.T) {
	logins := sourcetest.StartCloudLogins(t)
	reg := sourcetest.StartRegistry(t, logins.Htpasswd(t))
	pushCharts(t, reg.Host, "AWS", logins.Users["AWS"], "1.0.0")
	tests := []struct {
		name, provider, host, reason, want string
	}{
		{name: "aws ECR", provider: "aws", host: sourcetest.ECRHost},
		{name: "gcp Artifact Registry", provider: "gcp", host: sourcetest.GARHost},
		{name: "azure ACR", provider: "azure", host: sourcetest.ACRHost},
		{name: "gcp refuses a host that is not Google's", provider: "gcp", host: sourcetest.ACRHost, reason: sourcev1.AuthenticationFailedReason,
			want: "failed to get credential from 'gcp': invalid GCP registry: 'flux.azurecr.io'"},
		{name: "unknown provider", provider: "ibm", host: sourcetest.ACRHost, reason: sourcev1.AuthenticationFailedReason,
			want: "spec.provider 'ibm' is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repoObj := ociRepo("cloud", "oci://"+tt.host+"/charts", true, "")
			repoObj.Spec.Provider = tt.provider
			f := newFetcher(t, secretMap{}, repoObj)
			f.Cloud = logins.Identity
			f.Transport = sourcetest.RedirectTransport(reg.Host, sourcetest.ECRHost, sourcetest.GARHost, sourcetest.ACRHost)
			a, err := f.FetchChart(context.Background(), helmChart("app", "podinfo", "1.x", sourcev1.HelmRepositoryKind, "cloud"))
			if tt.reason != "" {
				fetchErr(t, err, chartRef("app"), tt.reason, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Revision != "1.0.0" {
				t.Errorf("revision = %s", a.Revision)
			}
		})
	}
}
