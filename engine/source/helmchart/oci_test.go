package helmchart

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"helm.sh/helm/v4/pkg/registry"
	corev1 "k8s.io/api/core/v1"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// pushCharts packages podinfo in several versions and pushes them with helm's registry client to
// host/charts; it returns the pushed archives by version.
func pushCharts(t *testing.T, host, user, pass string, versions ...string) map[string][]byte {
	t.Helper()
	opts := []registry.ClientOption{
		registry.ClientOptPlainHTTP(),
		registry.ClientOptWriter(&bytes.Buffer{}),
		registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")),
	}
	if user != "" {
		opts = append(opts, registry.ClientOptBasicAuth(user, pass))
	}
	client, err := registry.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	pushed := map[string][]byte{}
	for _, v := range versions {
		dir := newChart(t, t.TempDir(), "podinfo", v, map[string]string{"values-prod.yaml": "prod: true\n"})
		data, err := os.ReadFile(packageInto(t, dir, t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Push(data, fmt.Sprintf("%s/charts/podinfo:%s", host, v)); err != nil {
			t.Fatalf("push %s: %v", v, err)
		}
		pushed[v] = data
	}
	return pushed
}

func ociRepo(name, url string, insecure bool, secret string) *sourcev1.HelmRepository {
	r := helmRepo(name, url)
	r.Spec.Type = sourcev1.HelmRepositoryTypeOCI
	r.Spec.Insecure = insecure
	if secret != "" {
		r.Spec.SecretRef = &meta.LocalObjectReference{Name: secret}
	}
	return r
}

func TestFetchChartFromOCIRegistry(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	pushed := pushCharts(t, reg.Host, "", "", "1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "2.1.0")
	repoObj := ociRepo("oci", "oci://"+reg.Host+"/charts", true, "")
	secure := ociRepo("secure", "oci://"+reg.Host+"/charts", false, "")
	f := newFetcher(t, secretMap{}, repoObj, secure)
	if a, err := f.FetchRepository(context.Background(), repoObj); err != nil || a != nil {
		t.Fatalf("OCI HelmRepository: %+v, %v; want no artifact", a, err)
	}

	tests := []struct {
		name, chart, version, repo, want, reason string
		valuesFiles                              []string
		errWant                                  []string
	}{
		{name: "latest stable", chart: "podinfo", version: "*", repo: "oci", want: "2.1.0"},
		{name: "range", chart: "podinfo", version: "1.x", repo: "oci", want: "1.1.0"},
		{name: "prerelease range", chart: "podinfo", version: ">=1.2.0-0 <2", repo: "oci", want: "1.2.0-rc.1"},
		{name: "exact version", chart: "podinfo", version: "2.0.0", repo: "oci", want: "2.0.0"},
		{name: "values files", chart: "podinfo", version: "2.x", repo: "oci", valuesFiles: []string{"values.yaml", "values-prod.yaml"}, want: "2.1.0+1"},
		{name: "no version in range", chart: "podinfo", version: "3.x", repo: "oci", reason: ReasonChartPullError, errWant: []string{"'3.x'", "available: 2.1.0, 2.0.0, 1.2.0-rc.1, 1.1.0, 1.0.0"}},
		{name: "exact version missing", chart: "podinfo", version: "9.9.9", repo: "oci", reason: ReasonChartPullError, errWant: []string{"podinfo:9.9.9"}},
		{name: "chart missing", chart: "nginx", version: "*", repo: "oci", reason: ReasonChartPullError, errWant: []string{"nginx"}},
		{name: "TLS against a plain HTTP registry", chart: "podinfo", version: "1.0.0", repo: "secure", reason: ReasonChartPullError, errWant: []string{"HTTP response to HTTPS client"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := helmChart("oci-chart", tt.chart, tt.version, sourcev1.HelmRepositoryKind, tt.repo)
			obj.Spec.ValuesFiles = tt.valuesFiles
			a, err := f.FetchChart(context.Background(), obj)
			if tt.reason != "" {
				fetchErr(t, err, chartRef("oci-chart"), tt.reason, tt.errWant...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Revision != tt.want || a.SourceRevision != "" {
				t.Fatalf("revision %s source revision %q; want %s and none", a.Revision, a.SourceRevision, tt.want)
			}
			stored, _ := os.ReadFile(a.File)
			if len(tt.valuesFiles) == 0 {
				if !bytes.Equal(stored, pushed[tt.want]) {
					t.Error("stored chart differs from the pushed one")
				}
			} else if c := loadStoredChart(t, a); c.Values["prod"] != true || c.Metadata.Version != tt.want {
				t.Errorf("packaged chart: version %s values %v", c.Metadata.Version, c.Values)
			}
		})
	}
}

func TestFetchChartFromOCIRegistryWithAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	reg := sourcetest.StartRegistry(t, "flux:"+string(hash)+"\n")
	pushCharts(t, reg.Host, "flux", "s3cret", "1.0.0", "1.1.0")

	secrets := secretMap{}
	secrets.add("good", corev1.SecretTypeOpaque, map[string]string{"username": "flux", "password": "s3cret"})
	secrets.add("wrong", corev1.SecretTypeOpaque, map[string]string{"username": "flux", "password": "nope"})
	auth := base64.StdEncoding.EncodeToString([]byte("flux:s3cret"))
	secrets.add("docker", corev1.SecretTypeDockerConfigJson, map[string]string{
		".dockerconfigjson": fmt.Sprintf(`{"auths":{"http://%s/v2/":{"auth":%q}}}`, reg.Host, auth),
	})
	tests := []struct {
		name, secret, version, reason, want string
	}{
		{name: "username and password", secret: "good", version: "1.x"},
		{name: "docker config", secret: "docker", version: "1.x"},
		{name: "exact version with credentials", secret: "good", version: "1.0.0"},
		{name: "wrong password listing tags", secret: "wrong", version: "1.x", reason: ReasonChartPullError, want: "401"},
		{name: "wrong password pulling", secret: "wrong", version: "1.0.0", reason: sourcev1.AuthenticationFailedReason, want: "401"},
		{name: "no credentials", version: "1.0.0", reason: sourcev1.AuthenticationFailedReason, want: "basic credential not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repoObj := ociRepo("private", "oci://"+reg.Host+"/charts", true, tt.secret)
			f := newFetcher(t, secrets, repoObj)
			a, err := f.FetchChart(context.Background(), helmChart("app", "podinfo", tt.version, sourcev1.HelmRepositoryKind, "private"))
			if tt.reason != "" {
				fetchErr(t, err, chartRef("app"), tt.reason, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]string{"1.x": "1.1.0", "1.0.0": "1.0.0"}[tt.version]; a.Revision != want {
				t.Errorf("revision = %s, want %s", a.Revision, want)
			}
		})
	}
}
