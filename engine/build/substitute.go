package build

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// varNameRE is the form a substitution variable's name must have, as in Flux.
var varNameRE = regexp.MustCompile(`^[_[:alpha:]][_[:alpha:][:digit:]]*$`)

// ValidVarName reports whether name can be used as a substitution variable.
func ValidVarName(name string) bool { return varNameRE.MatchString(name) }

// SubstituteError is a failed substitution, located by byte offset in the input.
type SubstituteError struct {
	Offset int
	Expr   string
	Msg    string
}

func (e *SubstituteError) Error() string {
	return fmt.Sprintf("%s: %s", e.Expr, e.Msg)
}

// Substitute expands ${...} expressions in s with Flux's postBuild semantics (bash parameter expansion
// forms: ${var}, ${var:-default}, ${var:=default}, ${var-default}, ${var=default}, ${var:offset},
// ${var:offset:length}, ${#var}, ${var^}, ${var^^}, ${var,}, ${var,,}, ${var#pat}, ${var##pat},
// ${var%pat}, ${var%%pat}, ${var/pat/rep}, ${var//pat/rep}, ${var/#pat/rep}, ${var/%pat/rep}).
// "$$" is an escape that yields a literal "$" (so "$${" a literal "${"). A bare $var is left alone. With strict, a variable that
// is not set and has no default is an error; otherwise it expands to the empty string.
func Substitute(s string, lookup func(string) (string, bool), strict bool) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+j])
		i += j
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			// Flux's envsubst reads "$$" as an escaped "$" anywhere, not only before "{".
			b.WriteByte('$')
			i += 2
		case strings.HasPrefix(s[i:], "${"):
			end, err := matchBrace(s, i+2)
			if err != nil {
				return "", err
			}
			v, err := evalExpr(s[i+2:end], lookup, strict)
			if err != nil {
				if se, ok := err.(*SubstituteError); ok && se.Offset < 0 {
					se.Offset = i
				}
				return "", err
			}
			b.WriteString(v)
			i = end + 1
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), nil
}

