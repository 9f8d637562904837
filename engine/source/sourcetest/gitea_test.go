package sourcetest

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestStartGitea: the server answers its API as the pinned version with the admin's token, refuses a
// wrong one, shows the host key it was given on its SSH port, and makes users and organizations.
func TestStartGitea(t *testing.T) {
	g := StartGitea(t)
	t.Logf("gitea started in %s", g.StartTime.Round(time.Millisecond))
	ctx := context.Background()
	var v struct {
		Version string `json:"version"`
	}
	if err := g.API(ctx, g.Token, http.MethodGet, "/version", nil, &v); err != nil || v.Version != "1.26.0" {
		t.Errorf("version %q, %v", v.Version, err)
	}
	var me struct {
		Login   string `json:"login"`
		IsAdmin bool   `json:"is_admin"`
	}
	if err := g.API(ctx, g.Token, http.MethodGet, "/user", nil, &me); err != nil || me.Login != g.Admin || !me.IsAdmin {
		t.Errorf("user %+v, %v", me, err)
	}
	var ae *GiteaAPIError
	if err := g.API(ctx, "wrong", http.MethodGet, "/user", nil, nil); !asGiteaError(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("wrong token: %v", err)
	}

	var hostKey ssh.PublicKey
	conn, err := net.Dial("tcp", g.SSHAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _, _, _ = ssh.NewClientConn(conn, g.SSHAddr, &ssh.ClientConfig{User: "git", HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
		hostKey = k
		return nil
	}})
	if hostKey == nil || !bytes.Equal(hostKey.Marshal(), g.HostKey.Marshal()) {
		t.Errorf("SSH host key %v, want %v", hostKey, g.HostKey)
	}

	g.CreateOrg(t, "acme")
	token := g.CreateUser(t, "bob")
	if err := g.API(ctx, token, http.MethodGet, "/user", nil, &me); err != nil || me.Login != "bob" || me.IsAdmin {
		t.Errorf("bob's token: %+v, %v", me, err)
	}
	if err := g.API(ctx, token, http.MethodGet, "/orgs/acme", nil, nil); err != nil {
		t.Error(err)
	}
	if err := g.API(ctx, token, http.MethodGet, "/repos/acme/none", nil, nil); !IsGiteaNotFound(err) {
		t.Errorf("missing repository: %v", err)
	}
}

func asGiteaError(err error, target **GiteaAPIError) bool {
	e, ok := err.(*GiteaAPIError)
	*target = e
	return ok
}
