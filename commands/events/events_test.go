package events

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

var (
	cluster *testenv.Cluster
	now     = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func event(t *testing.T, ns, name, apiVersion, kind, object, typ, reason, msg string, ago time.Duration) {
	t.Helper()
	ctx := context.Background()
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	at := metav1.NewTime(now.Add(-ago))
	_, err := cluster.Client.CoreV1().Events(ns).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: ns},
		InvolvedObject: corev1.ObjectReference{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: object},
		Type:           typ, Reason: reason, Message: msg, Count: 1,
		FirstTimestamp: at, LastTimestamp: at, Source: corev1.EventSource{Component: "kustomize-controller"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func run(ctx context.Context, t *testing.T, out, errOut *syncBuffer, args ...string) error {
	ios := &cmdutil.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	f.Clock = testingclock.NewFakeClock(now)
	f.Timeout = time.Minute
	cmd := NewCmdEvents(f)
	f.KubeFlags.AddFlags(cmd.PersistentFlags())
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	cmd.SilenceUsage = true
	cmd.SetArgs(append(args, "--kubeconfig", kc))
	return cmd.ExecuteContext(ctx)
}

func TestEvents(t *testing.T) {
	const ks, git = "kustomize.toolkit.fluxcd.io/v1", "source.toolkit.fluxcd.io/v1"
	event(t, "fleet", "apps.1", ks, "Kustomization", "apps", "Normal", "ReconciliationSucceeded", "Reconciliation finished in 1.2s, next run in 10m0s", 2*time.Minute)
	event(t, "fleet", "repo.1", git, "GitRepository", "repo", "Normal", "NewArtifact", "stored artifact for commit 'Add apps'", 5*time.Minute)
	event(t, "fleet", "other.1", ks, "Kustomization", "other", "Warning", "BuildFailed", "kustomization path not found:\n./missing", 90*time.Second)
	event(t, "fleet", "pod.1", "v1", "Pod", "apps", "Warning", "BackOff", "not a Flux object", time.Minute)
	event(t, "team", "apps.1", ks, "Kustomization", "apps", "Normal", "ReconciliationSucceeded", "team apps applied", 3*time.Hour)
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	_ = yaml.Unmarshal([]byte(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: fleet}
spec: {interval: 1h, path: ./, prune: true, sourceRef: {kind: GitRepository, name: repo}}`), &u.Object)
	if _, err := dyn.Resource(kinds.MustByKey("kustomizations").Resource).Namespace("fleet").Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		args   []string
		golden string
	}{
		{"namespace", []string{"-n", "fleet"}, "events.txt"},
		{"for a kustomization and its source", []string{"-n", "fleet", "--for", "Kustomization/apps"}, "events-for.txt"},
		{"all namespaces warnings", []string{"-A", "--types", "Warning"}, "events-all-warnings.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut := &syncBuffer{}, &syncBuffer{}
			if err := run(context.Background(), t, out, errOut, tt.args...); err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			p := filepath.Join("../../testdata/golden/commands", tt.golden)
			goldenfile.CheckString(t, p, out.String())
		})
	}

	t.Run("watch", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out, errOut := &syncBuffer{}, &syncBuffer{}
		done := make(chan error, 1)
		go func() { done <- run(ctx, t, out, errOut, "-n", "fleet", "--for", "Kustomization/other", "--watch") }()
		for !strings.Contains(out.String(), "BuildFailed") {
			time.Sleep(50 * time.Millisecond)
		}
		event(t, "fleet", "other.2", ks, "Kustomization", "other", "Normal", "ReconciliationSucceeded", "fixed", 0)
		event(t, "fleet", "apps.2", ks, "Kustomization", "apps", "Normal", "ReconciliationSucceeded", "not for other", 0)
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), "fixed") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		if !strings.Contains(out.String(), "0s   Normal   ReconciliationSucceeded   Kustomization/other   fixed") || strings.Contains(out.String(), "not for other") {
			t.Errorf("watch output:\n%s", out)
		}
	})
}
