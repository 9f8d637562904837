package image

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func clusterClients(t *testing.T) *kube.Clients {
	t.Helper()
	c, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	_, err := cluster.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// live reads namespace/name of gvr from the API server into out and returns its raw status.
func live(t *testing.T, c *kube.Clients, gvr schema.GroupVersionResource, namespace, name string, out any) map[string]any {
	t.Helper()
	u, err := c.Dynamic.Resource(gvr).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatal(err)
	}
	st, _, _ := unstructured.NestedMap(u.Object, "status")
	return st
}

func field(st map[string]any, path ...string) string {
	v, found, _ := unstructured.NestedFieldNoCopy(st, path...)
	if !found {
		return "<absent>"
	}
	return fmt.Sprint(v)
}

func conditionOf(st map[string]any, typ string) string {
	conds, _, _ := unstructured.NestedSlice(st, "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			return fmt.Sprintf("%v %v %v", m["status"], m["reason"], m["message"])
		}
	}
	return "<absent>"
}

// TestReconcileStatusWrites reconciles image objects in a real API server and checks that the status is
// replaced, not merged: fields a later reconciliation no longer has (a digest, the latest tags, a Stalled
// condition, observed policies) are gone from the stored object. A status computed from a stale copy
// still lands (conflict, read again, retried).
func TestReconcileStatusWrites(t *testing.T) {
	ns := "status-writes"
	createNamespace(t, ns)
	c := clusterClients(t)
	reg := sourcetest.StartRegistry(t, "")
	pushTags(t, reg.Host+"/org/app", []string{"1.0.0", "1.1.0", "x.sig"})
	r := &Reconciler{Clock: clock.RealClock{}, Client: c.Dynamic, Scanner: &Scanner{Clock: clock.RealClock{}, Store: openStore(t)}, Automation: &Automation{Clock: clock.RealClock{}}}
	ctx := context.Background()

	// An image with a tag is Stalled; fixed, it scans and Stalled is gone.
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: %s}
spec: {image: %s/org/app:1.0.0, interval: 1h}
`, ns, reg.Host))
	var repo imagev1.ImageRepository
	live(t, c, RepositoriesResource, ns, "app", &repo)
	if out := r.ReconcileRepository(ctx, &repo); ReasonOf(out.Err) != imagev1.ImageURLInvalidReason {
		t.Fatalf("err %v", out.Err)
	}
	st := live(t, c, RepositoriesResource, ns, "app", &repo)
	if got := conditionOf(st, "Stalled"); !strings.HasPrefix(got, "True ImageURLInvalid ") {
		t.Fatalf("Stalled %s", got)
	}
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: %s}
spec: {image: %s/org/app, interval: 1h}
`, ns, reg.Host))
	live(t, c, RepositoriesResource, ns, "app", &repo)
	out := r.ReconcileRepository(ctx, &repo)
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	st = live(t, c, RepositoriesResource, ns, "app", &repo)
	wantReady := fmt.Sprintf("True Succeeded successful scan: found 2 tags with checksum %s", out.Scan.Revision)
	if conditionOf(st, "Stalled") != "<absent>" || conditionOf(st, "Ready") != wantReady ||
		field(st, "lastScanResult", "latestTags") != "[1.1.0 1.0.0]" || field(st, "canonicalImageName") != reg.Host+"/org/app" ||
		field(st, "observedExclusionList") != `[^.*\.sig$]` {
		t.Fatalf("status %v", st)
	}

	// Digest reflection Always, then Never: latestRef.digest is cleared.
	policy := func(extra string) {
		cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: %s}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: 1.x}}
