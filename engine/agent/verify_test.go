package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestAgentVerifiesGit: a GitRepository with spec.verify gets SourceVerified=True for a commit signed
// (by git with ssh-keygen) with a trusted key; an unsigned commit after it is refused with
// SourceVerified=False and Ready=False (InvalidCommitSignature), the artifact stays at the signed
// revision, and the Kustomization keeps what that revision applied.
func TestAgentVerifiesGit(t *testing.T) {
	ns := "verify"
	namespace(t, ns)
	keyFile := filepath.Join(t.TempDir(), "signer")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "signer", "-f", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "verify")
	commit := func(value string, sign bool) string {
		if err := os.MkdirAll(filepath.Join(repo.Work, "apps"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo.Work, "apps", "a.yaml"), []byte(*configMap("a", ns, value)), 0o644); err != nil {
			t.Fatal(err)
		}
		sourcetest.RunGit(t, repo.Work, "add", "-A")
		args := []string{"commit", "-q", "-m", value}
		if sign {
			args = append([]string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + keyFile}, append(args, "-S")...)
		}
		sourcetest.RunGit(t, repo.Work, args...)
		sourcetest.RunGit(t, repo.Work, "push", "-q", "--force", filepath.Join(srv.Root, "verify.git"), "HEAD:refs/heads/main")
		return sourcetest.RunGit(t, repo.Work, "rev-parse", "HEAD")
	}
	signed := commit("signed", true)
	startAgent(t, Options{})
	cluster.ApplyYAML(t, `apiVersion: v1
kind: Secret
metadata: {name: keys, namespace: verify}
stringData:
  signer.sshpub: "`+strings.TrimSpace(string(pub))+`"
`)
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL)+"  verify: {mode: HEAD, secretRef: {name: keys}}\n")
	cluster.ApplyYAML(t, kustomization(ns, "apps", "./apps", ""))

	eventually(t, "the signed revision applied", ksReadyAt(t, ns, "apps", "main@sha1:"+signed))
	if st, reason, msg := condition(get(t, gitGVR, ns, "repo"), "SourceVerified"); st != "True" || reason != "Succeeded" ||
		!strings.Contains(msg, "verified signature of\n\t- commit '"+signed+"' with key 'SHA256:") {
		t.Errorf("SourceVerified = %s %s %q", st, reason, msg)
	}

	if mode, _, _ := unstructured.NestedString(get(t, gitGVR, ns, "repo").Object, "status", "sourceVerificationMode"); mode != "HEAD" {
		t.Errorf("status.sourceVerificationMode = %q, want HEAD", mode)
	}

	unsigned := commit("unsigned", false)
	requestReconcile(t, gitGVR, ns, "repo")
	eventually(t, "the unsigned commit refused", func() (bool, string) {
		st, reason, msg := condition(get(t, gitGVR, ns, "repo"), "SourceVerified")
		return st == "False" && reason == "InvalidCommitSignature" && strings.Contains(msg, unsigned), st + " " + reason + " " + msg
	})
	gr := get(t, gitGVR, ns, "repo")
	if st, reason, msg := condition(gr, "Ready"); st != "False" || reason != "InvalidCommitSignature" || !strings.Contains(msg, "not signed") {
		t.Errorf("Ready = %s %s %q", st, reason, msg)
	}
	if rev, _, _ := unstructured.NestedString(gr.Object, "status", "artifact", "revision"); rev != "main@sha1:"+signed {
		t.Errorf("artifact revision %q, want the signed one", rev)
	}
	requestReconcile(t, ksGVR, ns, "apps")
	eventually(t, "the Kustomization reconciled again", ksReadyAt(t, ns, "apps", "main@sha1:"+signed))
	if v := cmValue(t, ns, "a"); v != "signed" {
		t.Errorf("ConfigMap a = %q, want the signed revision's", v)
	}
}
