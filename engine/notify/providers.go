package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/converge-gitops/converge/crds/meta"
	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
)

// target is a Provider resolved with its Secret: where and how to send.
type target struct {
	Type        string
	Address     string
	Token       string
	Username    string
	Password    string
	Channel     string
	Sender      string // spec.username
	ProviderUID string
	Headers     map[string]string
	// Secret is the whole secretRef data, for the keys only some types read (nats: nkey, creds).
	Secret map[string][]byte
	// TLS is the certSecretRef's configuration (nil without one), for transports other than HTTP.
	TLS *tls.Config
	// Alert is the Alert the event goes out for (otel names its service after it).
	Alert AlertRef
	// Now is the delivery's clock (signed tokens' issue time).
	Now time.Time
	// PubSubEndpoint replaces Google Pub/Sub's API root (an emulator), from Notifier.PubSubEndpoint.
	PubSubEndpoint string
	// CommitStatus is the commit status context (key) of git providers: spec.commitStatusExpr's value or
	// Flux's default.
	CommitStatus string
	// Login is the author of the token's comments when it is known without asking the host: a GitHub
	// App's "<slug>[bot]" (its installation token cannot read /user).
	Login string
}

// request is one HTTP call a provider makes for an event.
type request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// slackAPI marks calls to Slack's Web API, whose errors come as 200 {"ok": false}.
	slackAPI bool
	// check, when set, is read first; the request is skipped when it shows the same status set.
	check *statusCheck
	// notFoundOK makes a 404 answer errNotFound.
	notFoundOK bool
	// build, when set, makes the request to send from what it reads first with get (a change request's
	// comments, to edit Flux's own rather than add another); get sends the request's headers.
	build func(get func(u string) ([]byte, error)) (request, error)
	// transport, when set, delivers the request other than over HTTP (NATS); retry says whether a
	// failure may pass on a second attempt.
	transport func(ctx context.Context) (retry bool, err error)
}

// AlertRef names the Alert a delivery is for.
type AlertRef struct {
	Namespace, Name, UID string
}

// errSkip drops an event a provider does not send (a commit status without a Git commit, a Progressing
// event for a status that only knows success and failure).
var errSkip = errors.New("not sent by this provider")

// supported lists the provider types converge sends to.
var supported = map[string]bool{
	notificationv1beta3.GenericProvider: true, notificationv1beta3.GenericHMACProvider: true,
	notificationv1beta3.SlackProvider: true, notificationv1beta3.DiscordProvider: true,
	notificationv1beta3.MSTeamsProvider: true, notificationv1beta3.GoogleChatProvider: true,
	notificationv1beta3.RocketProvider: true, notificationv1beta3.TelegramProvider: true,
	notificationv1beta3.MatrixProvider: true, notificationv1beta3.AlertManagerProvider: true,
	notificationv1beta3.PagerDutyProvider: true, notificationv1beta3.OpsgenieProvider: true,
	notificationv1beta3.GitHubProvider: true, notificationv1beta3.GitLabProvider: true,
	notificationv1beta3.GiteaProvider: true, notificationv1beta3.BitbucketProvider: true,
	notificationv1beta3.AzureDevOpsProvider: true, notificationv1beta3.BitbucketServerProvider: true,
	notificationv1beta3.GitHubDispatchProvider: true, notificationv1beta3.GitHubPullRequestCommentProvider: true,
	notificationv1beta3.GitLabMergeRequestCommentProvider: true, notificationv1beta3.GiteaPullRequestCommentProvider: true,
	notificationv1beta3.WebexProvider: true, notificationv1beta3.GrafanaProvider: true,
	notificationv1beta3.DataDogProvider: true, notificationv1beta3.SentryProvider: true,
	notificationv1beta3.GooglePubSubProvider: true, notificationv1beta3.AzureEventHubProvider: true,
	notificationv1beta3.LarkProvider: true, notificationv1beta3.NATSProvider: true,
	notificationv1beta3.ZulipProvider: true, notificationv1beta3.OTELProvider: true,
	notificationv1beta3.ZoomProvider: true, notificationv1beta3.IncidentioProvider: true,
}