%s`, ns, extra))
	}
	policy("  digestReflectionPolicy: Always\n  interval: 5m\n")
	var pol imagev1.ImagePolicy
	live(t, c, PoliciesResource, ns, "app", &pol)
	if out := r.ReconcilePolicy(ctx, &pol, &repo); out.Err != nil || !out.Changed {
		t.Fatalf("%+v", out)
	}
	st = live(t, c, PoliciesResource, ns, "app", &pol)
	digest := field(st, "latestRef", "digest")
	if !strings.HasPrefix(digest, "sha256:") || field(st, "latestRef", "tag") != "1.1.0" || field(st, "latestRef", "name") != reg.Host+"/org/app" {
		t.Fatalf("status %v", st)
	}
	if got, want := conditionOf(st, "Ready"), fmt.Sprintf("True Succeeded Latest image tag for %s/org/app resolved to 1.1.0 with digest %s", reg.Host, digest); got != want {
		t.Fatalf("Ready %q, want %q", got, want)
	}
	stale := pol.DeepCopy()
	policy("  digestReflectionPolicy: Never\n")
	live(t, c, PoliciesResource, ns, "app", &pol)
	if out := r.ReconcilePolicy(ctx, &pol, &repo); out.Err != nil || !out.Changed {
		t.Fatalf("%+v", out)
	}
	st = live(t, c, PoliciesResource, ns, "app", &pol)
	if field(st, "latestRef", "digest") != "<absent>" || field(st, "latestRef", "tag") != "1.1.0" || field(st, "observedPreviousRef", "digest") != digest {
		t.Fatalf("status after Never: %v", st)
	}
	if got, want := conditionOf(st, "Ready"), fmt.Sprintf("True Succeeded Latest image tag for %[1]s/org/app resolved to 1.1.0 (previously %[1]s/org/app:1.1.0@%[2]s)", reg.Host, digest); got != want {
		t.Fatalf("Ready %q, want %q", got, want)
	}

	// A status computed from a stale copy (its resourceVersion is old): the write conflicts, is retried
	// on the fresh object and replaces the status there.
	stale.Spec.DigestReflectionPolicy = imagev1.ReflectNever
	stale.Status.LatestRef = nil
	if out := r.ReconcilePolicy(ctx, stale, &repo); out.Err != nil {
		t.Fatalf("stale write: %v", out.Err)
	}
	st = live(t, c, PoliciesResource, ns, "app", &pol)
	if field(st, "observedPreviousRef") != "<absent>" || field(st, "latestRef", "tag") != "1.1.0" {
		t.Fatalf("status after the stale write: %v", st)
	}

	// Every tag excluded: tagCount 0, latestTags gone; the policy then fails with Flux's reason.
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: %s}
spec: {image: %s/org/app, interval: 1h, exclusionList: ['.*']}
`, ns, reg.Host))
	live(t, c, RepositoriesResource, ns, "app", &repo)
	if out := r.ReconcileRepository(ctx, &repo); out.Err != nil {
		t.Fatal(out.Err)
	}
	st = live(t, c, RepositoriesResource, ns, "app", &repo)
	if field(st, "lastScanResult", "tagCount") != "0" || field(st, "lastScanResult", "latestTags") != "<absent>" {
		t.Fatalf("status %v", st)
	}
	live(t, c, PoliciesResource, ns, "app", &pol)
	if out := r.ReconcilePolicy(ctx, &pol, &repo); ReasonOf(out.Err) != FailureReason {
		t.Fatalf("err %v (reason %s)", out.Err, ReasonOf(out.Err))
	}
	st = live(t, c, PoliciesResource, ns, "app", &pol)
	if got := conditionOf(st, "Ready"); !strings.HasPrefix(got, "False Failure ") || field(st, "latestRef", "tag") != "1.1.0" {
		t.Fatalf("Ready %s, status %v", got, st)
	}

	// An invalid policy is Stalled with InvalidPolicy.
	policy("  filterTags: {pattern: '('}\n")
	live(t, c, PoliciesResource, ns, "app", &pol)
	r.ReconcilePolicy(ctx, &pol, &repo)
	st = live(t, c, PoliciesResource, ns, "app", &pol)
	if got := conditionOf(st, "Stalled"); !strings.HasPrefix(got, "True InvalidPolicy ") {
		t.Fatalf("Stalled %s", got)
	}
}

// TestReconcileAutomationStatus runs an automation through the Reconciler: Flux's Ready message, the
// pushed commit as the observed source revision, observed policies (cleared when the selector drops
// the policy), and a missing GitRepository.
func TestReconcileAutomationStatus(t *testing.T) {
	ns := "automation-status"
	createNamespace(t, ns)
	c := clusterClients(t)
	repo := pushableRepo(t)
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	fixed := testingclock.NewFakePassiveClock(now)
	r := &Reconciler{Clock: fixed, Client: c.Dynamic, Scanner: &Scanner{Clock: clock.RealClock{}, Store: openStore(t)}, Automation: &Automation{Clock: fixed}}
	ctx := context.Background()
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: auto, namespace: %s}
spec:
  interval: 1h
  sourceRef: {kind: GitRepository, name: fleet}
  git:
    checkout: {ref: {branch: main}}
    commit: {author: {name: bot, email: bot@example.com}}
  update: {path: ./apps}
