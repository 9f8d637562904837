package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/engine/kube"
)

// TeamPermissions are the permissions a team can be granted, as Flux names them.
var TeamPermissions = []string{"pull", "triage", "push", "maintain", "admin"}

// DefaultTeamPermission is what a team is granted when no permission is given: maintain, push on
// Bitbucket Server (as Flux).
func DefaultTeamPermission(kind ProviderKind) string {
	if kind == BitbucketServer {
		return "push"
	}
	return "maintain"
}

// gitLabAccessLevels are GitLab's access levels of the team permissions.
var gitLabAccessLevels = map[string]int{"pull": 10, "triage": 20, "push": 30, "maintain": 40, "admin": 50}

// bitbucketPermissions are Bitbucket Server's repository permissions of the team permissions it has.
var bitbucketPermissions = map[string]string{"pull": "REPO_READ", "push": "REPO_WRITE", "admin": "REPO_ADMIN"}

// ValidateTeams checks team names and permissions ("" is DefaultTeamPermission) for the provider.
func ValidateTeams(kind ProviderKind, teams map[string]string) error {
	for name, perm := range teams {
		if name == "" || strings.ContainsAny(name, " ?#") {
			return fmt.Errorf("team %q: not a team name", name)
		}
		if perm == "" {
			continue
		}
		if !slices.Contains(TeamPermissions, perm) {
			return fmt.Errorf("team %s: unknown permission %q, want one of %s", name, perm, strings.Join(TeamPermissions, ", "))
		}
		if _, ok := bitbucketPermissions[perm]; kind == BitbucketServer && !ok {
			return fmt.Errorf("group %s: Bitbucket Server has no %q permission, want pull, push or admin", name, perm)
		}
	}
	return nil
}

// EnsureTeams grants teams (name to permission, "" the default) access to an organization's repository;
// a team that already has access keeps its permission unless update. It returns the grants it made
// ("team (permission)") and warnings. Endpoints: GitHub GET and PUT /orgs/{org}/teams/{team}/repos/
// {owner}/{repo}; Gitea GET and PUT /repos/{owner}/{repo}/teams/{team}; GitLab GET /groups/{path},
// POST /projects/{id}/share (DELETE /projects/{id}/share/{group} to change a level); Bitbucket Server
// GET and PUT /rest/api/1.0/projects/{key}/repos/{slug}/permissions/groups.
func (p *Provider) EnsureTeams(ctx context.Context, o RepositoryOptions, repo *Repository, teams map[string]string, update bool) (granted, warnings []string, err error) {
	if o.Personal {
		return nil, nil, fmt.Errorf("teams are granted access to an organization's repository, and %s/%s is personal", o.Owner, o.Name)
	}
	if err := ValidateTeams(p.Kind, teams); err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(teams))
	for n := range teams {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		perm := teams[name]
		if perm == "" {
			perm = DefaultTeamPermission(p.Kind)
		}
		done, warning, err := p.grantTeam(ctx, o, repo, name, perm, teams[name] != "", update)
		if err != nil {
			return granted, warnings, fmt.Errorf("granting team %s %s access to %s/%s: %w", name, perm, o.Owner, o.Name, err)
		}
		if warning != "" {
			warnings = append(warnings, warning)
		}
		if done {
			granted = append(granted, name+" ("+perm+")")
		}
	}
	return granted, warnings, nil
}

func (p *Provider) grantTeam(ctx context.Context, o RepositoryOptions, repo *Repository, name, perm string, explicit, update bool) (bool, string, error) {
	esc := url.PathEscape
	switch p.Kind {
	case GitHub:
		path := "/orgs/" + esc(o.Owner) + "/teams/" + esc(name) + "/repos/" + esc(o.Owner) + "/" + esc(o.Name)
		if !update {
			if err := p.do(ctx, http.MethodGet, path, nil, nil); err == nil {
				return false, "", nil
			} else if !isNotFound(err) {
				return false, "", err
			}
		}
		return true, "", p.do(ctx, http.MethodPut, path, map[string]any{"permission": perm}, nil)
	case Gitea:
		path := "/repos/" + esc(o.Owner) + "/" + esc(o.Name) + "/teams/" + esc(name)
		warning := ""
		if explicit {
			warning = fmt.Sprintf("team %s: Gitea gives a team the permission set on the team, not %q", name, perm)
		}
		if err := p.do(ctx, http.MethodGet, path, nil, nil); err == nil {
			return false, warning, nil
		} else if !isNotFound(err) {
			return false, warning, err
		}
		return true, warning, p.do(ctx, http.MethodPut, path, nil, nil)
	case GitLab:
		want := gitLabAccessLevels[perm]
		if level, ok := repo.sharedGroups[name]; ok && (!update || level == want) {
			return false, "", nil
		}
		var g struct {
			ID       int64  `json:"id"`
			FullPath string `json:"full_path"`
		}
		if err := p.do(ctx, http.MethodGet, "/groups/"+esc(name), nil, &g); err != nil {
			return false, "", err
		}
		if _, ok := repo.sharedGroups[g.FullPath]; ok {
			if err := p.do(ctx, http.MethodDelete, fmt.Sprintf("/projects/%s/share/%d", repo.ID, g.ID), nil, nil); err != nil {
				return false, "", err
			}
		}
		if err := p.do(ctx, http.MethodPost, "/projects/"+repo.ID+"/share", map[string]any{"group_id": g.ID, "group_access": want}, nil); err != nil {
			return false, "", err
		}
		repo.sharedGroups[g.FullPath] = want
		return true, "", nil
	case BitbucketServer:
		want := bitbucketPermissions[perm]
		path := bitbucketRepoPath(repo) + "/permissions/groups"
		var page struct {
			Values []struct {
				Group struct {
					Name string `json:"name"`
				} `json:"group"`
				Permission string `json:"permission"`
			} `json:"values"`
		}
		if err := p.do(ctx, http.MethodGet, path+"?filter="+url.QueryEscape(name), nil, &page); err != nil {
			return false, "", err
		}
		for _, v := range page.Values {
			if v.Group.Name == name && (!update || v.Permission == want) {
				return false, "", nil
			}
		}
		return true, "", p.do(ctx, http.MethodPut, path+"?permission="+want+"&name="+url.QueryEscape(name), nil, nil)
	}
	return false, "", fmt.Errorf("provider %s has no teams", p.Kind)
}

