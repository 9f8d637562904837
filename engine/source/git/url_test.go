package git

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

func TestMatchURL(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://github.com/org/repo", "https://github.com/org/repo", true},
		{"https://github.com/org/repo.git", "https://github.com/org/repo", true},
		{"https://github.com/org/repo/", "https://github.com/org/repo.git", true},
		{"https://GitHub.com/org/repo", "https://github.com/org/repo", true},
		{"git@github.com:org/repo.git", "https://github.com/org/repo", true},
		{"git@github.com:org/repo.git", "ssh://git@github.com/org/repo", true},
		{"ssh://git@github.com:22/org/repo.git", "git@github.com:org/repo", true},
		{"ssh://git@ssh.github.com:443/org/repo.git", "https://ssh.github.com/org/repo", true},
		{"https://user:token@github.com/org/repo", "https://github.com/org/repo", true},
		{"https://github.com:443/org/repo", "https://github.com/org/repo", true},
		{"http://git.local:8080/org/repo", "http://git.local:9090/org/repo", false},
		{"git+ssh://git@host/org/repo", "git@host:org/repo", true},
		{"git://host/org/repo", "https://host/org/repo.git", true},
		{"https://github.com/org/Repo", "https://github.com/org/repo", false},
		{"https://github.com/org/repo", "https://github.com/org/other", false},
		{"https://github.com/org/repo", "https://gitlab.com/org/repo", false},
		{"https://github.com/org/repo", "https://github.com/org/repo/sub", false},
		{"ssh://git@host/~user/repo", "git@host:~user/repo", true},
		{"/srv/git/repo.git", "file:///srv/git/repo", true},
		{"/srv/git/repo.git", "https://srv/git/repo", false},
		{"", "", true},
		{"not a url", "not a url", true},
		{"not a url", "https://github.com/org/repo", false},
	}
	for _, tt := range tests {
		if got := MatchURL(tt.a, tt.b); got != tt.want {
			t.Errorf("MatchURL(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := MatchURL(tt.b, tt.a); got != tt.want {
			t.Errorf("MatchURL(%q, %q) = %v, want %v (reversed)", tt.b, tt.a, got, tt.want)
		}
	}
}

func FuzzMatchURL(f *testing.F) {
	for _, s := range [][2]string{
		{"https://github.com/org/repo.git", "git@github.com:org/repo"},
		{"ssh://git@host:2222/x", "http://host/x/"},
		{"/srv/repo", "file:///srv/repo"},
		{"git@[::1]:repo", "ssh://[::1]/repo"},
		{"https://%zz", ":"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !MatchURL(a, a) {
			t.Errorf("MatchURL(%q, itself) = false", a)
		}
		if MatchURL(a, b) != MatchURL(b, a) {
			t.Errorf("MatchURL(%q, %q) is not symmetric", a, b)
		}
		if k, ok := normaliseRemote(a); ok {
			if !strings.HasPrefix(k.path, "/") || (len(k.path) > 1 && strings.HasSuffix(k.path, "/")) {
				t.Errorf("normaliseRemote(%q).path = %q", a, k.path)
			}
		}
	})
}

func TestParseRemoteURL(t *testing.T) {
	tests := []struct {
		in  string
		err string // "" for valid
	}{
		{"https://github.com/org/repo", ""},
		{"http://127.0.0.1:8080/repo.git", ""},
		{"ssh://git@github.com/org/repo.git", ""},
		{"ssh://git@github.com:2222/org/repo.git", ""},
		{"git@github.com:org/repo.git", "write it as ssh://git@github.com/org/repo.git"},
		{"github.com:org/repo.git", "write it as ssh://github.com/org/repo.git"},
		{"user@host:/abs/repo", "write it as ssh://user@host/abs/repo"},
		{"git://host/repo", `scheme "git" is not supported`},
		{"file:///srv/repo", `scheme "file" is not supported`},
		{"/srv/repo", "no scheme"},
		{"https:///repo", "no host"},
		{"https://host", "no repository path"},
		{"https://host/repo?x=1", "query and fragment are not allowed"},
		{"https://host/%zz", "invalid URL"},
	}
	for _, tt := range tests {
		_, err := parseRemoteURL(tt.in)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("parseRemoteURL(%q): %v", tt.in, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("parseRemoteURL(%q) = %v, want error containing %q", tt.in, err, tt.err)
		}
	}
}

func TestResolveSubmoduleURL(t *testing.T) {
	parent, _ := url.Parse("https://host/org/main.git")
	tests := []struct {
		in, want, err string
	}{
		{"../sub.git", "https://host/org/sub.git", ""},
		{"../../other/sub", "https://host/other/sub", ""},
		{"./nested", "https://host/org/main.git/nested", ""},
		{"ssh://git@host/x.git", "ssh://git@host/x.git", ""},
		{"../../../../x", "", "goes above the root"},
		{"file:///etc", "", "not supported"},
		{"ext::sh -c evil", "", "not supported"},
	}
	for _, tt := range tests {
		got, err := resolveSubmoduleURL(parent, tt.in)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("resolveSubmoduleURL(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
		case err != nil || got.String() != tt.want:
			t.Errorf("resolveSubmoduleURL(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// FuzzPaths checks that paths taken from a spec (sparse folders, include paths, submodule URLs) never
// leave their root.
func FuzzPaths(f *testing.F) {
	for _, s := range []string{"charts", "a/../../b", "/abs", "..", "./x/", `a\..\..`, "x/./y//z", ""} {
		f.Add(s)
	}
	parent, _ := url.Parse("https://host/org/main.git")
	f.Fuzz(func(t *testing.T, p string) {
		if dirs, err := cleanSparse([]string{p}); err == nil {
			for _, d := range dirs {
				if !filepath.IsLocal(d) || strings.HasPrefix(d, "/") {
					t.Errorf("cleanSparse(%q) = %q", p, d)
				}
			}
		}
		for _, rootOK := range []bool{true, false} {
			if c, err := includePath(p, rootOK); err == nil && c != "." && !filepath.IsLocal(c) {
				t.Errorf("includePath(%q) = %q", p, c)
			}
		}
		if u, err := resolveSubmoduleURL(parent, p); err == nil {
			if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ssh" {
				t.Errorf("resolveSubmoduleURL(%q) = %v", p, u)
			}
		}
	})
}
