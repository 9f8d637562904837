package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"golang.org/x/crypto/ssh"
)

// session is one conversation with a server's git-upload-pack: the reference advertisement, then at
// most one pack request.
type session interface {
	AdvertisedReferencesContext(ctx context.Context) (*packp.AdvRefs, error)
	UploadPack(ctx context.Context, req *packp.UploadPackRequest) (*packp.UploadPackResponse, error)
	Close() error
}

// remote is an opened session with the references the server advertised.
type remote struct {
	sess session
	refs *packp.AdvRefs
}

func (r *remote) close() { _ = r.sess.Close() }

// openRemote connects to u and reads its references. Over HTTP(S), a server asking for credentials gets
// those of creds.askHTTP (push mode) on a second attempt.
func (f *Fetcher) openRemote(ctx context.Context, u *url.URL, creds *credentials) (*remote, error) {
	sess, err := f.newSession(ctx, u, creds, creds.httpAuth)
	if err != nil {
		return nil, err
	}
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil && u.Scheme != "ssh" && creds.httpAuth == nil && creds.askHTTP != nil &&
		errors.Is(err, transport.ErrAuthenticationRequired) {
		_ = sess.Close()
		user, pass, askErr := creds.askHTTP(ctx, u)
		if askErr != nil {
			return nil, fmt.Errorf("%w (%v)", err, askErr)
		}
		sess, err = f.newSession(ctx, u, creds, &githttp.BasicAuth{Username: user, Password: pass})
		if err != nil {
			return nil, err
		}
		ar, err = sess.AdvertisedReferencesContext(ctx)
	}
	if err != nil {
		_ = sess.Close()
		return nil, err
	}
	return &remote{sess: sess, refs: ar}, nil
}

func (f *Fetcher) newSession(ctx context.Context, u *url.URL, creds *credentials, auth githttp.AuthMethod) (session, error) {
	if u.Scheme == "ssh" {
		return dialSSH(ctx, u, creds)
	}
	ep, err := transport.NewEndpoint(u.String())
	if err != nil {
		return nil, err
	}
	ep.CaBundle, ep.ClientCert, ep.ClientKey = creds.caBundle, creds.clientCert, creds.clientKey
	ep.Proxy = proxyOptions(creds.proxy)
	client := f.HTTPClient
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	var a transport.AuthMethod
	if auth != nil {
		a = auth
	}
	return githttp.NewClient(client).NewUploadPackSession(ep, a)
}

// sshSession runs git-upload-pack over SSH. Unlike go-git's SSH transport it dials with the context and
// closes the connection when the context ends, so a server that hangs cannot outlive spec.timeout.
type sshSession struct {
	client  *ssh.Client
	sess    *ssh.Session
	stdin   io.WriteCloser
	stdout  io.Reader
	stderr  *syncBuffer
	stop    func() bool
	advRefs *packp.AdvRefs
	packRun bool
	closed  bool
}

func dialSSH(ctx context.Context, u *url.URL, creds *credentials) (*sshSession, error) {
	port := u.Port()
	if port == "" {
		port = "22"
	}
	hostport := net.JoinHostPort(u.Hostname(), port)
	user := u.User.Username()
	if user == "" {
		user = "git"
	}
	cfg, err := creds.sshClientConfig(user, hostport)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, hostport, cfg)
	if err != nil {
		stop()
		_ = conn.Close()
		return nil, err
	}
	client := ssh.NewClient(c, chans, reqs)
	s := &sshSession{client: client, stop: stop, stderr: &syncBuffer{}}
	fail := func(err error) (*sshSession, error) {
		stop()
		_ = client.Close()
		return nil, err
	}
	if s.sess, err = client.NewSession(); err != nil {
		return fail(err)
	}
	if s.stdin, err = s.sess.StdinPipe(); err != nil {
		return fail(err)
	}
	if s.stdout, err = s.sess.StdoutPipe(); err != nil {
		return fail(err)
	}
	s.sess.Stderr = s.stderr
	p := u.Path
	if strings.HasPrefix(p, "/~") {
		p = p[1:]
	}
	if err := s.sess.Start(transport.UploadPackServiceName + " " + shellQuote(p)); err != nil {
		return fail(err)
	}
	return s, nil
}

func shellQuote(s string) string {
	return "'" + strings.NewReplacer("'", `'\''`, "!", `'\!'`).Replace(s) + "'"
}

func (s *sshSession) AdvertisedReferencesContext(ctx context.Context) (*packp.AdvRefs, error) {
	if s.advRefs != nil {
		return s.advRefs, nil
	}
	ar := packp.NewAdvRefs()
	if err := ar.Decode(s.stdout); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, packp.ErrEmptyAdvRefs) {
			return nil, transport.ErrEmptyRemoteRepository
		}
		_ = s.sess.Wait() // the server has stopped talking: let it finish writing stderr
		if msg := strings.TrimSpace(s.stderr.String()); msg != "" {
			if isNotFound(msg) {
				return nil, fmt.Errorf("%w: %s", transport.ErrRepositoryNotFound, msg)
			}
			return nil, fmt.Errorf("server: %s", msg)
		}
		return nil, fmt.Errorf("reading references: %w", err)
	}
	if ar.IsEmpty() {
		return nil, transport.ErrEmptyRemoteRepository
	}
	transport.FilterUnsupportedCapabilities(ar.Capabilities)
	s.advRefs = ar
	return ar, nil
}

