package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// bitbucketRepoPath is the REST path of a Bitbucket Server repository.
func bitbucketRepoPath(repo *Repository) string {
	return "/rest/api/1.0/projects/" + url.PathEscape(repo.projectKey) + "/repos/" + url.PathEscape(repo.slug)
}

// ensureBitbucketRepository finds or creates a repository of the project Owner (the user's personal
// project ~Owner when Personal). Bitbucket Server creates repositories empty.
func (p *Provider) ensureBitbucketRepository(ctx context.Context, o RepositoryOptions) (*Repository, error) {
	key := o.Owner
	if o.Personal {
		key = "~" + o.Owner
	}
	full := key + "/" + o.Name
	var r struct {
		ID      int64  `json:"id"`
		Slug    string `json:"slug"`
		Public  bool   `json:"public"`
		Project struct {
			Key string `json:"key"`
		} `json:"project"`
		Links struct {
			Clone []struct {
				Href string `json:"href"`
				Name string `json:"name"`
			} `json:"clone"`
		} `json:"links"`
	}
	base := "/rest/api/1.0/projects/" + url.PathEscape(key) + "/repos"
	// Bitbucket Server's slug of a name is the name lower-cased.
	err := p.do(ctx, http.MethodGet, base+"/"+url.PathEscape(strings.ToLower(o.Name)), nil, &r)
	created := false
	if isNotFound(err) {
		err = p.do(ctx, http.MethodPost, base, map[string]any{"name": o.Name, "scmId": "git", "public": !o.Private}, &r)
		if !o.Personal && isNotFound(err) {
			err = fmt.Errorf("project %s not found, or the token cannot see it (for a user's repository, bootstrap it as personal): %w", key, err)
		}
		created = true
	}
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", full, err)
	}
	repo := &Repository{ID: fmt.Sprint(r.ID), Created: created, Visibility: visibilityOf(!r.Public), projectKey: r.Project.Key, slug: r.Slug}
	if repo.projectKey == "" {
		repo.projectKey = key
	}
	for _, l := range r.Links.Clone {
		switch l.Name {
		case "ssh":
			repo.SSHURL = l.Href
		case "http", "https":
			u, err := url.Parse(l.Href)
			if err != nil {
				return nil, fmt.Errorf("repository %s: clone link %q: %w", full, l.Href, err)
			}
			u.User = nil // Bitbucket puts the token's user in the link; the push names its own
			repo.CloneURL = u.String()
		}
	}
	if repo.CloneURL == "" || repo.slug == "" {
		return nil, fmt.Errorf("repository %s: the answer has no slug or HTTP clone link", full)
	}
	return repo, nil
}

// ensureBitbucketAccessKey registers publicKey as an access key of the repository (REPO_READ, or
// REPO_WRITE when readWrite) unless it is one already.
func (p *Provider) ensureBitbucketAccessKey(ctx context.Context, repo *Repository, title, publicKey string, readWrite bool) (bool, error) {
	path := "/rest/keys/1.0/projects/" + url.PathEscape(repo.projectKey) + "/repos/" + url.PathEscape(repo.slug) + "/ssh"
	want := keyMaterial(publicKey)
	// A server that ignores the start parameter must not loop forever: at most maxPages pages.
	const limit, maxPages = 100, 100
	start, found := 0, false
	for page := 0; ; page++ {
		if page == maxPages {
			return false, fmt.Errorf("listing access keys: %s: more than %d pages", path, maxPages)
		}
		var keys struct {
			Values []struct {
				Key struct {
					Text string `json:"text"`
				} `json:"key"`
			} `json:"values"`
			IsLastPage    bool `json:"isLastPage"`
			NextPageStart int  `json:"nextPageStart"`
		}
		if err := p.do(ctx, http.MethodGet, fmt.Sprintf("%s?start=%d&limit=%d", path, start, limit), nil, &keys); err != nil {
			return false, fmt.Errorf("listing access keys: %w", err)
		}
		for _, k := range keys.Values {
			found = found || keyMaterial(k.Key.Text) == want
		}
		if found || keys.IsLastPage {
			break
		}
		if keys.NextPageStart <= start {
			return false, errors.New("listing access keys: the server's nextPageStart does not advance")
		}
		start = keys.NextPageStart
	}
	if found {
		return false, nil
	}
	perm := "REPO_READ"
	if readWrite {
		perm = "REPO_WRITE"
	}
	body := map[string]any{"key": map[string]any{"text": strings.TrimSpace(publicKey), "label": title}, "permission": perm}
	if err := p.do(ctx, http.MethodPost, path, body, nil); err != nil {
		return false, fmt.Errorf("adding access key %q: %w", title, err)
	}
	return true, nil
}
