package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/driver"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/notify"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/workspace"
)

const notifyRevision = "main@sha1:0123456789012345678901234567890123456789"

// TestApplyNotifies: with an Alert in the cluster, apply sends its Kustomization and HelmRelease
// results to the Provider (a loopback server) before it exits; --no-notify sends nothing.
func TestApplyNotifies(t *testing.T) {
	root := t.TempDir()
	copyTree(t, "../../testdata/example", root)
	if _, errOut, code := runApply(t, root, "--install-crds"); code != 0 {
		t.Fatalf("first apply failed:\n%s", errOut)
	}

	var mu sync.Mutex
	var got []notify.Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond) // apply must wait for the delivery
		b, _ := io.ReadAll(r.Body)
		var e notify.Event
		if err := json.Unmarshal(b, &e); err != nil {
			t.Errorf("payload: %v", err)
		}
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	defer srv.Close()
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: push, namespace: flux-system}
spec: {type: generic, address: %q}
`, srv.URL))
	cluster.ApplyYAML(t, `apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: push, namespace: flux-system}
spec:
  providerRef: {name: push}
  eventSources:
    - {kind: Kustomization, name: '*'}
    - {kind: HelmRelease, name: '*', namespace: demo}
`)
	t.Cleanup(func() {
		clients, _ := kube.New(cluster.Config)
		_ = clients.Dynamic.Resource(notify.AlertsResource).Namespace("flux-system").Delete(context.Background(), "push", metav1.DeleteOptions{})
	})
	setVersion := func(n int) {
		svc := fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: podinfo\n  annotations: {version: \"%d\"}\nspec:\n  selector:\n    app: podinfo\n  ports:\n    - port: 9898\n", n)
		if err := os.WriteFile(filepath.Join(root, "apps/podinfo/service.yaml"), []byte(svc), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	setVersion(2)
	if errOut, code := applyNotify(t, root, true); code != 0 {
		t.Fatalf("apply --no-notify failed:\n%s", errOut)
	}
	mu.Lock()
	if len(got) != 0 {
		t.Errorf("--no-notify sent %d notifications", len(got))
	}
	mu.Unlock()

	// The object's event.toolkit.fluxcd.io annotations travel with its events, as the agent's do.
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clients.Dynamic.Resource(reconcile.KustomizationsResource).Namespace("flux-system").Patch(context.Background(), "apps",
		types.MergePatchType, []byte(`{"metadata":{"annotations":{"event.toolkit.fluxcd.io/change_request":"42"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	setVersion(3)
	if errOut, code := applyNotify(t, root, false); code != 0 {
		t.Fatalf("apply failed:\n%s", errOut)
	}
	mu.Lock()
	defer mu.Unlock()
	var apps bool
	for _, e := range got {
		if e.InvolvedObject.Kind == "Kustomization" && e.InvolvedObject.Name == "apps" && e.Reason == "ReconciliationSucceeded" &&
			e.Metadata["revision"] == notifyRevision && e.Metadata["change_request"] == "42" && e.InvolvedObject.UID != "" {
			apps = true
		}
		if e.InvolvedObject.Name == "infrastructure" {
			t.Errorf("unchanged Kustomization infrastructure notified: %+v", e)
		}
	}
	if !apps {
		t.Errorf("no ReconciliationSucceeded for apps delivered before apply exited: %+v", got)
	}

	evs, err := clients.Core.CoreV1().Events("flux-system").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recorded := false
	for _, ev := range evs.Items {
		if ev.InvolvedObject.Kind == "Kustomization" && ev.InvolvedObject.Name == "apps" && ev.Reason == "ReconciliationSucceeded" &&
			ev.Type == "Normal" && strings.Contains(ev.Message, "Service/demo/podinfo configured") &&
			ev.Annotations["kustomize.toolkit.fluxcd.io/revision"] == notifyRevision {
			recorded = true
		}
	}
	if !recorded {
		t.Errorf("no core/v1 Event ReconciliationSucceeded recorded on Kustomization apps; events: %+v", evs.Items)
	}
}

func applyNotify(t *testing.T, root string, noNotify bool) (string, int) {
	t.Helper()
	ios, _, _, errOut := cmdutil.Test()
	opts := &Options{IO: ios, Output: cmdutil.OutputTable, NoNotify: noNotify, Options: driver.Options{
		Workspace: workspace.Options{Path: filepath.Join(root, "clusters/demo"), Root: root, CacheDir: t.TempDir()},
		Clock:     clock.RealClock{}, Revision: func(*git.WorkTree) string { return notifyRevision },
		Clients: func() (*kube.Clients, error) { return kube.New(cluster.Config) }}}
	err := opts.Run(context.Background())
	return errOut.String(), cmdutil.ExitCode(err, errOut)
}
