// Package cloud resolves cloud workload identity without the clouds' SDKs: the AWS, GCP and Azure
// credential chains as their SDKs walk them inside a Pod (environment, projected service account
// tokens, metadata servers), AWS Signature Version 4, and the registry logins built on them (ECR,
// Artifact Registry, ACR). Every endpoint can be moved with the environment variable the SDKs honour
// (AWS_ENDPOINT_URL_STS, AWS_EC2_METADATA_SERVICE_ENDPOINT, GCE_METADATA_HOST, AZURE_AUTHORITY_HOST, …).
package cloud

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Env is what the credential chains read: environment variables, files, HTTP and the clock. Zero
// fields mean the process's own (os.Getenv, os.ReadFile, a client with a 30s timeout, the real clock).
type Env struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	HTTP     *http.Client
	Clock    clock.PassiveClock
}

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return os.Getenv(k)
	}
	return e.Getenv(k)
}

func (e Env) readFile(p string) ([]byte, error) {
	if e.ReadFile == nil {
		return os.ReadFile(p) //nolint:gosec // paths come from the SDKs' environment variables
	}
	return e.ReadFile(p)
}

func (e Env) client() *http.Client {
	if e.HTTP == nil {
		return &http.Client{Timeout: 30 * time.Second}
	}
	return e.HTTP
}

func (e Env) now() time.Time {
	if e.Clock == nil {
		return time.Now()
	}
	return e.Clock.Now()
}

// refreshBefore is how long before its expiry a cached credential is renewed.
const refreshBefore = 5 * time.Minute

// Identity resolves credentials from an Env and caches them until shortly before they expire. It is
// safe for concurrent use; share one per process.
type Identity struct {
	env   Env
	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	value   any
	expires time.Time // zero: never
}

// New returns an Identity reading env.
func New(env Env) *Identity { return &Identity{env: env, cache: map[string]cached{}} }

// orDefault lets callers hold a nil *Identity: it then reads the process environment without a cache.
func (i *Identity) orDefault() *Identity {
	if i == nil {
		return New(Env{})
	}
	return i
}

// cachedValue returns the value under key, calling get when it is missing or about to expire.
func cachedValue[T any](i *Identity, key string, get func() (T, time.Time, error)) (T, error) {
	i.mu.Lock()
	c, ok := i.cache[key]
	i.mu.Unlock()
	if ok && (c.expires.IsZero() || i.env.now().Add(refreshBefore).Before(c.expires)) {
		return c.value.(T), nil
	}
	v, exp, err := get()
	if err != nil {
		var zero T
		return zero, err
	}
	i.mu.Lock()
	i.cache[key] = cached{value: v, expires: exp}
	i.mu.Unlock()
	return v, nil
}

// Token is a bearer access token and when it expires.
type Token struct {
	AccessToken string
	Expires     time.Time
}

// metadataTimeout bounds a call to an instance metadata service, which is absent off its cloud.
const metadataTimeout = 5 * time.Second

// maxBody bounds what is read of an identity endpoint's answer.
const maxBody = 1 << 20

// do sends req and returns the body of a 2xx answer; other answers become an error naming what
// (e.g. "STS AssumeRoleWithWebIdentity") and carrying the start of the body.
func (e Env) do(req *http.Request, what string) ([]byte, error) {
	resp, err := e.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", what, err)
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = msg[:512] + "…"
		}
		return nil, &HTTPError{What: what, StatusCode: resp.StatusCode, Body: msg}
	}
	return body, nil
}

// HTTPError is a non-2xx answer of an identity or cloud API endpoint.
type HTTPError struct {
	What       string
	StatusCode int
	Body       string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.What, e.StatusCode, e.Body)
}

// postForm sends a form and decodes a JSON answer into out.
func (e Env) postForm(ctx context.Context, endpoint string, form url.Values, what string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	body, err := e.do(req, what)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: decoding the answer: %w", what, err)
	}
	return nil
}

// expiresIn turns an OAuth2 expires_in (seconds) into a time; 0 means an hour, as the SDKs assume.
func (e Env) expiresIn(seconds int64) time.Time {
	if seconds <= 0 {
		seconds = 3600
	}
	return e.now().Add(time.Duration(seconds) * time.Second)
}