func isNotFound(msg string) bool {
	for _, s := range []string{"does not appear to be a git repository", "not found", "No such file or directory", "does not exist"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func (s *sshSession) UploadPack(ctx context.Context, req *packp.UploadPackRequest) (*packp.UploadPackResponse, error) {
	if req.IsEmpty() {
		return nil, transport.ErrEmptyUploadPackRequest
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.AdvertisedReferencesContext(ctx); err != nil {
		return nil, err
	}
	s.packRun = true
	if err := req.UploadRequest.Encode(s.stdin); err != nil {
		return nil, fmt.Errorf("sending wants: %w", err)
	}
	if err := req.UploadHaves.Encode(s.stdin, true); err != nil {
		return nil, fmt.Errorf("sending haves: %w", err)
	}
	if err := pktline.NewEncoder(s.stdin).Encodef("done\n"); err != nil {
		return nil, fmt.Errorf("sending done: %w", err)
	}
	if err := s.stdin.Close(); err != nil {
		return nil, err
	}
	res := packp.NewUploadPackResponse(req)
	if err := res.Decode(io.NopCloser(s.stdout)); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if msg := strings.TrimSpace(s.stderr.String()); msg != "" {
			return nil, fmt.Errorf("decoding upload-pack response: %w (server: %s)", err, msg)
		}
		return nil, fmt.Errorf("decoding upload-pack response: %w", err)
	}
	return res, nil
}

func (s *sshSession) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if !s.packRun {
		// A flush instead of wants tells upload-pack there is nothing to send.
		_, _ = s.stdin.Write(pktline.FlushPkt)
		_ = s.stdin.Close()
	}
	_ = s.sess.Close()
	err := s.client.Close()
	s.stop()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 64<<10 {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// maxHaves bounds the "have" lines of one request; the server needs only a few common commits.
const maxHaves = 256

// fetchPack asks the server for the objects of wants that st lacks and stores the pack. depth > 0 makes a
// shallow fetch (the shallow boundary is recorded in st).
func fetchPack(ctx context.Context, r *remote, st *filesystem.Storage, wants []plumbing.Hash, depth int) error {
	var missing []plumbing.Hash
	for _, w := range wants {
		if !hasObject(st, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	req := packp.NewUploadPackRequestFromCapabilities(r.refs.Capabilities)
	req.Wants = missing
	if r.refs.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	if depth > 0 {
		if !r.refs.Capabilities.Supports(capability.Shallow) {
			depth = 0
		} else {
			req.Depth = packp.DepthCommits(depth)
			_ = req.Capabilities.Set(capability.Shallow)
			shallows, err := st.Shallow()
			if err != nil {
				return err
			}
			req.Shallows = shallows
		}
	}
	req.Haves = localHaves(st)
	res, err := r.sess.UploadPack(ctx, req)
	if errors.Is(err, transport.ErrEmptyUploadPackRequest) {
		return nil
	}
	if err != nil {
		return err
	}
	defer res.Close()
	var pack io.Reader = res
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		pack = sideband.NewDemuxer(sideband.Sideband64k, res)
	case req.Capabilities.Supports(capability.Sideband):
		pack = sideband.NewDemuxer(sideband.Sideband, res)
	}
	if err := packfile.UpdateObjectStorage(st, pack); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("receiving pack: %w", err)
	}
	if depth > 0 && len(res.Shallows) > 0 {
		shallows, err := st.Shallow()
		if err != nil {
			return err
		}
		seen := map[plumbing.Hash]bool{}
		for _, h := range shallows {
			seen[h] = true
		}
		for _, h := range res.Shallows {
			if !seen[h] {
				shallows = append(shallows, h)
			}
		}
		if err := st.SetShallow(shallows); err != nil {
			return err
		}
	}
	return nil
}

// localHaves lists the tips of st's references and some of their history, so the server sends only what
// is new.
func localHaves(st *filesystem.Storage) []plumbing.Hash {
	iter, err := st.IterReferences()
	if err != nil {
		return nil
	}
	haves := map[plumbing.Hash]bool{}
	var out []plumbing.Hash
	add := func(h plumbing.Hash) bool {
		if haves[h] || len(out) >= maxHaves {
			return false
		}
		haves[h] = true
		out = append(out, h)
		return true
	}
	_ = iter.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() != plumbing.HashReference || len(out) >= maxHaves {
			return nil
		}
		// Only objects that can be read back count: a "have" makes the server leave them out.
		c, err := object.GetCommit(st, ref.Hash())
		if err != nil {
			if _, tagErr := object.GetTag(st, ref.Hash()); tagErr == nil {
				add(ref.Hash())
			}
			return nil
		}
		if _, err := c.Tree(); err != nil || !add(c.Hash) {
			return nil
		}
		for i := 0; i < 16 && c.NumParents() > 0; i++ {
			p, err := c.Parent(0)
			if err != nil {
				break
			}
			if _, err := p.Tree(); err != nil || !add(p.Hash) {
				break
			}
			c = p
		}
		return nil
	})
	return out
}

// setRefs records the fetched remote references locally (they feed the next request's "haves").
func setRefs(st storer.ReferenceStorer, refs map[string]plumbing.Hash) error {
	for name, h := range refs {
		if err := st.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(name), h)); err != nil {
			return err
		}
	}
	return nil
}

// hasObject reports whether st holds h. (go-git's HasEncodedObject misses packed objects when the storage
// is opened with ExclusiveAccess.)
func hasObject(st *filesystem.Storage, h plumbing.Hash) bool {
	_, err := st.EncodedObject(plumbing.AnyObject, h)
	return err == nil
}
