package receiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// cdeventTypes are the subjects and predicates of the CDEvents v0.4 specification with the major
// version of each (all 0), the events Flux's cdevents Receiver decodes.
var cdeventTypes = map[string]bool{
	"artifact.deleted": true, "artifact.downloaded": true, "artifact.packaged": true, "artifact.published": true,
	"artifact.signed": true, "branch.created": true, "branch.deleted": true, "build.finished": true,
	"build.queued": true, "build.started": true, "change.abandoned": true, "change.created": true,
	"change.merged": true, "change.reviewed": true, "change.updated": true, "environment.created": true,
	"environment.deleted": true, "environment.modified": true, "incident.detected": true,
	"incident.reported": true, "incident.resolved": true, "pipelinerun.finished": true,
	"pipelinerun.queued": true, "pipelinerun.started": true, "repository.created": true,
	"repository.deleted": true, "repository.modified": true, "service.deployed": true,
	"service.published": true, "service.removed": true, "service.rolledback": true, "service.upgraded": true,
	"taskrun.finished": true, "taskrun.started": true, "testcaserun.finished": true, "testcaserun.queued": true,
	"testcaserun.skipped": true, "testcaserun.started": true, "testoutput.published": true,
	"testsuiterun.finished": true, "testsuiterun.queued": true, "testsuiterun.started": true,
	"ticket.closed": true, "ticket.created": true, "ticket.updated": true,
}

var (
	cdeventTypePattern = regexp.MustCompile(`^dev\.cdevents\.([a-z]+)\.([a-z]+)\.(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$`)
	semverPattern      = regexp.MustCompile(`^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$`)
)

// cdevent is the part of a CDEvent that a cdevents Receiver checks.
type cdevent struct {
	Context *struct {
		Version     string `json:"version"`     // spec v0.4
		SpecVersion string `json:"specversion"` // spec v0.5
		ID          string `json:"id"`
		Source      string `json:"source"`
		Type        string `json:"type"`
		Timestamp   string `json:"timestamp"`
	} `json:"context"`
	Subject *struct {
		ID      string          `json:"id"`
		Type    string          `json:"type"`
		Source  string          `json:"source"`
		Content json.RawMessage `json:"content"`
	} `json:"subject"`
}

// parseCDEvent checks body as a CDEvent (the data of a binary-mode CloudEvent) as the CDEvents SDK
// that Flux uses does: a context with a spec version, id, source (a URI reference), an RFC 3339
// timestamp and the type of a known event of major version 0; a subject with an id, of the type's
// subject. It returns the event's type. The content of the subject is not checked against each
// event's JSON schema, and custom (dev.cdeventsx) events are refused.
func parseCDEvent(body []byte) (string, error) {
	var ev cdevent
	if err := json.Unmarshal(body, &ev); err != nil {
		return "", fmt.Errorf("the body is not a CDEvent: %w", err)
	}
	c, s := ev.Context, ev.Subject
	if c == nil {
		return "", errors.New("the CDEvent has no context")
	}
	if s == nil {
		return "", errors.New("the CDEvent has no subject")
	}
	m := cdeventTypePattern.FindStringSubmatch(c.Type)
	if m == nil {
		return "", fmt.Errorf("context.type %q is not a CDEvents type (dev.cdevents.<subject>.<predicate>.<version>)", c.Type)
	}
	if !cdeventTypes[m[1]+"."+m[2]] {
		return "", fmt.Errorf("context.type %q: unknown CDEvents event %s.%s", c.Type, m[1], m[2])
	}
	if major, _ := strconv.Atoi(m[3]); major != 0 {
		return "", fmt.Errorf("context.type %q: version %s.%s.%s is not compatible with 0.x", c.Type, m[3], m[4], m[5])
	}
	version := c.Version
	if version == "" {
		version = c.SpecVersion
	}
	if !semverPattern.MatchString(version) {
		return "", fmt.Errorf("context.version %q is not a version", version)
	}
	if c.ID == "" {
		return "", errors.New("context.id is required")
	}
	if c.Source == "" {
		return "", errors.New("context.source is required")
	}
	if _, err := url.Parse(c.Source); err != nil {
		return "", fmt.Errorf("context.source %q is not a URI reference", c.Source)
	}
	if _, err := time.Parse(time.RFC3339Nano, c.Timestamp); err != nil {
		return "", fmt.Errorf("context.timestamp %q is not an RFC 3339 time", c.Timestamp)
	}
	if s.ID == "" {
		return "", errors.New("subject.id is required")
	}
	if s.Type != "" && s.Type != m[1] {
		return "", fmt.Errorf("subject.type %q is not %q, the subject of %s", s.Type, m[1], c.Type)
	}
	if s.Source != "" {
		if _, err := url.Parse(s.Source); err != nil {
			return "", fmt.Errorf("subject.source %q is not a URI reference", s.Source)
		}
	}
	if len(s.Content) > 0 && s.Content[0] != '{' {
		return "", errors.New("subject.content must be an object")
	}
	return c.Type, nil
}
