package receiver

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/crds/meta"
	notificationv1 "github.com/converge-gitops/converge/crds/notification/v1"
	"github.com/converge-gitops/converge/engine/kinds"
)

// MaxBody is the largest request body accepted, Flux's limit (3 MiB).
const MaxBody = 3 << 20

// GiteaReceiver is accepted besides Flux's types: a github Receiver also accepts Gitea's headers.
const GiteaReceiver = "gitea"

// Resource is the Receiver resource.
var Resource = notificationv1.GroupVersion.WithResource("receivers")

// Lookup finds the Receiver whose status.webhookPath is path; nil when none has it.
type Lookup interface {
	ByPath(ctx context.Context, path string) (*notificationv1.Receiver, error)
}

// Secrets reads Secrets (kube.Clients implements it).
type Secrets interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// ErrNotReady is returned by a Lookup whose cache is not synced yet.
var ErrNotReady = errors.New("receivers are not loaded yet")

// Handler serves the webhook paths of the Receivers.
type Handler struct {
	Receivers Lookup
	Secrets   Secrets
	Dynamic   dynamic.Interface
	Mapper    apimeta.RESTMapper
	Clock     clock.PassiveClock
	Logger    *slog.Logger
	// MaxBody bounds request bodies (default MaxBody).
	MaxBody int64
	// HTTPClient fetches the discovery documents and keys of OIDC issuers (default http.DefaultClient).
	HTTPClient *http.Client
	// GoogleIssuer is the issuer whose keys verify the tokens of gcr Receivers (default GoogleIssuer,
	// the only one Flux accepts); tests point it at a loopback issuer.
	GoogleIssuer string
	// NoCrossNamespaceRefs refuses spec.resources in another namespace than the Receiver's (Flux's
	// --no-cross-namespace-refs).
	NoCrossNamespaceRefs bool

	mu      sync.Mutex
	filters map[string]*filters     // compiled resource filters by Receiver UID and generation
	issuers map[string]cachedIssuer // discovered OIDC issuers by URL
}

func (h *Handler) now() time.Time {
	return h.Clock.Now()
}

// defaultAPIVersion is the apiVersion of a target kind given without one: the version converge serves
// of the kinds a Receiver may target.
func defaultAPIVersion(kind string) string {
	if k, ok := kinds.Named(kind); ok && k.ReceiverTarget && k.Kind == kind {
		return k.APIVersion()
	}
	return ""
}

// Supported reports whether converge serves Receivers of type t.
func Supported(t string) bool {
	switch t {
	case notificationv1.GenericReceiver, notificationv1.GenericHMACReceiver, notificationv1.GitHubReceiver, GiteaReceiver,
		notificationv1.GitLabReceiver, notificationv1.BitbucketReceiver, notificationv1.HarborReceiver,
		notificationv1.DockerHubReceiver, notificationv1.QuayReceiver, notificationv1.GenericOIDCReceiver,
		notificationv1.GCRReceiver, notificationv1.NexusReceiver, notificationv1.ACRReceiver, notificationv1.CDEventsReceiver:
		return true
	}
	return false
}

