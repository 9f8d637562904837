package sourcetest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// GitHubAppAPI is a stand-in for the few GitHub API endpoints a GitHub App installation token is made
// with; GitHub itself cannot run here, so this is a fake on loopback, and it implements exactly:
// POST /app/installations/{id}/access_tokens, GET /orgs/{owner}/installation,
// GET /users/{owner}/installation and GET /app. Every request must carry a JWT (RS256) signed by Key,
// issued by AppID and not expired; the installation token it hands out is Token.
type GitHubAppAPI struct {
	*httptest.Server
	// Key is the App's private key; KeyPEM its PKCS#1 PEM, as GitHub gives it.
	Key    *rsa.PrivateKey
	KeyPEM []byte
	AppID  int64
	// InstallationID is the one installation; Owner, an organization (OwnerIsUser: a user), has it.
	InstallationID int64
	Owner          string
	OwnerIsUser    bool
	Slug           string
	// Token is the installation access token handed out, valid for Lifetime (default an hour) from Now
	// (default the real clock).
	Token    string
	Lifetime time.Duration
	Now      func() time.Time
	// Deny, when set, refuses every token exchange with 403 and this message.
	Deny string
	// Exchanges counts the installation tokens handed out.
	Exchanges atomic.Int64

	mu sync.Mutex
}

// StartGitHubAppAPI starts the fake GitHub App API with a new 2048-bit App key.
func StartGitHubAppAPI(t testing.TB, appID, installationID int64, owner, token string) *GitHubAppAPI {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &GitHubAppAPI{Key: key, AppID: appID, InstallationID: installationID, Owner: owner, Slug: "converge-test",
		Token: token, Lifetime: time.Hour, Now: time.Now,
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// SetDeny sets Deny while the server runs.
func (s *GitHubAppAPI) SetDeny(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Deny = msg
}

func (s *GitHubAppAPI) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	deny := s.Deny
	s.mu.Unlock()
	fail := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
	}
	if msg := s.checkJWT(r.Header.Get("Authorization")); msg != "" {
		fail(http.StatusUnauthorized, msg)
		return
	}
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	install := map[string]any{"id": s.InstallationID}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/app":
		reply(http.StatusOK, map[string]any{"id": s.AppID, "slug": s.Slug})
	case r.Method == http.MethodGet && r.URL.Path == "/orgs/"+s.Owner+"/installation" && !s.OwnerIsUser,
		r.Method == http.MethodGet && r.URL.Path == "/users/"+s.Owner+"/installation" && s.OwnerIsUser:
		reply(http.StatusOK, install)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/app/installations/") && strings.HasSuffix(r.URL.Path, "/access_tokens"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/app/installations/"), "/access_tokens")
		if id != strconv.FormatInt(s.InstallationID, 10) {
			fail(http.StatusNotFound, "Not Found")
			return
		}
		if deny != "" {
			fail(http.StatusForbidden, deny)
			return
		}
		s.Exchanges.Add(1)
		reply(http.StatusCreated, map[string]any{"token": s.Token, "expires_at": s.Now().Add(s.Lifetime).UTC().Format(time.RFC3339)})
	default:
		fail(http.StatusNotFound, "Not Found")
	}
}

// checkJWT verifies the bearer JWT as GitHub does; "" when it is good, else why not.
func (s *GitHubAppAPI) checkJWT(h string) string {
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return "A JSON web token is required"
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "A JSON web token could not be decoded"
	}
	enc := base64.RawURLEncoding
	var head struct{ Alg, Typ string }
	var claims struct {
		Iat, Exp int64
		Iss      string
	}
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &head) != nil || json.Unmarshal(cb, &claims) != nil {
		return "A JSON web token could not be decoded"
	}
	if head.Alg != "RS256" {
		return "'alg' must be RS256"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&s.Key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return "A JSON web token could not be decoded (bad signature)"
	}
	now := s.Now().Unix()
	switch {
	case claims.Iss != strconv.FormatInt(s.AppID, 10):
		return fmt.Sprintf("'Issuer' claim ('iss') %q is not this App", claims.Iss)
	case claims.Exp <= now:
		return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	case claims.Iat > now+60, claims.Exp-claims.Iat > 600:
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	}
	return ""
}
