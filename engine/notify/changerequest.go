package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
	"github.com/converge-gitops/converge/engine/source/githubapp"
)

// changeRequestKey is the metadata key (from the object's event.toolkit.fluxcd.io/change_request
// annotation) that holds the number of the pull or merge request an object deploys.
const changeRequestKey = "change_request"

// githubDispatch triggers a repository_dispatch on the address's repository: event_type is
// Kind/name.namespace and client_payload the event.
func githubDispatch(t target, e Event) ([]request, error) {
	host, owner, repo, token, err := gitRepo(t)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	r, err := jsonRequest(http.MethodPost, fmt.Sprintf("%s/repos/%s/%s/dispatches", githubAPI(host), owner, repo), map[string]any{
		"event_type":     fmt.Sprintf("%s/%s.%s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.InvolvedObject.Namespace),
		"client_payload": json.RawMessage(payload),
	})
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Accept", "application/vnd.github+json")
	return []request{r}, nil
}

// githubTypes are the Provider types that authenticate to GitHub, with a token or as a GitHub App.
var githubTypes = map[string]bool{
	notificationv1beta3.GitHubProvider:                   true,
	notificationv1beta3.GitHubDispatchProvider:           true,
	notificationv1beta3.GitHubPullRequestCommentProvider: true,
}

// gitRepo reads an owner/repository address and the token (or password) of a Git host provider.
func gitRepo(t target) (host, owner, repo, token string, err error) {
	token = t.Token
	if token == "" {
		token = t.Password
	}
	if token == "" {
		if githubTypes[t.Type] {
			return "", "", "", "", fmt.Errorf("%s needs a token or GitHub App data (%s, ...) in spec.secretRef", t.Type, githubapp.KeyAppID)
		}
		return "", "", "", "", fmt.Errorf("%s needs a token in spec.secretRef", t.Type)
	}
	host, id, err := repoAddress(t.Address)
	if err != nil {
		return "", "", "", "", err
	}
	if t.Type == notificationv1beta3.GitLabMergeRequestCommentProvider {
		return host, "", id, token, nil
	}
	owner, repo, ok := strings.Cut(id, "/")
	if !ok || strings.Contains(repo, "/") {
		return "", "", "", "", fmt.Errorf("the address must name owner/repository, not %q", id)
	}
	return host, owner, repo, token, nil
}

// commentAPI is how one Git host lists, edits and adds the comments of a change request.
type commentAPI struct {
	header         http.Header
	user, list     string
	edit           func(id int64) string
	create         string
	editMethod     string
	login          func([]byte) (string, error)
	parseComments  func([]byte) ([]hostComment, error)
	markerKeyLabel string
}

type hostComment struct {
	ID     int64
	Author string
	Body   string
}

// changeRequestComment comments on the pull (merge) request in the event's change_request metadata,
// once per Provider and object: Flux's comment carries a marker (<!-- flux-pr-comment-key:<provider
// uid>/<kind>/<namespace>/<name> -->, flux-mr-comment-key on GitLab), and a later event edits the
// comment with that marker that the token's user wrote instead of adding another. Events of objects
// without the annotation are not sent.
func changeRequestComment(t target, e Event) ([]request, error) {
	number, ok := e.Metadata[changeRequestKey]
	if !ok || number == "" {
		return nil, errSkip
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("invalid %q metadata value %q: want the pull request number", changeRequestKey, number)
	}
	host, owner, repo, token, err := gitRepo(t)
	if err != nil {
		return nil, err
	}
	api := commentAPI{header: http.Header{}, markerKeyLabel: "flux-pr-comment-key"}
	api.header.Set("Content-Type", "application/json")
	switch t.Type {
	case notificationv1beta3.GitHubPullRequestCommentProvider:
		base := githubAPI(host)
		api.header.Set("Authorization", "Bearer "+token)
		api.header.Set("Accept", "application/vnd.github+json")
		api.user = base + "/user"
		api.list = withQuery(fmt.Sprintf("%s/repos/%s/%s/issues/%d/comments", base, owner, repo, n),
			url.Values{"sort": {"created"}, "direction": {"asc"}, "per_page": {"100"}})
		api.edit = func(id int64) string { return fmt.Sprintf("%s/repos/%s/%s/issues/comments/%d", base, owner, repo, id) }
		api.create = fmt.Sprintf("%s/repos/%s/%s/issues/%d/comments", base, owner, repo, n)
		api.editMethod = http.MethodPatch
		api.login = loginField("login")
		api.parseComments = issueComments
	case notificationv1beta3.GiteaPullRequestCommentProvider:
		base := host + "/api/v1"
		api.header.Set("Authorization", "token "+token)
		api.user = base + "/user"
		api.list = withQuery(fmt.Sprintf("%s/repos/%s/%s/issues/%d/comments", base, owner, repo, n), url.Values{"page": {"1"}, "limit": {"100"}})
		api.edit = func(id int64) string { return fmt.Sprintf("%s/repos/%s/%s/issues/comments/%d", base, owner, repo, id) }
		api.create = fmt.Sprintf("%s/repos/%s/%s/issues/%d/comments", base, owner, repo, n)
		api.editMethod = http.MethodPatch
		api.login = loginField("login")
		api.parseComments = issueComments
	default: // gitlabmergerequestcomment
		base := fmt.Sprintf("%s/api/v4/projects/%s/merge_requests/%d/notes", host, url.PathEscape(repo), n)
		api.markerKeyLabel = "flux-mr-comment-key"
		api.header.Set("PRIVATE-TOKEN", token)
		api.user = host + "/api/v4/user"
		api.list = withQuery(base, url.Values{"sort": {"asc"}, "order_by": {"created_at"}, "per_page": {"100"}})
		api.edit = func(id int64) string { return fmt.Sprintf("%s/%d", base, id) }
		api.create = base
		api.editMethod = http.MethodPut
		api.login = loginField("username")
		api.parseComments = func(b []byte) ([]hostComment, error) {
			var list []struct {
				ID     int64  `json:"id"`
				Body   string `json:"body"`
				Author struct {
					Username string `json:"username"`
				} `json:"author"`
			}
			err := json.Unmarshal(b, &list)
			out := make([]hostComment, 0, len(list))
			for _, c := range list {
				out = append(out, hostComment{ID: c.ID, Author: c.Author.Username, Body: c.Body})
			}
			return out, err
		}
	}
	marker := fmt.Sprintf("<!-- %s:%s/%s/%s/%s -->", api.markerKeyLabel, t.ProviderUID, e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the marker is an HTML comment, sent as is (as Git hosts' clients do)
	if err := enc.Encode(map[string]string{"body": marker + "\n\n" + statusMarkdown(e)}); err != nil {
		return nil, err
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	r := request{Method: http.MethodPost, URL: api.create, Header: api.header, Body: body}
	r.build = func(get func(string) ([]byte, error)) (request, error) {
		login := t.Login
		if login == "" {
			b, err := get(api.user)
			if err != nil {
				return request{}, fmt.Errorf("failed to get authenticated user info: %w", err)
			}
			if login, err = api.login(b); err != nil {
				return request{}, err
			}
		}
		b, err := get(api.list)
		if err != nil {
			return request{}, fmt.Errorf("failed to list comments: %w", err)
		}
		comments, err := api.parseComments(b)
		if err != nil {
			return request{}, fmt.Errorf("failed to list comments: %w", err)
		}
		out := request{Method: http.MethodPost, URL: api.create, Header: api.header, Body: body}
		for _, c := range comments {
			if c.Author == login && strings.Contains(c.Body, marker) {
				out.Method, out.URL = api.editMethod, api.edit(c.ID)
				break
			}
		}
		return out, nil
	}
	return []request{r}, nil
}

// loginField reads the user name from a host's /user answer.
func loginField(field string) func([]byte) (string, error) {
	return func(b []byte) (string, error) {
		var u map[string]any
		if err := json.Unmarshal(b, &u); err != nil {
			return "", fmt.Errorf("failed to get authenticated user info: %w", err)
		}
		login, _ := u[field].(string)
		if login == "" {
			return "", errors.New("failed to get authenticated user info: no " + field)
		}
		return login, nil
	}
}

// issueComments parses the comments of a GitHub or Gitea issue (pull requests are issues there); a comment
// without a user (a deleted account) is nobody's, so never ours to edit.
func issueComments(b []byte) ([]hostComment, error) {
	var list []struct {
		ID   int64  `json:"id"`
		Body string `json:"body"`
		User *struct {
			Login string `json:"login"`
		} `json:"user"`
	}
	err := json.Unmarshal(b, &list)
	out := make([]hostComment, 0, len(list))
	for _, c := range list {
		if c.User != nil {
			out = append(out, hostComment{ID: c.ID, Author: c.User.Login, Body: c.Body})
		}
	}
	return out, err
}
