package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	"sigs.k8s.io/yaml"

	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/githubapp"
)

// Store gives the notifier the cluster's Alerts and Providers, the Providers' Secrets and the labels of
// event sources (for matchLabels).
type Store interface {
	Alerts(ctx context.Context) ([]notificationv1beta3.Alert, error)
	Provider(ctx context.Context, namespace, name string) (*notificationv1beta3.Provider, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Labels(ctx context.Context, obj corev1.ObjectReference) (map[string]string, error)
}

// Notifier is an events.Sink that delivers each event to the Providers of the Alerts it matches.
// Matching happens in Emit; deliveries run in their own goroutines, retried with a doubling backoff on
// 5xx answers and network errors or timeouts.
type Notifier struct {
	Store Store
	// Warnings receives the Warning events about Alerts whose delivery failed (Flux's
	// NotificationDispatchFailed); typically the Kubernetes sink, never this notifier.
	Warnings events.Sink
	Metrics  *Metrics
	Logger   *slog.Logger
	// Instance is the reporting instance (the pod name) in the generic payload.
	Instance string
	// Window drops an event identical to one sent less than this ago (default 5m, Flux's rate limit).
	Window time.Duration
	// Attempts bounds the tries of one delivery (default 4); Backoff is the first pause (default 1s),
	// doubled after each failure up to 30s.
	Attempts int
	Backoff  time.Duration
	// Parallel bounds concurrent deliveries (default 8).
	Parallel int
	// MaxPending bounds the deliveries waiting for a slot (default 1024); beyond it new ones are dropped
	// and counted, so a hung Provider cannot pile up goroutines.
	MaxPending int
	Clock      clock.PassiveClock
	// PubSubEndpoint replaces https://pubsub.googleapis.com for googlepubsub Providers (an emulator,
	// as PUBSUB_EMULATOR_HOST does for Google's SDK).
	PubSubEndpoint string
	// NoCrossNamespaceRefs discards, for each Alert, the events of objects in other namespaces (Flux's
	// --no-cross-namespace-refs).
	NoCrossNamespaceRefs bool
	// GitHubApp caches the installation tokens of GitHub Providers whose secretRef holds a GitHub App
	// instead of a token; nil exchanges at every delivery.
	GitHubApp *githubapp.Tokens

	once      sync.Once
	sem       chan struct{}
	inflight  sync.WaitGroup
	pending   atomic.Int64
	mu        sync.Mutex
	sent      map[string]time.Time
	lastPrune time.Time
	regexps   map[string]*alertRegexps
	// statusExprs are the Providers' compiled commitStatusExprs by UID and generation.
	statusExprs map[string]*statusExpr
}

// alertRegexps are an Alert generation's compiled inclusion and exclusion lists.
type alertRegexps struct {
	inclusion, exclusion []*regexp.Regexp
}

func (n *Notifier) init() {
	n.once.Do(func() {
		if n.Parallel <= 0 {
			n.Parallel = 8
		}
		n.sem = make(chan struct{}, n.Parallel)
		if n.MaxPending <= 0 {
			n.MaxPending = 1024
		}
		n.sent = map[string]time.Time{}
		n.regexps = map[string]*alertRegexps{}
		n.statusExprs = map[string]*statusExpr{}
		if n.Window == 0 {
			n.Window = 5 * time.Minute
		}
		if n.Attempts <= 0 {
			n.Attempts = 4
		}
		if n.Backoff <= 0 {
			n.Backoff = time.Second
		}
		if n.Logger == nil {
			n.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

// Emit implements events.Sink: it matches e against the Alerts and starts a delivery per matching Alert.
func (n *Notifier) Emit(ctx context.Context, e events.Event) {
	n.init()
	key := dedupeKey(e)
	if n.Store == nil || n.duplicate(key) {
		return
	}
	alerts, err := n.Store.Alerts(ctx)
	if err != nil {
		n.Logger.Warn("listing Alerts", "error", err.Error())
		return
	}
	matched := false
	for i := range alerts {
		a := &alerts[i]
		if !n.Matches(ctx, a, e) {
			continue
		}
		matched = true
		n.dispatch(ctx, a, e)
	}
	if matched {
		n.markSent(key) // only what was dispatched: an event no Alert took yet is not suppressed
	}
}

// Wait blocks until every started delivery has ended or ctx ends.
func (n *Notifier) Wait(ctx context.Context) error {
	n.init()
	done := make(chan struct{})
	go func() { n.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func dedupeKey(e events.Event) string {
	return strings.Join([]string{e.Object.Kind, e.Object.Namespace, e.Object.Name, e.Severity, e.Reason, e.Message, e.Revision}, "\x00")
}

func (n *Notifier) duplicate(key string) bool {
	now := n.Clock.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.sent[key]
	return ok && now.Sub(t) < n.Window
}

// markSent records key as sent now, and forgets expired keys at most once a minute.
func (n *Notifier) markSent(key string) {
	now := n.Clock.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if now.Sub(n.lastPrune) >= time.Minute {
		for k, t := range n.sent {
			if now.Sub(t) >= n.Window {
				delete(n.sent, k)
			}
		}
		n.lastPrune = now
	}
	n.sent[key] = now
}

// Matches reports whether alert selects e: not suspended, the severity (info takes every event), an
// event source by kind, name (`*` for any) and namespace (the Alert's by default) whose matchLabels the
// object carries, an inclusionList regex matching the message when there is a list, and no
// exclusionList regex matching it.
func (n *Notifier) Matches(ctx context.Context, alert *notificationv1beta3.Alert, e events.Event) bool {
	if alert.Spec.Suspend {
		return false
	}
	if sev := alert.GetEventSeverity(); sev != notificationv1beta3.EventSeverityInfo && sev != e.Severity {
		return false
	}
	if n.NoCrossNamespaceRefs && e.Object.Namespace != alert.Namespace {
		if n.Logger != nil && n.sourceMatches(alert, e) {
			n.Logger.Warn("discarding event, access denied to cross-namespace sources",
				"alert", alert.Namespace+"/"+alert.Name, "object", e.Object.Kind+"/"+e.Object.Namespace+"/"+e.Object.Name,
				"error", "cross-namespace references have been blocked")
		}
		return false
	}
	source := false
	for _, s := range alert.Spec.EventSources {
		ns := s.Namespace
		if ns == "" {
			ns = alert.Namespace
		}
		if s.Kind != e.Object.Kind || ns != e.Object.Namespace || (s.Name != "*" && s.Name != e.Object.Name) {
			continue
		}
		if len(s.MatchLabels) > 0 {
			if n.Store == nil {
				continue
			}
			l, err := n.Store.Labels(ctx, e.Object)
			if err != nil || !labels.SelectorFromSet(s.MatchLabels).Matches(labels.Set(l)) {
				continue
			}
		}
		source = true
		break
	}
	if !source {
		return false
	}
	res := n.compiled(alert)
	if len(alert.Spec.InclusionList) > 0 && !anyMatch(res.inclusion, e.Message) {
		return false
	}
	return !anyMatch(res.exclusion, e.Message)
}

// compiled returns the Alert generation's regexps, compiling them (and warning about invalid ones) once.
func (n *Notifier) compiled(alert *notificationv1beta3.Alert) *alertRegexps {
	n.init()
	key := fmt.Sprintf("%s/%d", alert.UID, alert.Generation)
	if alert.UID == "" {
		key = fmt.Sprintf("%s/%s/%d", alert.Namespace, alert.Name, alert.Generation)
	}
	n.mu.Lock()
	res, ok := n.regexps[key]
	n.mu.Unlock()
	if ok {
		return res
	}
	res = &alertRegexps{}
	for _, l := range []struct {
		name  string
		exprs []string
		out   *[]*regexp.Regexp
	}{{"inclusion", alert.Spec.InclusionList, &res.inclusion}, {"exclusion", alert.Spec.ExclusionList, &res.exclusion}} {
		for _, expr := range l.exprs {
			re, err := regexp.Compile(expr)
			if err != nil {
				n.warn(context.Background(), alert, "InvalidConfig", fmt.Sprintf("failed to compile %s regex: %s", l.name, expr))
				continue
			}
			*l.out = append(*l.out, re)
		}
	}
	n.mu.Lock()
	if len(n.regexps) > 4096 { // Alerts' generations come and go: start over rather than grow
		clear(n.regexps)
	}
	n.regexps[key] = res
	n.mu.Unlock()
	return res
}

func anyMatch(res []*regexp.Regexp, msg string) bool {
	for _, re := range res {
		if re.MatchString(msg) {
			return true
		}
	}
	return false
}

func (n *Notifier) warn(ctx context.Context, alert *notificationv1beta3.Alert, reason, msg string) {
	if n.Warnings == nil {
		return
	}
	n.Warnings.Emit(ctx, events.Event{
		Object: corev1.ObjectReference{Kind: notificationv1beta3.AlertKind, APIVersion: notificationv1beta3.GroupVersion.String(),
			Namespace: alert.Namespace, Name: alert.Name, UID: alert.UID},
		Severity: events.SeverityError, Reason: reason, Message: msg, Timestamp: n.Clock.Now(), Controller: "notification-controller",
	})
}

// dispatch resolves alert's Provider and sends e to it in the background.
func (n *Notifier) dispatch(ctx context.Context, alert *notificationv1beta3.Alert, e events.Event) {
	ref := fmt.Sprintf("%s/%s/%s", e.Object.Kind, e.Object.Namespace, e.Object.Name)
	p, err := n.Store.Provider(ctx, alert.Namespace, alert.Spec.ProviderRef.Name)
	if err != nil {
		n.fail(ctx, alert, "unknown", fmt.Errorf("failed to dispatch notification for %s: reading Provider %s/%s: %w", ref, alert.Namespace, alert.Spec.ProviderRef.Name, err))
		return
	}
	if p.Spec.Suspend {
		return
	}
	t, client, err := n.resolve(ctx, p)
	if err != nil {
		n.fail(ctx, alert, p.Spec.Type, fmt.Errorf("failed to dispatch notification for %s: Provider %s/%s: %w", ref, p.Namespace, p.Name, err))
		return
	}
	ev := notification(e, alert, n.Instance)
	t.Alert, t.Now, t.PubSubEndpoint = AlertRef{Namespace: alert.Namespace, Name: alert.Name, UID: string(alert.UID)}, n.Clock.Now(), n.PubSubEndpoint
	if t.CommitStatus, err = n.commitStatusName(ctx, p, alert, ev); err != nil {
		n.fail(ctx, alert, p.Spec.Type, fmt.Errorf("failed to dispatch notification for %s: Provider %s/%s: %w", ref, p.Namespace, p.Name, err))
		return
	}
	reqs, err := requests(t, ev)
	if errors.Is(err, errSkip) {
		n.Metrics.count(p.Spec.Type, "skipped")
		return
	}
	if err != nil {
		n.fail(ctx, alert, p.Spec.Type, fmt.Errorf("failed to dispatch notification for %s: Provider %s/%s: %s", ref, p.Namespace, p.Name, mask(err.Error(), t)))
		return
	}
	timeout := p.GetTimeout()
	if n.pending.Add(1) > int64(n.MaxPending) {
		n.pending.Add(-1)
		client.CloseIdleConnections()
		n.Metrics.count(p.Spec.Type, "dropped")
		n.Logger.Warn("notification dropped: too many deliveries pending", "alert", alert.Namespace+"/"+alert.Name, "object", ref)
		return
	}
	n.inflight.Add(1)
	go func() {
		defer n.inflight.Done()
		defer n.pending.Add(-1)
		defer client.CloseIdleConnections() // each delivery has its own transport: leave no idle connection behind
		n.sem <- struct{}{}
		defer func() { <-n.sem }()
		bg := context.WithoutCancel(ctx)
		sent := 0
		for _, r := range reqs {
			if r.build != nil {
				get := func(u string) ([]byte, error) {
					h := r.Header.Clone()
					h.Del("Content-Type")
					return n.send(bg, client, request{Method: http.MethodGet, URL: u, Header: h}, timeout, maxStatusList)
				}
				built, err := r.build(get)
				if err != nil {
					n.fail(bg, alert, p.Spec.Type, fmt.Errorf("failed to send notification for %s to Provider %s/%s: %s", ref, p.Namespace, p.Name, mask(err.Error(), t)))
					return
				}
				r = built
			}
			if r.check != nil {
				same, err := n.alreadySet(bg, client, r.check, timeout)
				if err != nil {
					n.fail(bg, alert, p.Spec.Type, fmt.Errorf("failed to send notification for %s to Provider %s/%s: %s", ref, p.Namespace, p.Name, mask(err.Error(), t)))
					return
				}
				if same {
					continue
				}
			}
			if _, err := n.send(bg, client, r, timeout, 0); err != nil {
				n.fail(bg, alert, p.Spec.Type, fmt.Errorf("failed to send notification for %s to Provider %s/%s: %s", ref, p.Namespace, p.Name, mask(err.Error(), t)))
				return
			}
			sent++
		}
		if sent == 0 {
			n.Metrics.count(p.Spec.Type, "skipped")
			n.Logger.Debug("commit status already set", "alert", alert.Namespace+"/"+alert.Name, "provider", p.Namespace+"/"+p.Name, "object", ref)
			return
		}
		n.Metrics.count(p.Spec.Type, "success")
		n.Logger.Debug("notification sent", "alert", alert.Namespace+"/"+alert.Name, "provider", p.Namespace+"/"+p.Name, "object", ref)
	}()
}

func (n *Notifier) fail(ctx context.Context, alert *notificationv1beta3.Alert, providerType string, err error) {
	n.Metrics.count(providerType, "failure")
	n.Logger.Error("notification failed", "alert", alert.Namespace+"/"+alert.Name, "error", err.Error())
	n.warn(ctx, alert, "NotificationDispatchFailed", err.Error())
}

// mask hides the Secret's values (token, address, password) in s.
func mask(s string, t target) string {
	if u, err := url.Parse(t.Address); err == nil && u.User != nil { // a DSN's or NATS URL's credentials
		s = strings.ReplaceAll(s, u.User.String(), "*****")
	}
	for _, v := range []string{t.Token, t.Password, t.Address} {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "*****")
		}
	}
	return s
}

// resolve reads p's Secrets into a target and an HTTP client with p's proxy and CA.
func (n *Notifier) resolve(ctx context.Context, p *notificationv1beta3.Provider) (target, *http.Client, error) {
	t := target{Type: p.Spec.Type, Address: strings.TrimSpace(p.Spec.Address), Channel: p.Spec.Channel, Sender: p.Spec.Username, ProviderUID: string(p.UID)}
	proxy := p.Spec.Proxy
	if p.Spec.ServiceAccountName != "" {
		return t, nil, fmt.Errorf("spec.serviceAccountName %q: workload identity is not supported by converge; put the credentials in spec.secretRef", p.Spec.ServiceAccountName)
	}
	if p.Spec.SecretRef != nil {
		s, err := n.Store.Secret(ctx, p.Namespace, p.Spec.SecretRef.Name)
		if err != nil {
			return t, nil, fmt.Errorf("reading secretRef %s: %w", p.Spec.SecretRef.Name, err)
		}
		if v, ok := s.Data["address"]; ok {
			t.Address = strings.TrimSpace(string(v))
		}
		t.Secret = s.Data
		t.Token = strings.TrimSpace(string(s.Data["token"]))
		t.Username = string(s.Data["username"])
		t.Password = string(s.Data["password"])
		if v, ok := s.Data["proxy"]; ok {
			proxy = strings.TrimSpace(string(v))
		}
		if h, ok := s.Data["headers"]; ok {
			if err := yaml.Unmarshal(h, &t.Headers); err != nil {
				return t, nil, fmt.Errorf("secretRef %s: headers: %w", p.Spec.SecretRef.Name, err)
			}
		}
	}
	var proxyURL *url.URL
	if p.Spec.ProxySecretRef != nil {
		s, err := n.Store.Secret(ctx, p.Namespace, p.Spec.ProxySecretRef.Name)
		if err != nil {
			return t, nil, fmt.Errorf("reading proxySecretRef %s: %w", p.Spec.ProxySecretRef.Name, err)
		}
		u, err := source.ProxyURLFromSecret(s)
		if err != nil {
			return t, nil, fmt.Errorf("proxySecretRef: %w", err)
		}
		proxyURL = u
	} else if proxy != "" {
		u, err := url.Parse(proxy)
		if err != nil {
			return t, nil, errors.New("invalid proxy address")
		}
		proxyURL = u
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if proxyURL != nil {
		tr.Proxy = http.ProxyURL(proxyURL)
	}
	if p.Spec.CertSecretRef != nil {
		s, err := n.Store.Secret(ctx, p.Namespace, p.Spec.CertSecretRef.Name)
		if err != nil {
			return t, nil, fmt.Errorf("reading certSecretRef %s: %w", p.Spec.CertSecretRef.Name, err)
		}
		cfg, err := source.TLSConfigFromSecret(s)
		if err != nil {
			return t, nil, fmt.Errorf("certSecretRef %s: %w", p.Spec.CertSecretRef.Name, err)
		}
		tr.TLSClientConfig = cfg
		t.TLS = cfg
	}
	client := &http.Client{Transport: tr}
	if err := n.useGitHubApp(ctx, p, &t, client); err != nil {
		client.CloseIdleConnections()
		return t, nil, err
	}
	return t, client, nil
}

// useGitHubApp makes the installation token of the GitHub App in the secretRef of a GitHub Provider its
// token, as Flux does when the Secret has no token: the App's API is reached with the Provider's proxy
// and CA. A pull request comment Provider also learns the App's slug: its comments are "<slug>[bot]"'s.
func (n *Notifier) useGitHubApp(ctx context.Context, p *notificationv1beta3.Provider, t *target, client *http.Client) error {
	if !githubTypes[t.Type] || t.Token != "" || t.Password != "" || t.Secret == nil || !githubapp.HasAppData(t.Secret) {
		return nil
	}
	app, err := githubapp.FromData(p.Namespace+"/"+p.Spec.SecretRef.Name, t.Secret)
	if err != nil {
		return fmt.Errorf("secretRef: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.GetTimeout())
	defer cancel()
	tok, err := n.GitHubApp.Token(ctx, client, app)
	if err != nil {
		return fmt.Errorf("secretRef: %w", err)
	}
	t.Token = tok.Value
	if t.Type == notificationv1beta3.GitHubPullRequestCommentProvider {
		slug, err := n.GitHubApp.Slug(ctx, client, app)
		if err != nil {
			return fmt.Errorf("secretRef: failed to get app information: %w", err)
		}
		t.Login = slug + "[bot]"
	}
	return nil
}

// maxStatusList bounds the commit status list read before a commit status is set.
const maxStatusList = 1 << 20

// alreadySet reads the commit's statuses as c says and reports whether the status about to be set is
// already there (a 404 means none when c allows it).
func (n *Notifier) alreadySet(ctx context.Context, client *http.Client, c *statusCheck, timeout time.Duration) (bool, error) {
	body, err := n.send(ctx, client, request{Method: http.MethodGet, URL: c.URL, Header: c.Header, notFoundOK: c.notFoundOK}, timeout, maxStatusList)
	if errors.Is(err, errNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("could not read the commit statuses: %w", err)
	}
	return c.same(body)
}

// errNotFound is a 404 answer to a request that allows it.
var errNotFound = errors.New("not found")

// send makes r, retrying 5xx answers, 429 and network errors (timeouts included) up to Attempts times;
// it returns up to keep bytes of the answer.
func (n *Notifier) send(ctx context.Context, client *http.Client, r request, timeout time.Duration, keep int64) ([]byte, error) {
	var body []byte
	var last error
	attempt, done := 0, false
	backoff := wait.Backoff{Duration: n.Backoff, Factor: 2, Cap: 30 * time.Second, Steps: math.MaxInt32}
	err := backoff.DelayFunc().Until(ctx, true, true, func(ctx context.Context) (bool, error) {
		attempt++
		b, retry, err := n.try(ctx, client, r, timeout, keep)
		if err == nil || errors.Is(err, errNotFound) {
			body, done = b, true
			return true, err
		}
		last = err
		if done = !retry || attempt >= n.Attempts; done {
			if attempt > 1 {
				return true, fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return true, err
		}
		return false, nil
	})
	if !done && last != nil {
		return nil, last // cancelled while waiting: the delivery's own error
	}
	return body, err
}

func (n *Notifier) try(ctx context.Context, client *http.Client, r request, timeout time.Duration, keep int64) (_ []byte, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if r.transport != nil {
		retry, err := r.transport(ctx)
		return nil, retry, err
	}
	var rd io.Reader
	if r.Body != nil {
		rd = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, rd)
	if err != nil {
		return nil, false, errors.New("invalid request URL")
	}
	req.Header = r.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		// The URL may carry a token (Telegram) or come from a Secret: report the cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return nil, true, fmt.Errorf("%s request timed out after %s", r.Method, timeout)
		}
		// Network errors name the host; the address may be secret.
		var de *net.DNSError
		var oe *net.OpError
		switch {
		case errors.As(err, &de):
			err = errors.New("lookup failed: " + de.Err)
		case errors.As(err, &oe):
			err = fmt.Errorf("%s: %v", oe.Op, oe.Err)
		}
		return nil, true, fmt.Errorf("%s request failed: %v", r.Method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, max(keep, 4096)))
	if err != nil {
		return nil, true, fmt.Errorf("%s request failed: reading the answer: %v", r.Method, err)
	}
	if r.notFoundOK && resp.StatusCode == http.StatusNotFound {
		return nil, false, errNotFound
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
		if len(body) > 4096 {
			body = body[:4096]
		}
		return nil, retry, fmt.Errorf("request failed with status code %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if r.slackAPI {
		var sr struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &sr); err != nil || !sr.OK {
			return nil, false, fmt.Errorf("slack responded with error: %s", sr.Error)
		}
	}
	return body, false, nil
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Metrics count deliveries by provider type and result (success, failure, skipped).
type Metrics struct {
	total *prometheus.CounterVec
}

// NewMetrics registers converge_notifications_total on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "converge_notifications_total",
		Help: "Notifications sent to Providers, by provider type and result (success, failure, skipped).",
	}, []string{"type", "result"})}
	if reg != nil {
		reg.MustRegister(m.total)
	}
	return m
}

func (m *Metrics) count(typ, result string) {
	if m == nil {
		return
	}
	m.total.WithLabelValues(typ, result).Inc()
}

// Count returns the counter of typ and result (for tests and reports).
func (m *Metrics) Count(typ, result string) float64 {
	if m == nil {
		return 0
	}
	c, err := m.total.GetMetricWithLabelValues(typ, result)
	if err != nil {
		return 0
	}
	return testutil.ToFloat64(c)
}

// sourceMatches reports whether one of alert's event sources names e's object by kind, namespace and name
// (labels are not checked): only such events are worth a log line when the lockdown discards them.
func (n *Notifier) sourceMatches(alert *notificationv1beta3.Alert, e events.Event) bool {
	for _, s := range alert.Spec.EventSources {
		ns := s.Namespace
		if ns == "" {
			ns = alert.Namespace
		}
		if s.Kind == e.Object.Kind && ns == e.Object.Namespace && (s.Name == "*" || s.Name == e.Object.Name) {
			return true
		}
	}
	return false
}
