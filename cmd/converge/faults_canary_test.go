package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keys"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSecretCanary passes one random Secret value, SOPS-encrypted in Git, through build, diff (also
// -o json), apply (also -o json), a change of the value, Events, notifications to a loopback webhook
// Provider, the Kustomization's status and `debug kustomization`, and fails if the value appears in
// any of them. What is shown instead is Flux's: build prints **SOPS** for encrypted values, diff ***.
func TestSecretCanary(t *testing.T) {
	const ns = "canary"
	keyFile := "../../testdata/build/keys/test.agekey"
	canaries := []string{randomToken(t), randomToken(t)}

	hook := &webhook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	cluster.ApplyYAML(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+ns+"\n")
	cluster.ApplyYAML(t, `apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: `+ns+`}
spec: {type: generic, address: "`+srv.URL+`"}
`)
	cluster.ApplyYAML(t, `apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: all, namespace: `+ns+`}
spec:
  providerRef: {name: hook}
  eventSeverity: info
  eventSources: [{kind: Kustomization, name: "*"}]
`)

	root := filepath.Join(t.TempDir(), "repo")
	tree := catalogueTree(ns)
	tree["clusters/c/apps.yaml"] = inNamespace(catalogueApps, ns) + "  decryption:\n    provider: sops\n"
	writeFiles(t, root, tree)
	kc := kubeconfig(t)

	var outputs []string
	capture := func(what string, res result) {
		outputs = append(outputs, "== "+what+"\n"+res.stdout+res.stderr)
	}
	run2 := func(args ...string) result {
		args = append(args, "--root", root, "--cache-dir", t.TempDir(), "--decryption-key", keyFile,
			"--local-source", "GitRepository/"+ns+"/flux-system="+root)
		return run(t, newFactory(), args...)
	}
	path := filepath.Join(root, "clusters/c")
	for i, canary := range canaries {
		writeFiles(t, root, map[string]string{"apps/token.enc.yaml": string(encryptAge(t, keyFile,
			"apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\nstringData:\n  token: "+canary+"\n"))})
		capture("build", run2("build", path))
		capture("build -o json", run2("build", path, "-o", "json"))
		for _, args := range [][]string{{"diff", path}, {"diff", path, "-o", "json"}} {
			res := run2(append(args, "--kubeconfig", kc)...)
			if res.code != 1 {
				t.Fatalf("%v: exit %d, want 1 (changes):\n%s%s", args, res.code, res.stdout, res.stderr)
			}
			if !strings.Contains(res.stdout, "***") {
				t.Errorf("%v does not show the masked value ***:\n%s", args, res.stdout)
			}
			capture(strings.Join(args, " "), res)
		}
		args := []string{"apply", path, "--kubeconfig", kc}
		if i == 1 {
			args = append(args, "-o", "json")
		}
		res := run2(args...)
		if res.code != 0 {
			t.Fatalf("apply: exit %d:\n%s%s", res.code, res.stdout, res.stderr)
		}
		capture("apply", res)
		s, err := cluster.Client.CoreV1().Secrets(ns).Get(context.Background(), "token", metav1.GetOptions{})
		if err != nil || string(s.Data["token"]) != canary {
			t.Fatalf("the Secret was not applied with the canary (a canary that never flows proves nothing): %v", err)
		}
	}
	capture("debug kustomization", run(t, newFactory(), "debug", "kustomization", "apps", "-n", ns, "--show-status", "--kubeconfig", kc))
	events, err := cluster.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(events)
	outputs = append(outputs, "== events\n"+string(b))
	res := run(t, newFactory(), "get", "kustomizations", "-n", ns, "--kubeconfig", kc)
	capture("get kustomizations", res)
	// Notifications are sent concurrently with apply's end; apply waits for them before it returns.
	bodies := hook.all()
	if len(bodies) == 0 {
		t.Fatal("no notification reached the webhook: the canary was not tested there")
	}
	outputs = append(outputs, "== notifications\n"+strings.Join(bodies, "\n"))

	all := strings.Join(outputs, "\n")
	for _, c := range canaries {
		for _, form := range []string{c, hex.EncodeToString([]byte(c))} {
			if strings.Contains(all, form) {
				i := strings.Index(all, form)
				t.Errorf("the secret value appears in the outputs:\n%s", all[max(0, i-2000):min(len(all), i+200)])
			}
		}
	}
	t.Logf("secret canary: %d outputs checked (%d bytes), %d notifications", len(outputs), len(all), len(bodies))
}

func randomToken(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "canary" + hex.EncodeToString(b)
}

// webhook records the bodies of the notifications it receives.
type webhook struct {
	mu     sync.Mutex
	bodies []string
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, r.URL.String()+" "+string(b))
	h.mu.Unlock()
}

func (h *webhook) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

// encryptAge SOPS-encrypts the YAML plain for the age identity in keyFile, as `sops -e` does for a
// Secret (data and stringData only).
func encryptAge(t *testing.T, keyFile, plain string) []byte {
	t.Helper()
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(strings.NewReader(string(kb)))
	if err != nil || len(ids) == 0 {
		t.Fatalf("age identities in %s: %v", keyFile, err)
	}
	mk, err := sopsage.MasterKeyFromRecipient(ids[0].(*age.X25519Identity).Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	store := sopsyaml.NewStore(&config.YAMLStoreConfig{})
	branches, err := store.LoadPlainFile([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		t.Fatal(err)
	}
	if err := mk.Encrypt(dataKey); err != nil {
		t.Fatal(err)
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{KeyGroups: []sops.KeyGroup{{keys.MasterKey(mk)}},
		EncryptedRegex: "^(data|stringData)$", Version: "3.13.3"}}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		t.Fatal(err)
	}
	tree.Metadata.LastModified = time.Now().UTC().Truncate(time.Second)
	if tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
