package inspect

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// LogLine is one line the agent logged (slog's JSON handler: time, level, msg, then attributes such as
// kind, namespace, name, error).
type LogLine struct {
	Time      string         `json:"time,omitempty"`
	Level     string         `json:"level,omitempty"`
	Msg       string         `json:"msg,omitempty"`
	Kind      string         `json:"kind,omitempty"`
	Namespace string         `json:"namespace,omitempty"`
	Name      string         `json:"name,omitempty"`
	Fields    map[string]any `json:"fields,omitempty"`
	// Raw is the line as logged; Structured is false when it was not a JSON object.
	Raw        string `json:"-"`
	Structured bool   `json:"-"`
	// Pod is the pod that logged the line.
	Pod string `json:"pod,omitempty"`
}

// ParseLogLine decodes one line; lines that are not JSON objects come back with Structured false.
func ParseLogLine(line string) LogLine {
	l := LogLine{Raw: line}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil || m == nil {
		return l
	}
	l.Structured = true
	take := func(key string) string {
		v, ok := m[key]
		if !ok {
			return ""
		}
		delete(m, key)
		if s, ok := v.(string); ok {
			return s
		}
		return fmt.Sprint(v)
	}
	l.Time, l.Level, l.Msg = take("time"), strings.ToLower(take("level")), take("msg")
	l.Kind, l.Namespace, l.Name = take("kind"), take("namespace"), take("name")
	if len(m) > 0 {
		l.Fields = m
	}
	return l
}

// LogFilter selects log lines. Empty fields select everything. Namespace applies to lines about a
// namespaced object; lines about the agent itself (no namespace, or not JSON: a panic's stack) pass it,
// but not a Level, Kind or Name filter.
type LogFilter struct {
	Level     string
	Kind      string
	Namespace string
	Name      string
}

// Match reports whether l is selected.
func (f LogFilter) Match(l LogLine) bool {
	if !l.Structured {
		return f.Level == "" && f.Kind == "" && f.Name == ""
	}
	if f.Level != "" && !strings.EqualFold(f.Level, l.Level) {
		return false
	}
	if f.Kind != "" && !strings.EqualFold(f.Kind, l.Kind) {
		return false
	}
	if f.Name != "" && f.Name != l.Name {
		return false
	}
	if f.Namespace != "" && l.Namespace != "" && f.Namespace != l.Namespace {
		return false
	}
	return true
}

// FilterLogs reads lines from r and calls emit for each one f selects, until r ends or emit fails.
func FilterLogs(r io.Reader, f LogFilter, emit func(LogLine) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		l := ParseLogLine(text)
		if !f.Match(l) {
			continue
		}
		if err := emit(l); err != nil {
			return err
		}
	}
	return sc.Err()
}

// Format renders l for people: time, level, the object, the message, then the other fields sorted by key.
func (l LogLine) Format() string {
	if !l.Structured {
		return l.Raw
	}
	parts := []string{}
	if l.Time != "" {
		parts = append(parts, l.Time)
	}
	parts = append(parts, l.Level)
	fields := l.Fields
	if l.Kind != "" && l.Name == "" { // about a kind, not an object
		fields = map[string]any{"kind": l.Kind}
		for k, v := range l.Fields {
			fields[k] = v
		}
	} else if l.Kind != "" {
		obj := l.Kind + "/"
		if l.Namespace != "" {
			obj += l.Namespace + "/"
		}
		parts = append(parts, obj+l.Name)
	}
	parts = append(parts, l.Msg)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := fields[k]
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		if strings.ContainsAny(s, " \t\"") {
			s = fmt.Sprintf("%q", s)
		}
		parts = append(parts, k+"="+s)
	}
	return strings.Join(parts, " ")
}