// Supported reports whether converge sends to Providers of type typ.
func Supported(typ string) bool { return supported[typ] }

// Types lists the Provider types converge sends to, sorted.
func Types() []string {
	out := make([]string, 0, len(supported))
	for k := range supported {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// notURLAddress are the types whose address is not an HTTP URL: a Google Cloud project ID, an Event
// Hubs connection string or hub name, a NATS server URL, a Sentry DSN (checked by its provider).
var notURLAddress = map[string]bool{
	notificationv1beta3.GooglePubSubProvider: true, notificationv1beta3.AzureEventHubProvider: true,
	notificationv1beta3.NATSProvider: true, notificationv1beta3.SentryProvider: true,
}

func jsonRequest(method, u string, payload any) (request, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return request{}, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return request{Method: method, URL: u, Header: h, Body: b}, nil
}

// requests builds the calls t makes for e; a call whose URL does not parse (built from an address,
// channel or connection string that is not what the type needs) is an error naming the type.
func requests(t target, e Event) ([]request, error) {
	reqs, err := buildRequests(t, e)
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if r.transport != nil {
			continue
		}
		if u, err := url.Parse(r.URL); err != nil || u.Host == "" {
			return nil, fmt.Errorf("%s: invalid address or channel: they make no valid URL", t.Type)
		}
	}
	return reqs, nil
}

func buildRequests(t target, e Event) ([]request, error) {
	if !supported[t.Type] {
		return nil, fmt.Errorf("provider type %q is not supported by converge", t.Type)
	}
	if t.Address == "" && t.Type != notificationv1beta3.TelegramProvider {
		return nil, errors.New("no address: set spec.address or the address key of spec.secretRef")
	}
	if t.Address != "" && !notURLAddress[t.Type] {
		if _, err := url.ParseRequestURI(t.Address); err != nil {
			return nil, errors.New("invalid address")
		}
	}
	switch t.Type {
	case notificationv1beta3.GenericProvider, notificationv1beta3.GenericHMACProvider:
		return generic(t, e)
	case notificationv1beta3.SlackProvider, notificationv1beta3.DiscordProvider, notificationv1beta3.RocketProvider:
		return slack(t, e)
	case notificationv1beta3.MSTeamsProvider:
		return one(jsonRequest(http.MethodPost, t.Address, teamsCard(e)))
	case notificationv1beta3.GoogleChatProvider:
		return one(jsonRequest(http.MethodPost, t.Address, googleChat(e)))
	case notificationv1beta3.TelegramProvider:
		return telegram(t, e)
	case notificationv1beta3.MatrixProvider:
		return matrix(t, e)
	case notificationv1beta3.AlertManagerProvider:
		return alertmanager(t, e)
	case notificationv1beta3.PagerDutyProvider:
		return pagerDuty(t, e)
	case notificationv1beta3.OpsgenieProvider:
		return opsgenie(t, e)
	case notificationv1beta3.WebexProvider:
		return webex(t, e)
	case notificationv1beta3.GrafanaProvider:
		return grafana(t, e)
	case notificationv1beta3.DataDogProvider:
		return datadog(t, e)
	case notificationv1beta3.LarkProvider:
		return one(jsonRequest(http.MethodPost, t.Address, larkCard(e)))
	case notificationv1beta3.ZulipProvider:
		return zulip(t, e)
	case notificationv1beta3.ZoomProvider:
		return zoom(t, e)
	case notificationv1beta3.IncidentioProvider:
		return incidentio(t, e)
	case notificationv1beta3.SentryProvider:
		return sentry(t, e)
	case notificationv1beta3.GooglePubSubProvider:
		return pubsub(t, e)
	case notificationv1beta3.AzureEventHubProvider:
		return eventHub(t, e)
	case notificationv1beta3.OTELProvider:
		return otel(t, e)
	case notificationv1beta3.NATSProvider:
		return natsPublish(t, e)
	case notificationv1beta3.GitHubDispatchProvider:
		return githubDispatch(t, e)
	case notificationv1beta3.GitHubPullRequestCommentProvider, notificationv1beta3.GitLabMergeRequestCommentProvider,
		notificationv1beta3.GiteaPullRequestCommentProvider:
		return changeRequestComment(t, e)
	default:
		return commitStatus(t, e)
	}
}

func one(r request, err error) ([]request, error) {
	if err != nil {
		return nil, err
	}
	return []request{r}, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func objectName(e Event) string {
	return fmt.Sprintf("%s/%s.%s", strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, e.InvolvedObject.Namespace)
}

// generic posts Flux's event JSON, with the Secret's headers and, for generic-hmac, X-Signature:
// sha256=<hex HMAC-SHA256 of the body keyed with the token>.
func generic(t target, e Event) ([]request, error) {
	r, err := jsonRequest(http.MethodPost, t.Address, e)
	if err != nil {
		return nil, err
	}
	r.Header.Set("gotk-component", e.ReportingController)
	for k, v := range t.Headers {
		r.Header.Set(k, v)
	}
	if t.Type == notificationv1beta3.GenericHMACProvider {
		if t.Token == "" {
			return nil, errors.New("generic-hmac needs a token in spec.secretRef")
		}
		m := hmac.New(sha256.New, []byte(t.Token))
		m.Write(r.Body)
		r.Header.Set("X-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	return []request{r}, nil
}

type slackPayload struct {
	Channel     string            `json:"channel"`
	Username    string            `json:"username"`
	IconURL     string            `json:"icon_url"`
	IconEmoji   string            `json:"icon_emoji"`
	Attachments []slackAttachment `json:"attachments,omitempty"`
}

type slackAttachment struct {
	Fallback   string       `json:"fallback,omitempty"`
	Color      string       `json:"color"`
	AuthorName string       `json:"author_name"`
	Text       string       `json:"text"`
	MrkdwnIn   []string     `json:"mrkdwn_in"`
	Fields     []slackField `json:"fields"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// slack sends Slack's attachment message (also Mattermost's, which accepts it): to an incoming webhook,
// or to chat.postMessage with the bot token. Discord gets it on its Slack-compatible /slack endpoint,
// Rocket.Chat with its own colours.
func slack(t target, e Event) ([]request, error) {
	p := slackPayload{Username: t.Sender}
	if p.Username == "" {
		p.Username = e.ReportingController
	}
	color := "good"
	if e.Severity == "error" {
		color = "danger"
	}
	addr := t.Address
	switch t.Type {
	case notificationv1beta3.SlackProvider:
		p.Channel = t.Channel
	case notificationv1beta3.RocketProvider:
		p.Channel = t.Channel
		color = "#0076D7"
		if e.Severity == "error" {
			color = "#FF0000"
		}
	case notificationv1beta3.DiscordProvider:
		if !strings.HasSuffix(addr, "/slack") {
			u, _ := url.Parse(addr)
			u.Path = path.Join(u.Path, "slack")
			addr = u.String()
		}
	}
	fields := make([]slackField, 0, len(e.Metadata))
	for _, k := range sortedKeys(e.Metadata) {
		fields = append(fields, slackField{Title: k, Value: e.Metadata[k]})
	}
	a := slackAttachment{Color: color, AuthorName: objectName(e), Text: e.Message, MrkdwnIn: []string{"text"}, Fields: fields}
	if t.Type == notificationv1beta3.SlackProvider {
		first, _, _ := strings.Cut(e.Message, "\n")
		a.Fallback = a.AuthorName + ": " + first
	}
	p.Attachments = []slackAttachment{a}
	r, err := jsonRequest(http.MethodPost, addr, p)
	if err != nil {
		return nil, err
	}
	if t.Type == notificationv1beta3.SlackProvider {
		if t.Token != "" {
			r.Header.Set("Authorization", "Bearer "+t.Token)
		}
		r.slackAPI = strings.HasSuffix(strings.TrimSuffix(addr, "/"), "/api/chat.postMessage")
	}
	return []request{r}, nil
}

// teamsCard is the Adaptive Card message Teams workflows (and Flux) use.
func teamsCard(e Event) map[string]any {
	text := map[string]any{"type": "TextBlock", "text": e.Message, "wrap": true}
	if e.Severity == "error" {
		text["color"] = "attention"
	}
	facts := []map[string]string{}
	if s, ok := e.Metadata["summary"]; ok {
		facts = append(facts, map[string]string{"title": "summary", "value": s})
	}
	for _, k := range sortedKeys(e.Metadata) {
		if k != "summary" {
			facts = append(facts, map[string]string{"title": k, "value": e.Metadata[k]})
		}
	}
	body := []any{map[string]any{"type": "Container", "items": []any{
		map[string]any{"type": "TextBlock", "text": objectName(e), "size": "large", "weight": "bolder", "wrap": true},
		text,
		map[string]any{"type": "FactSet", "facts": facts},
	}}}
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"body":    body,
				"msteams": map[string]string{"width": "Full"},
			},
		}},
	}
}

func googleChat(e Event) map[string]any {
	msg := e.Message
	if e.Severity == "error" {
		msg = `<font color="#ff0000">` + e.Message + `</font>`
	}
	sections := []any{map[string]any{"header": "", "widgets": []any{
		map[string]any{"textParagraph": map[string]string{"text": msg}, "keyValue": nil},
	}}}
	if len(e.Metadata) > 0 {
		var widgets []any
		for _, k := range sortedKeys(e.Metadata) {
			widgets = append(widgets, map[string]any{"textParagraph": nil, "keyValue": map[string]any{
				"topLabel": k, "content": e.Metadata[k], "contentMultiline": false, "bottomLabel": nil, "icon": nil}})
		}
		sections = append(sections, map[string]any{"header": "", "widgets": widgets})
	}
	return map[string]any{"cards": []any{map[string]any{
		"header":   map[string]any{"title": objectName(e), "subtitle": e.ReportingController, "imageUrl": nil, "imageStyle": nil},
		"sections": sections,
	}}}
}

// telegram calls the Bot API's sendMessage (MarkdownV2); the channel is the chat id, optionally
// `chat:thread`. The address, when set, replaces https://api.telegram.org.
func telegram(t target, e Event) ([]request, error) {
	if t.Channel == "" || t.Token == "" {
		return nil, errors.New("telegram needs spec.channel and a token in spec.secretRef")
	}
	emoji := "💫"
	if e.Severity == "error" {
		emoji = "🚨"
	}
	heading := fmt.Sprintf("%s %s/%s/%s", emoji, strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, e.InvolvedObject.Namespace)
	var md strings.Builder
	for _, k := range sortedKeys(e.Metadata) {
		fmt.Fprintf(&md, "\\- *%s*: %s\n", telegramEscape(k), telegramEscape(e.Metadata[k]))
	}
	chat, thread, _ := strings.Cut(t.Channel, ":")
	p := map[string]string{"chat_id": chat, "text": fmt.Sprintf("*%s*\n%s\n%s", telegramEscape(heading), telegramEscape(e.Message), md.String()), "parse_mode": "MarkdownV2"}
	if thread != "" {
		p["message_thread_id"] = thread
	}
	base := strings.TrimSuffix(t.Address, "/")
	if base == "" {
		base = "https://api.telegram.org"
	}
	return one(jsonRequest(http.MethodPost, base+"/bot"+t.Token+"/sendMessage", p))
}

func telegramEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\.-_[]()~>`#+=|{}!*", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// matrix sends an m.room.message to the room in spec.channel with the access token; the transaction
// id is the SHA-1 of the event, so a retried send is not posted twice.
func matrix(t target, e Event) ([]request, error) {
	if t.Token == "" || t.Channel == "" {
		return nil, errors.New("matrix needs spec.channel (the room id) and a token in spec.secretRef")
	}
	raw, _ := json.Marshal(e)
	txn := fmt.Sprintf("%x", sha1.Sum(raw))
	emoji := "💫"
	if e.Severity == "error" {
		emoji = "🚨"
	}
	var md strings.Builder
	for _, k := range sortedKeys(e.Metadata) {
		fmt.Fprintf(&md, "- %s: %s\n", k, e.Metadata[k])
	}
	body := fmt.Sprintf("%s %s\n%s\n%s", emoji, objectName(e), e.Message, md.String())
	u := fmt.Sprintf("%s/_matrix/client/r0/rooms/%s/send/m.room.message/%s", strings.TrimSuffix(t.Address, "/"), url.PathEscape(t.Channel), txn)
	r, err := jsonRequest(http.MethodPut, u, map[string]string{"body": body, "msgtype": "m.text"})
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", "Bearer "+t.Token)
	return []request{r}, nil
}

func alertmanager(t target, e Event) ([]request, error) {
	labels := map[string]string{}
	annotations := map[string]string{"message": e.Message}
	for k, v := range e.Metadata {
		if k == "summary" {
			annotations["summary"] = v
			continue
		}
		labels[k] = v
	}
	reason := e.Reason
	if reason != "" {
		reason = strings.ToUpper(reason[:1]) + strings.ToLower(reason[1:])
	}
	labels["alertname"] = "Flux" + e.InvolvedObject.Kind + reason
	labels["severity"] = e.Severity
	labels["reason"] = e.Reason
	labels["kind"] = e.InvolvedObject.Kind
	labels["name"] = e.InvolvedObject.Name
	labels["namespace"] = e.InvolvedObject.Namespace
	labels["reportingcontroller"] = e.ReportingController
	payload := []map[string]any{{
		"status": "firing", "labels": labels, "annotations": annotations,
		"startsAt": e.Timestamp.UTC().Format(time.RFC3339), "endsAt": time.Time{}.Format(time.RFC3339),
	}}
	r, err := jsonRequest(http.MethodPost, t.Address, payload)
	if err != nil {
		return nil, err
	}
	switch {
	case t.Username != "" && t.Password != "":
		r.Header.Set("Authorization", "Basic "+basic(t.Username, t.Password))
	case t.Token != "":
		r.Header.Set("Authorization", "Bearer "+t.Token)
	}
	return []request{r}, nil
}

// pagerDuty uses the Events API v2: an error triggers an alert deduplicated by the object's UID, an
// info event resolves it and is also sent as a change event. The routing key is spec.channel.
func pagerDuty(t target, e Event) ([]request, error) {
	if e.Reason == meta.ProgressingReason {
		return nil, errSkip
	}
	u, _ := url.Parse(t.Address)
	base := u.Scheme + "://" + u.Host
	name, desc := describe(e)
	summary := desc + ": " + name
	details := map[string]any{"message": e.Message, "metadata": e.Metadata}
	ev := map[string]any{"routing_key": t.Channel, "event_action": "resolve", "dedup_key": string(e.InvolvedObject.UID)}
	if e.Severity == "error" {
		ev["event_action"] = "trigger"
		ev["payload"] = map[string]any{
			"summary": summary, "source": "Flux " + e.ReportingController, "severity": "error",
			"timestamp": e.Timestamp.UTC().Format(time.RFC3339), "component": e.InvolvedObject.Name,
			"group": e.InvolvedObject.Kind, "custom_details": details,
		}
	}
	r, err := jsonRequest(http.MethodPost, base+"/v2/enqueue", ev)
	if err != nil {
		return nil, err
	}
	out := []request{r}
	if e.Severity == "info" {
		c, err := jsonRequest(http.MethodPost, base+"/v2/change/enqueue", map[string]any{
			"routing_key": t.Channel,
			"payload": map[string]any{"summary": summary, "source": "Flux " + e.ReportingController,
				"timestamp": e.Timestamp.UTC().Format(time.RFC3339), "custom_details": details},
		})
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// opsgenie creates an alert with the API key (the token) as GenieKey; the alias groups the events of
// one object and reason.
func opsgenie(t target, e Event) ([]request, error) {
	if t.Token == "" {
		return nil, errors.New("opsgenie needs a token (the API key) in spec.secretRef")
	}
	details := map[string]string{}
	for k, v := range e.Metadata {
		details[k] = v
	}
	details["severity"] = e.Severity
	key := strings.Join([]string{t.ProviderUID, e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name, e.Reason}, "/")
	r, err := jsonRequest(http.MethodPost, t.Address, map[string]any{
		"message": e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name, "alias": fmt.Sprintf("%x", sha256.Sum256([]byte(key))),
		"description": e.Message, "details": details,
	})
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", "GenieKey "+t.Token)
	return []request{r}, nil
}

func basic(user, pass string) string {
	return base64Std(user + ":" + pass)
}

// repoAddress splits a repository address (https://host/owner/repo(.git), ssh://git@host/owner/repo)
// into the HTTPS base URL of its host and the repository path.
func repoAddress(addr string) (host, repo string, err error) {
	if strings.HasPrefix(addr, "git@") { // scp-like
		addr = "ssh://" + strings.Replace(addr, ":", "/", 1)
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return "", "", errors.New("invalid repository address")
	}
	scheme := u.Scheme
	if scheme == "ssh" {
		scheme = "https"
	}
	hostname := u.Host
	if u.Scheme == "ssh" {
		hostname = u.Hostname()
	}
	repo = strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
	if repo == "" {
		return "", "", errors.New("the address names no repository")
	}
	return scheme + "://" + hostname, repo, nil
}

// commitStatus sets the commit status of the event's revision on GitHub, GitLab, Gitea or Bitbucket
// Cloud, with Flux's context (kind/name/<provider uid prefix>) and states.
func commitStatus(t target, e Event) ([]request, error) {
	if e.Reason == meta.ProgressingReason && t.Type != notificationv1beta3.GiteaProvider {
		return nil, errSkip
	}
	sha, ok := CommitSHA(e.Metadata["revision"])
	if !ok {
		return nil, errSkip
	}
	switch t.Type {
	case notificationv1beta3.AzureDevOpsProvider:
		return azureDevOps(t, e, sha)
	case notificationv1beta3.BitbucketServerProvider:
		return bitbucketServer(t, e, sha)
	}
	if t.Token == "" && t.Type != notificationv1beta3.BitbucketProvider {
		t.Token = t.Password // Flux takes the password as the token of GitHub, GitLab and Gitea
	}
	if t.Token == "" {
		return nil, fmt.Errorf("%s needs a token in spec.secretRef", t.Type)
	}
	host, repo, err := repoAddress(t.Address)
	if err != nil {
		return nil, err
	}
	id := t.CommitStatus
	if id == "" {
		id = commitStatusID(t.ProviderUID, e)
	}
	name, desc := describe(e)
	ownerRepo := func() (string, string, error) {
		owner, r, ok := strings.Cut(repo, "/")
		if !ok || strings.Contains(r, "/") {
			return "", "", fmt.Errorf("the address must name owner/repository, not %q", repo)
		}
		return owner, r, nil
	}
	state := func(ok, fail string) string {
		if e.Severity == "error" {
			return fail
		}
		return ok
	}
	switch t.Type {
	case notificationv1beta3.GitHubProvider:
		owner, r, err := ownerRepo()
		if err != nil {
			return nil, err
		}
		api := githubAPI(host)
		st := state("success", "failure")
		req, err := jsonRequest(http.MethodPost, fmt.Sprintf("%s/repos/%s/%s/statuses/%s", api, owner, r, sha),
			map[string]string{"state": st, "description": desc, "context": id})
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+t.Token)
		req.Header.Set("Accept", "application/vnd.github+json")
		req.check = getCheck(withQuery(fmt.Sprintf("%s/repos/%s/%s/commits/%s/statuses", api, owner, r, sha), url.Values{"per_page": {"50"}}),
			req.Header, githubSame(id, st, desc))
		return []request{req}, nil
	case notificationv1beta3.GitLabProvider:
		st := state("success", "failed")
		req, err := jsonRequest(http.MethodPost, fmt.Sprintf("%s/api/v4/projects/%s/statuses/%s", host, url.PathEscape(repo), sha),
			map[string]string{"state": st, "name": id, "description": desc})
		if err != nil {
			return nil, err
		}
		req.Header.Set("PRIVATE-TOKEN", t.Token)
		req.check = getCheck(withQuery(fmt.Sprintf("%s/api/v4/projects/%s/repository/commits/%s/statuses", host, url.PathEscape(repo), sha), url.Values{"name": {id}}),
			req.Header, gitlabSame(sha, id, st, desc))
		return []request{req}, nil
	case notificationv1beta3.GiteaProvider:
		owner, r, err := ownerRepo()
		if err != nil {
			return nil, err
		}
		st := state("success", "failure")
		if e.Reason == meta.ProgressingReason {
			st = "pending"
		}
		req, err := jsonRequest(http.MethodPost, fmt.Sprintf("%s/api/v1/repos/%s/%s/statuses/%s", host, owner, r, sha),
			map[string]string{"state": st, "target_url": "", "description": desc, "context": id})
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "token "+t.Token)
		req.check = getCheck(withQuery(fmt.Sprintf("%s/api/v1/repos/%s/%s/statuses/%s", host, owner, r, sha), url.Values{"page": {"1"}, "limit": {"50"}}),
			req.Header, giteaSame(id, st, desc))
		return []request{req}, nil
	case notificationv1beta3.BitbucketProvider:
		owner, r, err := ownerRepo()
		if err != nil {
			return nil, err
		}
		user, pass, ok := strings.Cut(t.Token, ":")
		if !ok {
			return nil, errors.New("bitbucket: the token must be <username>:<app password>")
		}
		api := host + "/2.0"
		if u, _ := url.Parse(host); u.Host == "bitbucket.org" {
			api = "https://api.bitbucket.org/2.0"
		}
		st, key := state("SUCCESSFUL", "FAILED"), fmt.Sprintf("%x", sha1.Sum([]byte(id)))
		statuses := fmt.Sprintf("%s/repositories/%s/%s/commit/%s/statuses/build", api, owner, r, sha)
		req, err := jsonRequest(http.MethodPost, statuses,
			map[string]string{"state": st, "key": key, "name": name, "description": desc, "url": "https://bitbucket.org"})
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Basic "+basic(user, pass))
		req.check = getCheck(statuses+"/"+url.PathEscape(key), req.Header, bitbucketSame(st, desc))
		req.check.notFoundOK = true
		return []request{req}, nil
	default:
		return nil, fmt.Errorf("provider type %q sets no commit status", t.Type)
	}
}

// githubAPI is the REST API root of a GitHub host: api.github.com, or GitHub Enterprise's /api/v3.
func githubAPI(host string) string {
	if u, _ := url.Parse(host); u != nil && u.Host == "github.com" {
		return "https://api.github.com"
	}
	return host + "/api/v3"
}
