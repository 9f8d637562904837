package notify

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/crds/meta"
	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
	"github.com/converge-gitops/converge/engine/health"
)

// commitStatusProviders are the Provider types whose spec.commitStatusExpr is used.
var commitStatusProviders = map[string]bool{
	notificationv1beta3.GitHubProvider: true, notificationv1beta3.GitLabProvider: true,
	notificationv1beta3.GiteaProvider: true, notificationv1beta3.BitbucketProvider: true,
	notificationv1beta3.AzureDevOpsProvider: true, notificationv1beta3.BitbucketServerProvider: true,
}

// statusExpr is a Provider generation's compiled spec.commitStatusExpr, or why it does not compile.
type statusExpr struct {
	prog cel.Program
	err  error
}

// compileStatusExpr compiles a commitStatusExpr as Flux does: a CEL expression over the variables
// event, alert and provider (objects as their JSON fields) with Flux's CEL options (strings, sets,
// encoders, optional types) that returns a string.
func compileStatusExpr(expr string) (cel.Program, error) {
	return health.CompileExpr(expr, types.StringType, "event", "alert", "provider")
}

// statusProgram returns p's compiled commitStatusExpr, compiling it once per Provider generation.
func (n *Notifier) statusProgram(p *notificationv1beta3.Provider) (cel.Program, error) {
	key := fmt.Sprintf("%s/%d/%s", p.UID, p.Generation, p.Spec.CommitStatusExpr)
	if p.UID == "" {
		key = fmt.Sprintf("%s/%s/%d/%s", p.Namespace, p.Name, p.Generation, p.Spec.CommitStatusExpr)
	}
	n.mu.Lock()
	c, ok := n.statusExprs[key]
	n.mu.Unlock()
	if !ok {
		prog, err := compileStatusExpr(p.Spec.CommitStatusExpr)
		c = &statusExpr{prog: prog, err: err}
		n.mu.Lock()
		if len(n.statusExprs) > 4096 {
			clear(n.statusExprs)
		}
		n.statusExprs[key] = c
		n.mu.Unlock()
	}
	if c.err != nil {
		return nil, fmt.Errorf("invalid spec.commitStatusExpr %q: %w", p.Spec.CommitStatusExpr, c.err)
	}
	return c.prog, nil
}

// commitStatusName returns the commit status context (key) p uses for e: its commitStatusExpr evaluated
// over the event, the Alert and the Provider, else Flux's default (kind/name/<provider uid prefix>).
// Other Provider types have none.
func (n *Notifier) commitStatusName(ctx context.Context, p *notificationv1beta3.Provider, alert *notificationv1beta3.Alert, e Event) (string, error) {
	if !commitStatusProviders[p.Spec.Type] {
		return "", nil
	}
	if p.Spec.CommitStatusExpr == "" {
		return commitStatusID(string(p.UID), e), nil
	}
	prog, err := n.statusProgram(p)
	if err != nil {
		return "", err
	}
	vars := map[string]any{}
	for name, obj := range map[string]any{"event": &e, "alert": alert, "provider": p} {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return "", fmt.Errorf("spec.commitStatusExpr: converting the %s: %w", name, err)
		}
		vars[name] = m
	}
	val, _, err := prog.ContextEval(ctx, vars)
	if err != nil {
		return "", fmt.Errorf("evaluating spec.commitStatusExpr %q: %w", p.Spec.CommitStatusExpr, err)
	}
	s, ok := val.(types.String)
	if !ok {
		return "", fmt.Errorf("spec.commitStatusExpr %q returned %s, not a string", p.Spec.CommitStatusExpr, val.Type().TypeName())
	}
	if s == "" {
		return "", fmt.Errorf("spec.commitStatusExpr %q returned an empty string", p.Spec.CommitStatusExpr)
	}
	return string(s), nil
}

// statusCheck is the read a commit status provider makes before setting a status (Flux's
// de-duplication): the POST is skipped when the answer shows the same status already set.
type statusCheck struct {
	URL    string
	Header http.Header
	// notFoundOK makes a 404 mean no status yet (Bitbucket's single status lookup); other non-2xx are errors.
	notFoundOK bool
	same       func(body []byte) (bool, error)
}

