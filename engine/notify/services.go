package notify

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/cloud"
)

// Message services and event APIs other than the chat webhooks of providers.go and the Git hosts of
// commitStatus: each builds the request Flux's notification-controller makes (payload, path, headers).

// webex posts a Markdown message to the room in spec.channel with the bot token.
func webex(t target, e Event) ([]request, error) {
	emoji := "✅"
	if e.Severity == "error" {
		emoji = "💣"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s **%s**\n%s\n", emoji, objectName(e), e.Message)
	for _, k := range sortedKeys(e.Metadata) {
		fmt.Fprintf(&b, ">**%s**: %s\n", k, e.Metadata[k])
	}
	r, err := jsonRequest(http.MethodPost, t.Address, map[string]string{"roomId": t.Channel, "markdown": b.String()})
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", "Bearer "+t.Token)
	return []request{r}, nil
}

// grafana posts an annotation (address is Grafana's /api/annotations) tagged with flux, the controller,
// the metadata and the object; the token (or username/password) authenticates.
func grafana(t target, e Event) ([]request, error) {
	tags := []string{"flux", e.ReportingController}
	for _, k := range sortedKeys(e.Metadata) {
		tags = append(tags, strings.ReplaceAll(k, ":", "|")+": "+strings.ReplaceAll(e.Metadata[k], ":", "|"))
	}
	tags = append(tags, "kind: "+e.InvolvedObject.Kind, "name: "+e.InvolvedObject.Name, "namespace: "+e.InvolvedObject.Namespace)
	r, err := jsonRequest(http.MethodPost, t.Address, map[string]any{"when": e.Timestamp.Unix(), "text": objectName(e), "tags": tags})
	if err != nil {
		return nil, err
	}
	switch {
	case t.Token != "":
		r.Header.Set("Authorization", "Bearer "+t.Token)
	case t.Username != "" && t.Password != "":
		r.Header.Set("Authorization", "Basic "+basic(t.Username, t.Password))
	}
	return []request{r}, nil
}

// datadog creates an event with Datadog's Events API (v1) on the address's site, keyed by the API key.
func datadog(t target, e Event) ([]request, error) {
	if t.Token == "" {
		return nil, errors.New("datadog needs a token (the API key) in spec.secretRef")
	}
	u, _ := url.Parse(t.Address)
	tags := []string{
		"flux_reporting_controller:" + e.ReportingController, "flux_reason:" + e.Reason,
		"kube_kind:" + e.InvolvedObject.Kind, "kube_name:" + e.InvolvedObject.Name, "kube_namespace:" + e.InvolvedObject.Namespace,
	}
	for _, k := range sortedKeys(e.Metadata) {
		tags = append(tags, k+":"+e.Metadata[k])
	}
	for i := range tags {
		tags[i] = strings.ToLower(tags[i])
	}
	alert := "info"
	if e.Severity == "error" {
		alert = "error"
	}
	r, err := jsonRequest(http.MethodPost, u.Scheme+"://"+u.Host+"/api/v1/events", map[string]any{
		"title": fmt.Sprintf("Events from the %s %s/%s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.InvolvedObject.Namespace),
		"text":  e.Message, "tags": tags, "source_type_name": "fluxcd", "date_happened": e.Timestamp.Unix(), "alert_type": alert,
	})
	if err != nil {
		return nil, err
	}
	r.Header.Set("Accept", "application/json")
	r.Header.Set("DD-API-KEY", t.Token)
	return []request{r}, nil
}

// larkCard is Lark's interactive card message.
func larkCard(e Event) map[string]any {
	emoji, color := "💫", "turquoise"
	if e.Severity == "error" {
		emoji, color = "🚨", "red"
	}
	msg := "**" + e.Message + "**\n\n"
	for _, k := range sortedKeys(e.Metadata) {
		msg += k + ": " + e.Metadata[k] + "\n"
	}
	return map[string]any{"msg_type": "interactive", "card": map[string]any{
		"config":   map[string]bool{"wide_screen_mode": true},
		"header":   map[string]any{"title": map[string]string{"tag": "plain_text", "content": emoji + " " + objectName(e)}, "template": color},
		"elements": []any{map[string]any{"tag": "div", "text": map[string]string{"tag": "lark_md", "content": msg}}},
	}}
}

// statusMarkdown is Flux's Markdown post (Zulip, change request comments): a heading, the object, the
// message and the metadata but the change request number.
func statusMarkdown(e Event) string {
	emoji := "ℹ️"
	if e.Severity == "error" {
		emoji = "⚠️"
	}
	var md strings.Builder
	for _, k := range sortedKeys(e.Metadata) {
		if k != changeRequestKey {
			fmt.Fprintf(&md, "* `%s`: %s\n", k, e.Metadata[k])
		}
	}
	return fmt.Sprintf("## Flux Status\n\n%s %s/%s/%s\n\n%s\n\nMetadata:\n%s", emoji,
		e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name, e.Message, md.String())
}

// zulip sends a stream message to spec.channel `<stream>/<topic>` through the bot's basic auth (the
// Secret's username and password; spec.username when the Secret has none).
func zulip(t target, e Event) ([]request, error) {
	stream, topic, ok := strings.Cut(t.Channel, "/")
	if !ok || stream == "" || topic == "" {
		return nil, fmt.Errorf("zulip: spec.channel must be <channel>/<topic>, not %q", t.Channel)
	}
	user := t.Username
	if user == "" {
		user = t.Sender
	}
	if user == "" || t.Password == "" {
		return nil, errors.New("zulip needs the bot's username and password (API key) in spec.secretRef")
	}
	u, _ := url.Parse(t.Address)
	u.Path, u.RawQuery = "/api/v1/messages", ""
	body := url.Values{"type": {"stream"}, "to": {stream}, "topic": {topic}, "content": {statusMarkdown(e)}}.Encode()
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("Authorization", "Basic "+basic(user, t.Password))
	return []request{{Method: http.MethodPost, URL: u.String(), Header: h, Body: []byte(body)}}, nil
}

// zoom posts to a Zoom incoming webhook (format=full unless the address sets one) with the
// verification token as Authorization.
func zoom(t target, e Event) ([]request, error) {
	if t.Token == "" {
		return nil, errors.New("zoom needs the webhook's verification token in spec.secretRef")
	}
	u, _ := url.Parse(t.Address)
	if q := u.Query(); q.Get("format") == "" {
		q.Set("format", "full")
		u.RawQuery = q.Encode()
	}
	body := []any{map[string]string{"type": "message", "text": e.Message}}
	if len(e.Metadata) > 0 {
		var items []map[string]string
		for _, k := range sortedKeys(e.Metadata) {
			items = append(items, map[string]string{"key": k, "value": e.Metadata[k]})
		}
		body = append(body, map[string]any{"type": "fields", "items": items})
	}
	r, err := jsonRequest(http.MethodPost, u.String(), map[string]any{"content": map[string]any{
		"head": map[string]any{"text": objectName(e), "sub_head": map[string]string{"text": e.Severity}},
		"body": body,
	}})
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", t.Token)
	return []request{r}, nil
}

// incidentio posts to an incident.io HTTP alert source: an error fires the alert deduplicated by the
// object's UID, an info event resolves it; Progressing events are not sent.
func incidentio(t target, e Event) ([]request, error) {
	if e.Reason == meta.ProgressingReason {
		return nil, errSkip
	}
	if t.Token == "" {
		return nil, errors.New("incident.io needs the alert source's token in spec.secretRef")
	}
	status := "resolved"
	if e.Severity == "error" {
		status = "firing"
	}
	md := map[string]string{}
	for k, v := range e.Metadata {
		md[k] = v
	}
	md["severity"], md["reason"] = e.Severity, e.Reason
	if e.ReportingController != "" {
		md["reportingController"] = e.ReportingController
	}
	r, err := jsonRequest(http.MethodPost, t.Address, map[string]any{
		"title": objectName(e) + ": " + e.Reason, "status": status, "deduplication_key": string(e.InvolvedObject.UID),
		"description": e.Message, "metadata": md,
	})
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", "Bearer "+t.Token)
	return []request{r}, nil
}

// sentryVersion is the Sentry Go SDK whose requests converge's match (Flux sends through it).
const sentryVersion = "0.46.2"

// sentry sends the event to the project of the DSN (the address) in an envelope, as Sentry's Go SDK
// does for Flux: an error event for errors, a transaction with one span for info events; spec.channel
// is the environment. The event ID is derived from the event, so a retried send is one Sentry event.
func sentry(t target, e Event) ([]request, error) {
	dsn, err := url.Parse(t.Address)
	if err != nil || dsn.User == nil || dsn.User.Username() == "" || dsn.Host == "" {
		return nil, errors.New("sentry: the address must be a DSN, https://<key>@<host>/<project>")
	}
	dir, project := "", strings.Trim(dsn.Path, "/")
	if i := strings.LastIndex(project, "/"); i >= 0 {
		dir, project = "/"+project[:i], project[i+1:]
	}
	if project == "" {
		return nil, errors.New("sentry: the DSN names no project")
	}
	raw, _ := json.Marshal(e)
	sum := sha256.Sum256(raw)
	id := hex.EncodeToString(sum[:16])
	obj := e.InvolvedObject
	summary := fmt.Sprintf("%s: %s/%s", obj.Kind, obj.Namespace, obj.Name)
	ts := e.Timestamp.UTC().Format(time.RFC3339Nano)
	sdk := map[string]string{"name": "sentry.go", "version": sentryVersion}
	ev := map[string]any{"event_id": id, "platform": "go", "sdk": sdk, "message": e.Message, "transaction": summary, "timestamp": ts}
	if t.Channel != "" {
		ev["environment"] = t.Channel
	}
	item := "event"
	if e.Severity == "error" {
		ev["level"], ev["server_name"] = "error", e.ReportingController
		ev["contexts"] = map[string]any{"metadata": e.Metadata}
	} else {
		item = "transaction"
		tags := map[string]string{
			"flux_involved_object_kind": obj.Kind, "flux_involved_object_namespace": obj.Namespace, "flux_involved_object_name": obj.Name,
			"flux_reporting_controller": e.ReportingController, "flux_reporting_instance": e.ReportingInstance, "flux_reason": e.Reason,
		}
		for k, v := range e.Metadata {
			tags[k] = v
		}
		trace, span := hex.EncodeToString(sum[:16]), hex.EncodeToString(sum[16:24])
		ev["type"], ev["tags"], ev["start_timestamp"] = "transaction", tags, ts
		ev["contexts"] = map[string]any{"trace": map[string]string{"trace_id": trace, "span_id": span, "op": "event"}}
		ev["spans"] = []any{map[string]any{"trace_id": trace, "span_id": span, "op": "event", "tags": tags, "start_timestamp": ts, "timestamp": ts}}
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	head, _ := json.Marshal(map[string]any{"event_id": id, "dsn": t.Address, "sdk": sdk})
	itemHead, _ := json.Marshal(map[string]any{"type": item, "length": len(payload)})
	body := strings.Join([]string{string(head), string(itemHead), string(payload)}, "\n") + "\n"
	h := http.Header{}
	h.Set("Content-Type", "application/x-sentry-envelope")
	h.Set("X-Sentry-Auth", fmt.Sprintf("Sentry sentry_version=7, sentry_client=sentry.go/%s, sentry_key=%s", sentryVersion, dsn.User.Username()))
	u := dsn.Scheme + "://" + dsn.Host + dir + "/api/" + project + "/envelope/"
	return []request{{Method: http.MethodPost, URL: u, Header: h, Body: []byte(body)}}, nil
}

// serviceAccountKey is the part of a Google service account key (JSON) a self-signed token needs.
type serviceAccountKey struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
}

// pubsub publishes the event JSON to the topic spec.channel of the project in the address, with the
// Secret's headers as attributes, over Pub/Sub's REST API (Flux uses Google's SDK, whose gRPC calls
// are the same publish). The token is the service account key (JSON); the call carries a token the
// key signs itself (Google's self-signed JWT for service accounts). With Notifier.PubSubEndpoint (an
// emulator) and no key, no token is sent.
func pubsub(t target, e Event) ([]request, error) {
	if t.Channel == "" {
		return nil, errors.New("googlepubsub needs the topic ID in spec.channel")
	}
	base := strings.TrimSuffix(t.PubSubEndpoint, "/")
	if base == "" {
		base = "https://pubsub.googleapis.com"
	}
	raw, _ := json.Marshal(e)
	msg := map[string]any{"data": base64.StdEncoding.EncodeToString(raw)}
	if len(t.Headers) > 0 {
		msg["attributes"] = t.Headers
	}
	r, err := jsonRequest(http.MethodPost, fmt.Sprintf("%s/v1/projects/%s/topics/%s:publish", base, url.PathEscape(t.Address), url.PathEscape(t.Channel)),
		map[string]any{"messages": []any{msg}})
	if err != nil {
		return nil, err
	}
	switch {
	case t.Token != "":
		tok, err := selfSignedJWT([]byte(t.Token), "https://pubsub.googleapis.com/", t.Now)
		if err != nil {
			return nil, fmt.Errorf("googlepubsub: %w", err)
		}
		r.Header.Set("Authorization", "Bearer "+tok)
	case t.PubSubEndpoint == "":
		return nil, errors.New("googlepubsub needs a service account key (JSON) as the token in spec.secretRef; workload identity (spec.serviceAccountName) is not supported by converge")
	}
	return []request{r}, nil
}

// selfSignedJWT signs a one-hour access token for audience with a service account key.
func selfSignedJWT(keyJSON []byte, audience string, now time.Time) (string, error) {
	var k serviceAccountKey
	if err := json.Unmarshal(keyJSON, &k); err != nil {
		return "", errors.New("the token is not a service account key (JSON)")
	}
	if k.ClientEmail == "" || k.PrivateKey == "" {
		return "", errors.New("the service account key has no client_email or private_key")
	}
	block, _ := pem.Decode([]byte(k.PrivateKey))
	if block == nil {
		return "", errors.New("the service account key's private_key is not PEM")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return "", errors.New("the service account key's private_key is not an RSA key")
		}
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return "", errors.New("the service account key's private_key is not an RSA key")
	}
	head := map[string]string{"alg": "RS256", "typ": "JWT"}
	if k.PrivateKeyID != "" {
		head["kid"] = k.PrivateKeyID
	}
	return cloud.SignRS256(key, head, map[string]any{"iss": k.ClientEmail, "sub": k.ClientEmail, "aud": audience,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
}

// eventHub sends the event JSON to an Azure Event Hub over the Event Hubs REST API (Flux sends over
// AMQP with Azure's SDK; the message is the same). The address is a connection string with a shared
// access key (Endpoint=sb://<namespace>/;SharedAccessKeyName=...;SharedAccessKey=...;EntityPath=<hub>),
// signed into a one-hour SAS token, or the hub name with a JWT as the token and the namespace in
// spec.channel.
func eventHub(t target, e Event) ([]request, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	var endpoint, auth string
	if strings.Contains(t.Address, "SharedAccessKey") {
		if t.Token != "" {
			return nil, errors.New("azureeventhub: a JWT token and a shared access key connection string cannot be set at the same time")
		}
		cs := map[string]string{}
		for _, part := range strings.Split(t.Address, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
				cs[k] = v
			}
		}
		ep, err := url.Parse(cs["Endpoint"])
		if err != nil || ep.Host == "" || cs["SharedAccessKeyName"] == "" || cs["SharedAccessKey"] == "" || cs["EntityPath"] == "" {
			return nil, errors.New("azureeventhub: the connection string needs Endpoint, SharedAccessKeyName, SharedAccessKey and EntityPath")
		}
		endpoint = "https://" + ep.Host + "/" + cs["EntityPath"]
		expiry := strconv.FormatInt(t.Now.Add(time.Hour).Unix(), 10)
		sr := url.QueryEscape(endpoint)
		m := hmac.New(sha256.New, []byte(cs["SharedAccessKey"]))
		m.Write([]byte(sr + "\n" + expiry))
		auth = "SharedAccessSignature sr=" + sr + "&sig=" + url.QueryEscape(base64.StdEncoding.EncodeToString(m.Sum(nil))) +
			"&se=" + expiry + "&skn=" + url.QueryEscape(cs["SharedAccessKeyName"])
	} else {
		if t.Token == "" {
			return nil, errors.New("azureeventhub needs a connection string with a shared access key as the address, or a JWT as the token; workload identity (spec.serviceAccountName) is not supported by converge")
		}
		if t.Channel == "" {
			return nil, errors.New("azureeventhub: with a JWT, spec.channel must name the Event Hubs namespace")
		}
		ns := t.Channel
		if !strings.Contains(ns, ".servicebus.") {
			ns += ".servicebus.windows.net"
		}
		endpoint, auth = "https://"+ns+"/"+url.PathEscape(t.Address), "Bearer "+t.Token
	}
	h := http.Header{}
	h.Set("Content-Type", "application/atom+xml;type=entry;charset=utf-8")
	h.Set("Authorization", auth)
	return []request{{Method: http.MethodPost, URL: endpoint + "/messages?timeout=60&api-version=2014-01", Header: h, Body: body}}, nil
}

// otel exports the event as one span over OTLP/HTTP (JSON encoding; Flux's exporter sends the same
// span as protobuf): the trace is the Alert's and the revision's, the service is the Alert, the span
// is the object with its metadata as attributes and the severity as status. HelmRepository events are
// not sent. The address is the traces endpoint (/v1/traces when it has no path).
func otel(t target, e Event) ([]request, error) {
	if e.InvolvedObject.Kind == "HelmRepository" {
		return nil, errSkip
	}
	u, _ := url.Parse(t.Address)
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	rev := "unknown"
	if oci, ok := e.Metadata["oci-digest"]; ok && e.Metadata["app-version"] != "" {
		rev = e.Metadata["app-version"] + "@" + oci
	} else if r, ok := e.Metadata["revision"]; ok {
		rev = r
	}
	traceSum := sha256.Sum256([]byte(t.Alert.UID + ":" + rev))
	raw, _ := json.Marshal(e)
	spanSum := sha256.Sum256(raw)
	str := func(k, v string) map[string]any {
		return map[string]any{"key": k, "value": map[string]string{"stringValue": v}}
	}
	attrs := []any{str("object.uid", string(e.InvolvedObject.UID)), str("object.kind", e.InvolvedObject.Kind),
		str("object.name", e.InvolvedObject.Name), str("object.namespace", e.InvolvedObject.Namespace)}
	for _, k := range sortedKeys(e.Metadata) {
		attrs = append(attrs, str(k, e.Metadata[k]))
	}
	code := 1 // STATUS_CODE_OK
	if e.Severity == "error" {
		code = 2
	}
	start := e.Timestamp.UnixNano()
	end := max(start, t.Now.UnixNano())
	obj := e.InvolvedObject
	payload := map[string]any{"resourceSpans": []any{map[string]any{
		"resource": map[string]any{"attributes": []any{
			str("service.name", t.Alert.Namespace+"/"+t.Alert.Name), str("service.namespace", t.Alert.Namespace), str("service.instance.id", t.Alert.UID)}},
		"schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
		"scopeSpans": []any{map[string]any{
			"scope": map[string]string{"name": "flux:notification-controller"},
			"spans": []any{map[string]any{
				"traceId": hex.EncodeToString(traceSum[:16]), "spanId": hex.EncodeToString(spanSum[:8]),
				"name": fmt.Sprintf("%s: %s/%s", obj.Kind, obj.Namespace, obj.Name), "kind": 1,
				"startTimeUnixNano": strconv.FormatInt(start, 10), "endTimeUnixNano": strconv.FormatInt(end, 10),
				"attributes": attrs, "flags": 1, "status": map[string]any{"code": code, "message": e.Message},
			}},
		}},
	}}}
	r, err := jsonRequest(http.MethodPost, u.String(), payload)
	if err != nil {
		return nil, err
	}
	for k, v := range t.Headers {
		r.Header.Set(k, v)
	}
	token := t.Token
	if token == "" {
		token = t.Password
	}
	if r.Header.Get("Authorization") == "" && token != "" {
		if t.Username != "" {
			r.Header.Set("Authorization", "Basic "+basic(t.Username, token))
		} else {
			r.Header.Set("Authorization", "Bearer "+token)
		}
	}
	return []request{r}, nil
}
