//go:build linux

package node

import (
	"strings"
	"testing"
)

func TestUnescapeMount(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/run/netns/cni-1", "/run/netns/cni-1"},
		{`/tmp/with\040space`, "/tmp/with space"},
		{`/tmp/tab\011and\134slash`, "/tmp/tab\tand\\slash"},
		{`/tmp/not\0octal`, `/tmp/not\0octal`},
		{`/tmp/trailing\`, `/tmp/trailing\`},
		{`\040`, " "},
	} {
		if got := unescapeMount(tc.in); got != tc.want {
			t.Errorf("unescapeMount(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzUnescapeMount(f *testing.F) {
	for _, s := range []string{"/a", `/a\040b`, `\`, `\12`, `\777`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := unescapeMount(s)
		if !strings.Contains(s, `\`) && got != s {
			t.Errorf("unescapeMount(%q) = %q, want it unchanged", s, got)
		}
		if len(got) > len(s) {
			t.Errorf("unescapeMount(%q) = %q, longer than its input", s, got)
		}
	})
}