// Status computes a Receiver's status.webhookPath and Ready condition: the path from the token of its
// Secret (generic-oidc: from its name and namespace only, as Flux), or Ready=False when the type is not
// served, the secretRef/oidcProviders fields or a CEL expression are invalid, or the Secret lacks a key
// the type needs.
func Status(ctx context.Context, secrets Secrets, r *notificationv1.Receiver) (path string, ready metav1.Condition) {
	ready = metav1.Condition{Type: meta.ReadyCondition, Status: metav1.ConditionFalse, ObservedGeneration: r.Generation}
	if !Supported(r.Spec.Type) {
		ready.Reason, ready.Message = notificationv1.ValidationFailedReason, fmt.Sprintf("receiver type %q is not supported by converge", r.Spec.Type)
		return "", ready
	}
	if err := ValidateFilters(r); err != nil {
		ready.Reason, ready.Message = meta.InvalidCELExpressionReason, err.Error()
		return "", ready
	}
	if err := ValidateOIDCSpec(r); err != nil {
		ready.Reason, ready.Message = notificationv1.ValidationFailedReason, err.Error()
		return "", ready
	}
	if err := CompileOIDCProviders(r); err != nil {
		ready.Reason, ready.Message = meta.InvalidCELExpressionReason, err.Error()
		return "", ready
	}
	data, err := secretData(ctx, secrets, r)
	if err != nil {
		ready.Reason, ready.Message = notificationv1.TokenNotFoundReason, err.Error()
		return "", ready
	}
	token := string(data["token"])
	if r.Spec.Type == notificationv1.GCRReceiver {
		for _, k := range []string{"email", "audience"} {
			if len(data[k]) == 0 {
				ready.Reason = notificationv1.TokenNotFoundReason
				ready.Message = fmt.Sprintf("invalid '%s/%s' secret data: a gcr receiver requires the field '%s'", r.Namespace, r.Spec.SecretRef.Name, k)
				return "", ready
			}
		}
	}
	path = r.GetWebhookPath(token)
	ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, meta.SucceededReason, "Receiver initialized for path: "+path
	return path, ready
}

// Token reads the token of r's Secret; a generic-oidc Receiver has none (""), as in Flux.
func Token(ctx context.Context, secrets Secrets, r *notificationv1.Receiver) (string, error) {
	data, err := secretData(ctx, secrets, r)
	return string(data["token"]), err
}

// secretData reads r's Secret, which must have a non-empty token; nil for a generic-oidc Receiver.
func secretData(ctx context.Context, secrets Secrets, r *notificationv1.Receiver) (map[string][]byte, error) {
	if r.Spec.Type == notificationv1.GenericOIDCReceiver {
		return nil, nil
	}
	if r.Spec.SecretRef == nil {
		return nil, fmt.Errorf("Receiver %s/%s: spec.secretRef is required", r.Namespace, r.Name)
	}
	s, err := secrets.GetSecret(ctx, r.Namespace, r.Spec.SecretRef.Name)
	if err != nil {
		return nil, fmt.Errorf("unable to read token from secret '%s/%s': %w", r.Namespace, r.Spec.SecretRef.Name, err)
	}
	tok, ok := s.Data["token"]
	if !ok {
		return nil, fmt.Errorf("invalid '%s/%s' secret data: required fields 'token'", r.Namespace, r.Spec.SecretRef.Name)
	}
	if len(tok) == 0 {
		// An empty token makes the webhook path computable by anyone and the HMAC key known.
		return nil, fmt.Errorf("invalid '%s/%s' secret data: 'token' is empty", r.Namespace, r.Spec.SecretRef.Name)
	}
	return s.Data, nil
}

