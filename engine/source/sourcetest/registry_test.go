package sourcetest

import (
	"crypto/x509"
	"errors"
	"net/http"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestStartRegistry(t *testing.T) {
	r := StartRegistry(t, "")
	resp, err := http.Get("http://" + r.Host + "/v2/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("registry not serving: %v %v", err, resp)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.DefaultCost)
	ra := StartRegistry(t, "user:"+string(hash)+"\n")
	resp, err = http.Get("http://" + ra.Host + "/v2/")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("want 401 without credentials, got %v %v", err, resp)
	}
	req, _ := http.NewRequest("GET", "http://"+ra.Host+"/v2/", nil)
	req.SetBasicAuth("user", "secret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("want 200 with credentials, got %v %v", err, resp)
	}
}

func TestStartTLSRegistry(t *testing.T) {
	r := StartTLSRegistry(t, "")
	if len(r.CA) == 0 || r.URL() != "https://"+r.Host {
		t.Fatalf("CA %d bytes, URL %s", len(r.CA), r.URL())
	}
	resp, err := r.Client().Get(r.URL() + "/v2/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("registry not serving TLS: %v %v", err, resp)
	}
	resp.Body.Close()
	var unknown x509.UnknownAuthorityError
	if _, err := http.Get(r.URL() + "/v2/"); !errors.As(err, &unknown) {
		t.Fatalf("without the CA: %v, want an unknown authority error", err)
	}
}
