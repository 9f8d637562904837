package sourcetest

import (
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