// WriteStatus records path and ready on the Receiver u when they changed; it reports whether it wrote.
func WriteStatus(ctx context.Context, dyn dynamic.Interface, u *unstructured.Unstructured, path string, ready metav1.Condition, now time.Time) (bool, error) {
	var r notificationv1.Receiver
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
		return false, fmt.Errorf("decoding Receiver %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	st := r.Status
	old := apimeta.FindStatusCondition(st.Conditions, meta.ReadyCondition)
	handled := u.GetAnnotations()[meta.ReconcileRequestAnnotation]
	if old != nil && old.Status == ready.Status && old.Reason == ready.Reason && old.Message == ready.Message &&
		st.WebhookPath == path && st.ObservedGeneration == r.Generation && st.LastHandledReconcileAt == handled {
		return false, nil
	}
	ready.LastTransitionTime = metav1.NewTime(now)
	apimeta.SetStatusCondition(&st.Conditions, ready)
	st.WebhookPath = path
	st.ObservedGeneration = r.Generation
	st.LastHandledReconcileAt = handled
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
	if err != nil {
		return false, err
	}
	out := u.DeepCopy()
	out.Object["status"] = m
	if _, err := dyn.Resource(Resource).Namespace(u.GetNamespace()).UpdateStatus(ctx, out, metav1.UpdateOptions{FieldManager: "notification-controller"}); err != nil {
		return false, fmt.Errorf("writing the status of Receiver %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return true, nil
}

// ClusterLookup lists the Receivers from the API server on each call.
type ClusterLookup struct {
	Dynamic dynamic.Interface
}

// ByPath implements Lookup.
func (c ClusterLookup) ByPath(ctx context.Context, path string) (*notificationv1.Receiver, error) {
	list, err := c.Dynamic.Resource(Resource).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return Find(list.Items, path)
}

// Find returns the Receiver among items whose status.webhookPath is path.
func Find(items []unstructured.Unstructured, path string) (*notificationv1.Receiver, error) {
	for i := range items {
		p, _, _ := unstructured.NestedString(items[i].Object, "status", "webhookPath")
		if p != "" && p == path {
			r := &notificationv1.Receiver{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(items[i].Object, r); err != nil {
				return nil, err
			}
			return r, nil
		}
	}
	return nil, nil
}

// httpError is an answer with a status code; detail goes to the log only.
type httpError struct {
	code   int
	msg    string
	detail string
}

func (e *httpError) Error() string { return e.msg }

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func fail(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.logger()
	code, msg := h.serve(r)
	switch {
	case code == http.StatusNotFound:
		log.Debug("webhook rejected", "path", r.URL.Path, "status", code, "reason", msg) // anyone can probe paths
	case code >= 400:
		log.Warn("webhook rejected", "path", r.URL.Path, "status", code, "reason", msg)
	default:
		log.Info("webhook handled", "path", r.URL.Path, "status", code, "result", msg)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

func (h *Handler) serve(r *http.Request) (int, string) {
	if !strings.HasPrefix(r.URL.Path, notificationv1.ReceiverWebhookPath) {
		return http.StatusNotFound, "not found"
	}
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "POST only"
	}
	ctx := r.Context()
	rcv, err := h.Receivers.ByPath(ctx, r.URL.Path)
	if err != nil {
		return http.StatusServiceUnavailable, "receivers unavailable"
	}
	if rcv == nil {
		return http.StatusNotFound, "not found"
	}
	if rcv.Spec.Suspend {
		return http.StatusServiceUnavailable, "receiver is suspended"
	}
	if !apimeta.IsStatusConditionTrue(rcv.Status.Conditions, meta.ReadyCondition) {
		return http.StatusServiceUnavailable, "receiver is not ready"
	}
	secret, err := secretData(ctx, h.Secrets, rcv)
	if err != nil || rcv.GetWebhookPath(string(secret["token"])) != r.URL.Path {
		return http.StatusServiceUnavailable, "receiver token changed"
	}
	// The body is read only for a known path: an unknown caller cannot make the agent buffer it.
	limit := h.MaxBody
	if limit <= 0 {
		limit = MaxBody
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return http.StatusBadRequest, "reading the body failed"
	}
	if int64(len(body)) > limit {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("the body exceeds %d bytes", limit)
	}
	trigger, err := h.validate(ctx, rcv, r.Header, body, secret)
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			if he.detail != "" {
				h.logger().Warn("webhook: "+he.msg, "receiver", rcv.Namespace+"/"+rcv.Name, "detail", he.detail)
			}
			return he.code, he.msg
		}
		return http.StatusBadRequest, err.Error()
	}
	if trigger.body != nil {
		body = trigger.body
	}
	if !trigger.ok {
		return http.StatusOK, trigger.why
	}
	var f *filters
	var req map[string]any
	if f = h.filtersFor(rcv); f.err != nil {
		h.logger().Error("webhook: resource filters", "receiver", rcv.Namespace+"/"+rcv.Name, "error", f.err.Error())
		return http.StatusInternalServerError, "the receiver's resource filters are invalid"
	} else if f.none() {
		f = nil
	} else if req, err = requestBody(r.Header, body); err != nil {
		return http.StatusBadRequest, err.Error()
	}
	n, err := h.requestReconciliation(ctx, rcv, f, req, trigger.claims)
	if err != nil {
		// The caller is told no more than that: the details (targets, RBAC messages) go to the log.
		h.logger().Error("webhook: requesting reconciliations", "receiver", rcv.Namespace+"/"+rcv.Name, "error", err.Error())
		return http.StatusInternalServerError, fmt.Sprintf("failed to request the reconciliation of the targets (%d annotated)", n)
	}
	return http.StatusOK, fmt.Sprintf("%d object(s) annotated", n)
}

type verdict struct {
	ok     bool
	why    string
	claims map[string]any // generic-oidc: the verified token's claims, the filters' claims
	body   []byte         // when set, the filters' req instead of the call's body (gcr: the unwrapped event)
}

var triggerAll = verdict{ok: true}

// allowed checks event against the Receiver's events filter (case-insensitive; empty allows all).
func allowed(rcv *notificationv1.Receiver, event string) error {
	if len(rcv.Spec.Events) == 0 {
		return nil
	}
	for _, e := range rcv.Spec.Events {
		if strings.EqualFold(e, event) {
			return nil
		}
	}
	return fail(http.StatusAccepted, "event %q is not in spec.events: ignored", event)
}

// validate authenticates the call as rcv's type says and reports whether to trigger the targets.
func (h *Handler) validate(ctx context.Context, rcv *notificationv1.Receiver, hd http.Header, body []byte, secret map[string][]byte) (verdict, error) {
	token := string(secret["token"])
	switch rcv.Spec.Type {
	case notificationv1.GenericReceiver:
		return triggerAll, nil
	case notificationv1.GenericHMACReceiver:
		if err := checkPrefixedHMAC(hd.Get("X-Signature"), body, token); err != nil {
			return verdict{}, fail(http.StatusUnauthorized, "X-Signature: %v", err)
		}
		return triggerAll, nil
	case notificationv1.GitHubReceiver, GiteaReceiver:
		var err error
		switch {
		case hd.Get("X-Hub-Signature-256") != "":
			err = checkPrefixedHMAC(hd.Get("X-Hub-Signature-256"), body, token)
		case hd.Get("X-Gitea-Signature") != "":
			err = checkHMAC(sha256.New, hd.Get("X-Gitea-Signature"), body, token)
		case hd.Get("X-Hub-Signature") != "":
			err = checkPrefixedHMAC(hd.Get("X-Hub-Signature"), body, token)
		default:
			err = errors.New("missing signature header")
		}
		if err != nil {
			return verdict{}, fail(http.StatusUnauthorized, "signature: %v", err)
		}
		event := hd.Get("X-GitHub-Event")
		if event == "" {
			event = hd.Get("X-Gitea-Event")
		}
		if event == "ping" {
			return verdict{why: "pong"}, nil
		}
		if err := allowed(rcv, event); err != nil {
			return verdict{}, err
		}
		return triggerAll, nil
	case notificationv1.GitLabReceiver:
		if subtle.ConstantTimeCompare([]byte(hd.Get("X-Gitlab-Token")), []byte(token)) != 1 {
			return verdict{}, fail(http.StatusUnauthorized, "the X-Gitlab-Token header does not match the receiver token")
		}
		if err := allowed(rcv, hd.Get("X-Gitlab-Event")); err != nil {
			return verdict{}, err
		}
		return triggerAll, nil
	case notificationv1.BitbucketReceiver:
		if err := checkPrefixedHMAC(hd.Get("X-Hub-Signature"), body, token); err != nil {
			return verdict{}, fail(http.StatusUnauthorized, "X-Hub-Signature: %v", err)
		}
		event := hd.Get("X-Event-Key")
		if event == "diagnostics:ping" {
			return verdict{why: "pong"}, nil
		}
		if err := allowed(rcv, event); err != nil {
			return verdict{}, err
		}
		return triggerAll, nil
	case notificationv1.HarborReceiver:
		if subtle.ConstantTimeCompare([]byte(hd.Get("Authorization")), []byte(token)) != 1 {
			return verdict{}, fail(http.StatusUnauthorized, "the Authorization header does not match the receiver token")
		}
		return triggerAll, nil
	case notificationv1.DockerHubReceiver:
		var p struct {
			PushData struct {
				Tag string `json:"tag"`
			} `json:"push_data"`
			Repository struct {
				URL string `json:"repo_url"`
			} `json:"repository"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return verdict{}, fail(http.StatusBadRequest, "cannot decode DockerHub webhook payload")
		}
		return triggerAll, nil
	case notificationv1.QuayReceiver:
		var p struct {
			DockerURL   string   `json:"docker_url"`
			UpdatedTags []string `json:"updated_tags"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return verdict{}, fail(http.StatusBadRequest, "cannot decode Quay webhook payload")
		}
		return triggerAll, nil
	case notificationv1.NexusReceiver:
		// Nexus signs the body with HMAC-SHA1 keyed with the token, in hex, without a prefix.
		sig := hd.Get("X-Nexus-Webhook-Signature")
		if sig == "" {
			return verdict{}, fail(http.StatusUnauthorized, "X-Nexus-Webhook-Signature: missing signature")
		}
		if err := checkHMAC(sha1.New, sig, body, token); err != nil {
			return verdict{}, fail(http.StatusUnauthorized, "X-Nexus-Webhook-Signature: %v", err)
		}
		var p struct {
			Action         string `json:"action"`
			RepositoryName string `json:"repositoryName"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return verdict{}, fail(http.StatusBadRequest, "cannot decode Nexus webhook payload")
		}
		return triggerAll, nil
	case notificationv1.ACRReceiver:
		// Azure Container Registry does not sign its calls: the secret path is the authentication.
		var p struct {
			Action string `json:"action"`
			Target struct {
				Repository string `json:"repository"`
				Tag        string `json:"tag"`
			} `json:"target"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return verdict{}, fail(http.StatusBadRequest, "cannot decode ACR webhook payload")
		}
		return triggerAll, nil
	case notificationv1.CDEventsReceiver:
		// A binary-mode CloudEvent: the CDEvent is the body, its type also in the Ce-Type header,
		// which spec.events filters on.
		if _, err := parseCDEvent(body); err != nil {
			return verdict{}, fail(http.StatusBadRequest, "invalid CDEvent: %v", err)
		}
		if err := allowed(rcv, hd.Get("Ce-Type")); err != nil {
			return verdict{}, err
		}
		return triggerAll, nil
	case notificationv1.GCRReceiver:
		if err := h.validateGCR(ctx, hd, secret); err != nil {
			return verdict{}, err
		}
		unwrapped, err := gcrEvent(body)
		if err != nil {
			return verdict{}, fail(http.StatusBadRequest, "%v", err)
		}
		return verdict{ok: true, body: unwrapped}, nil
	case notificationv1.GenericOIDCReceiver:
		claims, err := h.validateGenericOIDC(ctx, rcv, hd)
		if err != nil {
			return verdict{}, err
		}
		return verdict{ok: true, claims: claims}, nil
	}
	return verdict{}, fail(http.StatusBadRequest, "receiver type %q is not supported by converge", rcv.Spec.Type)
}

// gcrEvent unwraps the registry event of a Pub/Sub push: message.data is base64 JSON with the action,
// digest and tag, which is what the filters see as req (as in Flux).
func gcrEvent(body []byte) ([]byte, error) {
	var p struct {
		Message struct {
			Data string `json:"data"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, errors.New("cannot decode GCR webhook payload: not a Pub/Sub push message")
	}
	raw, err := base64.StdEncoding.DecodeString(p.Message.Data)
	if err != nil {
		return nil, errors.New("cannot decode GCR webhook payload: message.data is not base64")
	}
	var d struct {
		Action string `json:"action"`
		Digest string `json:"digest"`
		Tag    string `json:"tag"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, errors.New("cannot decode GCR webhook body: message.data is not a registry event")
	}
	return json.Marshal(d)
}

// checkPrefixedHMAC checks a `sha1=`, `sha256=` or `sha512=` hex HMAC of body keyed with token.
func checkPrefixedHMAC(sig string, body []byte, token string) error {
	if sig == "" {
		return errors.New("missing signature")
	}
	alg, hexSig, ok := strings.Cut(sig, "=")
	if !ok {
		return errors.New("malformed signature")
	}
	switch alg {
	case "sha1":
		return checkHMAC(sha1.New, hexSig, body, token)
	case "sha256":
		return checkHMAC(sha256.New, hexSig, body, token)
	case "sha512":
		return checkHMAC(sha512.New, hexSig, body, token)
	}
	return fmt.Errorf("unknown signature algorithm %q", alg)
}

func checkHMAC(h func() hash.Hash, hexSig string, body []byte, token string) error {
	want, err := hex.DecodeString(hexSig)
	if err != nil {
		return errors.New("malformed signature")
	}
	m := hmac.New(h, []byte(token))
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), want) {
		return errors.New("signature does not match")
	}
	return nil
}

// requestReconciliation annotates each target of rcv that the filters (nil: none) accept for the
// request body req (and, for generic-oidc, the token's claims); it returns how many objects it annotated.
func (h *Handler) requestReconciliation(ctx context.Context, rcv *notificationv1.Receiver, f *filters, req, claims map[string]any) (int, error) {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		meta.ReconcileRequestAnnotation: h.now().Format(time.RFC3339Nano)}}})
	n := 0
	var errs []error
	for i, res := range rcv.Spec.Resources {
		ns := res.Namespace
		if ns == "" {
			ns = rcv.Namespace
		}
		apiVersion := res.APIVersion
		if apiVersion == "" {
			apiVersion = defaultAPIVersion(res.Kind)
		}
		ref := fmt.Sprintf("%s %s/%s", res.Kind, ns, res.Name)
		if h.NoCrossNamespaceRefs && ns != rcv.Namespace {
			errs = append(errs, fmt.Errorf("spec.resources[%d] %s: cross-namespace references are not allowed", i, ref))
			continue
		}
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil || apiVersion == "" {
			errs = append(errs, fmt.Errorf("%s: apiVersion must be specified", ref))
			continue
		}
		m, err := h.Mapper.RESTMapping(gv.WithKind(res.Kind).GroupKind(), gv.Version)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ref, err))
			continue
		}
		ri := h.Dynamic.Resource(m.Resource).Namespace(ns)
		names := []string{res.Name}
		var objs []unstructured.Unstructured // what the filters see; read only when there are filters
		if res.Name != "*" && f != nil {
			obj, err := ri.Get(ctx, res.Name, metav1.GetOptions{})
			if err != nil {
				errs = append(errs, fmt.Errorf("reading %s %s/%s: %w", res.Kind, ns, res.Name, err))
				continue
			}
			objs = append(objs, *obj)
		}
		if res.Name == "*" {
			if len(res.MatchLabels) == 0 {
				errs = append(errs, fmt.Errorf("%s: matchLabels is required with the name '*'", ref))
				continue
			}
			list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(res.MatchLabels).String()})
			if err != nil {
				errs = append(errs, fmt.Errorf("listing %s in %s: %w", res.Kind, ns, err))
				continue
			}
			names = names[:0]
			for _, it := range list.Items {
				names = append(names, it.GetName())
			}
			objs = list.Items
		}
		for j, name := range names {
			if f != nil {
				ok, err := f.accept(ctx, i, &objs[j], req, claims)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s/%s: %w", res.Kind, ns, name, err))
					continue
				}
				if !ok {
					h.logger().Debug("webhook: target not annotated: the resource filter returned false", "receiver", rcv.Namespace+"/"+rcv.Name, "target", res.Kind+" "+ns+"/"+name)
					continue
				}
			}
			if _, err := ri.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "notification-controller"}); err != nil {
				errs = append(errs, fmt.Errorf("annotating %s %s/%s: %w", res.Kind, ns, name, err))
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}