func getCheck(u string, from http.Header, same func([]byte) (bool, error)) *statusCheck {
	h := from.Clone()
	h.Del("Content-Type")
	return &statusCheck{URL: u, Header: h, same: same}
}

// githubSame: the newest status with the context decides (GitHub lists newest first); entries
// without context, state or description are passed over.
func githubSame(context, state, desc string) func([]byte) (bool, error) {
	return func(body []byte) (bool, error) {
		var list []struct {
			Context, State, Description *string
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return false, fmt.Errorf("could not list commit statuses: %w", err)
		}
		for _, s := range list {
			if s.Context == nil || s.State == nil || s.Description == nil {
				continue
			}
			if *s.Context == context {
				return *s.State == state && *s.Description == desc, nil
			}
		}
		return false, nil
	}
}

// giteaSame is githubSame over Gitea's list, where an empty field counts as missing.
func giteaSame(context, state, desc string) func([]byte) (bool, error) {
	return func(body []byte) (bool, error) {
		var list []struct {
			Context, State, Description string
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return false, fmt.Errorf("could not list commit statuses: %w", err)
		}
		for _, s := range list {
			if s.Context == "" || s.State == "" || s.Description == "" {
				continue
			}
			if s.Context == context {
				return s.State == state && s.Description == desc, nil
			}
		}
		return false, nil
	}
}

// gitlabSame: GitLab answers the latest status per name (the list is filtered by name), so any entry
// for the commit with the same name, state and description is the same status.
func gitlabSame(sha, name, state, desc string) func([]byte) (bool, error) {
	return func(body []byte) (bool, error) {
		var list []struct {
			SHA         string `json:"sha"`
			Name        string `json:"name"`
			Status      string `json:"status"`
			Description string `json:"description"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return false, fmt.Errorf("unable to list commit status: %w", err)
		}
		for _, s := range list {
			if s.SHA == sha && s.Status == state && s.Description == desc && s.Name == name {
				return true, nil
			}
		}
		return false, nil
	}
}

// bitbucketSame compares the status stored under the key.
func bitbucketSame(state, desc string) func([]byte) (bool, error) {
	return func(body []byte) (bool, error) {
		var s struct {
			State       string `json:"state"`
			Description string `json:"description"`
		}
		if err := json.Unmarshal(body, &s); err != nil {
			return false, fmt.Errorf("could not get commit status: %w", err)
		}
		return s.State == state && s.Description == desc, nil
	}
}

func withQuery(u string, q url.Values) string { return u + "?" + q.Encode() }

// azureDevOps sets the commit status of an Azure DevOps repository
// (https://dev.azure.com/<org>/<project>/_git/<repo>) with the personal access token: genre fluxcd
// (fluxcd:<summary> with an Alert summary), the context name the commit status ID, states succeeded
// and error. The commit's statuses are read first, as for the other hosts.
func azureDevOps(t target, e Event, sha string) ([]request, error) {
	if e.Reason == meta.ProgressingReason {
		return nil, errSkip
	}
	if t.Token == "" {
		return nil, errors.New("azuredevops needs a personal access token in spec.secretRef; workload identity (spec.serviceAccountName) is not supported by converge")
	}
	host, id, err := repoAddress(t.Address)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(id, "/")
	if len(parts) != 4 {
		return nil, fmt.Errorf("invalid repository id %q: the address must be https://<host>/<org>/<project>/_git/<repo>", id)
	}
	genre := "fluxcd"
	if s, ok := e.Metadata["summary"]; ok {
		genre += ":" + s
	}
	_, desc := describe(e)
	state := "succeeded"
	if e.Severity == "error" {
		state = "error"
	}
	statuses := fmt.Sprintf("%s/%s/%s/_apis/git/repositories/%s/commits/%s/statuses", host, parts[0], url.PathEscape(parts[1]), url.PathEscape(parts[3]), sha)
	req, err := jsonRequest(http.MethodPost, statuses, map[string]any{"state": state, "description": desc,
		"context": map[string]string{"genre": genre, "name": t.CommitStatus}})
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json;api-version=6.0")
	req.Header.Set("Authorization", "Basic "+basic("", t.Token))
	req.check = getCheck(statuses, req.Header, azureDevOpsSame(genre, t.CommitStatus, state, desc))
	return []request{req}, nil
}

// azureDevOpsSame: the first status with the genre and name decides.
func azureDevOpsSame(genre, name, state, desc string) func([]byte) (bool, error) {
	return func(body []byte) (bool, error) {
		var list struct {
			Value []struct {
				State, Description *string
				Context            *struct{ Name, Genre *string }
			} `json:"value"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return false, fmt.Errorf("could not list commit statuses: %w", err)
		}
		for _, s := range list.Value {
			if s.Context == nil || s.Context.Name == nil || s.Context.Genre == nil || s.State == nil || s.Description == nil {
				continue
			}
			if *s.Context.Name == name && *s.Context.Genre == genre {
				return *s.State == state && *s.Description == desc, nil
			}
		}
		return false, nil
	}
}

