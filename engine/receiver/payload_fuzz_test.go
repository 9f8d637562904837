package receiver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	notificationv1 "github.com/converge-gitops/converge/crds/notification/v1"
)

// FuzzReceiverPayload feeds arbitrary bodies and header values to every receiver type that needs no
// network (gcr and generic-oidc fetch an issuer's keys): validation never panics, a type that signs
// its body only accepts a call whose signature is the body's HMAC under the token, and the filters'
// request body is decoded or refused with an error.
func FuzzReceiverPayload(f *testing.F) {
	types := []string{notificationv1.GenericReceiver, notificationv1.GenericHMACReceiver, notificationv1.GitHubReceiver,
		GiteaReceiver, notificationv1.GitLabReceiver, notificationv1.BitbucketReceiver, notificationv1.HarborReceiver,
		notificationv1.DockerHubReceiver, notificationv1.QuayReceiver, notificationv1.NexusReceiver,
		notificationv1.ACRReceiver, notificationv1.CDEventsReceiver}
	f.Add(uint8(1), []byte(`{"ref":"refs/heads/main"}`), "sha256=00", "push", "application/json")
	f.Add(uint8(2), []byte(`{}`), "sha1=zz", "ping", "application/json; charset=utf-8")
	f.Add(uint8(7), []byte(`{"push_data":{"tag":"v1"},"repository":{"repo_url":"x"}}`), "", "", "text/plain")
	f.Add(uint8(11), []byte(`{"context":{"type":"dev.cdevents.artifact.published.0.1.0"}}`), "", "dev.cdevents.artifact.published.0.1.0", "application/json")
	f.Add(uint8(9), []byte(`{"action":"CREATED"}`), "deadbeef", "", "application/json")
	f.Fuzz(func(t *testing.T, typ uint8, body []byte, sig, event, contentType string) {
		rcv := &notificationv1.Receiver{}
		rcv.Spec.Type = types[int(typ)%len(types)]
		hd := http.Header{}
		for _, name := range []string{"X-Signature", "X-Hub-Signature-256", "X-Hub-Signature", "X-Gitea-Signature",
			"X-Gitlab-Token", "Authorization", "X-Nexus-Webhook-Signature"} {
			hd.Set(name, sig)
		}
		for _, name := range []string{"X-GitHub-Event", "X-Gitlab-Event", "X-Event-Key", "Ce-Type"} {
			hd.Set(name, event)
		}
		hd.Set("Content-Type", contentType)
		h := &Handler{}
		v, err := h.validate(context.Background(), rcv, hd, body, map[string][]byte{"token": []byte(token)})
		if err == nil && v.ok && rcv.Spec.Type == notificationv1.GenericHMACReceiver {
			m := hmac.New(sha256.New, []byte(token))
			m.Write(body)
			// Only sha256= is checked here; sha1= and sha512= go through the same comparison.
			if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); strings.HasPrefix(sig, "sha256=") && !strings.EqualFold(sig, want) {
				t.Fatalf("generic-hmac accepted signature %q for a body whose HMAC-SHA256 is %s", sig, want)
			}
		}
		if err == nil && v.ok && (rcv.Spec.Type == notificationv1.GitLabReceiver || rcv.Spec.Type == notificationv1.HarborReceiver) && sig != token {
			t.Fatalf("%s accepted the token %q", rcv.Spec.Type, sig)
		}
		if req, err := requestBody(hd, body); err == nil && req == nil {
			t.Fatal("requestBody returned neither a body nor an error")
		}
		_, _ = gcrEvent(body)
	})
}