// matchBrace returns the index of the '}' closing the expression whose body starts at start, allowing
// nested ${...} in defaults and replacements.
func matchBrace(s string, start int) (int, error) {
	depth := 0
	for i := start; i < len(s); i++ {
		switch {
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
			i++
		case s[i] == '}':
			if depth == 0 {
				return i, nil
			}
			depth--
		}
	}
	return 0, &SubstituteError{Offset: start - 2, Expr: clip(s[start-2:]), Msg: "missing closing brace"}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func evalExpr(body string, lookup func(string) (string, bool), strict bool) (string, error) {
	expr := "${" + body + "}"
	fail := func(format string, args ...any) error {
		return &SubstituteError{Offset: -1, Expr: expr, Msg: fmt.Sprintf(format, args...)}
	}
	if strings.HasPrefix(body, "#") && ValidVarName(body[1:]) {
		v, ok := lookup(body[1:])
		if !ok && strict {
			return "", fail("variable %q is not set", body[1:])
		}
		return strconv.Itoa(utf8.RuneCountInString(v)), nil
	}
	n := 0
	for n < len(body) && (body[n] == '_' || isAlnum(body[n])) {
		n++
	}
	name, op := body[:n], body[n:]
	if !ValidVarName(name) {
		return "", fail("bad substitution: %q is not a valid variable name", name)
	}
	val, set := lookup(name)
	expand := func(s string) (string, error) { return Substitute(s, lookup, strict) }
	unset := func() (string, error) {
		if strict {
			return "", fail("variable %q is not set", name)
		}
		return "", nil
	}

	switch {
	case op == "":
		if !set {
			return unset()
		}
		return val, nil
	case strings.HasPrefix(op, ":-"), strings.HasPrefix(op, ":="):
		if !set || val == "" {
			return expand(op[2:])
		}
		return val, nil
	case strings.HasPrefix(op, "-"), strings.HasPrefix(op, "="):
		if !set {
			return expand(op[1:])
		}
		return val, nil
	}
	if !set {
		return unset()
	}
	switch {
	case op == "^^":
		return strings.ToUpper(val), nil
	case op == ",,":
		return strings.ToLower(val), nil
	case op == "^" || op == ",":
		r, size := utf8.DecodeRuneInString(val)
		if size == 0 {
			return val, nil
		}
		first := strings.ToUpper(string(r))
		if op == "," {
			first = strings.ToLower(string(r))
		}
		return first + val[size:], nil
	case strings.HasPrefix(op, ":"):
		return substring(val, op[1:], fail)
	case strings.HasPrefix(op, "##"), strings.HasPrefix(op, "#"):
		longest := strings.HasPrefix(op, "##")
		pat, err := expand(op[len(prefixOf(op, "#")):])
		if err != nil {
			return "", err
		}
		return trimPrefixGlob(val, pat, longest), nil
	case strings.HasPrefix(op, "%%"), strings.HasPrefix(op, "%"):
		longest := strings.HasPrefix(op, "%%")
		pat, err := expand(op[len(prefixOf(op, "%")):])
		if err != nil {
			return "", err
		}
		return trimSuffixGlob(val, pat, longest), nil
	case strings.HasPrefix(op, "/"):
		return replace(val, op[1:], expand)
	}
	return "", fail("bad substitution: unsupported operator %q", op)
}

func prefixOf(op string, c string) string {
	if strings.HasPrefix(op, c+c) {
		return c + c
	}
	return c
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func substring(val, spec string, fail func(string, ...any) error) (string, error) {
	runes := []rune(val)
	parts := strings.SplitN(spec, ":", 2)
	off, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil {
		return "", fail("bad substring offset %q", parts[0])
	}
	if off < 0 {
		off += len(runes)
	}
	off = max(0, min(off, len(runes)))
	end := len(runes)
	if len(parts) == 2 {
		l, err := strconv.Atoi(strings.TrimSpace(parts[1]))
		if err != nil {
			return "", fail("bad substring length %q", parts[1])
		}
		if l < 0 {
			end = max(off, len(runes)+l)
		} else {
			end = min(len(runes), off+l)
		}
	}
	return string(runes[off:end]), nil
}

func replace(val, spec string, expand func(string) (string, error)) (string, error) {
	mode := byte(0)
	if len(spec) > 0 && (spec[0] == '/' || spec[0] == '#' || spec[0] == '%') {
		mode, spec = spec[0], spec[1:]
	}
	pat, rep, _ := strings.Cut(spec, "/")
	pat, err := expand(pat)
	if err != nil {
		return "", err
	}
	rep, err = expand(rep)
	if err != nil {
		return "", err
	}
	if pat == "" {
		return val, nil
	}
	switch mode {
	case '#':
		if loc := findGlob(`^`, pat, ``, val); loc != nil {
			return rep + val[loc[1]:], nil
		}
		return val, nil
	case '%':
		if loc := findGlob(``, pat, `$`, val); loc != nil {
			return val[:loc[0]] + rep, nil
		}
		return val, nil
	case '/':
		if re := compileGlob(``, pat, ``); re != nil {
			return re.ReplaceAllLiteralString(val, rep), nil
		}
		return val, nil
	}
	if loc := findGlob(``, pat, ``, val); loc != nil {
		return val[:loc[0]] + rep + val[loc[1]:], nil
	}
	return val, nil
}

func findGlob(before, pat, after, val string) []int {
	re := compileGlob(before, pat, after)
	if re == nil {
		return nil
	}
	return re.FindStringIndex(val)
}

// compileGlob compiles a bash pattern between two regular expression anchors; nil for a pattern that
// does not compile (an invalid bracket range), which then matches nothing, as in bash.
func compileGlob(before, pat, after string) *regexp.Regexp {
	re, err := regexp.Compile(before + `(?:` + globRE(pat) + `)` + after)
	if err != nil {
		return nil
	}
	return re
}

// trimPrefixGlob removes the shortest (or longest) prefix of val that pat matches, as ${var#pat} and
// ${var##pat} do.
func trimPrefixGlob(val, pat string, longest bool) string { return trimGlob(val, pat, longest, false) }

// trimSuffixGlob removes the shortest (or longest) suffix of val that pat matches, as ${var%pat} and
// ${var%%pat} do.
func trimSuffixGlob(val, pat string, longest bool) string { return trimGlob(val, pat, longest, true) }

func trimGlob(val, pat string, longest, suffix bool) string {
	re := compileGlob(`^`, pat, `$`)
	if re == nil {
		return val
	}
	cuts := make([]int, 0, len(val)+1) // rune boundaries in ascending order
	for i := range val {
		cuts = append(cuts, i)
	}
	cuts = append(cuts, len(val))
	// Try the shortest piece first unless longest: for a prefix that is the lowest cut, for a suffix the highest.
	if suffix != longest {
		slices.Reverse(cuts)
	}
	for _, c := range cuts {
		if suffix && re.MatchString(val[c:]) {
			return val[:c]
		}
		if !suffix && re.MatchString(val[:c]) {
			return val[c:]
		}
	}
	return val
}

// globRE translates a bash pattern (*, ?, [...]) to a non-greedy-neutral regular expression.
func globRE(pat string) string {
	var b strings.Builder
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; c {
		case '*':
			b.WriteString(`(?s:.*)`)
		case '?':
			b.WriteString(`(?s:.)`)
		case '\\':
			if i+1 < len(pat) {
				i++
				b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
			} else {
				b.WriteString(`\\`)
			}
		case '[':
			if end := strings.IndexByte(pat[i+1:], ']'); end > 0 {
				class := pat[i+1 : i+1+end]
				if class[0] == '!' {
					class = "^" + class[1:]
				}
				b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
				i += end + 1
			} else {
				b.WriteString(`\[`)
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// SubstituteLines expands r line by line as Substitute does and writes each line to w followed by a
// newline, as `flux envsubst` does: lines before a failing one are written, an expression cannot span
// lines, and the error names the line (1-based).
func SubstituteLines(r io.Reader, w io.Writer, lookup func(string) (string, bool), strict bool) error {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("reading line %d: %w", n, err)
		}
		if line == "" && err == io.EOF {
			return nil
		}
		out, serr := Substitute(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), lookup, strict)
		if serr != nil {
			return fmt.Errorf("line %d: %w", n, serr)
		}
		if _, werr := io.WriteString(w, out+"\n"); werr != nil {
			return werr
		}
		if err == io.EOF {
			return nil
		}
	}
}
