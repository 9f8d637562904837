package delete

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

// run runs `delete args...` with stdin as the answer to the confirmation question.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ios, in, _, errOut := cmdutil.Test()
	in.WriteString(stdin)
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	f.Timeout = time.Minute
	// The root's kubeconfig flags (the factory leaves --server to the root, which has no -s).
	cmd := &cobra.Command{Use: "converge"}
	f.KubeFlags.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(NewCmdDelete(f))
	args = append([]string{"delete"}, args...)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	cmd.SetArgs(append(args, "--kubeconfig", kc))
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.ExecuteContext(context.Background())
	return errOut.String(), err
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	const ns = "delete"
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	repos := dyn.Resource(kinds.MustByKey("git").Resource).Namespace(ns)
	create := func(name string, finalizers ...string) {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: %s, namespace: %s}
spec: {interval: 1h, url: https://example.com/repo}`, name, ns)), &u.Object); err != nil {
			t.Fatal(err)
		}
		u.SetFinalizers(finalizers)
		if _, err := repos.Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(name string) bool {
		_, err := repos.Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	create("kept")
	create("gone")
	create("silent")
	create("finalized", "finalizers.fluxcd.io")

	tests := []struct {
		name, stdin string
		args        []string
		wantErr     string
		wantOut     []string
		exists      bool
	}{
		{name: "answer no", stdin: "n\n", args: []string{"source", "git", "kept"}, wantErr: "aborting",
			wantOut: []string{"Are you sure you want to delete this source git? [y/N] "}, exists: true},
		{name: "no answer", stdin: "", args: []string{"source", "git", "kept"}, wantErr: "aborting", exists: true},
		{name: "answer yes", stdin: "y\n", args: []string{"source", "git", "gone"},
			wantOut: []string{"Are you sure", "► deleting source git gone in delete namespace", "✔ source git deleted"}},
		{name: "silent", args: []string{"source", "git", "silent", "--silent"},
			wantOut: []string{"► deleting source git silent in delete namespace"}},
		{name: "-s", args: []string{"source", "git", "kept", "-s"}},
		{name: "missing", args: []string{"source", "git", "nope", "-s"}, wantErr: "GitRepository delete/nope not found"},
		{name: "no name", args: []string{"source", "git", "-s"}, wantErr: "source git name is required"},
		// The finalizer is respected: the object stays, marked for deletion, until it is removed.
		{name: "finalizer", args: []string{"source", "git", "finalized", "-s"}, exists: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errOut, err := run(t, tt.stdin, append(tt.args, "-n", ns)...)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err %v\n%s", err, errOut)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if tt.wantErr == "aborting" && !errors.Is(err, ErrAborted) {
				t.Fatalf("err %v, want ErrAborted", err)
			}
			if strings.Contains(errOut, "Are you sure") == (tt.stdin == "" && tt.wantErr != "aborting") {
				t.Errorf("question asked or not asked wrongly:\n%s", errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if len(tt.args) > 2 && exists(tt.args[2]) != tt.exists {
				t.Errorf("%s exists: %v, want %v", tt.args[2], !tt.exists, tt.exists)
			}
		})
	}
	u, err := repos.Get(ctx, "finalized", metav1.GetOptions{})
	if err != nil || u.GetDeletionTimestamp() == nil {
		t.Fatalf("finalized: %v, deletionTimestamp %v", err, u.GetDeletionTimestamp())
	}
}