// ReconcileRepository sets an existing repository's visibility to the asked one (o.Private, GitLab's
// o.Visibility) and reports whether it changed it. Endpoints: GitHub and Gitea PATCH /repos/{owner}/
// {repo}, GitLab PUT /projects/{id}, Bitbucket Server PUT /rest/api/1.0/projects/{key}/repos/{slug}.
func (p *Provider) ReconcileRepository(ctx context.Context, o RepositoryOptions, repo *Repository) (bool, error) {
	want := o.visibility()
	if p.Kind != GitLab && want == "internal" {
		return false, fmt.Errorf("%s repositories are public or private, not internal", p.Kind)
	}
	if repo.Visibility == want {
		return false, nil
	}
	var err error
	switch p.Kind {
	case GitHub, Gitea:
		err = p.do(ctx, http.MethodPatch, "/repos/"+url.PathEscape(o.Owner)+"/"+url.PathEscape(o.Name), map[string]any{"private": want == "private"}, nil)
	case GitLab:
		err = p.do(ctx, http.MethodPut, "/projects/"+repo.ID, map[string]any{"visibility": want}, nil)
	case BitbucketServer:
		err = p.do(ctx, http.MethodPut, bitbucketRepoPath(repo), map[string]any{"public": want == "public"}, nil)
	}
	if err != nil {
		return false, fmt.Errorf("reconciling repository %s/%s (visibility %s): %w", o.Owner, o.Name, want, err)
	}
	repo.Visibility = want
	return true, nil
}

// gitLabDeployTokenUser starts the usernames GitLab gives deploy tokens.
const gitLabDeployTokenUser = "gitlab+deploy-token"

// deployTokenCredentials returns the cluster's credentials for a GitLab deploy token sync: none (Run
// keeps the Secret) when the Secret already holds a deploy token, else a new project deploy token
// (read_repository) from POST /projects/{id}/deploy_tokens.
func (p *Provider) deployTokenCredentials(ctx context.Context, clients *kube.Clients, repo *Repository, opts Options) (Credentials, error) {
	if p.Kind != GitLab {
		return Credentials{}, fmt.Errorf("deploy tokens are GitLab's, not %s's", p.Kind)
	}
	opts.defaults()
	ns := opts.Install.Namespace
	s, err := clients.Core.CoreV1().Secrets(ns).Get(ctx, opts.SecretName, metav1.GetOptions{})
	switch {
	case err == nil:
		if strings.HasPrefix(string(s.Data[SecretUsername]), gitLabDeployTokenUser) && len(s.Data[SecretPassword]) > 0 {
			return Credentials{}, nil
		}
	case !apierrors.IsNotFound(err):
		return Credentials{}, fmt.Errorf("reading Secret %s/%s: %w", ns, opts.SecretName, err)
	}
	name := "converge-" + ns
	var t struct {
		Username string `json:"username"`
		Token    string `json:"token"`
	}
	if err := p.do(ctx, http.MethodPost, "/projects/"+repo.ID+"/deploy_tokens", map[string]any{"name": name, "scopes": []string{"read_repository"}}, &t); err != nil {
		return Credentials{}, fmt.Errorf("creating deploy token %s: %w", name, err)
	}
	if t.Username == "" || t.Token == "" {
		return Credentials{}, errors.New("creating deploy token " + name + ": the answer has no username or token")
	}
	opts.event(EventSuccess, "deploy token %s (%s) created", name, t.Username)
	return Credentials{Username: t.Username, Password: t.Token}, nil
}
