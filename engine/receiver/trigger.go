package receiver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	notificationv1 "github.com/converge-gitops/converge/crds/notification/v1"
)

// DefaultOIDCAudience is the audience of the Actions OIDC token Trigger fetches, Flux's default.
const DefaultOIDCAudience = "notification-controller"

// TriggerTypes returns the Receiver types Trigger can sign a request for, as `flux trigger receiver`
// (a fresh slice each call).
func TriggerTypes() []string {
	return []string{notificationv1.GenericReceiver, notificationv1.GenericHMACReceiver, notificationv1.GenericOIDCReceiver}
}

// Trigger describes one call of a Receiver's webhook from outside the cluster (`trigger receiver`).
type Trigger struct {
	// URL is the base URL of the webhook server, possibly with a base path.
	URL             string
	Namespace, Name string
	// Type is generic, generic-hmac or generic-oidc.
	Type string
	// Token is the Receiver's token (not for generic-oidc).
	Token   string
	Payload []byte
	// OIDCToken authenticates a generic-oidc request; when empty it is fetched from the Actions token
	// endpoint OIDCRequestURL with OIDCRequestToken for OIDCAudience.
	OIDCToken                        string
	OIDCRequestURL, OIDCRequestToken string
	OIDCAudience                     string
	// Retries is how often a connection error or a retryable status (404, 408, 429, 500, 502-504) is
	// retried, RetryDelay apart.
	Retries    int
	RetryDelay time.Duration
	UserAgent  string
	Clock      clock.WithTicker
	HTTPClient *http.Client
	// OnRetry is told of each failed attempt that is retried (attempt counts from 1).
	OnRetry func(err error, attempt int)
}

// ValidateTrigger refuses a type Trigger cannot sign and token/OIDC flags that do not fit the type,
// with Flux's rules: a token for every type but generic-oidc, which takes none.
func ValidateTrigger(typ, token, oidcProvider, oidcToken, oidcAudience string) error {
	switch typ {
	case notificationv1.GenericReceiver, notificationv1.GenericHMACReceiver:
		if token == "" {
			return fmt.Errorf("--token is required for --type=%s", typ)
		}
		if oidcProvider != "" || oidcToken != "" || oidcAudience != "" {
			return fmt.Errorf("--oidc-provider, --oidc-token and --oidc-audience can only be set for --type=%s", notificationv1.GenericOIDCReceiver)
		}
		return nil
	case notificationv1.GenericOIDCReceiver:
	default:
		return fmt.Errorf("invalid --type %q, must be one of: %s", typ, strings.Join(TriggerTypes(), ", "))
	}
	if token != "" {
		return fmt.Errorf("--token must not be set for --type=%s, the Receiver of this type has no secret", typ)
	}
	if oidcProvider != "" && oidcToken != "" {
		return fmt.Errorf("--oidc-provider and --oidc-token are mutually exclusive")
	}
	if oidcProvider != "" && oidcProvider != "github" && oidcProvider != "forgejo" {
		return fmt.Errorf("invalid --oidc-provider %q, must be one of: github, forgejo", oidcProvider)
	}
	if oidcAudience != "" && oidcProvider == "" {
		return fmt.Errorf("--oidc-audience can only be set together with --oidc-provider")
	}
	return nil
}

// WebhookURL is the URL Trigger posts to: the base URL and the Receiver's /hook/ path.
func (t *Trigger) WebhookURL() string {
	token := t.Token
	if t.Type == notificationv1.GenericOIDCReceiver {
		token = "" // a generic-oidc Receiver's path is salted with no token
	}
	r := &notificationv1.Receiver{ObjectMeta: metav1.ObjectMeta{Name: t.Name, Namespace: t.Namespace}}
	return strings.TrimRight(t.URL, "/") + r.GetWebhookPath(token)
}

// Run posts the payload to the Receiver's webhook, signed as its type needs, retrying transient
// failures; it returns the last error when every attempt failed.
func (t *Trigger) Run(ctx context.Context) error {
	client := t.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	headers := map[string]string{"Content-Type": "application/json"}
	if t.UserAgent != "" {
		headers["User-Agent"] = t.UserAgent
	}
	switch t.Type {
	case notificationv1.GenericHMACReceiver:
		mac := hmac.New(sha256.New, []byte(t.Token))
		mac.Write(t.Payload)
		headers["X-Signature"] = "sha256=" + hex.EncodeToString(mac.Sum(nil))
	case notificationv1.GenericOIDCReceiver:
		tok := t.OIDCToken
		if tok == "" {
			var err error
			if tok, err = t.fetchActionsToken(ctx, client); err != nil {
				return err
			}
		}
		headers["Authorization"] = "Bearer " + tok
	}
	target := t.WebhookURL()
	send := func() (retryable bool, err error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(t.Payload))
		if err != nil {
			return false, fmt.Errorf("request to %s: %w", target, err)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return ctx.Err() == nil, fmt.Errorf("request to %s failed: %w", target, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return false, nil
		}
		err = fmt.Errorf("request to %s failed with status %s", target, resp.Status)
		if msg := strings.TrimSpace(string(body)); msg != "" {
			err = fmt.Errorf("request to %s failed with status %s: %s", target, resp.Status, msg)
		}
		return retryableStatus(resp.StatusCode), err
	}
	for attempt := 0; ; attempt++ {
		retryable, err := send()
		if err == nil {
			return nil
		}
		if !retryable || attempt >= t.Retries {
			return err
		}
		if t.OnRetry != nil {
			t.OnRetry(err, attempt+1)
		}
		if t.RetryDelay > 0 {
			timer := t.Clock.NewTimer(t.RetryDelay)
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-timer.C():
			}
		}
	}
}

// retryableStatus: the webhook path may not be served yet (404) or the server is busy or restarting.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusNotFound, http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// fetchActionsToken asks a GitHub or Forgejo Actions job's token endpoint for an OIDC token.
func (t *Trigger) fetchActionsToken(ctx context.Context, client *http.Client) (string, error) {
	if t.OIDCRequestURL == "" || t.OIDCRequestToken == "" {
		return "", fmt.Errorf("no OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set " +
			"(the Actions job needs the 'id-token: write' permission), and no --oidc-token was given")
	}
	u, err := url.Parse(t.OIDCRequestURL)
	if err != nil {
		return "", fmt.Errorf("invalid ACTIONS_ID_TOKEN_REQUEST_URL: %w", err)
	}
	aud := t.OIDCAudience
	if aud == "" {
		aud = DefaultOIDCAudience
	}
	q := u.Query()
	q.Set("audience", aud)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("OIDC token request: %w", err)
	}
	req.Header.Set("Authorization", "bearer "+t.OIDCRequestToken)
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("OIDC token request to %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("OIDC token request to %s: status %s", u.Host, resp.Status)
	}
	var body struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("OIDC token response from %s: %w", u.Host, err)
	}
	if body.Value == "" {
		return "", fmt.Errorf("OIDC token response from %s: no value", u.Host)
	}
	return body.Value, nil
}
