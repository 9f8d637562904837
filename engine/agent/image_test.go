package agent

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/image"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

func pushImageTags(t *testing.T, repository, user, pass string, tags ...string) {
	t.Helper()
	repo, err := name.NewRepository(repository, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	if err := remote.Write(repo.Tag(tags[0]), img, auth); err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags[1:] {
		if err := remote.Tag(repo.Tag(tag), img, auth); err != nil {
			t.Fatal(err)
		}
	}
}

func markedConfigMap(ns, image string) *string {
	return sourcetest.Str(fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: app-image
  namespace: %s
data:
  # the image below is moved forward by the automation
  value: %s # {"$imagepolicy": "%s:app"}
`, ns, image, ns))
}

func nested(t *testing.T, u *unstructured.Unstructured, fields ...string) string {
	t.Helper()
	if u == nil {
		return "<missing>"
	}
	v, _, _ := unstructured.NestedFieldNoCopy(u.Object, fields...)
	return fmt.Sprint(v)
}

// TestAgentImageAutomation runs the whole image update cycle in the agent: a private registry is scanned,
// the policy elects the highest semver tag, the automation rewrites the marker, commits with the
// template and pushes, the GitRepository fetches the commit and the Kustomization applies the new tag.
// A tag pushed later moves the cluster forward again once the repository is rescanned.
func TestAgentImageAutomation(t *testing.T) {
	ns := "imageauto"
	namespace(t, ns)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	reg := sourcetest.StartRegistry(t, "bot:"+string(hash)+"\n")
	imageName := reg.Host + "/org/app"
	pushImageTags(t, imageName, "bot", "pw", "1.0.0", "1.1.0", "2.0.0-rc.1", "latest", "sha256-abc.sig")

	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "images")
	sourcetest.RunGit(t, srv.Root, "-C", "images.git", "config", "http.receivepack", "true")
	repo.Commit("initial", map[string]*string{
		"apps/app.yaml": markedConfigMap(ns, imageName+":1.0.0"),
		// A marker naming a policy that does not exist: skipped (as Flux does), reported as a Warning event.
		"apps/other.yaml": sourcetest.Str(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: %s}\ndata:\n  value: x:1 # {\"$imagepolicy\": \"%s:gone\"}\n", ns, ns)),
	})

	startAgent(t, Options{})
	auth := base64.StdEncoding.EncodeToString([]byte("bot:pw"))
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: regcred, namespace: %s}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths":{"%s":{"auth":"%s"}}}'
`, ns, reg.Host, auth))
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "apps", "./apps", ""))
	applyAll(t, fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: %[1]s}
spec:
  imageRepositoryRef: {name: app}
  policy:
    semver: {range: ">=1.0.0"}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: %[1]s}
spec:
  image: %[2]s
  interval: 1h
  secretRef: {name: regcred}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: auto, namespace: %[1]s}
spec:
  interval: 1h
  sourceRef: {kind: GitRepository, name: repo}
  git:
    checkout: {ref: {branch: main}}
    commit:
      author: {name: bot, email: bot@example.com}
      messageTemplate: '{{ range .Changed.Changes }}{{ .OldValue }} -> {{ .NewValue }}{{ end }}'
    push: {branch: main}
  update: {path: ./apps, strategy: Setters}