// bitbucketServer sets a build status on Bitbucket Server / Data Center through
// rest/api/latest/projects/<key>/repos/<slug>/commits/<sha>/builds of the clone URL's context path
// (https://host[/context]/scm/<key>/<slug>.git), with the token as Bearer or the username and password;
// the key is the SHA-1 of the commit status ID, the name `kind/name [description]`. The status under the
// key is read first.
func bitbucketServer(t target, e Event, sha string) ([]request, error) {
	if e.Reason == meta.ProgressingReason {
		return nil, errSkip
	}
	u, err := url.Parse(t.Address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, errors.New("bitbucketserver: the address must be the repository's http(s) clone URL")
	}
	p := strings.TrimSuffix(u.Path, ".git")
	i := strings.LastIndex(p, "/scm/")
	if i < 0 {
		return nil, errors.New("bitbucketserver: the address is not an http(s) clone URL (no /scm/)")
	}
	key, slug, ok := strings.Cut(p[i+len("/scm/"):], "/")
	if !ok || key == "" || slug == "" || strings.Contains(slug, "/") {
		return nil, fmt.Errorf("bitbucketserver: invalid repository id %q", p[i+len("/scm/"):])
	}
	if t.Token == "" && (t.Username == "" || t.Password == "") {
		return nil, errors.New("bitbucketserver needs a token, or a username and password, in spec.secretRef")
	}
	name, desc := describe(e)
	name += " [" + desc + "]"
	state := "SUCCESSFUL"
	if e.Severity == "error" {
		state = "FAILED"
	}
	statusKey := fmt.Sprintf("%x", sha1.Sum([]byte(t.CommitStatus)))
	builds := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: fmt.Sprintf("%s/rest/api/latest/projects/%s/repos/%s/commits/%s/builds", p[:i], key, slug, sha)}).String()
	req, err := jsonRequest(http.MethodPost, builds, struct {
		Description string `json:"description,omitempty"`
		Key         string `json:"key"`
		Name        string `json:"name,omitempty"`
		State       string `json:"state"`
		URL         string `json:"url"`
	}{desc, statusKey, name, state, t.Address})
	if err != nil {
		return nil, err
	}
	if t.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.Token)
	} else {
		req.Header.Set("Authorization", "Basic "+basic(t.Username, t.Password))
	}
	req.Header.Set("X-Atlassian-Token", "no-check")
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	req.check = getCheck(withQuery(builds, url.Values{"key": {statusKey}}), req.Header, func(body []byte) (bool, error) {
		var s struct{ Key, State, Description, Name string }
		if err := json.Unmarshal(body, &s); err != nil {
			return false, fmt.Errorf("could not get commit status: %w", err)
		}
		return s.Key == statusKey && s.State == state && s.Description == desc && s.Name == name, nil
	})
	req.check.notFoundOK = true
	return []request{req}, nil
}
