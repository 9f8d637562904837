package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

// TestTriggerReceiverCommand runs `trigger receiver` through the whole tree: its --token is the
// Receiver's (not the kubeconfig's bearer token), -n names the Receiver's namespace, and no cluster is
// needed. The loopback server records the one request (the webhook server is tested in engine/receiver).
func TestTriggerReceiverCommand(t *testing.T) {
	var gotPath, gotSig, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotPath, gotSig, gotBody = r.URL.Path, r.Header.Get("X-Signature"), string(b)
	}))
	t.Cleanup(srv.Close)
	f := newFactory()
	ios, _, _, errOut := cmdutil.Test()
	f.IO = ios
	root := newRoot(f)
	root.SetArgs([]string{"trigger", "receiver", "rx", "-n", "apps", "--url", srv.URL + "/base/", "--token", "t",
		"--type", "generic-hmac", "--payload", `{"a":1}`, "--kubeconfig", "/nonexistent"})
	if code := cmdutil.ExitCode(root.Execute(), errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// sha256("t"+"rx"+"apps"), observed from Flux's CLI on the same input
	if want := "/base/hook/cc3c6a3d44c8a4cba5b056a0fb90fda0b0868ebbe8db208c790b307ea2e539a9"; gotPath != want {
		t.Errorf("path %q, want %q", gotPath, want)
	}
	if !strings.HasPrefix(gotSig, "sha256=") || gotBody != `{"a":1}` {
		t.Errorf("signature %q body %q", gotSig, gotBody)
	}
	if !strings.Contains(errOut.String(), "✔ Receiver apps/rx triggered") {
		t.Errorf("stderr: %s", errOut)
	}
}
