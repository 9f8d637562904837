package git

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// parseRemoteURL checks spec.url: http://, https:// or ssh:// with a host and a path. An scp-like address
// (user@host:path) is refused with the ssh:// spelling to use instead, as Flux does.
func parseRemoteURL(raw string) (*url.URL, error) {
	if host, p, user, ok := splitSCPLike(raw); ok {
		suggestion := "ssh://"
		if user != "" {
			suggestion += user + "@"
		}
		suggestion += host + "/" + strings.TrimPrefix(p, "/")
		return nil, fmt.Errorf("scp-like address %q is not supported: write it as %s", raw, suggestion)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "https", "ssh":
	case "":
		return nil, fmt.Errorf("invalid URL %q: no scheme, expected http://, https:// or ssh://", raw)
	default:
		return nil, fmt.Errorf("invalid URL %q: scheme %q is not supported, expected http, https or ssh", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("invalid URL %q: no host", raw)
	}
	if strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("invalid URL %q: no repository path", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid URL %q: query and fragment are not allowed", raw)
	}
	return u, nil
}

// redactURL returns u without its password, for messages.
func redactURL(u *url.URL) string {
	return u.Redacted()
}

// splitSCPLike recognises git's scp-like syntax [user@]host:path (no "://", no slash before the colon).
func splitSCPLike(raw string) (host, p, user string, ok bool) {
	if strings.Contains(raw, "://") {
		return "", "", "", false
	}
	colon := strings.IndexByte(raw, ':')
	if colon <= 0 {
		return "", "", "", false
	}
	before := raw[:colon]
	if strings.ContainsAny(before, "/\\ ") {
		return "", "", "", false
	}
	if at := strings.LastIndexByte(before, '@'); at >= 0 {
		user, before = before[:at], before[at+1:]
	}
	switch strings.ToLower(before) {
	case "", "http", "https", "ssh", "git", "file":
		return "", "", "", false
	}
	return before, raw[colon+1:], user, true
}

// remoteKey is a Git remote address reduced to what identifies the repository.
type remoteKey struct {
	scheme string // "http", "https", "ssh", "git" or "file"
	host   string // lower case, no default port
	port   string // "" for the scheme's default
	path   string // leading slash, no trailing slash, no ".git" suffix
}

var defaultPorts = map[string]string{"http": "80", "https": "443", "ssh": "22", "git": "9418"}

// normaliseRemote parses the forms Git accepts for a remote: scheme://[user@]host[:port]/path,
// [user@]host:path (scp-like) and local paths.
func normaliseRemote(raw string) (remoteKey, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return remoteKey{}, false
	}
	var k remoteKey
	switch {
	case strings.Contains(raw, "://"):
		u, err := url.Parse(raw)
		if err != nil {
			return remoteKey{}, false
		}
		k.scheme = strings.ToLower(u.Scheme)
		switch k.scheme {
		case "git+ssh", "ssh+git":
			k.scheme = "ssh"
		case "http", "https", "ssh", "git", "file":
		default:
			return remoteKey{}, false
		}
		k.host = strings.ToLower(u.Hostname())
		k.port = u.Port()
		k.path = u.Path
		if k.scheme != "file" && k.host == "" {
			return remoteKey{}, false
		}
	default:
		if host, p, _, ok := splitSCPLike(raw); ok {
			k.scheme, k.host, k.path = "ssh", strings.ToLower(host), p
		} else {
			k.scheme, k.path = "file", raw
		}
	}
	if k.port == defaultPorts[k.scheme] {
		k.port = ""
	}
	// "host:org/repo" and "ssh://host/org/repo" name the same repository, as do "host:~u/r" and "ssh://host/~u/r".
	p := path.Clean("/" + strings.TrimLeft(k.path, "/"))
	p = strings.TrimSuffix(p, ".git")
	p = strings.TrimRight(p, "/")
	if p == "" {
		p = "/"
	}
	k.path = p
	return k, true
}

// MatchURL reports whether two Git remote addresses name the same repository. Scheme spellings
// (https://, ssh://, git@host:path), a ".git" suffix, the user, default ports and trailing slashes are
// ignored; hosts compare case-insensitively, paths case-sensitively. Explicit ports are compared only
// between addresses of the same scheme, since one server often listens for SSH and HTTPS on different ports.
func MatchURL(a, b string) bool {
	ka, okA := normaliseRemote(a)
	kb, okB := normaliseRemote(b)
	if !okA || !okB {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	if (ka.scheme == "file") != (kb.scheme == "file") {
		return false
	}
	if ka.host != kb.host || ka.path != kb.path {
		return false
	}
	if ka.scheme == kb.scheme && ka.port != kb.port {
		return false
	}
	return true
}

// resolveSubmoduleURL resolves a .gitmodules url against the URL of the superproject, the way Git does for
// "./" and "../" prefixes; absolute URLs are returned parsed.
func resolveSubmoduleURL(parent *url.URL, raw string) (*url.URL, error) {
	if !strings.HasPrefix(raw, "./") && !strings.HasPrefix(raw, "../") {
		return parseRemoteURL(raw)
	}
	base := strings.TrimRight(parent.Path, "/")
	rest := raw
	for {
		switch {
		case strings.HasPrefix(rest, "./"):
			rest = rest[2:]
			continue
		case strings.HasPrefix(rest, "../"):
			rest = rest[3:]
			i := strings.LastIndexByte(base, '/')
			if i < 0 {
				return nil, fmt.Errorf("submodule URL %q goes above the root of %s", raw, redactURL(parent))
			}
			base = base[:i]
			continue
		}
		break
	}
	u := *parent
	u.Path = base + "/" + rest
	u.RawPath = ""
	return parseRemoteURL(u.String())
}
