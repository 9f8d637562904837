package bucket

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/cloud"
)

// TestFetchAWSWorkloadIdentity reads a bucket of the real S3 server (versitygw) with provider aws and
// no secretRef: the credentials come from the AWS chain. No EKS can run here: a loopback FAKE of the
// EKS Pod Identity agent hands out the server's keys to the holder of the projected token.
func TestFetchAWSWorkloadIdentity(t *testing.T) {
	s := startS3(t, serverOptions{})
	s.makeBucket(t, "iam", map[string]string{"a.yaml": "a"})
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "pod-identity-token" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"message":"invalid token"}`)
			return
		}
		fmt.Fprintf(w, `{"AccessKeyId":%q,"SecretAccessKey":%q,"Expiration":%q}`, rootAccessKey, rootSecretKey, time.Now().Add(time.Hour).Format(time.RFC3339))
	}))
	t.Cleanup(agent.Close)
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	_ = os.WriteFile(good, []byte("pod-identity-token"), 0o600)
	_ = os.WriteFile(bad, []byte("stolen"), 0o600)
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "EKS Pod Identity", env: map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": agent.URL, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": good}},
		{name: "refused token", env: map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": agent.URL, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": bad},
			wantErr: `provider "aws": AWS container credentials from ` + agent.URL + `: HTTP 401`},
		{name: "no credentials", env: map[string]string{"AWS_EC2_METADATA_DISABLED": "true"}, wantErr: `provider "aws": no AWS credentials`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFetcher(t, nil)
			f.Cloud = cloud.New(cloud.Env{Getenv: func(k string) string { return tc.env[k] }})
			a, err := f.Fetch(context.Background(), bucketObject("manifests", s.Endpoint, "iam", func(b *sourcev1.BucketSpec) {
				b.Provider, b.SecretRef = sourcev1.BucketProviderAmazon, nil
			}))
			if tc.wantErr != "" {
				fe := fetchErr(t, err)
				if fe.Reason != sourcev1.AuthenticationFailedReason || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v (reason %s), want %q", err, fe.Reason, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readTree(t, a.Dir); got["a.yaml"] != "a" {
				t.Errorf("files = %v", got)
			}
		})
	}
}
