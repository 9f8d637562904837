package receiver

import (
	"strings"
	"testing"
)

func TestParseCDEvent(t *testing.T) {
	ok := func(mod func(string) string) []byte { return []byte(mod(string(cdeventBody))) }
	for _, tt := range []struct {
		name string
		body []byte
		err  string // "" when valid
	}{
		{"valid", cdeventBody, ""},
		{"spec-0.5-specversion", ok(func(s string) string { return strings.Replace(s, `"version"`, `"specversion"`, 1) }), ""},
		{"newer-minor", ok(func(s string) string { return strings.ReplaceAll(s, "merged.0.2.0", "merged.0.3.1") }), ""},
		{"major-1", ok(func(s string) string { return strings.ReplaceAll(s, "merged.0.2.0", "merged.1.0.0") }), "not compatible"},
		{"unknown-event", ok(func(s string) string { return strings.ReplaceAll(s, "change.merged", "change.exploded") }), "unknown CDEvents event"},
		{"custom-event", ok(func(s string) string {
			return strings.ReplaceAll(s, "dev.cdevents.change", "dev.cdeventsx.mytool-change")
		}), "not a CDEvents type"},
		{"no-version", ok(func(s string) string { return strings.Replace(s, `"version":"0.4.1",`, "", 1) }), "context.version"},
		{"no-id", ok(func(s string) string { return strings.Replace(s, `"id":"5555","source"`, `"source"`, 1) }), "context.id"},
		{"bad-timestamp", ok(func(s string) string { return strings.Replace(s, "2026-12-07T12:00:00.5Z", "yesterday", 1) }), "context.timestamp"},
		{"subject-mismatch", ok(func(s string) string { return strings.Replace(s, `"type":"change"`, `"type":"build"`, 1) }), "subject.type"},
		{"no-subject-id", ok(func(s string) string { return strings.Replace(s, `"subject":{"id":"5555",`, `"subject":{`, 1) }), "subject.id"},
		{"content-not-object", ok(func(s string) string {
			return strings.Replace(s, `"content":{"repository":{"id":"org/app"}}`, `"content":[]`, 1)
		}), "subject.content"},
		{"no-context", []byte(`{"subject":{"id":"1"}}`), "no context"},
		{"no-subject", ok(func(s string) string { return s[:strings.Index(s, `,"subject"`)] + "}" }), "no subject"},
		{"not-json", []byte("push"), "not a CDEvent"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			typ, err := parseCDEvent(tt.body)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.err == "" && !strings.HasPrefix(typ, "dev.cdevents.change.merged."):
				t.Errorf("type %q", typ)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func FuzzParseCDEvent(f *testing.F) {
	f.Add(cdeventBody)
	f.Add([]byte(`{"context":{},"subject":{}}`))
	f.Add([]byte(`{"context":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		typ, err := parseCDEvent(body)
		if err == nil && !strings.HasPrefix(typ, "dev.cdevents.") {
			t.Errorf("accepted type %q", typ)
		}
	})
}
