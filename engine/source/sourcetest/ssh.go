package sourcetest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHGitServer serves the bare repositories under Root over SSH with the real git-upload-pack and
// git-receive-pack, to clients authenticating with an authorized public key.
type SSHGitServer struct {
	Addr    string
	Root    string
	HostKey ssh.PublicKey

	mu         sync.Mutex
	authorized []ssh.PublicKey
	// Pushes counts git-receive-pack sessions.
	Pushes atomic.Int64
	// UploadPacks counts git-upload-pack sessions; PackRequests those in which the client asked for
	// objects (sent a "want" line), so a test can tell a fetch that found nothing new.
	UploadPacks  atomic.Int64
	PackRequests atomic.Int64
}

// StartSSHGitServer starts an SSH Git server over root (a GitServer's Root serves the same repositories
// over HTTP) with an ed25519 host key; it stops when the test ends.
func StartSSHGitServer(t testing.TB, root string, authorized ...ssh.PublicKey) *SSHGitServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	s := &SSHGitServer{Root: root, HostKey: hostKey.PublicKey(), authorized: authorized}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if s.IsAuthorized(key) {
				return nil, nil
			}
			return nil, errors.New("key not authorized")
		},
	}
	cfg.AddHostKey(hostKey)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(conn, cfg)
			}()
		}
	}()
	return s
}

// Authorize adds key to the keys the server accepts (a deploy key being registered).
func (s *SSHGitServer) Authorize(key ssh.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorized = append(s.authorized, key)
}

// IsAuthorized reports whether key may connect.
func (s *SSHGitServer) IsAuthorized(key ssh.PublicKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.authorized {
		if string(a.Marshal()) == string(key.Marshal()) {
			return true
		}
	}
	return false
}

// URL returns the ssh:// URL of the repository name (name.git under Root).
func (s *SSHGitServer) URL(name string) string { return "ssh://git@" + s.Addr + "/" + name + ".git" }

// KnownHosts returns a known_hosts line for the server's host key.
func (s *SSHGitServer) KnownHosts() string { return s.KnownHostsFor(s.HostKey) }

// KnownHostsFor returns a known_hosts line binding the server's address to key (another key than the
// server's makes a host key mismatch).
func (s *SSHGitServer) KnownHostsFor(key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, key) + "\n"
}

func (s *SSHGitServer) serve(conn net.Conn, cfg *ssh.ServerConfig) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			return
		}
		go s.session(ch, requests)
	}
}

func (s *SSHGitServer) session(ch ssh.Channel, requests <-chan *ssh.Request) {
	defer ch.Close()
	for req := range requests {
		if req.Type != "exec" || len(req.Payload) < 4 {
			_ = req.Reply(false, nil)
			continue
		}
		n := binary.BigEndian.Uint32(req.Payload)
		if int(n) > len(req.Payload)-4 {
			_ = req.Reply(false, nil)
			return
		}
		service, arg, _ := strings.Cut(string(req.Payload[4:4+n]), " ")
		if service != "git-upload-pack" && service != "git-receive-pack" {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		var in io.Reader = ch
		if service == "git-receive-pack" {
			s.Pushes.Add(1)
		} else {
			s.UploadPacks.Add(1)
			in = &wantCounter{r: ch, n: &s.PackRequests}
		}
		p := strings.ReplaceAll(strings.Trim(arg, "'"), `'\''`, "'")
		cmd := exec.Command(service, filepath.Join(s.Root, filepath.Clean("/"+p)))
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		stdin, _ := cmd.StdinPipe()
		cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
		status := uint32(0)
		if err := cmd.Start(); err != nil {
			status = 127
		} else {
			go func() {
				_, _ = io.Copy(stdin, in)
				stdin.Close()
			}()
			if err := cmd.Wait(); err != nil {
				status = 1
			}
		}
		_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
		return
	}
}

// wantCounter counts a conversation once when the client sends a "want" line.
type wantCounter struct {
	r    io.Reader
	n    *atomic.Int64
	seen bool
}

func (w *wantCounter) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if !w.seen && strings.Contains(string(p[:n]), "want ") {
		w.seen = true
		w.n.Add(1)
	}
	return n, err
}