`, ns, imageName))

	repoGVR := image.RepositoriesResource
	eventually(t, "the repository scanned", func() (bool, string) {
		u := get(t, repoGVR, ns, "app")
		return nested(t, u, "status", "lastScanResult", "tagCount") == "4", nested(t, u, "status")
	})
	eventually(t, "the policy elected 1.1.0", func() (bool, string) {
		u := get(t, image.PoliciesResource, ns, "app")
		return nested(t, u, "status", "latestRef", "tag") == "1.1.0", nested(t, u, "status")
	})
	eventually(t, "the new tag applied to the cluster", func() (bool, string) {
		v := cmValue(t, ns, "app-image")
		return v == imageName+":1.1.0", v
	})
	auto := get(t, image.AutomationsResource, ns, "auto")
	pushed := nested(t, auto, "status", "lastPushCommit")
	if len(pushed) != 40 || nested(t, auto, "status", "observedPolicies", "app", "tag") != "1.1.0" {
		t.Fatalf("automation status %s", nested(t, auto, "status"))
	}
	sourcetest.RunGit(t, repo.Work, "pull", "-q", repo.URL, "main")
	if msg := sourcetest.RunGit(t, repo.Work, "log", "-1", "--format=%s%n%an <%ae>"); msg != imageName+":1.0.0 -> "+imageName+":1.1.0\nbot <bot@example.com>" {
		t.Fatalf("commit: %s", msg)
	}
	if got := nested(t, auto, "status", "observedSourceRevision"); got != "main@sha1:"+pushed {
		t.Errorf("observedSourceRevision %s, want the pushed commit", got)
	}
	// Events as Flux writes them: the push summary, the policy's Ready message; and converge's Warning
	// for the marker naming a missing policy.
	evs := imageEvents(t, ns)
	for _, want := range []string{
		fmt.Sprintf("Normal ImageUpdateAutomation/auto Succeeded pushed commit '%s' to branch 'main'\n%s:1.0.0 -> %s:1.1.0", pushed[:7], imageName, imageName),
		fmt.Sprintf("Normal ImagePolicy/app Succeeded Latest image tag for %s resolved to 1.1.0", imageName),
		fmt.Sprintf(`Warning ImageUpdateAutomation/auto UpdateFailed markers not applied: apps/other.yaml:5: marker "%[1]s:gone" names ImagePolicy %[1]s/gone, which does not exist`, ns),
	} {
		if !slices.Contains(evs, want) {
			t.Errorf("no event %q among:\n%s", want, strings.Join(evs, "\n"))
		}
	}

	// A new tag, a rescan requested: the cluster moves to it and the policy remembers the previous image.
	pushImageTags(t, imageName, "bot", "pw", "1.2.0")
	requestReconcile(t, repoGVR, ns, "app")
	eventually(t, "1.2.0 applied to the cluster", func() (bool, string) {
		v := cmValue(t, ns, "app-image")
		return v == imageName+":1.2.0", v
	})
	pol := get(t, image.PoliciesResource, ns, "app")
	if nested(t, pol, "status", "observedPreviousRef", "tag") != "1.1.0" {
		t.Fatalf("policy status %s", nested(t, pol, "status"))
	}
}

// TestAgentImagePolicyMatchingNothing: a policy whose filter matches no tag is Ready=False with the reason.
func TestAgentImagePolicyMatchingNothing(t *testing.T) {
	ns := "imagenomatch"
	namespace(t, ns)
	reg := sourcetest.StartRegistry(t, "")
	pushImageTags(t, reg.Host+"/org/app", "", "", "1.0.0", "1.1.0")
	startAgent(t, Options{})
	applyAll(t, fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: %[1]s}
spec: {image: %[2]s, interval: 1h}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: nothing, namespace: %[1]s}
spec:
  imageRepositoryRef: {name: app}
  filterTags: {pattern: '^release-'}
  policy: {alphabetical: {}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: no-repo, namespace: %[1]s}
spec:
  imageRepositoryRef: {name: absent}
  policy: {semver: {range: '*'}}
`, ns, reg.Host+"/org/app"))
	for name, want := range map[string]string{
		"nothing": "False Failure ImagePolicy imagenomatch/nothing: ImageRepository imagenomatch/app: no tag matches the policy: none of the 2 tags matches filterTags.pattern \"^release-\"",
		"no-repo": "False DependencyNotReady ImagePolicy imagenomatch/no-repo: referenced ImageRepository imagenomatch/absent not found",
	} {
		eventually(t, name+" not ready", func() (bool, string) {
			got := readyOf(get(t, image.PoliciesResource, ns, name))
			return got == want, got
		})
	}
}

// imageEvents lists the Events of the image kinds in ns as "type Kind/name reason message".
func imageEvents(t *testing.T, ns string) []string {
	t.Helper()
	list, err := cluster.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if strings.HasPrefix(e.InvolvedObject.Kind, "Image") {
			out = append(out, fmt.Sprintf("%s %s/%s %s %s", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message))
		}
	}
	return out
}

// applyAll applies each document of a YAML stream.
func applyAll(t *testing.T, stream string) {
	t.Helper()
	for _, doc := range strings.Split(stream, "\n---\n") {
		cluster.ApplyYAML(t, doc)
	}
}

func readyOf(u *unstructured.Unstructured) string {
	if u == nil {
		return "<missing>"
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			return fmt.Sprintf("%v %v %v", m["status"], m["reason"], m["message"])
		}
	}
	return "<no Ready>"
}
