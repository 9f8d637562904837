package image

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source/githubapp"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestAutomationGitHubApp pushes to a GitRepository with `provider: github`: GitHub's API cannot run
// here, so the installation token comes from sourcetest's loopback fake of the token endpoints; the Git
// server is a real git http-backend that accepts only x-access-token and that token, for clone and push.
func TestAutomationGitHubApp(t *testing.T) {
	api := sourcetest.StartGitHubAppAPI(t, 99, 100, "fleet-org", "ghs_push_token")
	denied := sourcetest.StartGitHubAppAPI(t, 99, 100, "fleet-org", "ghs_push_token")
	denied.SetDeny("Bad credentials")
	srv := sourcetest.StartAuthGitServer(t, githubapp.Username, "ghs_push_token")
	repo := srv.NewRepo(t, "fleet")
	repo.Commit("initial", map[string]*string{"apps/deploy.yaml": sourcetest.Str(deployYAML)})
	policies := Policies{"flux-system/app": {Name: "registry.example/org/app", Tag: "1.2.3"}}
	appSecret := func(name string, a *sourcetest.GitHubAppAPI) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: name}, Data: map[string][]byte{
			"githubAppID": []byte("99"), "githubAppInstallationOwner": []byte("fleet-org"),
			"githubAppPrivateKey": a.KeyPEM, "githubAppBaseURL": []byte(a.URL)}}
	}
	sec := secrets{}.add(appSecret("app", api)).add(appSecret("denied", denied))
	a := &Automation{Clock: clock.RealClock{}, Secrets: sec, GitHubApp: &githubapp.Tokens{}}
	withApp := func(secret, provider string) *sourcev1.GitRepository {
		r := gitRepository(repo.URL)
		r.Spec.SecretRef, r.Spec.Provider = &meta.LocalObjectReference{Name: secret}, provider
		return r
	}

	res, err := a.Run(context.Background(), automation(), withApp("app", "github"), policies, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit == "" || srv.Pushes.Load() == 0 {
		t.Fatalf("nothing pushed: %+v", res)
	}
	if got := api.Exchanges.Load(); got != 1 {
		t.Errorf("%d token exchanges, want 1 (one token for clone and push)", got)
	}

	for _, tt := range []struct {
		name, secret, provider, reason, msg string
	}{
		{"exchange denied", "denied", "github", imagev1.InvalidSourceConfigReason,
			"Secret flux-system/denied: GitHub App 99: POST " + denied.URL + "/app/installations/100/access_tokens: 403 Forbidden: Bad credentials"},
		{"App Secret without provider", "app", "", imagev1.InvalidSourceConfigReason, `Secret flux-system/app has GitHub App data ("githubApp`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Run(context.Background(), automation(), withApp(tt.secret, tt.provider), policies, nil)
			if err == nil || ReasonOf(err) != tt.reason || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %v (reason %s), want %s with %q", err, ReasonOf(err), tt.reason, tt.msg)
			}
		})
	}
}
