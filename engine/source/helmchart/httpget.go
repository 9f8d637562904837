package helmchart

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// ErrUnauthorized is wrapped by errors for HTTP 401 and 403 answers.
var ErrUnauthorized = errors.New("unauthorized")

// HTTPStatusError is a non-200 answer from a chart repository.
type HTTPStatusError struct {
	URL    string
	Status string
	Code   int
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("failed to fetch %s : %s", e.URL, e.Status)
}

// Is makes errors.Is(err, ErrUnauthorized) true for 401 and 403.
func (e *HTTPStatusError) Is(target error) bool {
	return target == ErrUnauthorized && (e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden)
}

// SizeLimitError is a download larger than allowed.
type SizeLimitError struct {
	URL   string
	Limit int64
}

func (e *SizeLimitError) Error() string {
	return fmt.Sprintf("%s exceeds the maximum size of %d bytes", e.URL, e.Limit)
}

// httpGetter downloads from a chart repository with helm's credential rule: basic auth goes to URLs
// with the repository URL's scheme and host (port included), and to any URL when passCredentials is set.
type httpGetter struct {
	client          *http.Client
	transport       *http.Transport
	repoURL         *url.URL
	username        string
	password        string
	passCredentials bool
	userAgent       string
}

// newHTTPGetter returns a getter for repoURL; close it to release its connections.
func (f *Fetcher) newHTTPGetter(repoURL *url.URL, creds *credentials, passCredentials bool) *httpGetter {
	var t *http.Transport
	if f.Transport != nil {
		t = f.Transport.Clone()
	} else {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	if creds != nil && creds.tls != nil {
		t.TLSClientConfig = creds.tls.Clone()
	} else if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	g := &httpGetter{
		client:          &http.Client{Transport: t},
		transport:       t,
		repoURL:         repoURL,
		passCredentials: passCredentials,
		userAgent:       f.userAgent(),
	}
	if creds != nil {
		g.username, g.password = creds.username, creds.password
	}
	g.client.CheckRedirect = g.checkRedirect
	return g
}

// checkRedirect applies the credential rule to redirects too: net/http keeps the Authorization header
// for the same host name on another port or scheme, helm's rule does not.
func (g *httpGetter) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if !g.sendsCredentials(req.URL) {
		req.Header.Del("Authorization")
	}
	return nil
}

func (g *httpGetter) close() { g.transport.CloseIdleConnections() }

// sendsCredentials reports whether basic auth is sent to u.
func (g *httpGetter) sendsCredentials(u *url.URL) bool {
	if g.username == "" || g.password == "" {
		return false
	}
	return g.passCredentials || (u.Scheme == g.repoURL.Scheme && u.Host == g.repoURL.Host)
}

// conditional carries the validators of a cached copy for a conditional GET.
type conditional struct {
	etag         string
	lastModified string
}

// getResult is the outcome of a download.
type getResult struct {
	notModified  bool
	etag         string
	lastModified string
}

// get downloads href into w, failing beyond maxSize bytes. With cond, a 304 answer leaves w untouched
// and reports notModified.
func (g *httpGetter) get(ctx context.Context, href string, w io.Writer, maxSize int64, cond *conditional) (*getResult, error) {
	u, err := url.Parse(href)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", href, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("unsupported URL scheme %q in %s", u.Scheme, u.Redacted())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", g.userAgent)
	if g.sendsCredentials(u) {
		req.SetBasicAuth(g.username, g.password)
	}
	if cond != nil {
		if cond.etag != "" {
			req.Header.Set("If-None-Match", cond.etag)
		} else if cond.lastModified != "" {
			req.Header.Set("If-Modified-Since", cond.lastModified)
		}
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	res := &getResult{etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")}
	if cond != nil && resp.StatusCode == http.StatusNotModified {
		res.notModified = true
		return res, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPStatusError{URL: u.Redacted(), Status: resp.Status, Code: resp.StatusCode}
	}
	if resp.ContentLength > maxSize {
		return nil, &SizeLimitError{URL: u.Redacted(), Limit: maxSize}
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u.Redacted(), err)
	}
	if n > maxSize {
		return nil, &SizeLimitError{URL: u.Redacted(), Limit: maxSize}
	}
	return res, nil
}

// normalizeURL gives an http(s) repository URL one trailing slash and an oci:// URL none, as Flux does.
func normalizeURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "oci" {
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = strings.TrimRight(u.RawPath, "/")
		return u, nil
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/"
	u.RawPath = strings.TrimRight(u.RawPath, "/") + "/"
	return u, nil
}

// indexURL is the index.yaml URL of a normalized repository URL; the query is kept.
func indexURL(repoURL *url.URL) string {
	u := *repoURL
	u.RawPath = path.Join(u.RawPath, "index.yaml")
	u.Path = path.Join(u.Path, "index.yaml")
	return u.String()
}

// resolveChartURL resolves a chart URL from the index against the repository URL; relative URLs take
// the repository URL's query, as helm does.
func resolveChartURL(repoURL *url.URL, ref string) (string, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("invalid chart URL %q: %w", ref, err)
	}
	if r.IsAbs() {
		return ref, nil
	}
	base := *repoURL
	base.RawPath = strings.TrimSuffix(base.RawPath, "/") + "/"
	base.Path = strings.TrimSuffix(base.Path, "/") + "/"
	resolved := base.ResolveReference(r)
	resolved.RawQuery = base.RawQuery
	return resolved.String(), nil
}