`, ns))
	policies := []imagev1.ImagePolicy{{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Labels: map[string]string{"team": "a"}},
		Status:     imagev1.ImagePolicyStatus{LatestRef: &imagev1.ImageRef{Name: "registry.example/org/app", Tag: "1.2.3"}},
	}}
	var auto imagev1.ImageUpdateAutomation

	// The GitRepository does not exist (yet).
	live(t, c, AutomationsResource, ns, "auto", &auto)
	out := r.ReconcileAutomation(ctx, &auto, nil, policies)
	if !out.Waiting || ReasonOf(out.Err) != imagev1.SourceManagerFailedReason {
		t.Fatalf("%+v", out)
	}
	st := live(t, c, AutomationsResource, ns, "auto", &auto)
	if field(st, "lastAutomationRunTime") != "2026-03-04T05:06:07Z" {
		t.Fatalf("status %v", st)
	}

	git := &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Name: "fleet", Namespace: ns},
		Spec: sourcev1.GitRepositorySpec{URL: repo.URL, Reference: &sourcev1.GitRepositoryRef{Branch: "main"}}}
	// The policy in another namespace is not the automation's: deploy.yaml marks flux-system:app.
	policies[0].Namespace = "flux-system"
	auto.Namespace = ns
	out = r.ReconcileAutomation(ctx, &auto, git, append(policies, imagev1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Labels: map[string]string{"team": "a"}},
		Status:     imagev1.ImagePolicyStatus{LatestRef: &imagev1.ImageRef{Name: "registry.example/org/app", Tag: "1.2.3"}},
	}))
	if out.Err != nil || out.Run.Commit != "" {
		t.Fatalf("%+v", out)
	}
	st = live(t, c, AutomationsResource, ns, "auto", &auto)
	if conditionOf(st, "Ready") != "True Succeeded repository up-to-date" || field(st, "observedPolicies", "app", "tag") != "1.2.3" ||
		!strings.HasPrefix(field(st, "observedSourceRevision"), "main@sha1:") {
		t.Fatalf("status %v", st)
	}

	// With the policy of its namespace marked in the files: pushed; the pushed commit is the observed
	// revision. Then a selector that matches no policy clears observedPolicies.
	repo.Commit("mark for the namespace", map[string]*string{"apps/deploy.yaml": sourcetest.Str(strings.Replace(deployYAML, "flux-system:app", ns+":app", 1))})
	live(t, c, AutomationsResource, ns, "auto", &auto)
	local := []imagev1.ImagePolicy{{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Labels: map[string]string{"team": "a"}},
		Status:     imagev1.ImagePolicyStatus{LatestRef: &imagev1.ImageRef{Name: "registry.example/org/app", Tag: "1.2.3"}},
	}}
	out = r.ReconcileAutomation(ctx, &auto, git, local)
	if out.Err != nil || len(out.Run.Commit) != 40 {
		t.Fatalf("%+v", out)
	}
	if sum := out.Run.Summary(); sum != fmt.Sprintf("pushed commit '%s' to branch 'main'\n%s", out.Run.Commit[:7], DefaultMessageTemplate) {
		t.Fatalf("summary %q", sum)
	}
	st = live(t, c, AutomationsResource, ns, "auto", &auto)
	if conditionOf(st, "Ready") != "True Succeeded repository up-to-date" || field(st, "lastPushCommit") != out.Run.Commit ||
		field(st, "observedSourceRevision") != "main@sha1:"+out.Run.Commit || field(st, "lastPushTime") != "2026-03-04T05:06:07Z" {
		t.Fatalf("status %v", st)
	}
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: auto, namespace: %s}
spec:
  interval: 1h
  sourceRef: {kind: GitRepository, name: fleet}
  policySelector: {matchLabels: {team: b}}
  git:
    checkout: {ref: {branch: main}}
    commit: {author: {name: bot, email: bot@example.com}}
  update: {path: ./apps}
`, ns))
	live(t, c, AutomationsResource, ns, "auto", &auto)
	if out := r.ReconcileAutomation(ctx, &auto, git, local); out.Err != nil {
		t.Fatal(out.Err)
	}
	st = live(t, c, AutomationsResource, ns, "auto", &auto)
	if field(st, "observedPolicies") != "<absent>" || field(st, "lastPushCommit") != out.Run.Commit {
		t.Fatalf("status %v", st)
	}
}
