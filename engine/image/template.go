package image

import (
	"bytes"
	"fmt"
	"regexp"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"k8s.io/apimachinery/pkg/types"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
)

// DefaultMessageTemplate is Flux's commit message when spec.git.commit.messageTemplate is empty.
const DefaultMessageTemplate = `Update from image update automation`

// TemplateData is the value commit message templates are rendered with, as in Flux:
// .AutomationObject (namespace/name), .Changed (the Result: .FileChanges, .Changes, .Objects) and
// .Values (spec.git.commit.messageTemplateValues).
type TemplateData struct {
	AutomationObject types.NamespacedName
	Changed          Result
	Values           map[string]string
}

// removedUpdated matches the `.Updated` field of Flux's older template data, which Flux rejects.
var removedUpdated = regexp.MustCompile(`\.Updated\b`)

// RenderMessage renders a commit message template (Go text/template with Sprig's functions).
func RenderMessage(tmpl string, data TemplateData) (string, error) {
	if tmpl == "" {
		tmpl = DefaultMessageTemplate
	}
	if removedUpdated.MatchString(tmpl) {
		return "", &Error{Reason: imagev1.RemovedTemplateFieldReason,
			Err: fmt.Errorf("messageTemplate uses the removed field .Updated: use .Changed instead")}
	}
	t, err := template.New("commit message").Funcs(sprig.TxtFuncMap()).Parse(tmpl)
	if err != nil {
		return "", &Error{Reason: imagev1.InvalidUpdateStrategyReason, Err: fmt.Errorf("messageTemplate: %w", err)}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", &Error{Reason: imagev1.InvalidUpdateStrategyReason, Err: fmt.Errorf("messageTemplate: %w", err)}
	}
	return b.String(), nil
}
