package generator

import (
	"fmt"
	"path"
	"strings"
)

// match reports whether the slash-separated name matches pattern: a segment "**" matches zero or more
// whole segments, any other segment is matched by path.Match (where '*' stays within one segment).
// pattern must have passed validGlob.
func match(pattern, name string) bool {
	return matchSegments(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for len(pat) > 1 && pat[1] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 1 {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if matchSegments(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// validGlob checks every segment's syntax.
func validGlob(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("empty pattern")
	}
	for _, seg := range strings.Split(pattern, "/") {
		if seg == "**" {
			continue
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("pattern %q: %w", pattern, err)
		}
	}
	return nil
}

func containsGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// literalPrefix returns the segments of pattern before the first one holding a glob character ("." if
// none).
func literalPrefix(pattern string) string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if containsGlob(seg) {
			break
		}
		out = append(out, seg)
	}
	if len(out) == 0 {
		return "."
	}
	return path.Join(out...)
}

// excluded applies a copy's exclude patterns to name (relative to the source root) as Flux does: each
// pattern is matched against name and against name relative to base (the literal prefix of from, or
// the folder copied); a pattern without '/' also matches the file name at any depth.
func excluded(name, base string, patterns []string) bool {
	if len(patterns) == 0 {
		return false
	}
	candidates := []string{name}
	if base != "." && base != "" {
		if rel, ok := strings.CutPrefix(name, base+"/"); ok {
			candidates = append(candidates, rel)
		}
	}
	file := path.Base(name)
	for _, p := range patterns {
		for _, c := range candidates {
			if match(p, c) {
				return true
			}
		}
		if !strings.Contains(p, "/") {
			if ok, _ := path.Match(p, file); ok {
				return true
			}
		}
	}
	return false
}
